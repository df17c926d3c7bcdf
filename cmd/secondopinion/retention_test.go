package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/retention"
)

// Unique words of the erased case: after erasure none may be found anywhere in the database.
const (
	erasedGiven    = "Zerlinda"
	erasedFamily   = "Quintavallex"
	erasedQuestion = "Is the xylophonic lesion operable?"
	erasedSigner   = "Zerlinda Quintavallex"
	erasedFilename = "xylophonic-histology"
)

// A DPO erases a case at the patient's request (GDPR Art. 17): refused while the report is
// being written and while under legal hold; then its documents are crypto-shredded and
// deleted, an unfinished upload with them, its health data rows deleted, a tombstone kept;
// the proof of erasure holds against the real PostgreSQL, MinIO and age CLI.
func TestErasureOnRequestLeavesNothingButTheTombstone(t *testing.T) {
	bucket := testenv.NewBucket(t)
	w := newWorkflowWorldOn(bootAPIWith(t, testenv.NewDB(t), bucket, nil))
	ctx := context.Background()

	// Another patient's case, which must come through untouched.
	other, _ := w.tokenFor("otto@example.org", so.RoleApplicant)
	otherCase := w.newCase(other, "Otto")
	otherDoc := w.upload(other, otherCase, "clinical_history", testenv.PDF(2, "other patient"))

	r := w.do(w.applicant, "POST", "/api/v1/cases", map[string]any{
		"patient":                map[string]string{"given_name": erasedGiven, "family_name": erasedFamily, "birth_date": "1970-05-01"},
		"applicant_relationship": "self", "consultation_types": []string{"oncological"},
		"clinical_question": erasedQuestion, "language": "it", "imaging_relevant": false,
	}).want(t, 201, "create case")
	id := r.json(t)["id"].(string)
	extra := w.uploadNamed(w.applicant, id, "other", erasedFilename+".pdf", testenv.PDF(1, "extra"))
	w.draftToInReview(id, erasedSigner)
	var docs []string
	if err := w.db.Owner.Select(&docs, `SELECT id FROM documents WHERE case_id = $1 ORDER BY id`, id); err != nil || len(docs) < 3 {
		t.Fatalf("documents of the case: %v %v", docs, err)
	}
	w.do(w.reviewer, "GET", "/api/v1/documents/"+docs[0]+"/content", nil).want(t, 200, "reviewer opens a document")
	// The specialist has begun uploading the report: half of it is stored.
	partial := w.partialUpload(w.reviewer, id, "report", erasedFilename+"-report.pdf", 200, 100)

	// Keep a copy of every ciphertext of the case, as an attacker with a backup would.
	saved := map[string]string{} // object key -> file
	var keys []string
	w.db.Owner.Select(&keys, `SELECT object_key FROM documents WHERE case_id = $1`, id)
	var partialKey string
	w.db.Owner.Get(&partialKey, `SELECT object_key FROM uploads WHERE id = $1`, partial)
	dir := t.TempDir()
	for i, k := range keys {
		f := filepath.Join(dir, "ciphertext-"+strconv.Itoa(i)+".age")
		if err := bucket.Client.FGetObject(ctx, bucket.Bucket, k, f, minio.GetObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		saved[k] = f
	}

	// While the report is being written the erasure is refused.
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/erasure", map[string]string{"reference": "DSR-2026-17"}).want(t, 409, "erasure in review")
	w.step(w.cm, id, "refund", map[string]string{"reason": "the patient asked for erasure"}, 200)

	// A legal hold blocks every erasure; only the DPO places and lifts it.
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/hold", map[string]string{"reason": "claim 2026/88"}).want(t, 403, "hold by a case manager")
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/hold", map[string]string{"reason": ""}).want(t, 400, "hold without reason")
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/hold", map[string]string{"reason": "claim 2026/88"}).want(t, 201, "hold")
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/hold", map[string]string{"reason": "again"}).want(t, 409, "second hold")
	if h := w.do(w.dpo, "GET", "/api/v1/cases/"+id+"/hold", nil).want(t, 200, "read hold").json(t); h["reason"] != "claim 2026/88" {
		t.Fatalf("hold %v", h)
	}
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/erasure", map[string]string{"reference": "DSR-2026-17"}).want(t, 409, "erasure under hold")
	w.do(w.dpo, "DELETE", "/api/v1/documents/"+docs[0], nil).want(t, 409, "document erasure under hold")
	w.do(w.dpo, "DELETE", "/api/v1/cases/"+id+"/hold", nil).want(t, 204, "release hold")
	w.do(w.dpo, "DELETE", "/api/v1/cases/"+id+"/hold", nil).want(t, 404, "release again")

	w.do(w.applicant, "POST", "/api/v1/cases/"+id+"/erasure", map[string]string{"reference": "x"}).want(t, 403, "erasure by the applicant")
	w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/erasure", map[string]string{}).want(t, 400, "erasure without reference")
	tr := w.do(w.dpo, "POST", "/api/v1/cases/"+id+"/erasure", map[string]string{"reference": "DSR-2026-17"}).want(t, 201, "erasure")
	var tomb cases.Tombstone
	if err := json.Unmarshal(tr.body, &tomb); err != nil || tomb.CaseID != id || tomb.Reason != cases.ErasureRequest ||
		tomb.LastStatus != so.StatusRefunded || tomb.Documents != len(docs) || tomb.Rule != "DSR-2026-17" || tomb.ErasedBy == nil {
		t.Fatalf("tombstone %s (%v)", tr.body, err)
	}

	// The case is gone for everyone; its tombstone remains for the DPO.
	for _, as := range []who{w.applicant, w.cm, w.reviewer, w.dpo} {
		w.do(as, "GET", "/api/v1/cases/"+id, nil).want(t, 404, "erased case as "+as.name)
	}
	w.do(w.dpo, "GET", "/api/v1/cases/"+id+"/erasure", nil).want(t, 200, "tombstone")
	w.do(w.cm, "GET", "/api/v1/cases/"+id+"/erasure", nil).want(t, 403, "tombstone as case manager")
	w.do(w.dpo, "GET", "/api/v1/cases/"+otherCase+"/erasure", nil).want(t, 404, "tombstone of a case not erased")

	// documents identity finds no key for any document of the case.
	for _, d := range append([]string{partial, extra}, docs...) {
		if out, err := w.cli("", "documents", "identity", d); err == nil {
			t.Fatalf("documents identity %s after erasure: %s", d, out)
		}
		var n int
		w.db.Owner.Get(&n, `SELECT count(*) FROM document_keys WHERE document_id = $1`, d)
		if n != 0 {
			t.Fatalf("document key of %s left", d)
		}
	}
	// No object of the case is left in the bucket, nor the unfinished upload's parts.
	left := map[string]bool{}
	for o := range bucket.Client.ListObjects(ctx, bucket.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if o.Err != nil {
			t.Fatal(o.Err)
		}
		left[o.Key] = true
	}
	for k := range saved {
		if left[k] {
			t.Fatalf("object %s of the erased case is still stored", k)
		}
	}
	for u := range bucket.Client.ListIncompleteUploads(ctx, bucket.Bucket, "", true) {
		if u.Key == partialKey {
			t.Fatalf("the unfinished upload's multipart upload is still stored")
		}
	}
	var otherKey string
	w.db.Owner.Get(&otherKey, `SELECT object_key FROM documents WHERE id = $1`, otherDoc)
	if !left[otherKey] {
		t.Fatal("the other patient's object was deleted")
	}
	w.do(other, "GET", "/api/v1/documents/"+otherDoc+"/content", nil).want(t, 200, "the other patient's document")

	// No key the service holds decrypts a saved ciphertext: not the KEKs, not any remaining
	// document identity. The same harness decrypts the other patient's object with its key.
	idFiles := strings.Split(w.vars["SO_KEK_FILES"], ",")
	out, err := w.cli("", "documents", "identity", otherDoc)
	if err != nil {
		t.Fatalf("documents identity %s: %v", otherDoc, err)
	}
	otherID := filepath.Join(dir, "other-identity.txt")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	os.WriteFile(otherID, []byte(lines[len(lines)-1]+"\n"), 0o600)
	idFiles = append(idFiles, otherID)
	otherCopy := filepath.Join(dir, "other.age")
	if err := bucket.Client.FGetObject(ctx, bucket.Bucket, otherKey, otherCopy, minio.GetObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := ageDecrypt(t, otherID, otherCopy); err != nil {
		t.Fatalf("control: the other document does not decrypt with its own identity: %v", err)
	}
	for _, f := range saved {
		for _, id := range idFiles {
			if plain, err := ageDecrypt(t, id, f); err == nil {
				t.Fatalf("saved ciphertext %s decrypted with %s (%d bytes)", f, filepath.Base(id), len(plain))
			}
		}
	}

	// No row names the case's people or holds its health data; the audit entries stay.
	for _, q := range []string{`SELECT count(*) FROM cases WHERE id = $1`, `SELECT count(*) FROM documents WHERE case_id = $1`,
		`SELECT count(*) FROM case_events WHERE case_id = $1`, `SELECT count(*) FROM case_consents WHERE case_id = $1`,
		`SELECT count(*) FROM payments WHERE case_id = $1`, `SELECT count(*) FROM assignments WHERE case_id = $1`,
		`SELECT count(*) FROM invitations WHERE case_id = $1`, `SELECT count(*) FROM document_requests WHERE case_id = $1`,
		`SELECT count(*) FROM uploads WHERE metadata->>'case_id' = $1::text`} {
		var n int
		if err := w.db.Owner.Get(&n, q, id); err != nil || n != 0 {
			t.Fatalf("%s: %d rows (%v)", q, n, err)
		}
	}
	dump := pgDump(t, w.db)
	for _, word := range []string{erasedGiven, erasedFamily, erasedQuestion, erasedSigner, erasedFilename} {
		if bytes.Contains(dump, []byte(word)) {
			t.Fatalf("%q is still in the database after erasure", word)
		}
	}
	if !bytes.Contains(dump, []byte(id)) {
		t.Fatal("neither tombstone nor audit entries name the erased case")
	}
	// One erasure done, two refused (in review, under hold): each in the log.
	var done, refused int
	w.db.Owner.Get(&done, `SELECT count(*) FROM audit_entries WHERE case_id = $1 AND action = 'case.erase' AND outcome = 0`, id)
	w.db.Owner.Get(&refused, `SELECT count(*) FROM audit_entries WHERE case_id = $1 AND action = 'case.erase' AND outcome <> 0`, id)
	if done != 1 || refused != 2 {
		t.Fatalf("%d case.erase entries done and %d refused, want 1 and 2", done, refused)
	}
	if out, err := w.cli("", "audit", "verify"); err != nil {
		t.Fatalf("audit verify after erasure: %v\n%s", err, out)
	}
}

// Retention with an injected clock: each run erases exactly the cases expired under
// SO_RETENTION and the rejected documents past their period, never a case under legal hold;
// a dry run erases nothing; every run is audited.
func TestRetentionRunsTheRules(t *testing.T) {
	w := newWorkflowWorldOn(bootAPIWith(t, testenv.NewDB(t), testenv.NewBucket(t), func(v map[string]string) {
		v["SO_RETENTION"] = "withdrawn=30d,draft=90d,closed=10y,rejected=7d"
	}))
	ctx := context.Background()
	t0 := w.clock.Now()

	draft := w.newDraft()
	withdrawn := w.newDraft()
	w.step(w.applicant, withdrawn, "withdraw", map[string]string{"reason": "changed my mind"}, 200)
	held := w.newDraft()
	w.step(w.applicant, held, "withdraw", map[string]string{"reason": "changed my mind"}, 200)
	w.do(w.dpo, "POST", "/api/v1/cases/"+held+"/hold", map[string]string{"reason": "litigation 12"}).want(t, 201, "hold")
	// A case in triage with one document rejected and one accepted.
	triage := w.newDraft()
	docs := w.uploadChecklist(triage)
	w.do(w.applicant, "POST", "/api/v1/cases/"+triage+"/consent/signature", map[string]string{"signer_name": "Maria Rossi",
		"relationship": "self"}).want(t, 201, "sign consent")
	w.step(w.applicant, triage, "submit", nil, 200)
	w.step(w.cm, triage, "triage", nil, 200)
	var rejected, accepted string
	for _, d := range docs {
		if rejected == "" {
			rejected = d
			w.review(d, "rejected", "illegible")
		} else if accepted == "" {
			accepted = d
			w.review(d, "accepted", "")
		}
	}

	run := func(after time.Duration, dry bool) retention.Report {
		t.Helper()
		// Its own actor: the service's daily job may run meanwhile (at its leader's election) and
		// is audited as system:retention.
		r, err := w.m.eraser.Run(ctx, retention.RunOptions{Now: t0.Add(after), DryRun: dry, By: cases.Actor{
			Subject: access.Subject{Role: so.RoleSystem}, Entry: audit.Entry{ActorID: "test:retention", ActorRole: "system"}}})
		if err != nil {
			t.Fatalf("run at +%s: %v", after, err)
		}
		return r
	}
	visible := func(id string) bool {
		return w.do(w.dpo, "GET", "/api/v1/cases/"+id, nil).status == 200
	}
	docVisible := func(id string) bool {
		var n int
		w.db.Owner.Get(&n, `SELECT count(*) FROM documents WHERE id = $1`, id)
		return n == 1
	}
	day := 24 * time.Hour

	// Six days on: nothing has expired.
	if r := run(6*day, false); len(r.Cases) != 0 || len(r.Rejected) != 0 || r.Erased != 0 {
		t.Fatalf("at +6d: %+v", r)
	}
	// Thirty-one days on, a dry run lists the withdrawn case and the rejected document and
	// erases nothing.
	r := run(31*day, true)
	if len(r.Cases) != 1 || r.Cases[0].CaseID != withdrawn || len(r.Rejected) != 1 || r.Rejected[0].DocumentID != rejected ||
		r.Erased != 0 || !r.DryRun {
		t.Fatalf("dry run at +31d: %+v", r)
	}
	if !visible(withdrawn) || !docVisible(rejected) {
		t.Fatal("the dry run erased something")
	}
	// The run erases them, and only them.
	r = run(31*day, false)
	if r.Erased != 1 || r.Removed != 1 {
		t.Fatalf("run at +31d: %+v", r)
	}
	if visible(withdrawn) || docVisible(rejected) {
		t.Fatal("the expired case or the rejected document survived")
	}
	if !visible(draft) || !visible(held) || !visible(triage) || !docVisible(accepted) {
		t.Fatal("the run erased what had not expired")
	}
	tomb := w.do(w.dpo, "GET", "/api/v1/cases/"+withdrawn+"/erasure", nil).want(t, 200, "tombstone").json(t)
	if tomb["reason"] != "retention" || tomb["rule"] != "retention: withdrawn=30d" || tomb["erased_by"] != nil {
		t.Fatalf("tombstone %v", tomb)
	}
	d := w.detail(w.applicant, triage)
	if ev := d.History[len(d.History)-1]; ev.Action != "document.erased" || ev.ActorRole != so.RoleSystem || ev.ObjectID != rejected {
		t.Fatalf("last step of the triaged case: %+v", ev)
	}
	// Ninety-one days on the idle draft goes; the held case stays until its hold is lifted.
	if r = run(91*day, false); r.Erased != 1 || visible(draft) || !visible(held) {
		t.Fatalf("run at +91d: %+v", r)
	}
	w.do(w.dpo, "DELETE", "/api/v1/cases/"+held+"/hold", nil).want(t, 204, "release hold")
	if r = run(91*day, false); r.Erased != 1 || visible(held) {
		t.Fatalf("run after the hold: %+v", r)
	}

	// The command does what the job does, with the real clock: nothing has expired yet.
	out, err := w.cli("", "retention", "run", "--dry-run")
	if err != nil || !strings.Contains(out, "dry run: would erase 0 cases and 0 rejected documents") ||
		!strings.Contains(out, "rules: draft=90d,closed=10y,withdrawn=30d,rejected=7d") {
		t.Fatalf("retention run --dry-run: %v\n%s", err, out)
	}
	var runs int
	w.db.Owner.Get(&runs, `SELECT count(*) FROM audit_entries WHERE action = 'retention.run'
		AND (actor_id = 'test:retention' OR actor_id LIKE 'cli:%')`)
	if runs != 6 {
		t.Fatalf("%d retention runs audited, want 6", runs)
	}
	if out, err := w.cli("", "audit", "verify"); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}
	// The log of holds, erasures and runs exports as valid FHIR R4 AuditEvents.
	x := w.do(w.dpo, "GET", "/api/v1/audit/export?format=fhir", nil).want(t, 200, "FHIR NDJSON")
	var all int
	w.db.Owner.Get(&all, `SELECT count(*) FROM audit_entries`)
	if n := testenv.FHIRValid(t, x.body); n < all {
		t.Fatalf("%d AuditEvents exported of %d entries", n, all)
	}
	for _, a := range []string{"case.hold", "case.hold_release", "case.erase", "retention.run", "document.erase"} {
		if !bytes.Contains(x.body, []byte(`"system":"urn:secondopinion:action","code":"`+a+`"`)) {
			t.Errorf("the FHIR export does not say which events were %s", a)
		}
	}
}

// ageDecrypt runs the age CLI on a saved ciphertext with an identity file.
func ageDecrypt(t *testing.T, identity, file string) ([]byte, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	cmd := exec.Command(testenv.Binary(t, "age"), "-d", "-i", identity, file)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// pgDump is the whole test database as SQL text (pg_dump as the owner).
func pgDump(t *testing.T, db *testenv.DB) []byte {
	t.Helper()
	bin, err := exec.LookPath("pg_dump")
	if err != nil {
		matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
		if len(matches) == 0 {
			t.Fatal("pg_dump not found (it comes with PostgreSQL)")
		}
		bin = matches[len(matches)-1]
	}
	var out, errOut bytes.Buffer
	cmd := exec.Command(bin, "--data-only", "--no-owner", db.OwnerURL)
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("pg_dump: %v: %s", err, errOut.String())
	}
	return out.Bytes()
}

// uploadNamed stores content through tus as w with this file name and returns the document id.
func (a *apiServer) uploadNamed(w who, caseID, kind, name string, content []byte) string {
	a.t.Helper()
	loc := a.createUpload(w, caseID, kind, name, len(content))
	a.do(w, "PATCH", loc, string(content), tusPatch(0)).want(a.t, 204, "upload")
	return loc[strings.LastIndex(loc, "/")+1:]
}

// partialUpload creates an upload of size bytes and stores only the first n.
func (a *apiServer) partialUpload(w who, caseID, kind, name string, size, n int) string {
	a.t.Helper()
	loc := a.createUpload(w, caseID, kind, name, size)
	a.do(w, "PATCH", loc, strings.Repeat("%", n), tusPatch(0)).want(a.t, 204, "partial upload")
	return loc[strings.LastIndex(loc, "/")+1:]
}

func tusPatch(offset int) func(*http.Request) {
	return func(req *http.Request) {
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", strconv.Itoa(offset))
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}
}
