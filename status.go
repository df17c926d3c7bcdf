package secondopinion

import "slices"

// CaseStatus is where a second-opinion request stands (DESIGN §8):
//
//	draft → submitted → triage ⇄ documents_requested → awaiting_payment → in_review →
//	report_released → closed
//
// plus withdrawn (by the applicant, before the report) and refunded (the specialist could not
// assess the case). Package cases holds the transitions.
type CaseStatus string

// The states.
const (
	StatusDraft              CaseStatus = "draft"
	StatusSubmitted          CaseStatus = "submitted"
	StatusTriage             CaseStatus = "triage"
	StatusDocumentsRequested CaseStatus = "documents_requested"
	StatusAwaitingPayment    CaseStatus = "awaiting_payment"
	StatusInReview           CaseStatus = "in_review"
	StatusReportReleased     CaseStatus = "report_released"
	StatusClosed             CaseStatus = "closed"
	StatusWithdrawn          CaseStatus = "withdrawn"
	StatusRefunded           CaseStatus = "refunded"
)

// Statuses lists every state in the order a case moves through them.
var Statuses = []CaseStatus{StatusDraft, StatusSubmitted, StatusTriage, StatusDocumentsRequested,
	StatusAwaitingPayment, StatusInReview, StatusReportReleased, StatusClosed, StatusWithdrawn, StatusRefunded}

// Valid reports whether s is one of Statuses.
func (s CaseStatus) Valid() bool { return slices.Contains(Statuses, s) }

// OpenForDocuments reports whether the applicant and the invited physician may still upload:
// until the case manager accepts the documentation.
func (s CaseStatus) OpenForDocuments() bool {
	switch s {
	case StatusDraft, StatusSubmitted, StatusTriage, StatusDocumentsRequested:
		return true
	}
	return false
}

// Final reports whether nothing more happens to the case.
func (s CaseStatus) Final() bool {
	return s == StatusClosed || s == StatusWithdrawn || s == StatusRefunded
}
