package main

// HTTP tests of the case workflow (DESIGN §8, §9): one case walked from request to report by
// the real roles, withdrawal and refund, every illegal transition from every state, and what a
// reviewer reads before consent.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// workflowWorld: an applicant, a case manager, a reviewer and a DPO, all with API tokens.
type workflowWorld struct {
	*apiServer
	applicant, cm, reviewer, dpo who
	reviewerID                   string
}

func newWorkflowWorld(t *testing.T) *workflowWorld {
	t.Helper()
	return newWorkflowWorldOn(bootAPI(t))
}

// newWorkflowWorldOn is newWorkflowWorld on a service already booted.
func newWorkflowWorldOn(a *apiServer) *workflowWorld {
	a.t.Helper()
	w := &workflowWorld{apiServer: a}
	w.applicant, _ = a.tokenFor("ann@example.org", so.RoleApplicant)
	w.cm, _ = a.tokenFor("cm@example.org", so.RoleCaseManager)
	w.reviewer, w.reviewerID = a.tokenFor("rita@example.org", so.RoleReviewer)
	w.dpo, _ = a.tokenFor("dpo@example.org", so.RoleDPO)
	return w
}

// caseDetail is what the tests read of GET /api/v1/cases/{id}.
type caseDetail struct {
	ID              string                `json:"id"`
	Status          so.CaseStatus         `json:"status"`
	AwaitingConsent bool                  `json:"awaiting_consent"`
	Patient         *cases.Patient        `json:"patient"`
	TriageDueAt     *string               `json:"triage_due_at"`
	ReportDueAt     *string               `json:"report_due_at"`
	Checklist       []cases.ChecklistItem `json:"checklist"`
	History         []cases.Event         `json:"history"`
	DocumentRequest *struct {
		Kinds   []so.DocumentKind `json:"kinds"`
		Message string            `json:"message"`
	} `json:"document_request"`
	Balance *struct {
		Due  struct{ Amount string } `json:"due"`
		Paid struct{ Amount string } `json:"paid"`
	} `json:"balance"`
	Extras []struct {
		ID     string `json:"id"`
		Status string `json:"status"`
	} `json:"extras"`
}

func (w *workflowWorld) detail(as who, id string) caseDetail {
	w.t.Helper()
	r := w.do(as, "GET", "/api/v1/cases/"+id, nil).want(w.t, 200, "read case")
	var d caseDetail
	if err := json.Unmarshal(r.body, &d); err != nil {
		w.t.Fatal(err)
	}
	return d
}

func (w *workflowWorld) step(as who, id, t string, body any, status int) reply {
	w.t.Helper()
	return w.do(as, "POST", "/api/v1/cases/"+id+"/"+t, body).want(w.t, status, t)
}

func (w *workflowWorld) item(d caseDetail, k so.DocumentKind) cases.ChecklistItem {
	w.t.Helper()
	for _, it := range d.Checklist {
		if it.Kind == k {
			return it
		}
	}
	w.t.Fatalf("no checklist item %s in %+v", k, d.Checklist)
	return cases.ChecklistItem{}
}

// newDraft opens a draft without imaging (the checklist then needs PDFs only).
func (w *workflowWorld) newDraft() string {
	w.t.Helper()
	r := w.do(w.applicant, "POST", "/api/v1/cases", map[string]any{
		"patient":                map[string]string{"given_name": "Maria", "family_name": "Rossi", "birth_date": "1970-05-01"},
		"applicant_relationship": "self", "consultation_types": []string{"oncological"},
		"clinical_question": "Is surgery indicated?", "language": "it", "imaging_relevant": false,
	}).want(w.t, 201, "create case")
	return r.json(w.t)["id"].(string)
}

var pdf = []byte("%PDF-1.7\n% a clinical document\n%%EOF\n")

// uploadChecklist uploads a PDF of every required kind and returns their ids by kind.
func (w *workflowWorld) uploadChecklist(id string) map[so.DocumentKind]string {
	w.t.Helper()
	docs := map[so.DocumentKind]string{}
	for _, it := range w.detail(w.applicant, id).Checklist {
		if it.Required {
			docs[it.Kind] = w.upload(w.applicant, id, string(it.Kind), pdf)
		}
	}
	return docs
}

func (w *workflowWorld) review(docID, decision, reason string) {
	w.t.Helper()
	w.do(w.cm, "POST", "/api/v1/documents/"+docID+"/review", map[string]string{"decision": decision, "reason": reason}).
		want(w.t, 200, "review "+docID)
}

// toInReview takes a fresh case through submission, triage, acceptance and payment.
func (w *workflowWorld) toInReview() string {
	w.t.Helper()
	return w.draftToInReview(w.newDraft(), "Maria Rossi")
}

// draftToInReview takes the draft id to in_review, the consent signed by signer.
func (w *workflowWorld) draftToInReview(id, signer string) string {
	w.t.Helper()
	docs := w.uploadChecklist(id)
	w.do(w.applicant, "POST", "/api/v1/cases/"+id+"/consent/signature", map[string]string{"signer_name": signer,
		"relationship": "self"}).want(w.t, 201, "sign consent")
	w.step(w.applicant, id, "submit", nil, 200)
	w.step(w.cm, id, "triage", nil, 200)
	for _, d := range docs {
		w.review(d, "accepted", "")
	}
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/consent/countersignature", map[string]string{}).want(w.t, 200, "countersign")
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(w.t, 201, "assign")
	w.step(w.cm, id, "accept", nil, 200)
	w.step(w.cm, id, "payment", map[string]string{"amount": "500.00", "currency": "EUR", "method": "bank transfer",
		"reference": "SO-2026-1"}, 200)
	return id
}

// One case from request to report with the real roles: documents rejected, requested and sent
// again, consent countersigned, payment, an extra proposed and approved, the report uploaded
// with tus-js-client and released, then closed. The history is the timeline and every step
// is in the audit log.
func TestCaseFromRequestToReport(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.newDraft()
	d := w.detail(w.applicant, id)
	if d.Status != so.StatusDraft || w.item(d, so.KindHistologyReport).State != cases.ItemMissing {
		t.Fatalf("draft: %+v", d)
	}
	docs := w.uploadChecklist(id)
	if it := w.item(w.detail(w.applicant, id), so.KindCoverLetter); it.State != cases.ItemUploaded || it.Documents != 1 {
		t.Fatalf("uploaded cover letter: %+v", it)
	}
	w.do(w.applicant, "POST", "/api/v1/cases/"+id+"/consent/signature", map[string]string{"signer_name": "Maria Rossi",
		"relationship": "self"}).want(t, 201, "sign consent")
	w.step(w.applicant, id, "submit", nil, 200)
	if d := w.detail(w.applicant, id); d.Status != so.StatusSubmitted || d.TriageDueAt == nil {
		t.Fatalf("submitted: %+v", d)
	}
	// Triage: the histology report is illegible.
	w.step(w.cm, id, "triage", nil, 200)
	w.review(docs[so.KindHistologyReport], "rejected", "The scan is illegible; please send a sharper copy.")
	for k, doc := range docs {
		if k != so.KindHistologyReport {
			w.review(doc, "accepted", "")
		}
	}
	w.do(w.cm, "POST", "/api/v1/documents/"+docs[so.KindCoverLetter]+"/review", map[string]string{"decision": "rejected"}).
		want(t, 400, "a rejection without a reason")
	w.step(w.cm, id, "accept", nil, 409) // the histology report is not accepted
	w.step(w.cm, id, "request-documents", map[string]any{"message": "Please send a legible histology report.",
		"kinds": []string{"histology_report"}}, 200)
	d = w.detail(w.applicant, id)
	if d.Status != so.StatusDocumentsRequested || d.DocumentRequest == nil ||
		!slices.Equal(d.DocumentRequest.Kinds, []so.DocumentKind{so.KindHistologyReport}) {
		t.Fatalf("documents requested: %+v", d)
	}
	if it := w.item(d, so.KindHistologyReport); it.State != cases.ItemRejected || it.Reason == "" || !it.Requested {
		t.Fatalf("rejected histology report: %+v", it)
	}
	second := w.upload(w.applicant, id, "histology_report", pdf)
	w.step(w.applicant, id, "submit", nil, 200)
	if d := w.detail(w.cm, id); d.Status != so.StatusTriage || d.DocumentRequest != nil {
		t.Fatalf("sent again: %+v", d)
	}
	w.review(second, "accepted", "")
	w.step(w.cm, id, "accept", nil, 409) // the consent is not countersigned yet
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/consent/countersignature", map[string]string{}).want(t, 200, "countersign")
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign")
	w.step(w.cm, id, "accept", nil, 200)
	if d := w.detail(w.applicant, id); d.Status != so.StatusAwaitingPayment || d.Balance == nil || d.Balance.Due.Amount != "500.00" {
		t.Fatalf("accepted: %+v", d)
	}
	// An upload after acceptance is refused; the report cannot be uploaded before review.
	w.do(w.applicant, "POST", "/api/v1/uploads/", nil, tusCreate(id, "other", 10)).want(t, 409, "upload after acceptance")
	w.step(w.cm, id, "payment", map[string]string{"amount": "500.00", "currency": "EUR", "method": "bank transfer",
		"reference": "SO-2026-1"}, 200)
	if d := w.detail(w.applicant, id); d.Status != so.StatusInReview || d.ReportDueAt == nil {
		t.Fatalf("paid: %+v", d)
	}

	// Review: the specialist asks for a slide review, the applicant approves and pays it.
	x := w.do(w.reviewer, "POST", "/api/v1/cases/"+id+"/extras", map[string]string{"type": "slide_review",
		"reason": "The slides must be reviewed."}).want(t, 201, "propose extra").json(t)
	if x["price"].(map[string]any)["amount"] != "232.00" {
		t.Fatalf("extra %v", x)
	}
	xid := x["id"].(string)
	w.do(w.reviewer, "POST", "/api/v1/extras/"+xid+"/approve", nil).want(t, 403, "the reviewer approving")
	w.do(w.applicant, "POST", "/api/v1/extras/"+xid+"/approve", nil).want(t, 200, "approve extra")
	w.do(w.applicant, "POST", "/api/v1/extras/"+xid+"/decline", nil).want(t, 409, "decide twice")
	w.step(w.cm, id, "payment", map[string]string{"amount": "232.00", "currency": "EUR", "method": "card"}, 200)

	// The report, uploaded with the real tus-js-client, is the reviewer's alone until released.
	run := runTusClient(t, w.base+"/api/v1/uploads/", w.reviewer.token, 200<<10, 64<<10, 7,
		map[string]string{"case_id": id, "kind": "report", "filename": "second-opinion.pdf", "filetype": "application/pdf"},
		"TUS_PREFIX="+hex.EncodeToString([]byte("%PDF-1.7\n")))
	sum, url := run.wait(t, nil)
	report := url[strings.LastIndex(url, "/")+1:]
	if got := docIDs(t, w.do(w.applicant, "GET", "/api/v1/cases/"+id+"/documents", nil)); slices.Contains(got, report) {
		t.Fatal("the applicant sees the report before release")
	}
	w.do(w.applicant, "GET", "/api/v1/documents/"+report+"/content", nil).want(t, 404, "report before release")
	w.step(w.applicant, id, "release", nil, 403)
	w.step(w.reviewer, id, "release", map[string]string{"note": "Report attached."}, 200)
	if got := docIDs(t, w.do(w.applicant, "GET", "/api/v1/cases/"+id+"/documents", nil)); !slices.Contains(got, report) {
		t.Fatal("the applicant does not see the released report")
	}
	body := w.do(w.applicant, "GET", "/api/v1/documents/"+report+"/content", nil).want(t, 200, "open the report").body
	if got := sha256Hex(body); got != sum {
		t.Fatalf("report content %s, uploaded %s", got, sum)
	}
	w.step(w.cm, id, "close", nil, 200)

	d = w.detail(w.applicant, id)
	var steps []string
	for _, e := range d.History {
		if e.From != e.To || e.Action == "create" {
			steps = append(steps, e.Action+":"+string(e.To))
		}
	}
	want := []string{"create:draft", "submit:submitted", "triage:triage", "request-documents:documents_requested",
		"submit:triage", "accept:awaiting_payment", "payment:in_review", "release:report_released", "close:closed"}
	if d.Status != so.StatusClosed || !slices.Equal(steps, want) {
		t.Fatalf("history %v, want %v", steps, want)
	}
	var actions []string
	for _, e := range w.auditQuery(w.dpo, "case_id="+id+"&limit=500").Entries {
		if e.Outcome == audit.OutcomeSuccess {
			actions = append(actions, e.Action)
		}
	}
	for _, a := range []string{"case.submit", "case.triage", "case.request_documents", "case.accept", "case.payment",
		"case.release", "case.close", audit.ActionExtraPropose, audit.ActionExtraApprove, audit.ActionDocumentReview,
		audit.ActionCaseAssign, audit.ActionCaseRead} {
		if !slices.Contains(actions, a) {
			t.Errorf("no %s in the case's audit log %v", a, actions)
		}
	}
	if out, err := w.verifyCLI(); err != nil {
		t.Fatalf("audit verify: %v\n%s", err, out)
	}

	// The applicant was mailed once per event, in the case's language (Italian), with a link
	// to the case and never the patient's name, the question or a file name.
	mails := w.mailsTo("ann@example.org")
	if len(mails) != 5 {
		t.Fatalf("%d mails to the applicant, want 5 (submitted, documents requested, accepted, extra, report): %+v", len(mails), mails)
	}
	for i, m := range mails {
		if m.Language != "it" || !strings.Contains(m.Body, w.m.Config.PublicURL+"/cases/"+id) {
			t.Errorf("mail %d: language %q, body %q", i, m.Language, m.Body)
		}
		for _, secret := range []string{"Maria", "Rossi", "1970", "surgery", ".pdf", "histology", "slides"} {
			if strings.Contains(m.Subject+m.Body, secret) {
				t.Errorf("mail %d (%s) carries %q", i, m.Subject, secret)
			}
		}
	}
	if !strings.Contains(mails[2].Body, "500,00") || !strings.Contains(mails[3].Body, "232,00") {
		t.Errorf("the amounts due are not in the acceptance and extra mails: %q / %q", mails[2].Body, mails[3].Body)
	}
	// The reviewer learnt that the extra was decided, in the staff language.
	if got := w.mailsTo("rita@example.org"); len(got) != 1 || got[0].Language != "en" ||
		!strings.Contains(got[0].Body, w.m.Config.PublicURL+"/cases/"+id) {
		t.Errorf("mails to the reviewer: %+v", got)
	}
}

func docIDs(t *testing.T, r reply) []string {
	t.Helper()
	r.want(t, 200, "list documents")
	var v struct {
		Documents []struct{ ID string } `json:"documents"`
	}
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, d := range v.Documents {
		out = append(out, d.ID)
	}
	return out
}

// tusCreate sets the headers of a tus creation request.
func tusCreate(caseID, kind string, size int) func(*http.Request) {
	return func(req *http.Request) {
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", fmt.Sprint(size))
		req.Header.Set("Upload-Metadata", "case_id "+b64(caseID)+",kind "+b64(kind)+",filename "+b64("f.pdf")+
			",filetype "+b64("application/pdf"))
	}
}

// A case withdrawn by the applicant stays withdrawn; a case the specialist cannot assess is
// refunded what was paid.
func TestWithdrawalAndRefund(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.newDraft()
	w.step(w.applicant, id, "submit", nil, 200)
	w.step(w.cm, id, "withdraw", nil, 403)
	w.step(w.applicant, id, "withdraw", map[string]string{"reason": "I found a centre nearer home."}, 200)
	r := w.step(w.applicant, id, "submit", nil, 409).json(t)
	if r["error"] != "state" || r["status"] != "withdrawn" {
		t.Fatalf("submit after withdrawal: %v", r)
	}
	w.do(w.applicant, "POST", "/api/v1/cases/"+id+"/invitations", map[string]string{"email": "gp@example.org"}).
		want(t, 409, "invite a physician to a withdrawn case")

	id = w.toInReview()
	w.step(w.cm, id, "refund", nil, 400) // a refund needs its reason
	w.step(w.cm, id, "refund", map[string]string{"reason": "The specialist cannot assess this case."}, 200)
	var v struct {
		Status   so.CaseStatus `json:"status"`
		Payments []struct {
			Kind   string                  `json:"kind"`
			Amount struct{ Amount string } `json:"amount"`
			Reason string                  `json:"reason"`
		} `json:"payments"`
	}
	if err := json.Unmarshal(w.do(w.applicant, "GET", "/api/v1/cases/"+id, nil).want(t, 200, "read").body, &v); err != nil {
		t.Fatal(err)
	}
	if v.Status != so.StatusRefunded || len(v.Payments) != 2 || v.Payments[1].Kind != "refund" ||
		v.Payments[1].Amount.Amount != "500.00" || v.Payments[1].Reason == "" {
		t.Fatalf("refunded: %+v", v)
	}
	// The refunded case is closed to its reviewer.
	w.do(w.reviewer, "GET", "/api/v1/cases/"+id, nil).want(t, 404, "the reviewer reads a refunded case")
	var listed struct {
		Cases []struct{ ID string } `json:"cases"`
	}
	if err := json.Unmarshal(w.do(w.reviewer, "GET", "/api/v1/cases", nil).want(t, 200, "list").body, &listed); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(listed.Cases, func(c struct{ ID string }) bool { return c.ID == id }) {
		t.Error("the reviewer still lists the refunded case")
	}
}

// When the applicant withdraws the consent during the review, the reviewer can neither upload
// nor release the report nor propose an extra, and no answer carries the patient's data.
func TestConsentWithdrawnDuringReview(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.toInReview()
	w.do(w.applicant, "POST", "/api/v1/cases/"+id+"/consent/withdrawal", map[string]string{}).want(t, 200, "withdraw consent")
	for _, r := range []reply{
		w.do(w.reviewer, "POST", "/api/v1/uploads/", nil, tusCreate(id, "report", 100)).want(t, 409, "upload the report"),
		w.step(w.reviewer, id, "release", nil, 409),
		w.do(w.reviewer, "POST", "/api/v1/cases/"+id+"/extras", map[string]string{"type": "in_depth", "reason": "r"}).
			want(t, 409, "propose an extra"),
		w.do(w.reviewer, "GET", "/api/v1/cases/"+id, nil).want(t, 200, "read the case"),
	} {
		if strings.Contains(string(r.body), "Maria") || strings.Contains(string(r.body), "surgery") {
			t.Errorf("the reviewer read health data after the withdrawal: %s", r.body)
		}
	}
}

// An applicant erases their own documents only while the case is open for documents and not
// once a case manager accepted them; the erasure is in the case's history.
func TestDocumentErasureFollowsTheCase(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.newDraft()
	keep := w.upload(w.applicant, id, "clinical_history", pdf)
	drop := w.upload(w.applicant, id, "other", pdf)
	w.step(w.applicant, id, "submit", nil, 200)
	w.step(w.cm, id, "triage", nil, 200)
	w.review(keep, "accepted", "")
	w.do(w.applicant, "DELETE", "/api/v1/documents/"+keep, nil).want(t, 409, "erase an accepted document")
	w.do(w.applicant, "DELETE", "/api/v1/documents/"+drop, nil).want(t, 204, "erase a document under review")
	if got := docIDs(t, w.do(w.applicant, "GET", "/api/v1/cases/"+id+"/documents", nil)); !slices.Equal(got, []string{keep}) {
		t.Errorf("documents after the erasure: %v", got)
	}
	found := false
	for _, e := range w.detail(w.applicant, id).History {
		found = found || (e.Action == "document.erased" && e.ObjectID == drop)
	}
	if !found {
		t.Error("the erasure is not in the case's history")
	}
}

// Every transition from every state it is not allowed from answers 409 {error:"state",
// status} to the role that may make it, and changes nothing.
func TestIllegalTransitionsAnswer409(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.newDraft()
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign")
	allowed := map[string][]so.CaseStatus{
		"submit": {so.StatusDraft, so.StatusDocumentsRequested}, "triage": {so.StatusSubmitted},
		"request-documents": {so.StatusTriage}, "accept": {so.StatusTriage},
		"payment": {so.StatusAwaitingPayment, so.StatusInReview}, "release": {so.StatusInReview},
		"close": {so.StatusReportReleased}, "refund": {so.StatusInReview},
		"withdraw": {so.StatusDraft, so.StatusSubmitted, so.StatusTriage, so.StatusDocumentsRequested, so.StatusAwaitingPayment},
	}
	actor := map[string]who{"submit": w.applicant, "withdraw": w.applicant, "release": w.reviewer}
	body := map[string]any{
		"request-documents": map[string]any{"message": "m", "kinds": []string{"other"}},
		"payment":           map[string]string{"amount": "500.00", "currency": "EUR", "method": "card"},
		"refund":            map[string]string{"reason": "r"},
	}
	n := 0
	for _, st := range so.Statuses {
		if _, err := w.db.Owner.Exec(`UPDATE cases SET status = $2 WHERE id = $1`, id, st); err != nil {
			t.Fatal(err)
		}
		for _, tr := range cases.Transitions {
			if slices.Contains(allowed[string(tr)], st) {
				continue
			}
			as, ok := actor[string(tr)]
			if !ok {
				as = w.cm
			}
			r := w.do(as, "POST", "/api/v1/cases/"+id+"/"+string(tr), body[string(tr)])
			if as == w.reviewer && (st == so.StatusWithdrawn || st == so.StatusRefunded) {
				// closed to its reviewers: they see no case at all
				if r.status != 404 {
					t.Errorf("%s from %s by the reviewer: %d %s", tr, st, r.status, r.body)
				}
			} else if r.status != 409 || errorCode(t, r) != "state" || r.json(t)["status"] != string(st) {
				t.Errorf("%s from %s: %d %s", tr, st, r.status, r.body)
			}
			n++
		}
	}
	if n != len(so.Statuses)*len(cases.Transitions)-15 {
		t.Errorf("checked %d refusals", n)
	}
	if d := w.detail(w.cm, id); len(d.History) != 2 { // created, reviewer assigned
		t.Errorf("refusals wrote history: %+v", d.History)
	}
}

// A reviewer assigned to a case without an active consent reads none of its health data
// through any route, and each read by staff is in the audit log.
func TestReviewerReadsNothingBeforeConsent(t *testing.T) {
	w := newWorkflowWorld(t)
	id := w.newDraft()
	doc := w.upload(w.applicant, id, "clinical_history", pdf)
	w.do(w.cm, "POST", "/api/v1/cases/"+id+"/assignments", map[string]string{"reviewer_email": "rita@example.org"}).
		want(t, 201, "assign")
	for _, r := range []reply{
		w.do(w.reviewer, "GET", "/api/v1/cases", nil).want(t, 200, "list"),
		w.do(w.reviewer, "GET", "/api/v1/cases/"+id, nil).want(t, 200, "case"),
		w.do(w.reviewer, "GET", "/api/v1/cases/"+id+"/documents", nil).want(t, 403, "documents"),
		w.do(w.reviewer, "GET", "/api/v1/documents/"+doc+"/content", nil).want(t, 403, "content"),
	} {
		for _, secret := range []string{"Maria", "Rossi", "1970-05-01", "Is surgery indicated", "clinical_history.pdf", "%PDF"} {
			if strings.Contains(string(r.body), secret) {
				t.Errorf("a reviewer without consent read %q: %s", secret, r.body)
			}
		}
	}
	if d := w.detail(w.reviewer, id); !d.AwaitingConsent || d.Patient != nil || d.Checklist != nil {
		t.Errorf("reviewer's view: %+v", d)
	}
	w.detail(w.cm, id)
	w.do(w.cm, "GET", "/api/v1/cases/"+id+"/documents", nil).want(t, 200, "case manager's documents")
	// The DPO reads the case's metadata (for access requests and erasure), not its question.
	if r := w.do(w.dpo, "GET", "/api/v1/cases/"+id, nil).want(t, 200, "the DPO reads the case"); strings.Contains(string(r.body), "surgery") ||
		!strings.Contains(string(r.body), "Rossi") {
		t.Errorf("the DPO's view: %s", r.body)
	}
	w.do(w.cm, "GET", "/api/v1/cases", nil).want(t, 200, "the case manager's list")
	var got []string
	for _, e := range w.auditQuery(w.dpo, "case_id="+id+"&limit=500").Entries {
		got = append(got, e.ActorRole+" "+e.Action+" "+e.Reason)
	}
	if slices.Contains(got, "reviewer case.list ") {
		t.Error("the reviewer's list of cases waiting for consent was audited as a read of the case")
	}
	for _, want := range []string{"reviewer case.read ", "reviewer document.list consent", "case_manager case.read ",
		"case_manager document.list ", "case_manager case.list "} {
		if !slices.Contains(got, want) {
			t.Errorf("no %q in the audit log %q", want, got)
		}
	}
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// A submitted case left in triage past its due date is overdue: listed for case managers with
// ?overdue=true and counted by the Prometheus gauge.
func TestOverdueCases(t *testing.T) {
	w := newWorkflowWorld(t)
	late, onTime := w.newDraft(), w.newDraft()
	w.step(w.applicant, late, "submit", nil, 200)
	w.clock.Advance(10 * 24 * time.Hour) // at least 6 working days, whatever the holidays
	reissue := func(email string) who {  // the tokens of ten days ago have expired
		_, raw, err := w.m.access.Tokens.Issue(context.Background(), email, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return who{name: email, token: raw}
	}
	w.applicant, w.cm = reissue("ann@example.org"), reissue("cm@example.org")
	w.step(w.applicant, onTime, "submit", nil, 200)
	var list struct {
		Cases []struct {
			ID      string `json:"id"`
			Overdue bool   `json:"overdue"`
		} `json:"cases"`
	}
	if err := json.Unmarshal(w.do(w.cm, "GET", "/api/v1/cases?overdue=true", nil).want(t, 200, "overdue").body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Cases) != 1 || list.Cases[0].ID != late || !list.Cases[0].Overdue {
		t.Fatalf("overdue cases %+v, want only %s", list.Cases, late)
	}
	if err := json.Unmarshal(w.do(w.cm, "GET", "/api/v1/cases?sort=due", nil).want(t, 200, "by due date").body, &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Cases) != 2 || list.Cases[0].ID != late {
		t.Fatalf("by due date %+v, want %s first", list.Cases, late)
	}
	w.do(w.cm, "GET", "/api/v1/cases?sort=sideways", nil).want(t, 400, "unknown sort")
	metrics := string(w.do(nobody, "GET", "/metrics", nil).want(t, 200, "metrics").body)
	if !strings.Contains(metrics, "\nsecondopinion_cases_overdue 1\n") {
		t.Errorf("the gauge does not count one overdue case")
	}
}
