package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

func TestParseFilter(t *testing.T) {
	denied := OutcomeMinorFailure
	cases := []struct {
		query string
		want  Filter
		ok    bool
	}{
		{"", Filter{}, true},
		{"case_id=c1&actor=a2&action=document.open", Filter{CaseID: "c1", ActorID: "a2", Action: "document.open"}, true},
		{"action=document.*&outcome=denied", Filter{Action: "document.*", Outcome: &denied}, true},
		{"outcome=4", Filter{Outcome: &denied}, true},
		{"from=2025-01-01&to=2025-02-01T00:00:00%2B01:00", Filter{From: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC),
			To: time.Date(2025, 1, 31, 23, 0, 0, 0, time.UTC)}, true},
		{"before=120&limit=50&format=csv", Filter{Before: 120, Limit: 50}, true},
		{"outcome=5", Filter{}, false},
		{"outcome=failure", Filter{}, false},
		{"action=DROP TABLE", Filter{}, false},
		{"action=document.%25", Filter{}, false},
		{"from=yesterday", Filter{}, false},
		{"from=2025-02-01&to=2025-01-01", Filter{}, false},
		{"limit=1001", Filter{}, false},
		{"limit=-1", Filter{}, false},
		{"before=x", Filter{}, false},
		{"case_id=a&case_id=b", Filter{}, false},
		{"actor=%00", Filter{}, false},
	}
	for _, c := range cases {
		q, err := url.ParseQuery(c.query)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ParseFilter(q)
		if !c.ok {
			if !errors.Is(err, ErrInvalidFilter) {
				t.Errorf("%q: %v, want ErrInvalidFilter", c.query, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%q: %v", c.query, err)
			continue
		}
		gotJ, _ := json.Marshal(got)
		wantJ, _ := json.Marshal(c.want)
		if !bytes.Equal(gotJ, wantJ) || !got.From.Equal(c.want.From) || !got.To.Equal(c.want.To) {
			t.Errorf("%q: got %s, want %s", c.query, gotJ, wantJ)
		}
	}
}

func TestQueryFilters(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	// Entries ten seconds apart, ending now (the log refuses entries dated otherwise).
	const step = 10 * time.Second
	base := time.Now().UTC().Truncate(time.Second).Add(-40 * step)
	for i := range 40 {
		e := sampleEntry(i)
		e.Time = base.Add(time.Duration(i) * step)
		if _, err := l.w.Log(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	denied := OutcomeMinorFailure
	cases := []struct {
		name string
		f    Filter
		keep func(i int, e Entry) bool
	}{
		{"all", Filter{Limit: 1000}, func(int, Entry) bool { return true }},
		{"case", Filter{CaseID: "case-2"}, func(_ int, e Entry) bool { return e.CaseID == "case-2" }},
		{"actor", Filter{ActorID: "acct-3"}, func(_ int, e Entry) bool { return e.ActorID == "acct-3" }},
		{"action", Filter{Action: ActionLogin}, func(_ int, e Entry) bool { return e.Action == ActionLogin }},
		{"action prefix", Filter{Action: "document.*"}, func(_ int, e Entry) bool {
			return e.Action == ActionDocumentOpen || e.Action == ActionDocumentErase
		}},
		{"outcome", Filter{Outcome: &denied}, func(_ int, e Entry) bool { return e.Outcome == denied }},
		{"time", Filter{From: base.Add(10 * step), To: base.Add(20 * step)}, func(i int, _ Entry) bool { return i >= 10 && i < 20 }},
		{"combined", Filter{CaseID: "case-1", Outcome: &denied}, func(_ int, e Entry) bool { return e.CaseID == "case-1" && e.Outcome == denied }},
		{"page", Filter{Before: 30, Limit: 5}, func(i int, _ Entry) bool { return i >= 25 && i < 30 }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var want []int64
			for i := 39; i >= 0; i-- {
				if c.keep(i, sampleEntry(i)) {
					want = append(want, int64(i))
				}
			}
			if c.f.Limit == 0 && len(want) > DefaultLimit {
				want = want[:DefaultLimit]
			}
			got, err := l.r.Query(ctx, c.f)
			if err != nil {
				t.Fatal(err)
			}
			var seqs []int64
			for _, e := range got {
				seqs = append(seqs, e.Seq)
			}
			if len(want) == 0 || !equalInts(seqs, want) {
				t.Fatalf("got %v, want %v", seqs, want)
			}
			// Each returns the same entries (unpaged), oldest first.
			f := c.f
			f.Before, f.Limit = 0, 0
			var each []int64
			if err := l.r.Each(ctx, f, func(e Entry) error { each = append(each, e.Seq); return nil }); err != nil {
				t.Fatal(err)
			}
			if c.name != "page" && !equalInts(reverse(each), want) {
				t.Fatalf("each: %v", each)
			}
		})
	}
}

func equalInts(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func reverse(a []int64) []int64 {
	out := make([]int64, len(a))
	for i, v := range a {
		out[len(a)-1-i] = v
	}
	return out
}

// The CSV export parses back with a standard reader into the logged values, one row per
// entry with the header first, and spreadsheet formulas are defused.
func TestExportCSV(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	l.fill(t, 0, 1200) // more than one Each page
	tricky := Entry{Action: ActionDocumentOpen, CaseID: "case-x", UserAgent: "=HYPERLINK(\"x\"),\r\n\"quoted\"",
		ActorID: "a,b", Outcome: OutcomeMinorFailure, Reason: ReasonConsent}
	seq, err := l.w.Log(ctx, tricky)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := l.r.ExportCSV(ctx, &buf, Filter{}); err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(buf.Bytes(), []byte("\r\n")) {
		t.Fatal("rows do not end in CRLF")
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1202 || !equalStrings(rows[0], CSVHeader) {
		t.Fatalf("%d rows, header %v", len(rows), rows[0])
	}
	for i, row := range rows[1:] {
		e, err := l.r.Entry(ctx, int64(i))
		if err != nil {
			t.Fatal(err)
		}
		h := e.Hash()
		if row[0] != strconv.Itoa(i) || row[5] != e.Action || row[8] != e.CaseID || row[12] != strconv.Itoa(int(e.Outcome)) ||
			row[15] != hex.EncodeToString(h[:]) || row[1] != e.Time.Format(timeFormat) {
			t.Fatalf("row %d: %v", i, row)
		}
	}
	last := rows[len(rows)-1]
	if last[0] != strconv.FormatInt(seq, 10) || last[2] != "a,b" || last[10] != "'"+strings.ReplaceAll(tricky.UserAgent, "\r\n", "\n") /* csv.Reader reads CRLF in a field as LF */ || last[14] != ReasonConsent {
		t.Fatalf("tricky row: %q", last)
	}

	buf.Reset()
	if err := l.r.ExportCSV(ctx, &buf, Filter{CaseID: "case-x"}); err != nil {
		t.Fatal(err)
	}
	if rows, err := csv.NewReader(&buf).ReadAll(); err != nil || len(rows) != 2 {
		t.Fatalf("case export: %d rows, %v", len(rows), err)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// The FHIR exports parse back as AuditEvent resources with the BALP structure: type and
// subtype, action code, recorded instant, outcome, the requesting agent with its network
// address, the observer, the document and patient entities and the purpose of use.
func TestExportFHIR(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	l.fill(t, 0, 10)
	denial := Entry{Action: ActionDocumentOpen, ActorID: "rev-1", ActorRole: "reviewer", ObjectType: "document",
		ObjectID: "doc-9", CaseID: "case-9", ClientIP: "198.51.100.7", RequestID: "req-9",
		Outcome: OutcomeMinorFailure, Purpose: PurposeTreatment, Reason: ReasonConsent}
	if _, err := l.w.Log(ctx, denial); err != nil {
		t.Fatal(err)
	}
	l.r.Observer = "so-test"

	var buf bytes.Buffer
	if err := l.r.ExportFHIR(ctx, &buf, Filter{}, false); err != nil {
		t.Fatal(err)
	}
	if n := testenv.FHIRValid(t, buf.Bytes()); n != 11 {
		t.Fatalf("%d valid resources, want 11", n)
	}
	var events []map[string]any
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("line %d: %v", len(events), err)
		}
		events = append(events, ev)
	}
	if len(events) != 11 {
		t.Fatalf("%d events", len(events))
	}
	for _, ev := range events {
		for _, k := range []string{"resourceType", "id", "type", "recorded", "outcome", "agent", "source"} {
			if _, ok := ev[k]; !ok {
				t.Fatalf("event %v lacks %s", ev["id"], k)
			}
		}
		if ev["resourceType"] != "AuditEvent" {
			t.Fatalf("resourceType %v", ev["resourceType"])
		}
		if _, err := time.Parse(time.RFC3339Nano, ev["recorded"].(string)); err != nil {
			t.Fatalf("recorded: %v", err)
		}
	}
	ev := events[10]
	get := func(v any, path ...any) any {
		for _, p := range path {
			switch k := p.(type) {
			case string:
				v = v.(map[string]any)[k]
			case int:
				v = v.([]any)[k]
			}
		}
		return v
	}
	checks := []struct {
		path []any
		want any
	}{
		{[]any{"id"}, "10"},
		{[]any{"meta", "profile", 0}, balpProfile + "PatientRead"},
		{[]any{"type", "code"}, "rest"},
		{[]any{"subtype", 0, "code"}, "read"},
		{[]any{"subtype", 1, "system"}, "urn:secondopinion:action"},
		{[]any{"subtype", 1, "code"}, ActionDocumentOpen},
		{[]any{"action"}, "R"},
		{[]any{"outcome"}, "4"},
		{[]any{"outcomeDesc"}, "consent"},
		{[]any{"purposeOfEvent", 0, "coding", 0, "code"}, "TREAT"},
		{[]any{"agent", 0, "who", "identifier", "value"}, "rev-1"},
		{[]any{"agent", 0, "requestor"}, true},
		{[]any{"agent", 0, "network", "address"}, "198.51.100.7"},
		{[]any{"agent", 0, "network", "type"}, "2"},
		{[]any{"agent", 0, "role", 0, "coding", 0, "code"}, "reviewer"},
		{[]any{"agent", 1, "requestor"}, false},
		{[]any{"source", "observer", "display"}, "so-test"},
		{[]any{"entity", 0, "what", "identifier", "value"}, "doc-9"},
		{[]any{"entity", 1, "what", "identifier", "value"}, "case-9"},
		{[]any{"entity", 1, "role", "code"}, "1"},
		{[]any{"entity", 2, "type", "code"}, "XrequestId"},
	}
	for _, c := range checks {
		if got := get(ev, c.path...); got != c.want {
			t.Errorf("%v = %v, want %v", c.path, got, c.want)
		}
	}
	login := NewAuditEvent(Entry{Seq: 1, Action: ActionLogin, Outcome: OutcomeMinorFailure, Reason: ReasonCredentials}, "x")
	if login.Type.Code != "110114" || login.Subtype[0].Code != "110122" || login.Action != "E" || login.Agent[0].Who.Display != "unauthenticated" {
		t.Errorf("login event: %+v", login)
	}
	// Actions that share a standard code stay apart by the log's own action.
	hold := NewAuditEvent(Entry{Seq: 2, Action: ActionCaseHold, ActorID: "dpo-1", CaseID: "case-9"}, "x")
	sign := NewAuditEvent(Entry{Seq: 3, Action: ActionConsentCountersign, ActorID: "cm-1", CaseID: "case-9"}, "x")
	if hold.Action != sign.Action || len(hold.Subtype) != 2 || hold.Subtype[1].Code != ActionCaseHold ||
		sign.Subtype[1].Code != ActionConsentCountersign {
		t.Errorf("a legal hold %+v and a countersignature %+v", hold.Subtype, sign.Subtype)
	}

	buf.Reset()
	if err := l.r.ExportFHIR(ctx, &buf, Filter{CaseID: "case-9"}, true); err != nil {
		t.Fatal(err)
	}
	testenv.FHIRValid(t, buf.Bytes())
	type bundleJSON struct {
		ResourceType string `json:"resourceType"`
		Type         string `json:"type"`
		Entry        []struct {
			FullURL  string     `json:"fullUrl"`
			Resource AuditEvent `json:"resource"`
		} `json:"entry"`
	}
	var bundle bundleJSON
	if err := json.Unmarshal(buf.Bytes(), &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle.ResourceType != "Bundle" || bundle.Type != "collection" || len(bundle.Entry) != 1 || bundle.Entry[0].Resource.ID != "10" {
		t.Fatalf("bundle: %+v", bundle)
	}
	// The entry's fullUrl is a version 8 UUID made of the entry's record hash, as in the CSV.
	var stored Entry
	if err := l.r.Each(ctx, Filter{CaseID: "case-9"}, func(e Entry) error { stored = e; return nil }); err != nil {
		t.Fatal(err)
	}
	h := stored.Hash()
	hexHash := hex.EncodeToString(h[:16])
	want := "urn:uuid:" + hexHash[:8] + "-" + hexHash[8:12] + "-8" + hexHash[13:16] + "-"
	if got := bundle.Entry[0].FullURL; got != BundleFullURL(stored) || !strings.HasPrefix(got, want) || len(got) != len("urn:uuid:")+36 {
		t.Fatalf("fullUrl %q, want %s… from the record hash %x", got, want, h[:])
	}
	buf.Reset()
	if err := l.r.ExportFHIR(ctx, &buf, Filter{CaseID: "none"}, true); err != nil {
		t.Fatal(err)
	}
	testenv.FHIRValid(t, buf.Bytes())
	var empty bundleJSON
	if err := json.Unmarshal(buf.Bytes(), &empty); err != nil || empty.ResourceType != "Bundle" || len(empty.Entry) != 0 {
		t.Fatalf("empty bundle: %s %v", buf.Bytes(), err)
	}
}

// allActions is every action the service records.
var allActions = []string{ActionLogin, ActionLogout, ActionUploadCreate, ActionUploadFinish, ActionUploadReject,
	ActionDocumentOpen, ActionDocumentDownload, ActionDocumentErase, ActionDocumentIdentity, ActionConsentSign,
	ActionConsentCountersign, ActionConsentReject, ActionConsentWithdraw, ActionCaseAssign, ActionCaseList,
	ActionCaseRead, ActionDocumentList, ActionDocumentReview, ActionExtraPropose, ActionExtraApprove,
	ActionExtraDecline, ActionInvitationCreate, ActionInvitationRevoke, ActionCaseErase, ActionRoleChange,
	ActionAccountDisable, ActionAccountCreate, ActionAccountTOTPReset, ActionAccountsRead, ActionTokenIssue,
	ActionTokenRevoke, ActionPasswordLink, ActionKeyRotate, ActionAuditExport, ActionAuditRead, ActionSubjectExport,
	ActionCaseHold, ActionCaseHoldRelease, ActionRetentionRun}

// Every exported resource is valid FHIR R4 (security review, finding 11), checked by
// testenv.FHIRValid (the R4 JSON schema, the R4 StructureDefinitions, and the rules neither
// expresses, such as no empty element and a fullUrl for every Bundle entry): every action, in
// full and with the optional fields missing (no object id, no actor, no case, no address: an
// empty element each if written naively), an action the mapping does not know, every outcome;
// as NDJSON, as a Bundle and as an empty Bundle.
func TestFHIRExportIsValidR4(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	outcomes := []Outcome{OutcomeSuccess, OutcomeMinorFailure, OutcomeSeriousFailure, OutcomeMajorFailure}
	var entries []Entry
	for i, a := range allActions {
		full := Entry{Action: a, ActorID: "3f1c2b7e-5d4a-4c3b-9a8f-1e2d3c4b5a69", ActorRole: "case_manager",
			OnBehalfOf: "case:9b2e4f60-1c3d-4e5f-8a7b-6c5d4e3f2a1b", ObjectType: "document",
			ObjectID: "0d6f3a2b-8c1e-4f7a-9b3d-2e5c4a1f6b8d", CaseID: "9b2e4f60-1c3d-4e5f-8a7b-6c5d4e3f2a1b",
			ClientIP: "2001:db8::7", UserAgent: "Mozilla/5.0", RequestID: "req-" + strconv.Itoa(i),
			Outcome: outcomes[i%len(outcomes)], Purpose: PurposeOperations}
		if full.Outcome != OutcomeSuccess {
			full.Reason = ReasonState
		}
		entries = append(entries, full,
			Entry{Action: a, ActorID: "dpo-1", ActorRole: "dpo", ObjectType: "audit_log"}, // no object id
			Entry{Action: a, Outcome: OutcomeMinorFailure, Reason: ReasonCredentials},     // nobody, nothing
		)
	}
	entries = append(entries,
		Entry{Action: "access.denied", ObjectType: "route:/api/v1/cases", Outcome: OutcomeMinorFailure, Reason: "unauthenticated"},
		Entry{Action: ActionCaseList, ActorID: "cm-1", ActorRole: "case_manager", ObjectType: "case", ObjectID: "c-1", CaseID: "c-1"},
		Entry{Action: ActionDocumentOpen, ActorID: "invitation:i-1", ActorRole: "physician", ObjectID: "d-1"}, // an id, no type
	)
	for _, e := range entries {
		if _, err := l.w.Log(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		name   string
		filter Filter
		bundle bool
		want   int
	}{
		{"NDJSON", Filter{}, false, len(entries)},
		{"Bundle", Filter{}, true, 1},
		{"Bundle of one case", Filter{CaseID: "c-1"}, true, 1},
		{"empty Bundle", Filter{CaseID: "none"}, true, 1},
	} {
		var buf bytes.Buffer
		if err := l.r.ExportFHIR(ctx, &buf, c.filter, c.bundle); err != nil {
			t.Fatal(err)
		}
		if n := testenv.FHIRValid(t, buf.Bytes()); n != c.want {
			t.Errorf("%s: %d resources, want %d", c.name, n, c.want)
		}
	}
}
