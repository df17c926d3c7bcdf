package main

// End-to-end tests of the subject-access export (GDPR Art. 15) over HTTP, against the service
// on a fresh database and bucket: the ZIP opened with the unzip CLI, its documents against the
// registry's SHA-256, its access list against the audit log (the reviewer's opening is there,
// the other patient is not), the DPO's export on behalf of the patient, the refusals, and the
// export failing closed before and after its first byte.

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image"
	"image/color"
	"image/png"
	"io"
	"io/fs"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// exportWorld: Ann's request (three documents: a PDF the reviewer opens, a PNG, and a PDF
// larger than the service's read-ahead window), with an active consent and an assigned
// reviewer; Bob's request (another patient) with a document its case manager opened; a DPO.
type exportWorld struct {
	*apiServer
	ann, bob, cm, rita, dpo who
	annID, bobID, ritaID    string
	annCase, bobCase        string
	annDocs                 []string // the PDF the reviewer opens, the PNG, the large PDF
	bobDoc                  string
}

// named adds an account with a display name and returns an API token for it, and its id.
func (a *apiServer) named(email string, role so.Role, name string) (who, string) {
	a.t.Helper()
	id, err := a.m.access.Accounts.Add(context.Background(), email, role, name)
	if err != nil {
		a.t.Fatal(err)
	}
	_, raw, err := a.m.access.Tokens.Issue(context.Background(), email, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return who{name: email, token: raw}, id
}

func newExportWorld(t *testing.T) *exportWorld {
	t.Helper()
	a := bootAPI(t)
	w := &exportWorld{apiServer: a}
	w.ann, w.annID = a.named("ann@example.org", so.RoleApplicant, "Ann Rossi")
	w.bob, w.bobID = a.named("bob@example.org", so.RoleApplicant, "Bob Bianchi")
	// A display name a spreadsheet would run as a formula, were it not defused.
	w.cm, _ = a.named("cm@example.org", so.RoleCaseManager, "=HYPERLINK(\"http://x.example\")")
	w.rita, w.ritaID = a.named("rita@example.org", so.RoleReviewer, "Dr Rita Neri")
	w.dpo, _ = a.named("dpo@example.org", so.RoleDPO, "Daria Po")

	w.annCase = a.newCase(w.ann, "Maria")
	w.annDocs = []string{
		a.upload(w.ann, w.annCase, "clinical_history", []byte("%PDF-1.7\n% the clinical history of Maria\n%%EOF\n")),
		a.upload(w.ann, w.annCase, "histology_report", testPNG(t)),
		a.upload(w.ann, w.annCase, "imaging_report", largePDF(t, 9<<20)),
	}
	a.do(w.cm, "POST", "/api/v1/cases/"+w.annCase+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign the reviewer")
	a.do(w.ann, "POST", "/api/v1/cases/"+w.annCase+"/consent/signature",
		map[string]string{"signer_name": "Maria Rossi", "relationship": "self"}).want(t, 201, "sign")
	a.do(w.cm, "POST", "/api/v1/cases/"+w.annCase+"/consent/countersignature", map[string]string{}).want(t, 200, "countersign")
	a.do(w.rita, "GET", "/api/v1/documents/"+w.annDocs[0]+"/content", nil).want(t, 200, "the reviewer opens the history")

	w.bobCase = a.newCase(w.bob, "Giulia")
	w.bobDoc = a.upload(w.bob, w.bobCase, "identity_document", []byte("%PDF-1.7\n% the identity card of Giulia\n%%EOF\n"))
	a.do(w.cm, "GET", "/api/v1/documents/"+w.bobDoc+"/content", nil).want(t, 200, "the case manager checks Bob's ID")
	a.do(w.bob, "GET", "/api/v1/documents/"+w.bobDoc+"/content", nil).want(t, 200, "Bob opens his own ID")
	// Bob tries one of Ann's documents: refused as if it did not exist, and recorded with Ann's case.
	a.do(w.bob, "GET", "/api/v1/documents/"+w.annDocs[1]+"/content", nil).want(t, 404, "Bob tries Ann's document")
	return w
}

func testPNG(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 8, 8))
	for i := range 8 {
		img.Set(i, i, color.RGBA{R: 200, A: 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// largePDF is n bytes that the upload checks take for a PDF, larger than the read-ahead
// window, so the export reads it through the service's sequential stream.
func largePDF(t *testing.T, n int) []byte {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	copy(b, "%PDF-1.7\n%")
	copy(b[n-7:], "\n%%EOF\n")
	return b
}

// needUnzip fails the test unless Debian's unzip is installed (make test installs it).
func needUnzip(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("unzip")
	if err != nil {
		t.Fatal("unzip is missing: make test installs it (Debian package unzip)")
	}
	return p
}

// download GETs path as w into a file of the test's temporary directory; the error is the
// body's (a connection cut mid-body).
func (a *apiServer) download(w who, path, file string) (*http.Response, error) {
	a.t.Helper()
	req, err := http.NewRequest("GET", a.base+path, nil)
	if err != nil {
		a.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+w.token)
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	f, err := os.Create(file)
	if err != nil {
		a.t.Fatal(err)
	}
	defer f.Close()
	_, err = io.Copy(f, resp.Body)
	return resp, err
}

// unzipped is an export opened with the unzip CLI: its files by path.
type unzipped map[string][]byte

// openExport downloads the export at path as w, tests the archive and extracts it with unzip.
func (a *apiServer) openExport(w who, path string) unzipped {
	a.t.Helper()
	unzip := needUnzip(a.t)
	dir := a.t.TempDir()
	file := filepath.Join(dir, "export.zip")
	resp, err := a.download(w, path, file)
	if err != nil || resp.StatusCode != 200 {
		b, _ := os.ReadFile(file)
		a.t.Fatalf("export %s: status %d, %v: %.300s", path, resp.StatusCode, err, b)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/zip" {
		a.t.Errorf("Content-Type %q", ct)
	}
	cd := resp.Header.Get("Content-Disposition")
	if !strings.HasPrefix(cd, "attachment;") || !strings.Contains(cd, "personal-data-") || strings.Contains(cd, "ann") ||
		strings.Contains(cd, "Maria") || resp.Header.Get("Cache-Control") != "no-store" {
		a.t.Errorf("headers: Content-Disposition %q, Cache-Control %q", cd, resp.Header.Get("Cache-Control"))
	}
	if out, err := exec.Command(unzip, "-t", file).CombinedOutput(); err != nil {
		a.t.Fatalf("unzip -t: %v\n%s", err, out)
	}
	out := filepath.Join(dir, "out")
	if b, err := exec.Command(unzip, "-q", file, "-d", out).CombinedOutput(); err != nil {
		a.t.Fatalf("unzip: %v\n%s", err, b)
	}
	files := unzipped{}
	filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			a.t.Fatal(err)
		}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				a.t.Fatal(err)
			}
			rel, _ := filepath.Rel(out, p)
			files[filepath.ToSlash(rel)] = b
		}
		return nil
	})
	return files
}

// exportedCases is what the tests read of cases.json.
type exportedCases struct {
	GeneratedAt time.Time `json:"generated_at"`
	Account     struct {
		ID, Email string
	} `json:"account"`
	Cases []struct {
		ID      string `json:"id"`
		Status  string `json:"status"`
		Patient struct {
			GivenName  string `json:"given_name"`
			FamilyName string `json:"family_name"`
		} `json:"patient"`
		ClinicalQuestion string        `json:"clinical_question"`
		History          []interface{} `json:"history"`
		Documents        []struct {
			ID       string `json:"id"`
			Kind     string `json:"kind"`
			Filename string `json:"filename"`
			Size     int64  `json:"size"`
			SHA256   string `json:"sha256"`
			Status   string `json:"status"`
			File     string `json:"file"`
		} `json:"documents"`
	} `json:"cases"`
}

// accessRows parses accesses.csv into rows keyed by its header.
func accessRows(t *testing.T, b []byte) []map[string]string {
	t.Helper()
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		t.Fatalf("accesses.csv: %v", err)
	}
	want := []string{"seq", "time_utc", "who", "role", "action", "action_code", "object", "case_id", "outcome", "reason"}
	if len(rows) < 2 || !slices.Equal(rows[0], want) {
		t.Fatalf("accesses.csv header %v (%d rows)", rows[0], len(rows))
	}
	var out []map[string]string
	for _, r := range rows[1:] {
		m := map[string]string{}
		for i, h := range rows[0] {
			m[h] = r[i]
		}
		if _, err := time.Parse("2006-01-02T15:04:05.000Z", m["time_utc"]); err != nil {
			t.Errorf("time %q is not ISO 8601 UTC", m["time_utc"])
		}
		out = append(out, m)
	}
	return out
}

// The patient's export opens with unzip; its documents are the registry's, byte for byte; its
// cases.json, consents and README say what they should; its access list has the reviewer's
// opening of the patient's document and nothing of the other patient; the export and each
// document's opening are in the audit log. The DPO's export on behalf of the patient holds the
// same, and is audited with the legal purpose on the patient's behalf.
func TestSubjectAccessExport(t *testing.T) {
	w := newExportWorld(t)
	files := w.openExport(w.ann, "/api/v1/me/export")

	var names []string
	for n := range files {
		names = append(names, n)
	}
	slices.Sort(names)
	want := []string{"README.txt", "accesses.csv", "cases.json", "consent/" + w.annCase + ".json",
		"documents/" + w.annCase + "/" + w.annDocs[0] + ".pdf", "documents/" + w.annCase + "/" + w.annDocs[1] + ".png",
		"documents/" + w.annCase + "/" + w.annDocs[2] + ".pdf"}
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("the archive holds %v, want %v", names, want)
	}

	// The documents are the registry's: their SHA-256 is the one the API lists.
	var listed struct {
		Documents []struct {
			ID, SHA256 string
			Size       int64
		} `json:"documents"`
	}
	if err := json.Unmarshal(w.do(w.ann, "GET", "/api/v1/cases/"+w.annCase+"/documents", nil).want(t, 200, "documents").body, &listed); err != nil {
		t.Fatal(err)
	}
	if len(listed.Documents) != 3 {
		t.Fatalf("the registry lists %d documents", len(listed.Documents))
	}
	for _, d := range listed.Documents {
		ext := ".pdf"
		if d.ID == w.annDocs[1] {
			ext = ".png"
		}
		b := files["documents/"+w.annCase+"/"+d.ID+ext]
		if hexSum(b) != d.SHA256 || int64(len(b)) != d.Size {
			t.Errorf("document %s: %d bytes with SHA-256 %s in the archive, the registry has %d bytes, %s", d.ID, len(b), hexSum(b), d.Size, d.SHA256)
		}
	}

	var cj exportedCases
	if err := json.Unmarshal(files["cases.json"], &cj); err != nil {
		t.Fatalf("cases.json: %v", err)
	}
	if cj.Account.ID != w.annID || cj.Account.Email != "ann@example.org" || len(cj.Cases) != 1 {
		t.Fatalf("cases.json: account %+v, %d cases", cj.Account, len(cj.Cases))
	}
	c := cj.Cases[0]
	if c.ID != w.annCase || c.Patient.GivenName != "Maria" || c.ClinicalQuestion == "" || len(c.History) == 0 || len(c.Documents) != 3 {
		t.Fatalf("cases.json case: %+v", c)
	}
	for _, d := range c.Documents {
		if d.File == "" || files[d.File] == nil || hexSum(files[d.File]) != d.SHA256 || d.Status != "available" || d.Kind == "" || d.Filename == "" {
			t.Errorf("cases.json document %+v: its file is not in the archive with that SHA-256", d)
		}
	}

	var bundle struct {
		ResourceType, Type string
		Entry              []struct {
			FullURL  string `json:"fullUrl"`
			Resource struct {
				ResourceType, Status string
			} `json:"resource"`
		} `json:"entry"`
	}
	testenv.FHIRValid(t, files["consent/"+w.annCase+".json"])
	if err := json.Unmarshal(files["consent/"+w.annCase+".json"], &bundle); err != nil {
		t.Fatal(err)
	}
	if bundle.ResourceType != "Bundle" || bundle.Type != "collection" || len(bundle.Entry) != 1 ||
		bundle.Entry[0].Resource.ResourceType != "Consent" || bundle.Entry[0].Resource.Status != "active" ||
		!strings.HasPrefix(bundle.Entry[0].FullURL, "urn:uuid:") {
		t.Errorf("consent bundle: %s", files["consent/"+w.annCase+".json"])
	}
	if readme := string(files["README.txt"]); !strings.Contains(readme, "accesses.csv") || !strings.Contains(readme, "ann@example.org") ||
		strings.Contains(readme, "page.") {
		t.Errorf("README.txt:\n%s", readme)
	}

	// Nothing of the other patient, anywhere in the archive.
	for name, b := range files {
		for _, s := range []string{w.bobCase, w.bobDoc, w.bobID, "Giulia", "bob@example.org", "Bob Bianchi"} {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("%s mentions %q, of the other patient", name, s)
			}
		}
	}

	rows := accessRows(t, files["accesses.csv"])
	find := func(match func(map[string]string) bool) map[string]string {
		for _, r := range rows {
			if match(r) {
				return r
			}
		}
		return nil
	}
	opened := find(func(r map[string]string) bool {
		return r["action_code"] == audit.ActionDocumentOpen && r["who"] == "Dr Rita Neri" && r["case_id"] == w.annCase
	})
	if opened == nil || opened["role"] != "Specialist" || opened["action"] != "Opened a document" ||
		opened["object"] != "Document “clinical_history.pdf”" || opened["outcome"] != "Success" {
		t.Errorf("the reviewer's opening of the history: %v\nall rows: %v", opened, rows)
	}
	tried := find(func(r map[string]string) bool { return r["who"] == "Another applicant" })
	if tried == nil || tried["action_code"] != audit.ActionDocumentOpen || tried["outcome"] != "Refused" || tried["case_id"] != w.annCase {
		t.Errorf("Bob's refused attempt on Ann's document: %v", tried)
	}
	if r := find(func(r map[string]string) bool { return strings.Contains(r["who"], "HYPERLINK") }); r == nil || r["who"][0] != '\'' {
		t.Errorf("the case manager's formula-like name is not defused: %v", r)
	}
	if r := find(func(r map[string]string) bool {
		return r["who"] == "You" && r["action_code"] == audit.ActionSubjectExport && r["case_id"] == ""
	}); r == nil {
		t.Error("the export itself is not in the access list")
	}
	for _, r := range rows {
		if r["case_id"] != "" && r["case_id"] != w.annCase {
			t.Errorf("a row of another case: %v", r)
		}
	}

	// The audit log has the export and each document's opening, the patient's own purpose.
	var opens []audit.Entry
	for _, e := range w.auditQuery(w.dpo, "actor=account:"+w.annID+"&limit=1000").Entries {
		if e.Action == audit.ActionDocumentOpen && e.Outcome == audit.OutcomeSuccess {
			opens = append(opens, e)
		}
	}
	if len(opens) != 3 || opens[0].Purpose != audit.PurposePatientReq || opens[0].OnBehalfOf != "" {
		t.Errorf("the patient's export opened %d documents in the log: %+v", len(opens), opens)
	}
	exports := w.auditQuery(w.dpo, "action=subject.export&limit=1000").Entries
	if len(exports) != 2 || exports[0].ActorID != "account:"+w.annID {
		t.Errorf("subject.export entries: %+v, want one for the account and one for the request", exports)
	}

	// The DPO's export on behalf of Ann holds the same requests, consents and documents.
	byDPO := w.openExport(w.dpo, "/api/v1/accounts/"+w.annID+"/export")
	if a, b := withoutGeneratedAt(t, files["cases.json"]), withoutGeneratedAt(t, byDPO["cases.json"]); !reflect.DeepEqual(a, b) {
		t.Errorf("cases.json differs in the DPO's export:\n%v\n%v", a, b)
	}
	for _, name := range want {
		if name == "README.txt" || name == "accesses.csv" || name == "cases.json" {
			continue
		}
		if !bytes.Equal(byDPO[name], files[name]) {
			t.Errorf("%s differs in the DPO's export", name)
		}
	}
	if !strings.Contains(string(byDPO["README.txt"]), "data protection officer at your request") {
		t.Errorf("the DPO's README:\n%s", byDPO["README.txt"])
	}
	dpoRows := accessRows(t, byDPO["accesses.csv"])
	if len(dpoRows) <= len(rows) {
		t.Errorf("the DPO's access list has %d rows, Ann's had %d: the later export is missing", len(dpoRows), len(rows))
	}
	var legal int
	for _, e := range w.auditQuery(w.dpo, "action=document.open&limit=1000").Entries {
		if e.ActorRole == "dpo" {
			if e.Purpose != audit.PurposeLegal || e.OnBehalfOf != "account:"+w.annID || e.CaseID != w.annCase {
				t.Errorf("the DPO's document opening %+v: want purpose HLEGAL on behalf of Ann", e)
			}
			legal++
		}
	}
	if legal != 3 {
		t.Errorf("%d document openings by the DPO, want 3", legal)
	}
	for _, e := range w.auditQuery(w.dpo, "action=subject.export&limit=1000").Entries {
		if e.ActorRole == "dpo" && (e.Purpose != audit.PurposeLegal || e.OnBehalfOf != "account:"+w.annID) {
			t.Errorf("the DPO's export entry %+v", e)
		}
	}
	if out, err := w.verifyCLI(); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
}

// withoutGeneratedAt is cases.json without the time it was made.
func withoutGeneratedAt(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "generated_at")
	return m
}

// Only the applicant exports their own data, and only the DPO someone else's (an applicant's);
// every refusal of a signed-in caller is in the audit log; nobody is refused 401.
func TestSubjectAccessExportRefusals(t *testing.T) {
	a := bootAPI(t)
	ann, annID := a.named("ann@example.org", so.RoleApplicant, "")
	cm, _ := a.named("cm@example.org", so.RoleCaseManager, "")
	rita, ritaID := a.named("rita@example.org", so.RoleReviewer, "")
	dpo, _ := a.named("dpo@example.org", so.RoleDPO, "")
	admin, _ := a.named("admin@example.org", so.RoleAdmin, "")
	caseID := a.newCase(ann, "Maria")
	a.do(ann, "POST", "/api/v1/cases/"+caseID+"/invitations", map[string]string{"email": "dr.verdi@example.org"}).want(t, 201, "invite")
	physician := who{name: "physician"}
	tokens := a.mails("dr.verdi@example.org")
	if len(tokens) == 0 {
		t.Fatal("no invitation mailed")
	}
	r := a.do(nobody, "POST", "/api/v1/invitations/redeem", map[string]string{"token": tokens[0]}).want(t, 200, "redeem")
	physician.cookie, _ = r.sessionCookie(t)

	before := len(auditRows(t, a.db))
	for _, c := range []struct {
		who    who
		path   string
		status int
	}{
		{cm, "/api/v1/me/export", 403},
		{rita, "/api/v1/me/export", 403},
		{dpo, "/api/v1/me/export", 403},
		{admin, "/api/v1/me/export", 403},
		{physician, "/api/v1/me/export", 403},
		{ann, "/api/v1/accounts/" + annID + "/export", 403},
		{cm, "/api/v1/accounts/" + annID + "/export", 403},
		{rita, "/api/v1/accounts/" + annID + "/export", 403},
		{admin, "/api/v1/accounts/" + annID + "/export", 403},
		{physician, "/api/v1/accounts/" + annID + "/export", 403},
		{dpo, "/api/v1/accounts/" + ritaID + "/export", 404},                       // not an applicant
		{dpo, "/api/v1/accounts/00000000-0000-4000-8000-000000000000/export", 404}, // no account
	} {
		if r := a.do(c.who, "GET", c.path, nil); r.status != c.status || bytes.HasPrefix(r.body, []byte("PK")) {
			t.Errorf("%s GET %s: %d, want %d: %.200s", c.who.name, c.path, r.status, c.status, r.body)
		}
	}
	var denied []audit.Entry
	for _, row := range auditRows(t, a.db)[before:] {
		var e audit.Entry
		if err := json.Unmarshal([]byte(row), &e); err != nil {
			t.Fatal(err)
		}
		denied = append(denied, e)
	}
	if len(denied) != 12 {
		t.Fatalf("%d audit entries for 12 refusals: %v", len(denied), denied)
	}
	for _, e := range denied {
		if e.Action != audit.ActionSubjectExport || e.Outcome != audit.OutcomeMinorFailure || e.Reason == "" || e.ActorRole == "" {
			t.Errorf("refusal entry %+v", e)
		}
	}
	if r := a.do(nobody, "GET", "/api/v1/me/export", nil); r.status != 401 {
		t.Errorf("nobody: %d", r.status)
	}
	if n := len(auditRows(t, a.db)); n != before+12 {
		t.Errorf("a refusal of nobody was written to the audit log (%d entries, want %d)", n, before+12)
	}
}

// The export fails closed. With the audit log unwritable, it answers 503 and no archive. When
// the log refuses a document's opening after the archive has begun, the connection is cut:
// the client's body ends in an error, unzip refuses the archive, and the document's bytes never
// flowed. Afterwards the log verifies.
func TestSubjectAccessExportFailsClosed(t *testing.T) {
	w := newExportWorld(t)
	unzip := needUnzip(t)

	if _, err := w.db.Owner.Exec(`REVOKE INSERT ON audit_entries FROM secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}
	r := w.do(w.ann, "GET", "/api/v1/me/export", nil).want(t, 503, "export with the log unwritable")
	if errorCode(t, r) != "unavailable" || bytes.HasPrefix(r.body, []byte("PK")) || r.header.Get("Content-Disposition") != "" {
		t.Fatalf("503 answer: %v %s", r.header, r.body)
	}
	if _, err := w.db.Owner.Exec(`GRANT INSERT ON audit_entries TO secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}

	// The log refuses the opening of the second document only: by then README.txt, cases.json,
	// the consent and the first document are out.
	for _, q := range []string{
		`CREATE FUNCTION refuse_second_document() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.action = 'document.open' AND NEW.object_id = '` + w.annDocs[1] + `' THEN
				RAISE EXCEPTION 'the test refuses this entry';
			END IF;
			RETURN NEW;
		END $$`,
		`CREATE TRIGGER refuse_second_document BEFORE INSERT ON audit_entries FOR EACH ROW EXECUTE FUNCTION refuse_second_document()`,
	} {
		if _, err := w.db.Owner.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	file := filepath.Join(t.TempDir(), "cut.zip")
	resp, err := w.download(w.ann, "/api/v1/me/export", file)
	if resp.StatusCode != 200 || err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("the cut export: status %d, body error %v; want 200 and a body cut short", resp.StatusCode, err)
	}
	got, rerr := os.ReadFile(file)
	if rerr != nil {
		t.Fatal(rerr)
	}
	if !bytes.HasPrefix(got, []byte("PK")) {
		t.Fatalf("the cut export does not even begin as a ZIP: %.100q", got)
	}
	if out, err := exec.Command(unzip, "-t", file).CombinedOutput(); err == nil {
		t.Fatalf("unzip -t accepts the cut archive:\n%s", out)
	}
	if _, err := zip.NewReader(bytes.NewReader(got), int64(len(got))); err == nil {
		t.Fatal("archive/zip reads the cut archive")
	}
	if bytes.Contains(got, testPNG(t)[:16]) {
		t.Fatal("the second document's bytes flowed although its opening was not recorded")
	}
	for _, q := range []string{`DROP TRIGGER refuse_second_document ON audit_entries`, `DROP FUNCTION refuse_second_document()`} {
		if _, err := w.db.Owner.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	var failed int
	if err := w.db.Owner.Get(&failed, `SELECT count(*) FROM audit_entries WHERE action = 'subject.export' AND outcome = 8
		AND reason = 'audit_unavailable'`); err != nil {
		t.Fatal(err)
	}
	if failed != 1 {
		t.Errorf("%d failure entries of the cut export, want 1", failed)
	}
	if out, err := w.verifyCLI(); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	// And with the log writable the export is whole again.
	w.openExport(w.ann, "/api/v1/me/export")
}

// page GETs a page with a session cookie (and the language switch's cookie when lang is set).
func (a *apiServer) page(cookie, path, lang string) reply {
	a.t.Helper()
	return a.do(who{cookie: cookie}, "GET", path, nil, func(r *http.Request) {
		if lang != "" {
			r.AddCookie(&http.Cookie{Name: "so_lang", Value: lang})
		}
	})
}

// "Who opened my files": the patient's page lists the reviewer's opening of their document, by
// name and role, in their language, and nothing of the other patient; the case page links to
// it and to the export. Another patient gets 404, staff 403 (they read the audit log itself).
func TestAccessesPage(t *testing.T) {
	w := newExportWorld(t)
	ann := w.linkSignIn("ann@example.org")
	path := "/cases/" + w.annCase + "/accesses"

	r := w.page(ann, path, "").want(t, 200, "Ann's accesses page")
	body := string(r.body)
	row := regexp.MustCompile(`(?s)<tr>\s*<td[^>]*><time[^>]*>[^<]*</time></td>\s*<td[^>]*>Dr Rita Neri \(Specialist\)</td>\s*` +
		`<td[^>]*>Opened a document</td>\s*<td[^>]*>Document “clinical_history.pdf”</td>\s*<td[^>]*>Success</td>`)
	if !row.MatchString(body) {
		t.Errorf("the page has no row of the reviewer opening the clinical history:\n%s", body)
	}
	if !strings.Contains(body, "Another applicant") || !strings.Contains(body, `href="/api/v1/me/export"`) {
		t.Errorf("the page lacks the refused attempt or the export link")
	}
	for _, s := range []string{w.bobCase, w.bobDoc, "Giulia", "bob@example.org", "Bob Bianchi", "<script>", "style="} {
		if strings.Contains(body, s) {
			t.Errorf("the page contains %q", s)
		}
	}
	if h := r.header; h.Get("Content-Language") != "en" || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") ||
		h.Get("Cache-Control") != "no-store" {
		t.Errorf("headers %v", h)
	}
	for lang, want := range map[string]string{"it": "Ha aperto un documento", "es": "Abrió un documento"} {
		if b := string(w.page(ann, path, lang).want(t, 200, lang).body); !strings.Contains(b, "Dr Rita Neri") || !strings.Contains(b, want) ||
			strings.Contains(b, "page.") {
			t.Errorf("%s: the page lacks %q or shows a message id", lang, want)
		}
	}
	if b := string(w.page(ann, "/cases/"+w.annCase, "").want(t, 200, "case page").body); !strings.Contains(b, `href="`+path+`"`) ||
		!strings.Contains(b, `href="/api/v1/me/export"`) {
		t.Error("the case page does not link to the accesses page and the export")
	}

	bob := w.linkSignIn("bob@example.org")
	w.page(bob, path, "").want(t, 404, "Bob on Ann's accesses page")
	w.account("cm2@example.org", so.RoleCaseManager, "a long enough password")
	cm, _ := w.enrol("cm2@example.org", "a long enough password")
	w.page(cm, path, "").want(t, 403, "a case manager on Ann's accesses page")
}
