package main

// The pages in a real browser: Debian's Chromium driven by playwright-core, by the scenario
// scripts in web/ui/test (pages-*.mjs). The Go side boots the service, makes the fixtures (a
// PDF, a CD folder of DICOM files made by DCMTK), answers the scripts' questions (the link in a
// mail) and checks through the API what a person would check afterwards.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// screenshotDir is where the page tests save their screenshots (named in the README).
const screenshotDir = "../../web/ui/test/screenshots"

var pageLinkRE = regexp.MustCompile(`https?://\S+/(?:signin/link|invitation|password)\?token=[A-Za-z0-9_-]+`)

// startControl serves the scenario scripts' questions on loopback: GET /link?email= answers
// the newest sign-in or invitation link mailed to the address (404 while there is none).
func startControl(t *testing.T, a *apiServer) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /link", func(w http.ResponseWriter, r *http.Request) {
		mails := a.mailsTo(r.URL.Query().Get("email"))
		for i := len(mails) - 1; i >= 0; i-- {
			if l := pageLinkRE.FindString(mails[i].Body); l != "" {
				fmt.Fprintln(w, l)
				return
			}
		}
		http.NotFound(w, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return "http://" + ln.Addr().String()
}

// runScenario runs web/ui/test/<script> in Chromium and returns its result, failing the test
// with the script's reason when a check in it fails.
func runScenario(t *testing.T, script string, vars map[string]string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/"+script)
	cmd.Dir = filepath.Join("..", "..", "web", "ui")
	cmd.Env = os.Environ()
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v (make test installs web/ui's packages and Chromium)", err)
	}
	var result map[string]any
	var failure string
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Event  string         `json:"event"`
			Result map[string]any `json:"result"`
			Error  string         `json:"error"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil {
			continue
		}
		switch {
		case line.Error != "":
			failure = line.Error
		case line.Result != nil:
			result = line.Result
		default:
			t.Logf("%s: %s", script, sc.Text())
		}
	}
	werr := cmd.Wait()
	if failure != "" || werr != nil || result == nil {
		t.Fatalf("%s failed: %s (%v)\nstderr:\n%s", script, failure, werr, tail(stderr.String(), 4000))
	}
	return result
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// writePDF writes a small PDF and returns its path.
func writePDF(t *testing.T, dir, name string) string {
	t.Helper()
	body := "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n" +
		"% " + name + "\ntrailer << /Root 1 0 R >>\n%%EOF\n"
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// makeCD writes a CD's folder as a hospital burns it: n synthetic DICOM images made by DCMTK's
// img2dcm under DICOM/, and the DICOMDIR made by dcmmkdir. It returns the folder.
func makeCD(t *testing.T, dir string, n int) string {
	t.Helper()
	for _, tool := range []string{"img2dcm", "dcmmkdir"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is missing: make test installs DCMTK (Debian package dcmtk)", tool)
		}
	}
	cd := filepath.Join(dir, "CD")
	if err := os.MkdirAll(filepath.Join(cd, "DICOM"), 0o700); err != nil {
		t.Fatal(err)
	}
	bmp := filepath.Join(dir, "image.bmp")
	if err := os.WriteFile(bmp, testBMP(64, 64), 0o600); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= n; i++ {
		out := filepath.Join(cd, "DICOM", fmt.Sprintf("IM%06d", i))
		cmd := exec.Command("img2dcm", "-i", "BMP", bmp, out, "-k", "PatientName=Synthetic^Test", "-k", "PatientID=SYN0001",
			"-k", "StudyID=1", "-k", "Modality=OT", "-k", "StudyDate=20261201", "-k", "StudyTime=101500",
			"-k", "SeriesNumber=1", "-k", fmt.Sprintf("InstanceNumber=%d", i),
			"-k", "StudyInstanceUID=1.2.826.0.1.3680043.2.1143.7", "-k", "SeriesInstanceUID=1.2.826.0.1.3680043.2.1143.7.1")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("img2dcm: %v\n%s", err, b)
		}
	}
	cmd := exec.Command("dcmmkdir", "--recurse", "DICOM")
	cmd.Dir = cd
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("dcmmkdir: %v\n%s", err, b)
	}
	return cd
}

// testBMP is a w×h 24-bit BMP with a gradient.
func testBMP(w, h int) []byte {
	row := (w*3 + 3) &^ 3
	var px []byte
	for y := range h {
		r := make([]byte, row)
		for x := range w {
			r[3*x], r[3*x+1], r[3*x+2] = byte(x*4), byte(y*4), 128
		}
		px = append(px, r...)
	}
	var b bytes.Buffer
	le := func(v any) { binary.Write(&b, binary.LittleEndian, v) }
	b.WriteString("BM")
	le(uint32(54 + len(px)))
	le(uint32(0))
	le(uint32(54))
	le(uint32(40))
	le(int32(w))
	le(int32(h))
	le(uint16(1))
	le(uint16(24))
	le(uint32(0))
	le(uint32(len(px)))
	le(int32(2835))
	le(int32(2835))
	le(uint32(0))
	le(uint32(0))
	b.Write(px)
	return b.Bytes()
}

func fileSHA256(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// apiToken issues a bearer token for the account, to check through the API what pages did.
func (a *apiServer) apiToken(email string) who {
	a.t.Helper()
	_, token, err := a.m.access.Tokens.Issue(context.Background(), email, time.Hour)
	if err != nil {
		a.t.Fatal(err)
	}
	return who{name: email, token: token}
}

// englishDay writes t as the English pages do: "Wednesday 9 December 2026".
func englishDay(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return fmt.Sprintf("%s %d %s %d", t.Weekday(), t.Day(), t.Month(), t.Year())
}

// A parent applies for their child through the pages: sign-in link, new request (the checklist
// asks for their own ID and proof of authority), a PDF and a CD folder of 12 DICOM images with
// its DICOMDIR, the consent, submission, and the due date in words. The API then shows the
// same documents, each with the SHA-256 of the file on disk and its place in the folder.
func TestPagesApplicantJourney(t *testing.T) {
	a := bootAPI(t)
	const email = "parent@example.org"
	a.account(email, so.RoleApplicant, "")
	dir := t.TempDir()
	pdf := writePDF(t, dir, "history.pdf")
	cd := makeCD(t, dir, 12)

	res := runScenario(t, "pages-journey.mjs", map[string]string{
		"BASE_URL": a.base, "CONTROL_URL": startControl(t, a), "SCREENSHOT_DIR": screenshotDir,
		"APPLICANT_EMAIL": email, "PDF_FILE": pdf, "DICOM_DIR": cd, "TEXT_FILE": writeText(t, dir),
	})
	caseID, _ := res["caseId"].(string)
	owner := a.apiToken(email)

	cs := a.do(owner, "GET", "/api/v1/cases/"+caseID, nil).want(t, 200, "the case").json(t)
	if cs["status"] != "submitted" || cs["applicant_relationship"] != "parent" {
		t.Fatalf("after the pages the case is %v, applied for as %v", cs["status"], cs["applicant_relationship"])
	}
	due, err := time.Parse(time.RFC3339Nano, cs["triage_due_at"].(string))
	if err != nil {
		t.Fatal(err)
	}
	want := "We will answer by " + englishDay(due, a.m.Config.TimeZone)
	if res["due"] != want {
		t.Errorf("the case page says %q, want %q", res["due"], want)
	}
	if c := a.do(owner, "GET", "/api/v1/cases/"+caseID+"/consent", nil).want(t, 200, "consent").json(t); c["status"] != "withdrawn" ||
		c["signer_name"] != "Marco Bianchi" || c["relationship"] != "parent" {
		t.Errorf("after signing and withdrawing on the pages the consent is %v by %v as %v", c["status"], c["signer_name"], c["relationship"])
	}

	expected := map[string]string{"history.pdf": fileSHA256(t, pdf), "CD/DICOMDIR": fileSHA256(t, filepath.Join(cd, "DICOMDIR"))}
	for i := 1; i <= 12; i++ {
		name := fmt.Sprintf("IM%06d", i)
		expected["CD/DICOM/"+name] = fileSHA256(t, filepath.Join(cd, "DICOM", name))
	}
	var docs struct {
		Documents []struct {
			Kind         string `json:"kind"`
			Filename     string `json:"filename"`
			RelativePath string `json:"relative_path"`
			SHA256       string `json:"sha256"`
		} `json:"documents"`
	}
	if err := json.Unmarshal(a.do(owner, "GET", "/api/v1/cases/"+caseID+"/documents", nil).want(t, 200, "documents").body, &docs); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, d := range docs.Documents {
		key := d.Filename
		if d.RelativePath != "" {
			key = d.RelativePath
			if !strings.HasSuffix(key, "/"+d.Filename) {
				t.Errorf("relative path %q does not end in its file name %q", key, d.Filename)
			}
			if d.Kind != string(so.KindImagingStudy) {
				t.Errorf("%s stored as %s", key, d.Kind)
			}
		}
		got[key] = d.SHA256
	}
	for name, sum := range expected {
		if got[name] != sum {
			t.Errorf("%s: the API says SHA-256 %q, the file on disk has %s", name, got[name], sum)
		}
	}
	if len(got) != len(expected) {
		t.Errorf("the API lists %d documents, the pages sent %d: %v", len(got), len(expected), got)
	}
	if rows, _ := res["receiptRows"].(float64); int(rows) != len(expected)+1 {
		t.Errorf("the receipt page has %v rows, want a header and %d files", res["receiptRows"], len(expected))
	}
	// The downloadable receipt says what the server recorded: the files on disk, byte for byte.
	receipt, _ := res["receipt"].([]any)
	if len(receipt) != len(expected) {
		t.Errorf("the JSON receipt lists %d files, want %d", len(receipt), len(expected))
	}
	for _, e := range receipt {
		m := e.(map[string]any)
		if name := m["name"].(string); expected[name] != m["sha256"] {
			t.Errorf("receipt: %s has SHA-256 %v, the file on disk %s", name, m["sha256"], expected[name])
		}
	}
}

// writeText writes a plain-text file, a format no checklist kind but "other" takes.
func writeText(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(p, []byte("Appunti per lo specialista.\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// A 200 MiB upload interrupted by reloading the page finishes after the file is chosen again,
// sending only what the server did not have: no new upload, the first PATCH at the stored
// offset, and the stored document is the file on disk.
func TestPagesUploadResumesAfterReload(t *testing.T) {
	a := bootAPI(t)
	const email = "resume@example.org"
	a.account(email, so.RoleApplicant, "")
	owner := a.apiToken(email)
	caseID := a.newCase(owner, "Anna")

	const size = 200 << 20
	big := filepath.Join(t.TempDir(), "scan-export.bin")
	data := make([]byte, size)
	for i := range data { // not compressible, not all zeros: a real file's worth of work
		data[i] = byte(i*2654435761>>13) ^ byte(i>>9)
	}
	copy(data, "%PDF-1.7\n%") // an exported scan: the content checks take it for a PDF
	copy(data[size-7:], "\n%%EOF\n")
	if err := os.WriteFile(big, data, 0o600); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	data = nil

	res := runScenario(t, "pages-resume.mjs", map[string]string{
		"BASE_URL": a.base, "CONTROL_URL": startControl(t, a), "APPLICANT_EMAIL": email, "CASE_ID": caseID, "BIG_FILE": big,
	})
	stored, _ := res["stored"].(float64)
	resumedAt, _ := res["resumedAt"].(float64)
	sent, _ := res["bytesSentAfterReload"].(float64)
	t.Logf("listed as stored after the reload: %.0f bytes; continued from %.0f; sent after it: %.0f of %d", stored, resumedAt, sent, size)
	if stored <= 0 || resumedAt < stored || int64(resumedAt+sent) != size || sent >= size {
		t.Errorf("listed %.0f, continued from %.0f, sent %.0f of %d after the reload", stored, resumedAt, sent, size)
	}
	var docs struct {
		Documents []struct {
			Size   int64  `json:"size"`
			SHA256 string `json:"sha256"`
		} `json:"documents"`
	}
	if err := json.Unmarshal(a.do(owner, "GET", "/api/v1/cases/"+caseID+"/documents", nil).want(t, 200, "documents").body, &docs); err != nil {
		t.Fatal(err)
	}
	if len(docs.Documents) != 1 || docs.Documents[0].Size != size || docs.Documents[0].SHA256 != hex.EncodeToString(sum[:]) {
		t.Fatalf("after the resumed upload the case has %+v, want one document of %d bytes with SHA-256 %x", docs.Documents, size, sum)
	}
}

// The referring physician's invitation page: invited from the case page, they upload a cover
// letter to that one case, see it, and reach no other page, case or document.
func TestPagesPhysicianInvitation(t *testing.T) {
	w := newWorkflowWorld(t)
	caseID := w.newDraft()
	other := w.newDraft()
	w.upload(w.applicant, caseID, "clinical_history", pdf)
	letter := writePDF(t, t.TempDir(), "lettera-di-accompagnamento.pdf")
	res := runScenario(t, "pages-physician.mjs", map[string]string{
		"BASE_URL": w.base, "CONTROL_URL": startControl(t, w.apiServer), "SCREENSHOT_DIR": screenshotDir,
		"APPLICANT_EMAIL": "ann@example.org", "CASE_ID": caseID, "OTHER_CASE_ID": other,
		"PHYSICIAN_EMAIL": "dr.verdi@example.org", "LETTER": letter,
	})
	sees, _ := res["physicianSees"].([]any)
	if len(sees) != 1 || sees[0] != "lettera-di-accompagnamento.pdf" {
		t.Errorf("the physician sees %v of the case's documents, want only their letter", sees)
	}
	var docs struct {
		Documents []struct {
			Kind     string `json:"kind"`
			Filename string `json:"filename"`
			SHA256   string `json:"sha256"`
		} `json:"documents"`
	}
	json.Unmarshal(w.do(w.applicant, "GET", "/api/v1/cases/"+caseID+"/documents", nil).want(t, 200, "documents").body, &docs)
	found := false
	for _, d := range docs.Documents {
		if d.Kind == "cover_letter" && d.SHA256 == fileSHA256(t, letter) {
			found = true
		}
	}
	if !found {
		t.Errorf("the patient's case has no cover letter with the physician's file's SHA-256: %+v", docs.Documents)
	}
}

// Every page in English, Italian and Spanish at 1280 and 360 px: no serious or critical
// axe-core violation, no CSP violation, no horizontal scrolling on a phone, no message id left
// untranslated. The case pages show a case in review with an extra to decide, and a draft.
func TestPagesAccessibleInEveryLanguage(t *testing.T) {
	w := newWorkflowWorld(t)
	review := w.toInReview()
	w.do(w.reviewer, "POST", "/api/v1/cases/"+review+"/extras", map[string]string{"type": "slide_review",
		"reason": "The slides should be read again by our pathologist."}).want(t, 201, "propose extra")
	released := w.toInReview()
	w.upload(w.reviewer, released, "report", pdf)
	w.step(w.reviewer, released, "release", nil, 200)
	draft := w.newDraft()
	w.upload(w.applicant, draft, "clinical_history", pdf)
	pages := []map[string]any{
		{"name": "home", "path": "/", "as": "nobody"},
		{"name": "signin", "path": "/signin", "as": "nobody"},
		{"name": "signin-link", "path": "/signin/link?token=not-a-real-token", "as": "nobody"},
		{"name": "invitation-landing", "path": "/invitation?token=not-a-real-token", "as": "nobody"},
		{"name": "signin-refused", "method": "POST", "from": "/signin", "submit": "form[action='/signin'] button", "as": "nobody"},
		{"name": "cases", "path": "/cases", "as": "applicant"},
		{"name": "new", "path": "/cases/new", "as": "applicant"},
		{"name": "new-refused", "method": "POST", "from": "/cases/new", "submit": "form[action='/cases/new'] button[type=submit]", "as": "applicant"},
		{"name": "case", "path": "/cases/" + review, "as": "applicant"},
		{"name": "case-released", "path": "/cases/" + released, "as": "applicant"},
		{"name": "consent-signed", "path": "/cases/" + review + "/consent", "as": "applicant"},
		{"name": "case-draft", "path": "/cases/" + draft, "as": "applicant"},
		{"name": "consent-sign", "path": "/cases/" + draft + "/consent", "as": "applicant"},
		{"name": "upload", "path": "/cases/" + draft + "/upload", "as": "applicant"},
		{"name": "receipt", "path": "/cases/" + draft + "/receipt", "as": "applicant"},
		{"name": "accesses", "path": "/cases/" + review + "/accesses", "as": "applicant"},
		{"name": "withdraw", "path": "/cases/" + draft + "/withdraw", "as": "applicant"},
		{"name": "not-found", "path": "/cases/00000000-0000-4000-8000-000000000000", "as": "applicant", "status": 404},
	}
	list, _ := json.Marshal(pages)
	res := runScenario(t, "pages-a11y.mjs", map[string]string{
		"BASE_URL": w.base, "CONTROL_URL": startControl(t, w.apiServer), "SCREENSHOT_DIR": screenshotDir,
		"APPLICANT_EMAIL": "ann@example.org", "PAGES": string(list),
	})
	if n, _ := res["checked"].(float64); int(n) != len(pages)*6 {
		t.Errorf("checked %v page views, want %d", res["checked"], len(pages)*6)
	}
	t.Logf("axe: %v violations of minor or moderate impact in all", res["minorOrModerate"])
	if res["report"] != hexSum(pdf) {
		t.Errorf("the report downloaded from the case page has SHA-256 %v, the reviewer uploaded %s", res["report"], hexSum(pdf))
	}
}
