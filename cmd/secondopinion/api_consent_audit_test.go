package main

// End-to-end tests of the consent gate and the audit log over HTTP, against the service
// booted on a fresh database and bucket: the countersigned-consent gate (nothing read from
// storage when it refuses), fail-closed auditing, `audit verify` finding a tampered entry, and
// the DPO's audit API.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// minioCounter is a reverse proxy in front of MinIO that counts the requests for each path.
// The service reaches MinIO only through it (SO_MINIO_ENDPOINT).
type minioCounter struct {
	mu   sync.Mutex
	hits map[string]int // "METHOD /bucket/key" → requests
	srv  *httptest.Server
}

func newMinIOCounter(t *testing.T, endpoint string) *minioCounter {
	t.Helper()
	target, err := url.Parse("http://" + endpoint)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target) // keeps the Host header the client signed
	mc := &minioCounter{hits: map[string]int{}}
	mc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mc.mu.Lock()
		mc.hits[r.Method+" "+r.URL.Path]++
		mc.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(mc.srv.Close)
	return mc
}

func (mc *minioCounter) endpoint() string { return strings.TrimPrefix(mc.srv.URL, "http://") }

// reads is how many GET and HEAD requests asked for the object so far.
func (mc *minioCounter) reads(bucket, key string) int {
	mc.mu.Lock()
	defer mc.mu.Unlock()
	p := "/" + bucket + "/" + key
	return mc.hits["GET "+p] + mc.hits["HEAD "+p]
}

// tokenFor adds an account (no password) and returns an API token for it, and its id. Tokens
// count as a passed second factor, as for automation.
func (a *apiServer) tokenFor(email string, role so.Role) (who, string) {
	a.t.Helper()
	id := a.account(email, role, "")
	_, raw, err := a.m.access.Tokens.Issue(context.Background(), email, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return who{name: string(role), token: raw}, id
}

// auditPage is the answer of GET /api/v1/audit.
type auditPage struct {
	Entries    []audit.Entry `json:"entries"`
	NextBefore *int64        `json:"next_before"`
}

// auditQuery asks GET /api/v1/audit?query as w (a DPO).
func (a *apiServer) auditQuery(w who, query string) auditPage {
	a.t.Helper()
	r := a.do(w, "GET", "/api/v1/audit?"+query, nil).want(a.t, 200, "audit query "+query)
	var p auditPage
	if err := json.Unmarshal(r.body, &p); err != nil {
		a.t.Fatalf("audit page %s: %v", r.body, err)
	}
	return p
}

// auditRows returns every audit entry as its row, read as the database owner.
func auditRows(t *testing.T, db *testenv.DB) []string {
	t.Helper()
	var rows []string
	if err := db.Owner.Select(&rows, `SELECT row_to_json(e)::text FROM audit_entries e ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	return rows
}

// verifyCLI runs `secondopinion audit verify` with the service's configuration.
func (a *apiServer) verifyCLI() (string, error) {
	var out bytes.Buffer
	err := run(context.Background(), []string{"audit", "verify"}, &out, &out, env(a.vars))
	return out.String(), err
}

func errorCode(t *testing.T, r reply) string {
	t.Helper()
	code, _ := r.json(t)["error"].(string)
	return code
}

// gateWorld: an applicant's case with a clinical document, its assigned reviewer, a case
// manager and a DPO (all with API tokens), and MinIO behind a counting proxy.
type gateWorld struct {
	*apiServer
	bucket                        *testenv.MinIO
	counter                       *minioCounter
	applicant, cm, reviewer, dpo  who
	applicantID, cmID, reviewerID string
	caseID, docID, objectKey      string
	content                       []byte
}

func newGateWorld(t *testing.T) *gateWorld {
	t.Helper()
	db, bucket := testenv.NewDB(t), testenv.NewBucket(t)
	counter := newMinIOCounter(t, bucket.Endpoint)
	a := bootAPIWith(t, db, bucket, func(v map[string]string) { v["SO_MINIO_ENDPOINT"] = counter.endpoint() })
	w := &gateWorld{apiServer: a, bucket: bucket, counter: counter}
	w.applicant, w.applicantID = a.tokenFor("ann@example.org", so.RoleApplicant)
	w.cm, w.cmID = a.tokenFor("cm@example.org", so.RoleCaseManager)
	w.reviewer, w.reviewerID = a.tokenFor("rita@example.org", so.RoleReviewer)
	w.dpo, _ = a.tokenFor("dpo@example.org", so.RoleDPO)
	w.caseID = a.newCase(w.applicant, "Maria")
	w.content = []byte("%PDF-1.7\n% the clinical history of Maria\n%%EOF\n")
	w.docID = a.upload(w.applicant, w.caseID, "clinical_history", w.content)
	a.do(w.cm, "POST", "/api/v1/cases/"+w.caseID+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign the reviewer")
	if err := db.Owner.Get(&w.objectKey, `SELECT object_key FROM documents WHERE id = $1`, w.docID); err != nil {
		t.Fatal(err)
	}
	return w
}

// The assigned reviewer reads nothing until the applicant has signed and a case manager has
// countersigned; a refusal reads nothing from storage and is audited with reason "consent";
// withdrawal shuts the reviewer out at once; earlier audit entries never change and the log
// verifies.
func TestConsentGateOverHTTP(t *testing.T) {
	w := newGateWorld(t)
	ctx := context.Background()
	content := "/api/v1/documents/" + w.docID + "/content"
	cp := "/api/v1/cases/" + w.caseID + "/consent"
	fhir := func(r *http.Request) { r.Header.Set("Accept", "application/fhir+json") }

	// No consent: 403 consent_required, and not one request for the object reached MinIO.
	before := w.counter.reads(w.bucket.Bucket, w.objectKey)
	r := w.do(w.reviewer, "GET", content, nil).want(t, 403, "reviewer without consent")
	if code := errorCode(t, r); code != "consent_required" {
		t.Fatalf("error %q, want consent_required", code)
	}
	if bytes.Contains(r.body, w.content[:8]) {
		t.Fatalf("the refusal carries content: %s", r.body)
	}
	if got := w.counter.reads(w.bucket.Bucket, w.objectKey); got != before {
		t.Fatalf("%d reads of the object reached MinIO during the refusal", got-before)
	}
	denied := w.auditQuery(w.dpo, "case_id="+w.caseID+"&action=document.open&outcome=denied").Entries
	if len(denied) != 1 || denied[0].Reason != audit.ReasonConsent || denied[0].ActorID != "account:"+w.reviewerID ||
		denied[0].ObjectID != w.docID || denied[0].ActorRole != "reviewer" || denied[0].Outcome != audit.OutcomeMinorFailure {
		t.Fatalf("denial entries %+v, want one for the reviewer with reason consent", denied)
	}

	// Who may do what to the consent; nothing to countersign, withdraw or show yet.
	sign := map[string]string{"signer_name": "Maria Rossi", "relationship": "self"}
	for _, c := range []struct {
		who    who
		method string
		path   string
		body   any
		status int
		code   string
	}{
		{w.reviewer, "POST", cp + "/signature", sign, 403, "forbidden"},
		{w.cm, "POST", cp + "/signature", sign, 403, "forbidden"},
		{w.dpo, "POST", cp + "/signature", sign, 403, "forbidden"},
		{w.applicant, "POST", cp + "/countersignature", map[string]string{}, 403, "forbidden"},
		{w.reviewer, "POST", cp + "/countersignature", map[string]string{}, 403, "forbidden"},
		{w.reviewer, "POST", cp + "/withdrawal", nil, 403, "forbidden"},
		{w.cm, "POST", cp + "/withdrawal", nil, 403, "forbidden"},
		{w.reviewer, "GET", cp, nil, 403, "forbidden"},
		{nobody, "GET", cp, nil, 401, "unauthenticated"},
		{w.applicant, "GET", cp, nil, 404, "no_consent"},
		{w.cm, "POST", cp + "/countersignature", nil, 409, "consent_state"},
		{w.applicant, "POST", cp + "/withdrawal", nil, 409, "consent_state"},
		{w.applicant, "POST", cp + "/signature", map[string]string{"signer_name": "Maria Rossi", "relationship": "parent"}, 400, "invalid"},
		{w.applicant, "POST", cp + "/signature", map[string]string{"signer_name": " ", "relationship": "self"}, 400, "invalid"},
		{w.applicant, "POST", "/api/v1/cases/" + missingCase + "/consent/signature", sign, 404, "not_found"},
	} {
		r := w.do(c.who, c.method, c.path, c.body).want(t, c.status, c.who.name+" "+c.method+" "+c.path)
		if code := errorCode(t, r); code != c.code {
			t.Fatalf("%s %s %s: error %q, want %q", c.who.name, c.method, c.path, code, c.code)
		}
	}
	rowsBefore := auditRows(t, w.db)

	// The applicant signs the English form from 127.0.0.1: proposed, and still no access.
	sig := w.do(w.applicant, "POST", cp+"/signature", sign).want(t, 201, "sign").json(t)
	var formText string
	if err := w.db.Owner.Get(&formText, `SELECT text FROM consent_forms WHERE version = '2025-01-en'`); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(formText))
	if sig["status"] != "proposed" || sig["form_version"] != "2025-01-en" || sig["form_sha256"] != hex.EncodeToString(sum[:]) ||
		sig["signer_name"] != "Maria Rossi" || sig["signed_ip"] != "127.0.0.1" || sig["case_id"] != w.caseID {
		t.Fatalf("signature %v", sig)
	}
	if code := errorCode(t, w.do(w.applicant, "POST", cp+"/signature", sign).want(t, 409, "sign twice")); code != "consent_state" {
		t.Fatalf("second signature: %q", code)
	}
	if code := errorCode(t, w.do(w.reviewer, "GET", content, nil).want(t, 403, "reviewer, consent only signed")); code != "consent_required" {
		t.Fatalf("error %q", code)
	}

	// The case manager countersigns: active, and the reviewer reads the document's bytes.
	cs := w.do(w.cm, "POST", cp+"/countersignature", map[string]string{}).want(t, 200, "countersign").json(t)
	if cs["status"] != "active" || cs["countersigned_by"] != w.cmID || cs["id"] != sig["id"] {
		t.Fatalf("countersignature %v", cs)
	}
	got := w.do(w.reviewer, "GET", content, nil).want(t, 200, "reviewer with active consent")
	if !bytes.Equal(got.body, w.content) {
		t.Fatalf("the reviewer read %q, want %q", got.body, w.content)
	}
	if w.counter.reads(w.bucket.Bucket, w.objectKey) == before {
		t.Fatal("the proxy counted no read of the object for a 200: it does not see the service's reads")
	}
	f := w.do(w.dpo, "GET", cp, nil, fhir).want(t, 200, "FHIR consent")
	if ct := f.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+json") {
		t.Fatalf("Content-Type %q", ct)
	}
	testenv.FHIRValid(t, f.body)
	if v := f.json(t); v["resourceType"] != "Consent" || v["status"] != "active" || v["id"] != sig["id"] {
		t.Fatalf("FHIR consent %s", f.body)
	}
	if v := w.do(w.cm, "GET", cp, nil).want(t, 200, "plain consent").json(t); v["status"] != "active" {
		t.Fatalf("plain consent %v", v)
	}

	// The applicant withdraws: the reviewer is refused with the very next request.
	if v := w.do(w.applicant, "POST", cp+"/withdrawal", nil).want(t, 200, "withdraw").json(t); v["status"] != "withdrawn" {
		t.Fatalf("withdrawal %v", v)
	}
	if code := errorCode(t, w.do(w.reviewer, "GET", content, nil).want(t, 403, "reviewer after withdrawal")); code != "consent_required" {
		t.Fatalf("error %q", code)
	}
	f = w.do(w.applicant, "GET", cp, nil, fhir).want(t, 200, "FHIR after withdrawal")
	testenv.FHIRValid(t, f.body)
	if v := f.json(t); v["status"] != "inactive" {
		t.Fatalf("FHIR status after withdrawal %v", v["status"])
	}

	// The log: what was written before is unchanged; each step is there; the log verifies.
	rowsAfter := auditRows(t, w.db)
	if len(rowsAfter) <= len(rowsBefore) || !slices.Equal(rowsAfter[:len(rowsBefore)], rowsBefore) {
		t.Fatalf("earlier audit entries changed (%d before, %d after)", len(rowsBefore), len(rowsAfter))
	}
	for action, actor := range map[string]string{audit.ActionConsentSign: w.applicantID,
		audit.ActionConsentCountersign: w.cmID, audit.ActionConsentWithdraw: w.applicantID} {
		es := w.auditQuery(w.dpo, "case_id="+w.caseID+"&outcome=success&action="+action).Entries
		if len(es) != 1 || es[0].ActorID != "account:"+actor || es[0].ObjectID != sig["id"] {
			t.Fatalf("%s entries %+v", action, es)
		}
	}
	denied = w.auditQuery(w.dpo, "case_id="+w.caseID+"&action=document.open&outcome=denied&actor=account:"+w.reviewerID).Entries
	if len(denied) != 3 {
		t.Fatalf("%d consent denials of the reviewer, want 3 (no consent, only signed, withdrawn)", len(denied))
	}
	for _, e := range denied {
		if e.Reason != audit.ReasonConsent {
			t.Fatalf("denial %+v", e)
		}
	}
	if _, err := w.m.checkpointer.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if out, err := w.verifyCLI(); err != nil || !strings.HasPrefix(out, "ok: ") {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}

// With the audit log unwritable, the owner's document read answers 503 without one byte of
// content; once the log is writable again the same read answers the document.
func TestDocumentReadFailsClosedWithoutAudit(t *testing.T) {
	a := bootAPI(t)
	ann, _ := a.tokenFor("ann@example.org", so.RoleApplicant)
	caseID := a.newCase(ann, "Maria")
	content := []byte("%PDF-1.7\n% histology of Maria\n%%EOF\n")
	doc := a.upload(ann, caseID, "histology_report", content)
	path := "/api/v1/documents/" + doc + "/content"
	if r := a.do(ann, "GET", path, nil).want(t, 200, "read"); !bytes.Equal(r.body, content) {
		t.Fatalf("read %q", r.body)
	}

	if _, err := a.db.Owner.Exec(`REVOKE INSERT ON audit_entries FROM secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}
	for _, h := range []map[string]string{nil, {"Range": "bytes=0-3"}} {
		r := a.do(ann, "GET", path, nil, func(req *http.Request) {
			for k, v := range h {
				req.Header.Set(k, v)
			}
		}).want(t, 503, fmt.Sprintf("read with the log unwritable (%v)", h))
		if errorCode(t, r) != "unavailable" || !strings.HasPrefix(r.header.Get("Content-Type"), "application/json") ||
			bytes.Contains(r.body, []byte("%PDF")) || r.header.Get("Content-Disposition") != "" {
			t.Fatalf("503 answer: %v %s", r.header, r.body)
		}
	}

	if _, err := a.db.Owner.Exec(`GRANT INSERT ON audit_entries TO secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}
	if r := a.do(ann, "GET", path, nil).want(t, 200, "read with the log writable again"); !bytes.Equal(r.body, content) {
		t.Fatalf("read %q", r.body)
	}
	var opens int
	if err := a.db.Owner.Get(&opens, `SELECT count(*) FROM audit_entries WHERE action = 'document.open' AND object_id = $1`, doc); err != nil {
		t.Fatal(err)
	}
	if opens != 2 {
		t.Fatalf("%d document.open entries, want 2: one per read that sent content", opens)
	}
}

// `audit verify` passes on a clean log, names the entry the database owner edited behind the
// triggers (so does GET /api/v1/audit/verify), passes again once it is put back, and names a
// rollback when the newest signed entries are deleted.
func TestAuditVerifyFindsTampering(t *testing.T) {
	a := bootAPI(t)
	ctx := context.Background()
	ann, _ := a.tokenFor("ann@example.org", so.RoleApplicant)
	dpo, _ := a.tokenFor("dpo@example.org", so.RoleDPO)
	caseID := a.newCase(ann, "Maria")
	a.upload(ann, caseID, "clinical_history", []byte("%PDF-1.7\n%%EOF\n"))              // upload.create, upload.finish
	a.do(ann, "GET", "/api/v1/audit", nil).want(t, 403, "an applicant reading the log") // a denial, audited
	for range 3 {
		a.auditQuery(dpo, "case_id="+caseID)
	}
	cpt, err := a.m.checkpointer.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if cpt.Size < 6 {
		t.Fatalf("checkpoint of %d entries, want at least 6", cpt.Size)
	}
	out, err := a.verifyCLI()
	if err != nil || !strings.HasPrefix(out, fmt.Sprintf("ok: %d entries", cpt.Size)) {
		t.Fatalf("clean log: %v\n%s", err, out)
	}

	behindTriggers := func(stmt string, args ...any) {
		t.Helper()
		tx := a.db.Owner.MustBegin()
		defer tx.Rollback()
		if _, err := tx.Exec(`ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_no_update`); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(stmt, args...); err != nil {
			t.Fatalf("%s: %v", stmt, err)
		}
		if _, err := tx.Exec(`ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_no_update`); err != nil {
			t.Fatal(err)
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	const victim = 2
	var ip string
	if err := a.db.Owner.Get(&ip, `SELECT client_ip FROM audit_entries WHERE seq = $1`, victim); err != nil {
		t.Fatal(err)
	}
	behindTriggers(`UPDATE audit_entries SET client_ip = '198.51.100.7' WHERE seq = $1`, victim)
	out, err = a.verifyCLI()
	var ni *NotIntactError
	if !errors.As(err, &ni) || ni.Problem.Seq != victim || ni.Problem.Kind != audit.KindModified ||
		!strings.Contains(out, fmt.Sprintf("first bad entry: %d\nkind: modified", victim)) {
		t.Fatalf("tampered log: err %v\n%s", err, out)
	}
	rep := a.do(dpo, "GET", "/api/v1/audit/verify", nil).want(t, 200, "verify over HTTP").json(t)
	if p, _ := rep["problem"].(map[string]any); rep["ok"] != false || p == nil || p["seq"] != float64(victim) || p["kind"] != "modified" {
		t.Fatalf("HTTP verify of the tampered log: %v", rep)
	}

	behindTriggers(`UPDATE audit_entries SET client_ip = $1 WHERE seq = $2`, ip, victim)
	if out, err := a.verifyCLI(); err != nil {
		t.Fatalf("restored log: %v\n%s", err, out)
	}
	if rep := a.do(dpo, "GET", "/api/v1/audit/verify", nil).want(t, 200, "verify over HTTP").json(t); rep["ok"] != true {
		t.Fatalf("HTTP verify of the restored log: %v", rep)
	}

	behindTriggers(`DELETE FROM audit_entries WHERE seq >= $1`, cpt.Size-1)
	out, err = a.verifyCLI()
	if !errors.As(err, &ni) || ni.Problem.Kind != audit.KindRollback || ni.Problem.Seq != cpt.Size-1 {
		t.Fatalf("log cut below its checkpoint: err %v\n%s", err, out)
	}
}

// The DPO queries, pages, exports and verifies the log; every read and export is itself
// audited; sign-ins are audited; nobody else reads the log, and the DPO reads no documents.
func TestDPOAuditAPI(t *testing.T) {
	w := newGateWorld(t)
	other, _ := w.tokenFor("bob@example.org", so.RoleApplicant)
	otherCase := w.newCase(other, "Lucia")
	w.upload(other, otherCase, "clinical_history", []byte("%PDF-1.7\n% Lucia\n%%EOF\n"))
	content := "/api/v1/documents/" + w.docID + "/content"
	w.do(w.reviewer, "GET", content, nil).want(t, 403, "reviewer without consent")
	w.do(w.applicant, "POST", "/api/v1/cases/"+w.caseID+"/consent/signature",
		map[string]string{"signer_name": "Maria Rossi", "relationship": "self"}).want(t, 201, "sign")
	w.do(w.applicant, "GET", content, nil).want(t, 200, "the applicant reads their document")
	w.account("carla@example.org", so.RoleApplicant, password)
	w.login("carla@example.org", password, "")
	w.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "carla@example.org", "password": "wrong password!"}).
		want(t, 401, "wrong password")

	// The case's entries are exactly what the database holds for it, newest first, over pages.
	var want []int64
	if err := w.db.Owner.Select(&want, `SELECT seq FROM audit_entries WHERE case_id = $1 ORDER BY seq DESC`, w.caseID); err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	actions := map[string]int{}
	for q := "case_id=" + w.caseID + "&limit=2"; ; {
		p := w.auditQuery(w.dpo, q)
		for _, e := range p.Entries {
			if e.CaseID != w.caseID {
				t.Fatalf("entry of another case: %+v", e)
			}
			seqs = append(seqs, e.Seq)
			actions[e.Action]++
		}
		if p.NextBefore == nil {
			break
		}
		q = fmt.Sprintf("case_id=%s&limit=2&before=%d", w.caseID, *p.NextBefore)
	}
	if !slices.Equal(seqs, want) {
		t.Fatalf("paged query: %v, the database: %v", seqs, want)
	}
	for _, a := range []string{audit.ActionUploadCreate, audit.ActionUploadFinish, audit.ActionDocumentOpen, audit.ActionConsentSign} {
		if actions[a] == 0 {
			t.Fatalf("no %s entry for the case: %v", a, actions)
		}
	}
	for q, n := range map[string]int{
		"case_id=" + w.caseID + "&action=consent.sign":                  1,
		"case_id=" + w.caseID + "&action=document.*":                    2,
		"case_id=" + w.caseID + "&action=document.open&outcome=success": 1,
		"case_id=" + w.caseID + "&outcome=denied":                       1,
		"case_id=" + otherCase + "&action=upload.*":                     2,
		"action=auth.login&outcome=success":                             1,
		"action=auth.login&outcome=4":                                   1,
		"case_id=" + missingCase:                                        0,
	} {
		if got := len(w.auditQuery(w.dpo, q).Entries); got != n {
			t.Errorf("%s: %d entries, want %d", q, got, n)
		}
	}
	if e := w.auditQuery(w.dpo, "action=auth.login&outcome=denied").Entries; len(e) != 1 || e[0].Reason != audit.ReasonCredentials || e[0].ActorID != "" {
		t.Fatalf("failed sign-in entries %+v", e)
	}
	for _, q := range []string{"outcome=maybe", "from=yesterday", "limit=5000", "action=DROP%20TABLE", "case_id=a&case_id=b"} {
		if code := errorCode(t, w.do(w.dpo, "GET", "/api/v1/audit?"+q, nil).want(t, 400, q)); code != "invalid" {
			t.Fatalf("%s: error %q", q, code)
		}
	}

	// CSV: the header, then one row per entry of the case, oldest first.
	r := w.do(w.dpo, "GET", "/api/v1/audit/export?format=csv&case_id="+w.caseID, nil).want(t, 200, "CSV export")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") || !strings.HasPrefix(r.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("CSV headers %v", r.header)
	}
	records, err := csv.NewReader(bytes.NewReader(r.body)).ReadAll()
	if err != nil {
		t.Fatalf("CSV: %v\n%s", err, r.body)
	}
	if !slices.Equal(records[0], audit.CSVHeader) || len(records) != len(want)+1 {
		t.Fatalf("CSV header %v and %d rows, want %d", records[0], len(records)-1, len(want))
	}
	for i, rec := range records[1:] {
		if rec[0] != fmt.Sprint(want[len(want)-1-i]) || rec[8] != w.caseID {
			t.Fatalf("CSV row %d: %v", i, rec)
		}
	}

	// FHIR: one AuditEvent per line, then the same as one Bundle.
	r = w.do(w.dpo, "GET", "/api/v1/audit/export?format=fhir&case_id="+w.caseID, nil).want(t, 200, "FHIR export")
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/fhir+ndjson") {
		t.Fatalf("FHIR NDJSON Content-Type %q", ct)
	}
	if n := testenv.FHIRValid(t, r.body); n != len(want) {
		t.Fatalf("%d FHIR resources, want %d", n, len(want))
	}
	lines := strings.Split(strings.TrimSuffix(string(r.body), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("%d NDJSON lines, want %d", len(lines), len(want))
	}
	for i, l := range lines {
		var ev audit.AuditEvent
		if err := json.Unmarshal([]byte(l), &ev); err != nil || ev.ResourceType != "AuditEvent" || ev.ID != fmt.Sprint(want[len(want)-1-i]) {
			t.Fatalf("line %d %q: %v", i, l, err)
		}
	}
	r = w.do(w.dpo, "GET", "/api/v1/audit/export?format=fhir&bundle=1&case_id="+w.caseID, nil).want(t, 200, "FHIR bundle")
	var b struct {
		ResourceType string `json:"resourceType"`
		Entry        []struct {
			Resource audit.AuditEvent `json:"resource"`
		} `json:"entry"`
	}
	if err := json.Unmarshal(r.body, &b); err != nil || b.ResourceType != "Bundle" || len(b.Entry) != len(want) {
		t.Fatalf("bundle (%v): %s", err, r.body)
	}
	testenv.FHIRValid(t, r.body)
	// The whole log (sign-ins, refusals, every actor and action so far) is valid FHIR R4 too.
	r = w.do(w.dpo, "GET", "/api/v1/audit/export?format=fhir", nil).want(t, 200, "FHIR export of the whole log")
	if n := testenv.FHIRValid(t, r.body); n <= len(want) {
		t.Fatalf("%d FHIR resources in the whole log, fewer than the case's %d", n, len(want))
	}
	w.do(w.dpo, "GET", "/api/v1/audit/export?format=xml", nil).want(t, 400, "unknown format")

	// The CLI exports the same rows.
	var out bytes.Buffer
	if err := run(context.Background(), []string{"audit", "export", "--format", "csv", "--case", w.caseID}, &out, &out, env(w.vars)); err != nil {
		t.Fatal(err)
	}
	cli, err := csv.NewReader(&out).ReadAll()
	if err != nil || len(cli) != len(want)+1 {
		t.Fatalf("CLI CSV export: %v, %d rows", err, len(cli)-1)
	}
	out.Reset()
	if err := run(context.Background(), []string{"audit", "export", "--format", "fhir", "--bundle", "--case", w.caseID}, &out, &out, env(w.vars)); err != nil {
		t.Fatal(err)
	}
	testenv.FHIRValid(t, out.Bytes())
	if err := json.Unmarshal(out.Bytes(), &b); err != nil || len(b.Entry) != len(want) {
		t.Fatalf("CLI FHIR Bundle (%v): %d entries, want %d", err, len(b.Entry), len(want))
	}

	if v := w.do(w.dpo, "GET", "/api/v1/audit/verify", nil).want(t, 200, "verify").json(t); v["ok"] != true || v["size"].(float64) < float64(len(want)) {
		t.Fatalf("verify %v", v)
	}

	// Reads and exports are audited as the DPO's, as is the CLI's export.
	if n := len(w.auditQuery(w.dpo, "action=audit.export&outcome=success").Entries); n != 6 {
		t.Fatalf("%d audit.export entries, want 6 (CSV, NDJSON, Bundle, the whole log's NDJSON, CLI CSV, CLI Bundle)", n)
	}
	if reads := w.auditQuery(w.dpo, "action=audit.read&limit=1000").Entries; len(reads) < 10 {
		t.Fatalf("only %d audit.read entries", len(reads))
	}

	// Nobody else reads the log; the DPO reads no document content.
	for _, x := range []who{w.applicant, w.cm, w.reviewer} {
		for _, p := range []string{"/api/v1/audit", "/api/v1/audit/verify", "/api/v1/audit/export?format=csv"} {
			if code := errorCode(t, w.do(x, "GET", p, nil).want(t, 403, x.name+" "+p)); code != "forbidden" {
				t.Fatalf("%s %s: %q", x.name, p, code)
			}
		}
	}
	w.do(nobody, "GET", "/api/v1/audit", nil).want(t, 401, "nobody")
	refused := w.auditQuery(w.dpo, "action=audit.*&outcome=denied&limit=1000").Entries
	if len(refused) != 9 {
		t.Fatalf("%d refused audit-log requests audited, want 9", len(refused))
	}
	w.do(w.dpo, "GET", content, nil).want(t, 403, "DPO reads a document")
}

// `audit keygen` writes a signing key the service runs with and prints the verifier key, with
// which `audit verify --verifier` checks the log without the secret; another key's verifier
// refuses the checkpoints. keygen never overwrites a key.
func TestAuditKeygenAndVerifierKey(t *testing.T) {
	dir := t.TempDir()
	keygen := func(name string) (keyFile, vkeyFile string) {
		t.Helper()
		keyFile, vkeyFile = filepath.Join(dir, name+".key"), filepath.Join(dir, name+".vkey")
		var out bytes.Buffer
		if err := run(context.Background(), []string{"audit", "keygen", "--out", keyFile, "--name", "so.test/" + name}, &out, &out, env(nil)); err != nil {
			t.Fatalf("keygen: %v", err)
		}
		vkey := strings.TrimSpace(out.String())
		if !strings.HasPrefix(vkey, "so.test/"+name+"+") || strings.Count(out.String(), "\n") != 1 {
			t.Fatalf("keygen printed %q, want the verifier key alone", out.String())
		}
		if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file %v (%v), want mode 0600", fi, err)
		}
		if err := os.WriteFile(vkeyFile, []byte(vkey+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		return keyFile, vkeyFile
	}
	key, vkey := keygen("log")
	_, otherVkey := keygen("other")
	if err := run(context.Background(), []string{"audit", "keygen", "--out", key}, io.Discard, io.Discard, env(nil)); err == nil {
		t.Fatal("keygen overwrote an existing key file")
	}

	a := bootAPIWith(t, testenv.NewDB(t), testenv.NewBucket(t), func(v map[string]string) { v["SO_CHECKPOINT_KEY_FILE"] = key })
	ann, _ := a.tokenFor("ann@example.org", so.RoleApplicant)
	a.do(ann, "GET", "/api/v1/audit", nil).want(t, 403, "an audited refusal")
	if _, err := a.m.checkpointer.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	verify := func(vkeyFile string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), []string{"audit", "verify", "--verifier", vkeyFile}, &out, &out, env(a.vars))
		return out.String(), err
	}
	if out, err := verify(vkey); err != nil || !strings.HasPrefix(out, "ok: 1 entries, 2 checkpoints") {
		t.Fatalf("verify with the verifier key: %v\n%s", err, out)
	}
	out, err := verify(otherVkey)
	var ni *NotIntactError
	if !errors.As(err, &ni) || ni.Problem.Kind != audit.KindCheckpoint {
		t.Fatalf("verify with another key: %v\n%s", err, out)
	}
}

// A request without a valid credential is refused and counted, but not written to the audit
// log one by one: anyone could grow the append-only log at network speed (security review,
// finding 1). A signed-in subject's refusal is audited as before.
func TestAnonymousRefusalsAreCountedNotAudited(t *testing.T) {
	a := bootAPI(t)
	ann, _ := a.tokenFor("ann@example.org", so.RoleApplicant)
	dpo, _ := a.tokenFor("dpo@example.org", so.RoleDPO)
	caseID := a.newCase(ann, "Maria")
	before := len(a.auditQuery(dpo, "outcome=4&limit=1000").Entries)
	for range 50 {
		a.do(nobody, "GET", "/api/v1/cases/"+caseID, nil).want(t, 401, "nobody")
		a.do(who{name: "forged", token: "so_forged-token"}, "GET", "/api/v1/cases", nil).want(t, 401, "a bad token")
	}
	if after := len(a.auditQuery(dpo, "outcome=4&limit=1000").Entries); after != before {
		t.Errorf("100 anonymous refusals wrote %d audit entries", after-before)
	}
	a.do(ann, "GET", "/api/v1/audit", nil).want(t, 403, "an applicant reading the log")
	if after := len(a.auditQuery(dpo, "outcome=4&limit=1000").Entries); after != before+1 {
		t.Errorf("a signed-in subject's refusal wrote %d entries, want 1", after-before)
	}
	body, _ := get(t, a.base+"/metrics", "", nil)
	if !strings.Contains(string(body), `secondopinion_anonymous_denials_total{reason="unauthenticated"} 100`) {
		t.Errorf("the metric does not count the 100 refusals:\n%s", grepLines(string(body), "anonymous"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
