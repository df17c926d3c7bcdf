package access

import (
	"context"
	"errors"
	"fmt"
	"slices"

	so "github.com/secondopinion/secondopinion"
)

// Action is something a subject may try. Case actions name a case; document actions a
// document; global actions neither.
type Action string

// Case actions (Policy.Authorize with a case id).
const (
	ActionCaseRead             Action = "case.read"              // GET /cases/{id}: metadata, checklist
	ActionCaseSubmit           Action = "case.submit"            // POST /cases/{id}/submit
	ActionCaseTriage           Action = "case.triage"            // POST /cases/{id}/triage
	ActionCaseRequestDocuments Action = "case.request_documents" // POST /cases/{id}/request-documents
	ActionCaseAccept           Action = "case.accept"            // POST /cases/{id}/accept
	ActionCasePayment          Action = "case.payment"           // POST /cases/{id}/payment
	ActionCaseRelease          Action = "case.release"           // POST /cases/{id}/release
	ActionCaseClose            Action = "case.close"             // POST /cases/{id}/close
	ActionCaseWithdraw         Action = "case.withdraw"          // POST /cases/{id}/withdraw
	ActionCaseRefund           Action = "case.refund"            // POST /cases/{id}/refund
	ActionDocumentList         Action = "document.list"          // GET /cases/{id}/documents (filter with CanSeeDocument)
	ActionDocumentUpload       Action = "document.upload"        // tus create; AuthorizeUpload also checks the kind
	ActionAssignReviewer       Action = "assignment.create"      // POST /cases/{id}/assignments
	ActionInvite               Action = "invitation.create"      // POST /cases/{id}/invitations; revoking too
	ActionConsentSign          Action = "consent.sign"           // POST /cases/{id}/consent/signature
	ActionConsentCountersign   Action = "consent.countersign"    // POST /cases/{id}/consent/countersignature
	ActionConsentWithdraw      Action = "consent.withdraw"       // POST /cases/{id}/consent/withdrawal
	ActionConsentRead          Action = "consent.read"           // GET /cases/{id}/consent
	ActionExtrasPropose        Action = "extras.propose"         // POST /cases/{id}/extras
	ActionExtrasDecide         Action = "extras.decide"          // POST /extras/{id}/approve|decline, on the extra's case
	ActionErasure              Action = "case.erase"             // POST /cases/{id}/erasure
	ActionCaseHold             Action = "case.hold"              // POST and DELETE /cases/{id}/hold: legal hold
	ActionDocumentReview       Action = "document.review"        // POST /documents/{id}/review, on the document's case
)

// Document actions (Policy.AuthorizeDocument with a document id).
const (
	ActionDocumentRead   Action = "document.read"   // GET /documents/{id}/content
	ActionDocumentDelete Action = "document.delete" // DELETE /documents/{id}
)

// Global actions (Policy.Authorize with an empty case id).
const (
	ActionCaseCreate     Action = "case.create"     // POST /cases
	ActionDataExport     Action = "me.export"       // GET /me/export: the subject's own data (GDPR Art. 15)
	ActionSubjectExport  Action = "subject.export"  // GET /accounts/{id}/export: the DPO, on behalf of a data subject
	ActionAuditRead      Action = "audit.read"      // GET /audit, /audit/verify
	ActionAuditExport    Action = "audit.export"    // GET /audit/export
	ActionAccountsManage Action = "accounts.manage" // account administration pages
)

// CaseActions, DocumentActions and GlobalActions list every action of each kind.
var (
	CaseActions = []Action{ActionCaseRead, ActionCaseSubmit, ActionCaseTriage, ActionCaseRequestDocuments,
		ActionCaseAccept, ActionCasePayment, ActionCaseRelease, ActionCaseClose, ActionCaseWithdraw, ActionCaseRefund,
		ActionDocumentList, ActionDocumentUpload, ActionAssignReviewer, ActionInvite, ActionConsentSign,
		ActionConsentCountersign, ActionConsentWithdraw, ActionConsentRead, ActionExtrasPropose, ActionExtrasDecide,
		ActionErasure, ActionCaseHold, ActionDocumentReview}
	DocumentActions = []Action{ActionDocumentRead, ActionDocumentDelete}
	GlobalActions   = []Action{ActionCaseCreate, ActionDataExport, ActionSubjectExport, ActionAuditRead, ActionAuditExport,
		ActionAccountsManage}
)

// Transitions maps the last path segment of POST /api/v1/cases/{id}/{transition} to its action.
var Transitions = map[string]Action{
	"submit": ActionCaseSubmit, "triage": ActionCaseTriage, "request-documents": ActionCaseRequestDocuments,
	"accept": ActionCaseAccept, "payment": ActionCasePayment, "release": ActionCaseRelease, "close": ActionCaseClose,
	"withdraw": ActionCaseWithdraw, "refund": ActionCaseRefund,
}

// permitted is what each role may do on a case (or document) it can see. Visibility is decided
// first (see Policy), so "applicant: case.read" means "on the applicant's own cases".
var permitted = map[so.Role][]Action{
	so.RoleApplicant: {ActionCaseCreate, ActionDataExport,
		ActionCaseRead, ActionCaseSubmit, ActionCaseWithdraw, ActionDocumentList, ActionDocumentUpload,
		ActionDocumentRead, ActionDocumentDelete, ActionInvite, ActionConsentSign, ActionConsentWithdraw,
		ActionConsentRead, ActionExtrasDecide},
	so.RolePhysician: {ActionDocumentList, ActionDocumentUpload, ActionDocumentRead},
	so.RoleCaseManager: {ActionCaseRead, ActionCaseTriage, ActionCaseRequestDocuments, ActionCaseAccept,
		ActionCasePayment, ActionCaseClose, ActionCaseRefund, ActionDocumentList, ActionDocumentRead, ActionDocumentReview,
		ActionAssignReviewer, ActionInvite, ActionConsentCountersign, ActionConsentRead},
	so.RoleReviewer: {ActionCaseRead, ActionCaseRelease, ActionDocumentList, ActionDocumentUpload,
		ActionDocumentRead, ActionExtrasPropose},
	so.RoleDPO: {ActionAuditRead, ActionAuditExport, ActionSubjectExport,
		ActionCaseRead, ActionDocumentList, ActionDocumentDelete, ActionConsentRead, ActionErasure, ActionCaseHold},
	so.RoleAdmin: {ActionAccountsManage},
}

// UploadableKinds returns the document kinds role may upload to a case it may upload to:
// applicants every kind but the report; referring physicians the clinical kinds
// (so.DocumentKind.Clinical); reviewers only the report.
func UploadableKinds(role so.Role) []so.DocumentKind {
	var out []so.DocumentKind
	for _, k := range so.Kinds {
		switch {
		case role == so.RoleApplicant && k != so.KindReport,
			role == so.RolePhysician && k.Clinical(),
			role == so.RoleReviewer && k == so.KindReport:
			out = append(out, k)
		}
	}
	return out
}

// CaseFacts is what the policy needs to know about a case.
type CaseFacts struct {
	ID        string
	Status    so.CaseStatus
	OwnerID   string   // the applicant's account
	Reviewers []string // accounts of the assigned reviewers
}

// DocumentFacts is what the policy needs to know about a document.
type DocumentFacts struct {
	ID                   string
	CaseID               string
	Kind                 so.DocumentKind
	UploadedBy           string // account, or empty
	UploadedByInvitation string // invitation of the physician who uploaded it, or empty

	// Case is the facts of the document's case when the caller read them together with the
	// document's (one query instead of two); nil: the policy asks the Directory.
	Case *CaseFacts
}

// Directory answers the policy's questions about cases and documents; *cases.Cases is one.
// Both methods return an error matching so.ErrNotFound for an id that names nothing.
type Directory interface {
	CaseFacts(ctx context.Context, caseID string) (CaseFacts, error)
	DocumentFacts(ctx context.Context, docID string) (DocumentFacts, error)
}

// Policy is the one authorization policy: the API, the tus hooks and the pages all ask it.
//
// Each answer is nil (allowed), so.ErrNotFound (the case or document is missing or invisible to
// the subject: answer 404, exactly as for a missing one), so.ErrForbidden (visible, but this
// action is not the subject's: 403), so.ErrUnauthenticated (nobody: 401) or so.ErrTOTPRequired (a
// staff subject that has not passed TOTP: 403, or the enrolment page). Other errors are
// failures to look facts up. The consent gate is asked after the policy, by the caller; the
// state machine decides what may happen when (409), the policy only who.
//
// Visibility: an applicant sees their own cases; a physician the invitation's case, and in it
// only the documents the invitation uploaded; a reviewer the cases assigned to them; case
// managers, DPOs and admins see every case. What each may then do is the table in the package
// documentation.
type Policy struct{ dir Directory }

// Authorize decides whether s may do action on the case caseID. For a global action caseID
// must be empty.
func (p *Policy) Authorize(ctx context.Context, s Subject, action Action, caseID string) error {
	if err := precheck(s); err != nil {
		return err
	}
	if slices.Contains(GlobalActions, action) {
		if caseID != "" {
			return fmt.Errorf("policy: %s takes no case", action)
		}
		return allowed(s.Role, action)
	}
	if !slices.Contains(CaseActions, action) {
		return fmt.Errorf("policy: %q is not a case action", action)
	}
	if _, err := p.visibleCase(ctx, s, caseID); err != nil {
		return err
	}
	return allowed(s.Role, action)
}

// AuthorizeUpload decides whether s may upload a document of kind to the case caseID: the
// upload action, then the kind (physicians: the cover letter and clinical kinds; reviewers:
// only "report"; applicants: anything but "report"). An unknown kind is so.ErrForbidden.
func (p *Policy) AuthorizeUpload(ctx context.Context, s Subject, caseID string, kind so.DocumentKind) error {
	if err := p.Authorize(ctx, s, ActionDocumentUpload, caseID); err != nil {
		return err
	}
	if !slices.Contains(UploadableKinds(s.Role), kind) {
		return so.ErrForbidden
	}
	return nil
}

// AuthorizeDocument decides whether s may do action (ActionDocumentRead, ActionDocumentDelete)
// on the document docID.
func (p *Policy) AuthorizeDocument(ctx context.Context, s Subject, action Action, docID string) error {
	if err := precheck(s); err != nil {
		return err
	}
	if !slices.Contains(DocumentActions, action) {
		return fmt.Errorf("policy: %q is not a document action", action)
	}
	d, err := p.dir.DocumentFacts(ctx, docID)
	if errors.Is(err, so.ErrNotFound) {
		d = DocumentFacts{} // decided below exactly as any document the subject may not see
	} else if err != nil {
		return lookupErr(err)
	}
	return p.AuthorizeDocumentFacts(ctx, s, action, d)
}

// AuthorizeDocumentFacts is AuthorizeDocument for a caller that has read the document's facts
// from the Directory's registry itself (with the rest of the row it needs, and possibly its
// case's facts, in one query); the zero DocumentFacts is a document that does not exist. The
// decision is AuthorizeDocument's: the subject, then the action, then the case's visibility,
// then the document's.
func (p *Policy) AuthorizeDocumentFacts(ctx context.Context, s Subject, action Action, d DocumentFacts) error {
	if err := precheck(s); err != nil {
		return err
	}
	if !slices.Contains(DocumentActions, action) {
		return fmt.Errorf("policy: %q is not a document action", action)
	}
	if d.ID == "" {
		return so.ErrNotFound
	}
	var cf CaseFacts
	if d.Case != nil && d.Case.ID == d.CaseID && d.CaseID != "" {
		if !visible(s, *d.Case) {
			return so.ErrNotFound
		}
		cf = *d.Case
	} else {
		var err error
		if cf, err = p.visibleCase(ctx, s, d.CaseID); err != nil {
			return err
		}
	}
	if !CanSeeDocument(s, cf, d) {
		return so.ErrNotFound
	}
	return allowed(s.Role, action)
}

// CanSeeDocument reports whether s, who can see the case c, can see its document d: a
// physician sees only what their invitation uploaded; the specialist's report is seen by the
// assigned reviewers at once and by everybody else only once it is released; every other
// document is seen by every role that sees the case. Use it to filter the list of
// ActionDocumentList.
func CanSeeDocument(s Subject, c CaseFacts, d DocumentFacts) bool {
	if s.Role == so.RolePhysician {
		return s.InvitationID != "" && d.UploadedByInvitation == s.InvitationID
	}
	if d.Kind == so.KindReport && s.Role != so.RoleReviewer {
		return c.Status == so.StatusReportReleased || c.Status == so.StatusClosed
	}
	return true
}

// CaseScope tells a case listing which cases a subject may read (ActionCaseRead): All, or those
// owned by OwnerID, or those assigned to ReviewerID. The zero CaseScope is none.
type CaseScope struct {
	All        bool
	OwnerID    string
	ReviewerID string
}

// ReadableCases returns the scope of cases s may read, consistent with Authorize(ActionCaseRead).
func ReadableCases(s Subject) CaseScope {
	if precheck(s) != nil || allowed(s.Role, ActionCaseRead) != nil {
		return CaseScope{}
	}
	switch s.Role {
	case so.RoleApplicant:
		return CaseScope{OwnerID: s.AccountID}
	case so.RoleReviewer:
		return CaseScope{ReviewerID: s.AccountID}
	case so.RoleCaseManager, so.RoleDPO:
		return CaseScope{All: true}
	}
	return CaseScope{}
}

func precheck(s Subject) error {
	if !s.Authenticated() {
		return so.ErrUnauthenticated
	}
	if s.Role.Staff() && !s.TOTPSatisfied {
		return so.ErrTOTPRequired
	}
	return nil
}

func allowed(r so.Role, a Action) error {
	if slices.Contains(permitted[r], a) {
		return nil
	}
	return so.ErrForbidden
}

// visibleCase loads the case's facts and returns so.ErrNotFound unless s can see it.
func (p *Policy) visibleCase(ctx context.Context, s Subject, caseID string) (CaseFacts, error) {
	if caseID == "" {
		return CaseFacts{}, so.ErrNotFound
	}
	c, err := p.dir.CaseFacts(ctx, caseID)
	if err != nil {
		return c, lookupErr(err)
	}
	if !visible(s, c) {
		return c, so.ErrNotFound
	}
	return c, nil
}

// visible reports whether s can see the case c.
func visible(s Subject, c CaseFacts) bool {
	switch s.Role {
	case so.RoleApplicant:
		return c.OwnerID == s.AccountID
	case so.RolePhysician:
		return c.ID == s.ScopeCaseID
	case so.RoleReviewer:
		// A withdrawn or refunded case is closed to its reviewers: its purpose has ended.
		return slices.Contains(c.Reviewers, s.AccountID) && !ReviewerClosed(c.Status)
	case so.RoleCaseManager, so.RoleDPO, so.RoleAdmin:
		return true
	}
	return false
}

func lookupErr(err error) error {
	if errors.Is(err, so.ErrNotFound) {
		return so.ErrNotFound
	}
	return fmt.Errorf("policy: %w", err)
}

// ReviewerClosed reports whether a case in status is closed to its assigned reviewers: once
// withdrawn or refunded, the purpose they read it for has ended.
func ReviewerClosed(status so.CaseStatus) bool {
	return status == so.StatusWithdrawn || status == so.StatusRefunded
}
