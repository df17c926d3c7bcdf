package web

import (
	"context"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
	"github.com/secondopinion/secondopinion/upload"
)

// Fakes of the domain for the document's tests: each answers with the sample values below, so
// that the handlers' real answers can be held to the document without a database.

const (
	sampleCaseID       = "3fa85f64-5717-4562-b3fc-2c963f66afa6"
	samplePreviousID   = "0b6a3c1e-2d4f-4a5b-8c7d-9e0f1a2b3c4d"
	sampleAccountID    = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
	sampleReviewerID   = "9a1b2c3d-4e5f-4a6b-8c7d-0e1f2a3b4c5d"
	sampleInvitationID = "5d1e2f3a-4b5c-4d6e-8f7a-8b9c0d1e2f3a"
	sampleExtraID      = "c0ffee00-1234-4abc-9def-0123456789ab"
	sampleDocumentID   = "9b2f1c0e8d7a6b5c4d3e2f1a0b9c8d7e"
)

var sampleTime = time.Date(2026, 3, 2, 9, 30, 0, 0, time.UTC)

// roleTokens signs in "Bearer <role>" as a subject of that role who has passed TOTP.
type roleTokens struct{}

func (roleTokens) Authenticate(_ context.Context, raw string) (access.Subject, error) {
	r := so.Role(raw)
	switch {
	case r == so.RolePhysician:
		return access.Subject{Role: r, Email: "doc@example.org", InvitationID: sampleInvitationID,
			ScopeCaseID: sampleCaseID}, nil
	case slices.Contains(so.AccountRoles, r):
		return access.Subject{Role: r, AccountID: sampleAccountID, Email: "someone@example.org", TOTPSatisfied: true}, nil
	}
	return access.Subject{}, so.ErrUnauthenticated
}

// allowAll is a policy that allows everything.
type allowAll struct{}

func (allowAll) Authorize(context.Context, access.Subject, access.Action, string) error { return nil }
func (allowAll) AuthorizeUpload(context.Context, access.Subject, string, so.DocumentKind) error {
	return nil
}
func (allowAll) AuthorizeDocumentFacts(context.Context, access.Subject, access.Action, access.DocumentFacts) error {
	return nil
}

// fakeCases answers with the samples; the methods it does not override panic (nil interface).
type fakeCases struct{ CaseStore }

func (fakeCases) Create(context.Context, access.Subject, cases.CreateInput) (cases.Case, error) {
	return draftCase(), nil
}

func (fakeCases) Counts(context.Context, access.Subject) (map[so.CaseStatus]int, int, error) {
	return map[so.CaseStatus]int{}, 0, nil
}

func (fakeCases) List(context.Context, access.Subject, cases.ListOptions) ([]cases.View, error) {
	c := fullCase()
	return []cases.View{{ID: c.ID, Status: c.Status, Case: &c},
		{ID: samplePreviousID, Status: so.StatusTriage, AwaitingConsent: true}}, nil
}

func (fakeCases) Detail(_ context.Context, s access.Subject, _ string) (cases.Detail, error) {
	if s.Role == so.RoleReviewer {
		return cases.Detail{View: cases.View{ID: sampleCaseID, Status: so.StatusInReview, AwaitingConsent: true}}, nil
	}
	return fullDetail(), nil
}

func (fakeCases) DocumentsFor(context.Context, access.Subject, string) ([]cases.Document, error) {
	return []cases.Document{reviewedDocument(), uploadingDocument()}, nil
}

func (fakeCases) Assign(context.Context, cases.Actor, string, string) (string, error) {
	return sampleReviewerID, nil
}

// Transition refuses accept for the state, payment for a missing precondition, and lets the
// rest through.
func (fakeCases) Transition(_ context.Context, _ cases.Actor, _ string, t cases.Transition, _ cases.Input) (cases.Case, error) {
	switch t {
	case cases.TransitionAccept:
		return cases.Case{}, so.StateError(so.StatusDocumentsRequested)
	case cases.TransitionPayment:
		return cases.Case{}, so.Errorf(so.EConflict, "nothing is due")
	}
	c := draftCase()
	c.Status, c.SubmittedAt = so.StatusSubmitted, &sampleTime
	return c, nil
}

// View is the case after a step: the submitted sample.
func (fakeCases) View(context.Context, access.Subject, string) (cases.View, error) {
	c := draftCase()
	c.Status, c.SubmittedAt = so.StatusSubmitted, &sampleTime
	return cases.View{ID: c.ID, Status: c.Status, Case: &c}, nil
}

func (f fakeCases) ViewOf(ctx context.Context, s access.Subject, _ cases.Case) (cases.View, error) {
	return f.View(ctx, s, "")
}

func (fakeCases) PrepareDeletion(context.Context, cases.Actor, string) error { return nil }

func (fakeCases) ProposeExtra(context.Context, cases.Actor, string, cases.ExtraInput) (cases.Extra, error) {
	return proposedExtra(), nil
}

// fakeConsents holds an active consent.
type fakeConsents struct{ ConsentStore }

func (fakeConsents) Current(context.Context, string) (consent.Consent, error) {
	return activeConsent(), nil
}

// fakeInvitations invites and lists.
type fakeInvitations struct{ Invitations }

func (fakeInvitations) Invite(context.Context, access.Subject, string, string) (access.Invitation, error) {
	return createdInvitation(), nil
}

func (fakeInvitations) List(context.Context, access.Subject, string) ([]access.Invitation, error) {
	return []access.Invitation{revokedInvitation()}, nil
}

// fakeDocuments holds one available document.
type fakeDocuments struct{ Documents }

func (fakeDocuments) StoredDocument(context.Context, string) (cases.DocumentRecord, error) {
	return cases.DocumentRecord{Document: reviewedDocument(), Stored: &cases.Stored{ObjectKey: "k", EncryptedSize: 2048}}, nil
}

// noConsent is a consent gate for a case without an active consent.
type noConsent struct{}

func (noConsent) Check(context.Context, string, so.Role, so.DocumentKind) error {
	return consent.ErrNoConsent
}

// fakeLog answers queries with two entries.
type fakeLog struct{ AuditLog }

func (fakeLog) Query(context.Context, audit.Filter) ([]audit.Entry, error) {
	e := auditEntry()
	older := e
	older.Seq, older.Outcome, older.Reason = 41, audit.OutcomeMinorFailure, audit.ReasonConsent
	return []audit.Entry{e, older}, nil
}

// brokenLog is a verifier that finds a gap.
type brokenLog struct{}

func (brokenLog) Verify(context.Context) (audit.Report, error) { return gapReport(), nil }

// othersUpload is an upload store whose every upload is somebody else's.
type othersUpload struct{}

func (othersUpload) Info(context.Context, string) (upload.UploadInfo, error) {
	return upload.UploadInfo{CaseID: sampleCaseID, Kind: string(so.KindOther), UploaderAccount: sampleReviewerID}, nil
}

// fakeHolds holds the case under hold until it is lifted; erased cases have the sample
// tombstone.
type fakeHolds struct{}

func (fakeHolds) PlaceHold(context.Context, cases.Actor, string, cases.HoldInput) (cases.Hold, error) {
	return sampleHold(), nil
}
func (fakeHolds) ReleaseHold(context.Context, cases.Actor, string) error { return nil }
func (fakeHolds) HoldOf(context.Context, string) (*cases.Hold, error) {
	h := sampleHold()
	return &h, nil
}
func (fakeHolds) TombstoneOf(context.Context, string) (cases.Tombstone, error) {
	return sampleTombstone(), nil
}

// heldEraser refuses every erasure: the case is under legal hold.
type heldEraser struct{}

func (heldEraser) Erase(context.Context, cases.Actor, string, cases.ErasureReason, string) (cases.Tombstone, error) {
	return cases.Tombstone{}, cases.ErrHeld
}

func sampleHold() cases.Hold {
	return cases.Hold{CaseID: sampleCaseID, Reason: "claim 2026/88", PlacedBy: sampleAccountID, PlacedAt: sampleTime}
}

func sampleTombstone() cases.Tombstone {
	return cases.Tombstone{CaseID: sampleCaseID, LastStatus: so.StatusClosed, CreatedAt: sampleTime, SubmittedAt: &sampleTime,
		ClosedAt: &sampleTime, ErasedAt: sampleTime, Reason: cases.ErasureRetention, Rule: "retention: closed=10y", Documents: 7}
}

// newFakeServer is the real server over the fakes.
func newFakeServer(t *testing.T) *Server {
	t.Helper()
	failing := Check{Name: "minio", Fn: func(context.Context) error { return errors.New("down") }}
	return New(Config{
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), Ready: []Check{failing},
		Tokens: roleTokens{}, Policy: allowAll{}, Audit: &fakeAuditor{}, Consent: noConsent{},
		Documents: fakeDocuments{}, Cases: fakeCases{}, Invitations: fakeInvitations{}, Consents: fakeConsents{},
		AuditLog: fakeLog{}, AuditVerify: brokenLog{}, Now: func() time.Time { return sampleTime },
		Tus: nopTus{}, Uploads: othersUpload{}, Holds: fakeHolds{}, Eraser: heldEraser{},
	})
}

// fakeExchanges are the requests whose answers TestOpenAPIAnswersMatchDocument checks.
func fakeExchanges() []exchange {
	c := "/api/v1/cases/" + sampleCaseID
	fhir := http.Header{"Accept": {"application/fhir+json"}}
	tusCreate := http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Length": {"3"},
		"Upload-Metadata": {"case_id " + b64(sampleCaseID) + ",kind " + b64("other") + ",filename " + b64("a.pdf")}}
	tusPatch := http.Header{"Tus-Resumable": {"1.0.0"}, "Upload-Offset": {"0"},
		"Content-Type": {"application/offset+octet-stream"}}
	create := `{"patient":{"given_name":"Maria","family_name":"Rossi","birth_date":"1961-04-12"},` +
		`"applicant_relationship":"self","consultation_types":["oncological"],"language":"it"}`
	return []exchange{
		{name: "health", method: "GET", target: "/healthz", status: 200},
		{name: "readiness failing", method: "GET", target: "/readyz", status: 503},
		{name: "openapi", method: "GET", target: "/api/v1/openapi.json", status: 200},
		{name: "no credential", method: "GET", target: "/api/v1/cases", status: 401, errCode: "unauthenticated"},
		{name: "bad token", method: "GET", target: "/api/v1/cases", token: "nobody", status: 401, errCode: "unauthenticated"},
		{name: "login, bad body", method: "POST", target: "/api/v1/session", body: `{"email":1}`, bad: true, status: 400, errCode: "invalid"},
		{name: "logout", method: "DELETE", target: "/api/v1/session", status: 204},
		{name: "whoami", method: "GET", target: "/api/v1/session", token: so.RolePhysician, status: 200},
		{name: "create", method: "POST", target: "/api/v1/cases", token: so.RoleApplicant, body: create, status: 201},
		{name: "create, too young", method: "POST", target: "/api/v1/cases", token: so.RoleApplicant, bad: true,
			body:   `{"patient":{"given_name":"Ada","family_name":"B","birth_date":"2020-01-01"},"applicant_relationship":"self","consultation_types":["surgical"],"language":"en"}`,
			status: 400, errCode: "invalid"},
		{name: "list", method: "GET", target: "/api/v1/cases?sort=due&status=triage", token: so.RoleCaseManager, status: 200},
		{name: "list, bad filter", method: "GET", target: "/api/v1/cases?overdue=maybe", token: so.RoleCaseManager, bad: true,
			status: 400, errCode: "invalid"},
		{name: "case record", method: "GET", target: c, token: so.RoleApplicant, status: 200},
		{name: "case awaiting consent", method: "GET", target: c, token: so.RoleReviewer, status: 200},
		{name: "documents", method: "GET", target: c + "/documents", token: so.RoleApplicant, status: 200},
		{name: "assign", method: "POST", target: c + "/assignments", token: so.RoleCaseManager,
			body: `{"reviewer_email":"rev@example.org"}`, status: 201},
		{name: "submit", method: "POST", target: c + "/submit", token: so.RoleApplicant, body: `{"note":"all there"}`, status: 200},
		{name: "accept, wrong state", method: "POST", target: c + "/accept", token: so.RoleCaseManager, body: `{}`,
			status: 409, errCode: "state"},
		{name: "payment, nothing due", method: "POST", target: c + "/payment", token: so.RoleCaseManager,
			body: `{"amount":"500.00","currency":"EUR","method":"bank transfer"}`, status: 409, errCode: "conflict"},
		{name: "refund without reason", method: "POST", target: c + "/refund", token: so.RoleCaseManager, body: `{"note":"x"}`,
			bad: true, status: 400, errCode: "invalid"},
		{name: "propose extra", method: "POST", target: c + "/extras", token: so.RoleReviewer,
			body: `{"type":"slide_review","reason":"review the slides"}`, status: 201},
		{name: "invite", method: "POST", target: c + "/invitations", token: so.RoleApplicant,
			body: `{"email":"doc@example.org"}`, status: 201},
		{name: "invitations", method: "GET", target: c + "/invitations", token: so.RoleCaseManager, status: 200},
		{name: "consent", method: "GET", target: c + "/consent", token: so.RoleDPO, status: 200},
		{name: "consent as FHIR", method: "GET", target: c + "/consent", token: so.RoleApplicant, header: fhir, status: 200},
		{name: "document without consent", method: "GET", target: "/api/v1/documents/" + sampleDocumentID + "/content",
			token: so.RoleReviewer, status: 403, errCode: "consent_required"},
		{name: "audit page", method: "GET", target: "/api/v1/audit?limit=2&outcome=denied", token: so.RoleDPO, status: 200},
		{name: "audit verify", method: "GET", target: "/api/v1/audit/verify", token: so.RoleDPO, status: 200},
		{name: "upload without credential", method: "POST", target: "/api/v1/uploads/", header: tusCreate,
			status: 401, errCode: "unauthenticated"},
		{name: "upload not the caller's", method: "PATCH", target: "/api/v1/uploads/" + sampleDocumentID, token: so.RoleApplicant,
			header: tusPatch, body: "abc", status: 404, errCode: "not_found"},
		{name: "place hold", method: "POST", target: c + "/hold", token: so.RoleDPO, body: `{"reason":"claim 2026/88"}`, status: 201},
		{name: "hold without reason", method: "POST", target: c + "/hold", token: so.RoleDPO, body: `{"reason":""}`, bad: true,
			status: 400, errCode: "invalid"},
		{name: "read hold", method: "GET", target: c + "/hold", token: so.RoleDPO, status: 200},
		{name: "lift hold", method: "DELETE", target: c + "/hold", token: so.RoleDPO, status: 204},
		{name: "erasure under hold", method: "POST", target: c + "/erasure", token: so.RoleDPO, body: `{"reference":"DSR-17"}`,
			status: 409, errCode: "conflict"},
		{name: "tombstone", method: "GET", target: c + "/erasure", token: so.RoleDPO, status: 200},
		{name: "export without credential", method: "GET", target: "/api/v1/me/export", status: 401, errCode: "unauthenticated"},
		{name: "export for no applicant", method: "GET", target: "/api/v1/accounts/" + sampleReviewerID + "/export",
			token: so.RoleDPO, status: 404, errCode: "not_found"},
		{name: "audit export, bad format", method: "GET", target: "/api/v1/audit/export?format=xml", token: so.RoleDPO,
			bad: true, status: 400, errCode: "invalid"},
	}
}

// domainValue is a value whose JSON must validate against a component schema.
type domainValue struct {
	name, schema string
	value        any
}

// domainValues are the values TestOpenAPISchemasMatchDomainValues checks.
func domainValues() []domainValue {
	physician := access.Subject{Role: so.RolePhysician, Email: "doc@example.org", InvitationID: sampleInvitationID,
		ScopeCaseID: sampleCaseID}
	manager := access.Subject{Role: so.RoleCaseManager, AccountID: sampleAccountID, Email: "cm@example.org",
		NeedsTOTPEnrolment: true}
	detail := fullDetail()
	withdrawn := activeConsent()
	withdrawn.WithdrawnAt = &sampleTime
	rejected := proposedConsent()
	rejected.RejectedBy, rejected.RejectedAt, rejected.RejectionReason = ptr(sampleAccountID), &sampleTime, "unreadable ID"
	return []domainValue{
		{"case, every field", "Case", fullCase()},
		{"case, draft", "Case", draftCase()},
		{"case record", "CaseDetail", detail},
		{"case record, nothing around it", "CaseDetail", cases.Detail{View: cases.View{ID: sampleCaseID, Status: so.StatusDraft, Case: ptr(draftCase())}}},
		{"case awaiting consent", "CaseDetail", cases.Detail{View: cases.View{ID: sampleCaseID, Status: so.StatusInReview, AwaitingConsent: true}}},
		{"case list", "CaseList", gin.H{"cases": []cases.View{detail.View, {ID: samplePreviousID, Status: so.StatusTriage, AwaitingConsent: true}}}},
		{"document, reviewed", "Document", reviewedDocument()},
		{"document, uploading", "Document", uploadingDocument()},
		{"extra, proposed", "Extra", proposedExtra()},
		{"extra, decided", "Extra", detail.Extras[1]},
		{"invitation, created", "Invitation", createdInvitation()},
		{"invitation, revoked", "Invitation", revokedInvitation()},
		{"consent, proposed", "Consent", viewOfConsent(proposedConsent())},
		{"consent, withdrawn", "Consent", viewOfConsent(withdrawn)},
		{"consent, rejected", "Consent", viewOfConsent(rejected)},
		{"FHIR consent, active", "FHIRConsent", activeConsent().FHIR()},
		{"FHIR consent, withdrawn", "FHIRConsent", withdrawn.FHIR()},
		{"FHIR consent, rejected", "FHIRConsent", rejected.FHIR()},
		{"audit entry", "AuditEntry", auditEntry()},
		{"legal hold", "Hold", sampleHold()},
		{"tombstone, retention", "Tombstone", sampleTombstone()},
		{"tombstone, request", "Tombstone", cases.Tombstone{CaseID: sampleCaseID, LastStatus: so.StatusDraft, CreatedAt: sampleTime,
			ErasedAt: sampleTime, Reason: cases.ErasureRequest, Rule: "DSR-17", ErasedBy: ptr(sampleAccountID)}},
		{"audit report, intact", "AuditReport", audit.Report{OK: true, Size: 42, Checkpoints: 3, Latest: 40}},
		{"audit report, gap", "AuditReport", gapReport()},
		{"session, physician", "Session", viewOf(physician)},
		{"session, enrolling", "Session", viewOf(manager)},
		{"state error", "Error", errorBody{Error: "state", Message: "m", RequestID: "r", Status: so.StatusDraft}},
		{"invalid error", "Error", errorBody{Error: "invalid", Message: "m", RequestID: "r",
			Fields: []so.FieldError{{Field: "patient.birth_date", Message: "is in the future"}, {Message: "body"}}}},
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

func ptr[T any](v T) *T { return &v }

func money(cents int64) cases.Money { return cases.Money{Cents: cents, Currency: "EUR"} }

// fullCase is a case with every optional field set.
func fullCase() cases.Case {
	due := sampleTime.Add(72 * time.Hour)
	return cases.Case{ID: sampleCaseID, OwnerID: sampleAccountID, Status: so.StatusInReview,
		Patient:               cases.Patient{GivenName: "Luca", FamilyName: "Bianchi", BirthDate: "2012-05-30"},
		ApplicantRelationship: so.RelationshipParent,
		ConsultationTypes:     []so.ConsultationType{so.ConsultationOncological, so.ConsultationRadiotherapy},
		ClinicalQuestion:      "Is proton therapy indicated?\nPlease advise.", Language: so.LanguageItalian,
		ImagingRelevant: true, PreviousCaseID: ptr(samplePreviousID), CreatedAt: sampleTime, UpdatedAt: sampleTime,
		SubmittedAt: &sampleTime, AcceptedAt: &sampleTime, PaidAt: &sampleTime, ReleasedAt: &sampleTime,
		ClosedAt: &sampleTime, TriageDueAt: &due, ReportDueAt: &due, ClockPausedAt: &sampleTime, Overdue: true,
		Price: &cases.Price{Kind: cases.PriceUpdate, Amount: money(35000), Courier: ptr(money(1800))}}
}

// draftCase is a new case: nothing has happened to it yet.
func draftCase() cases.Case {
	return cases.Case{ID: sampleCaseID, Status: so.StatusDraft,
		Patient:               cases.Patient{GivenName: "Maria", FamilyName: "Rossi", BirthDate: "1961-04-12"},
		ApplicantRelationship: so.RelationshipSelf, ConsultationTypes: []so.ConsultationType{so.ConsultationSurgical},
		Language: so.LanguageEnglish, CreatedAt: sampleTime, UpdatedAt: sampleTime}
}

// fullDetail is a case record with everything around it.
func fullDetail() cases.Detail {
	c := fullCase()
	decided := proposedExtra()
	decided.Status, decided.DecidedBy, decided.DecidedAt = cases.ExtraApproved, ptr(sampleAccountID), &sampleTime
	return cases.Detail{
		View: cases.View{ID: c.ID, Status: c.Status, Case: &c},
		Checklist: []cases.ChecklistItem{
			{Kind: so.KindIdentityDocument, Required: true, State: cases.ItemAccepted, Documents: 1},
			{Kind: so.KindHistologyReport, Required: true, State: cases.ItemRejected, Reason: "illegible", Documents: 1, Requested: true},
			{Kind: so.KindOther, State: cases.ItemMissing, Requested: true},
		},
		History: []cases.Event{
			{At: sampleTime, Actor: "account:" + sampleAccountID, ActorRole: so.RoleApplicant, Action: "create",
				From: so.StatusDraft, To: so.StatusDraft},
			{At: sampleTime, Actor: "invitation:" + sampleInvitationID, ActorRole: so.RoleCaseManager, Action: "payment",
				From: so.StatusAwaitingPayment, To: so.StatusInReview, ObjectID: sampleExtraID, Note: "paid by transfer"},
		},
		Extras:  []cases.Extra{proposedExtra(), decided},
		Balance: &cases.Balance{Due: money(55000), Paid: money(35000), Refunded: money(0)},
		Payments: []cases.Payment{
			{ID: sampleExtraID, Kind: "payment", Amount: money(35000), Method: "card", Reference: "r-1",
				RecordedBy: sampleAccountID, RecordedAt: sampleTime},
			{ID: samplePreviousID, Kind: "refund", Amount: money(0), Reason: "cannot assess", RecordedBy: sampleAccountID,
				RecordedAt: sampleTime},
		},
		DocumentRequest: &cases.DocumentRequest{Kinds: []so.DocumentKind{so.KindHistologyReport, so.KindOther},
			Message: "Please send a readable histology report.", RequestedAt: sampleTime},
		Assignments: []cases.Assignment{{ReviewerID: sampleReviewerID, Email: "rev@example.org", Name: "Dr Rev",
			AssignedBy: sampleAccountID, AssignedAt: sampleTime}},
	}
}

func proposedExtra() cases.Extra {
	return cases.Extra{ID: sampleExtraID, CaseID: sampleCaseID, Type: so.ExtraSlideReview, Price: money(23200),
		Reason: "review the slides", Status: cases.ExtraProposed, ProposedBy: sampleReviewerID, ProposedAt: sampleTime}
}

func reviewedDocument() cases.Document {
	return cases.Document{ID: sampleDocumentID, CaseID: sampleCaseID, Kind: so.KindHistologyReport, Filename: "histology.pdf",
		Filetype: "application/pdf", Status: "available", Size: ptr(int64(1024)),
		SHA256: "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", CreatedAt: sampleTime,
		UploadedAt: &sampleTime, Review: &cases.DocumentReview{Decision: cases.DecisionRejected, Reason: "illegible",
			ReviewedBy: sampleAccountID, ReviewedAt: sampleTime}}
}

func uploadingDocument() cases.Document {
	return cases.Document{ID: "0123456789abcdef0123456789abcdef", CaseID: sampleCaseID, Kind: so.KindImagingStudy,
		Filename: "cd.zip", Filetype: "application/zip", Status: "uploading", CreatedAt: sampleTime}
}

func createdInvitation() access.Invitation {
	return access.Invitation{ID: sampleInvitationID, CaseID: sampleCaseID, Email: "doc@example.org",
		URL: "https://so.example.org/invitations?token=t", ExpiresAt: sampleTime.Add(14 * 24 * time.Hour), CreatedAt: sampleTime}
}

func revokedInvitation() access.Invitation {
	inv := createdInvitation()
	inv.URL, inv.RedeemedAt, inv.RevokedAt = "", &sampleTime, &sampleTime
	return inv
}

func proposedConsent() consent.Consent {
	return consent.Consent{ID: sampleExtraID, CaseID: sampleCaseID, FormVersion: "2026-03-it",
		FormSHA256: make([]byte, 32), SignerName: "Anna Bianchi", Relationship: so.RelationshipParent,
		SignedAt: sampleTime, SignedIP: "192.0.2.10"}
}

func activeConsent() consent.Consent {
	c := proposedConsent()
	c.CountersignedBy, c.CountersignedAt = ptr(sampleAccountID), &sampleTime
	return c
}

func auditEntry() audit.Entry {
	return audit.Entry{Seq: 42, Time: sampleTime, ActorID: "account:" + sampleAccountID, ActorRole: "dpo",
		Action: audit.ActionDocumentOpen, ObjectType: "document", ObjectID: sampleDocumentID, CaseID: sampleCaseID,
		ClientIP: "192.0.2.10", UserAgent: "curl/8", RequestID: "0d5c3a1f9e8b7a6c5d4e3f2a",
		Outcome: audit.OutcomeSuccess, Purpose: audit.PurposeTreatment}
}

func gapReport() audit.Report {
	return audit.Report{OK: false, Size: 42, Checkpoints: 2, Latest: 20,
		Problem: &audit.Problem{Kind: audit.KindGap, Seq: 21, Detail: "entry 21 is missing"}}
}
