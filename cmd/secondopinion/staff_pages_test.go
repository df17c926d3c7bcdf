package main

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/image/tiff"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// The staff desks in Chromium, each role in turn on one service:
//   - a case manager enrols TOTP with a code computed from the secret the page shows, finds the
//     overdue case first in the queue, takes it into triage, sees the identity document drawn by
//     pdf.js (the canvas is not blank), rejects a document with a reason, accepts the others,
//     countersigns the consent, assigns a specialist, accepts the case and records the payment;
//   - the specialist sees nothing of a case before its consent and cannot open its documents,
//     opens one after, uploads the report and releases it;
//   - the DPO filters the log to the case, downloads its FHIR export and verifies the log;
//   - the admin resets the case manager's TOTP, who must then enrol again.
//
// The API then shows what the applicant sees: the rejection's reason, and the report.
func TestStaffDesks(t *testing.T) {
	w := newWorkflowWorld(t)
	ctx := context.Background()
	const password = "correct horse battery staple 2026"
	w.account("admin@example.org", so.RoleAdmin, "")
	for _, e := range []string{"cm@example.org", "rita@example.org", "dpo@example.org", "admin@example.org"} {
		if err := w.m.access.Accounts.SetPassword(ctx, e, password); err != nil {
			t.Fatal(err)
		}
	}
	// Case A: complete, consent signed, submitted; then the clock moves past its triage date.
	caseA := w.newDraft()
	docs := map[so.DocumentKind]string{}
	for _, it := range w.detail(w.applicant, caseA).Checklist {
		if it.Required {
			docs[it.Kind] = w.upload(w.applicant, caseA, string(it.Kind), testenv.PDF(2, string(it.Kind)))
		}
	}
	reject := w.upload(w.applicant, caseA, "other", testenv.PDF(1, "other"))
	var scan bytes.Buffer // a slide scanned as TIFF, which browsers do not show: the viewer gets a PNG
	img := image.NewRGBA(image.Rect(0, 0, 320, 200))
	for i := range img.Pix {
		img.Pix[i] = byte(i % 251)
	}
	if err := tiff.Encode(&scan, img, nil); err != nil {
		t.Fatal(err)
	}
	tiffDoc := w.upload(w.applicant, caseA, "histology_report", scan.Bytes())
	w.do(w.applicant, "POST", "/api/v1/cases/"+caseA+"/consent/signature", map[string]string{"signer_name": "Maria Rossi",
		"relationship": "self"}).want(t, 201, "sign consent")
	w.step(w.applicant, caseA, "submit", nil, 200)
	w.clock.Advance(8 * 24 * time.Hour)
	w.applicant, w.cm = w.apiToken("ann@example.org"), w.apiToken("cm@example.org") // the old ones expired
	// Case B: submitted now.
	caseB := w.newDraft()
	w.upload(w.applicant, caseB, "clinical_history", testenv.PDF(1, "history"))
	w.step(w.applicant, caseB, "submit", nil, 200)
	// Case C: assigned to the specialist, its consent signed but not countersigned.
	caseC := w.newDraft()
	docC := w.upload(w.applicant, caseC, "clinical_history", testenv.PDF(1, "history"))
	w.step(w.applicant, caseC, "submit", nil, 200)
	w.do(w.cm, "POST", "/api/v1/cases/"+caseC+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign")

	dir := t.TempDir()
	report := filepath.Join(dir, "second-opinion.pdf")
	reportPDF := testenv.PDF(3, "Second opinion")
	if err := os.WriteFile(report, reportPDF, 0o600); err != nil {
		t.Fatal(err)
	}
	res := runScenario(t, "staff-desks.mjs", map[string]string{
		"BASE_URL": w.base, "CONTROL_URL": startControl(t, w.apiServer), "SCREENSHOT_DIR": screenshotDir,
		"PASSWORD": password, "CM_EMAIL": "cm@example.org", "REVIEWER_EMAIL": "rita@example.org", "DPO_EMAIL": "dpo@example.org",
		"ADMIN_EMAIL":  "admin@example.org",
		"OVERDUE_CASE": caseA, "OTHER_CASE": caseB, "REVIEWER_CASE_BEFORE_CONSENT": caseC, "REVIEWER_DOC_BEFORE_CONSENT": docC,
		"IDENTITY_DOC": docs[so.KindIdentityDocument], "REJECT_DOC": reject, "REPORT": report, "TIFF_DOC": tiffDoc,
		"SERVER_NOW_MS": strconv.FormatInt(w.clock.Now().UnixMilli(), 10), // the TOTP codes' clock
	})
	t.Logf("DPO's FHIR export of the case: %v entries", res["exported"])

	// What the applicant sees afterwards.
	d := w.detail(w.applicant, caseA)
	if d.Status != so.StatusReportReleased {
		t.Errorf("after the desks the case is %s, want report_released", d.Status)
	}
	var list struct {
		Documents []struct {
			ID     string `json:"id"`
			Kind   string `json:"kind"`
			SHA256 string `json:"sha256"`
			Review *struct {
				Decision string `json:"decision"`
				Reason   string `json:"reason"`
			} `json:"review"`
		} `json:"documents"`
	}
	if err := json.Unmarshal(w.do(w.applicant, "GET", "/api/v1/cases/"+caseA+"/documents", nil).want(t, 200, "documents").body, &list); err != nil {
		t.Fatal(err)
	}
	var sawReason, sawReport bool
	for _, doc := range list.Documents {
		if doc.ID == reject && doc.Review != nil && doc.Review.Decision == "rejected" &&
			doc.Review.Reason == "The scan is cut off: please send all pages." {
			sawReason = true
		}
		if doc.Kind == "report" {
			body := w.do(w.applicant, "GET", "/api/v1/documents/"+doc.ID+"/content", nil).want(t, 200, "the report").body
			sawReport = hexSum(body) == hexSum(reportPDF)
		}
	}
	if !sawReason {
		t.Error("the applicant does not see the rejection's reason")
	}
	if !sawReport {
		t.Error("the applicant cannot download the released report as the specialist uploaded it")
	}
	// The DPO erased case B from the pages: gone, with its tombstone.
	w.do(w.applicant, "GET", "/api/v1/cases/"+caseB, nil).want(t, 404, "the erased case")
	if tomb := w.do(w.apiToken("dpo@example.org"), "GET", "/api/v1/cases/"+caseB+"/erasure", nil).want(t, 200, "tombstone").json(t); tomb["rule"] != "DSR-2026-17" {
		t.Errorf("tombstone %v", tomb)
	}
}
