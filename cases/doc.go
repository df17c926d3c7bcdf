// Package cases holds second-opinion requests from request to report: the case an applicant
// opens, its state machine, its checklist, its working-day clocks, its payments and extras,
// the reviewers assigned to it, its history, and the registry of its documents.
//
// # Creating a case
//
// POST /api/v1/cases carries a CreateInput. ParseCreateInput decodes it strictly (one object, no
// unknown fields, at most 64 KiB) and validates it; every problem is reported at once in an
// so.EInvalid *so.Error whose Fields name the JSON field ("patient.birth_date",
// "consultation_types[1]"), so a form can mark each one. Cases.Create validates again and
// stores a draft owned by the applicant. A request naming a PreviousCaseID is an update of an
// earlier case of the same patient whose report was released within UpdateWindow months.
//
// # The state machine
//
// A case moves draft → submitted → triage ⇄ documents_requested → awaiting_payment →
// in_review → report_released → closed, or to withdrawn (by the applicant, before payment) or
// refunded (the specialist could not assess it). Next is the table; Transition applies one step
// in one transaction: it locks the case's row, refuses a step from any other state with
// so.StateError (409 {error:"state", status}), checks what the step needs (so.EConflict: the
// checklist accepted and the consent active before acceptance; the exact amount outstanding for
// a payment; a report, nothing outstanding and an active consent before release), applies the
// step's effects on the clocks and payments, writes the history row (Event), queues the step's
// mail (Notifier) and, as its last statement, writes its audit entry (TxAuditor, which takes the
// audit log's append lock until Commit). Nothing inside the transaction asks for a second
// database connection. The history is the timeline GET /cases/{id} returns.
//
// # Checklist, reviews and requests
//
// The kinds a case needs come from so.RequiredKinds; each ChecklistItem is missing, uploaded,
// accepted or rejected (with the latest reason). ReviewDocument records a case manager's
// decision while the case is being checked; the request-documents step names the kinds still
// missing; UploadAllowed tells the upload path whether the case takes a kind in its state (the
// applicant's and physician's documents until acceptance, the report in review with consent);
// PrepareDeletion decides an applicant's erasure (open cases only, never accepted documents or
// the report) and records it.
//
// # Clocks
//
// Triage is due TriageDays working days after submission, the report ReportDays after payment,
// on the centre's Calendar (internal/workdays: the end of a working day in the centre's zone,
// holidays skipped). Waiting for the applicant (documents requested, an extra proposed) pauses
// the running clock; the end of the pause moves the due date by the working days that began
// during it. A case is overdue from its due instant while its clock runs; List filters and
// orders by it and OverdueCount feeds the gauge.
//
// # Money
//
// Prices are configuration (Prices, DefaultPrices from DESIGN §1). Acceptance fixes the base
// price (an update's when a reviewer of the previous case is assigned) and the courier; extras
// proposed by a reviewer at their configured price are approved or declined by the applicant
// (DecideExtra); payments and refunds are recorded, never processed, and Balance adds them up.
//
// # Who sees what
//
// This package does not authorize: the handler asks access.Policy first, with Cases as the
// policy's access.Directory (CaseFacts, DocumentFacts). Listings follow the same policy, and
// View, List and Detail show each subject what they may see: a reviewer assigned to a case
// without an active countersigned consent (ConsentChecker) sees only its id, its status and
// that it waits for consent; the DPO sees no clinical question nor the history's notes.
// DocumentsFor applies access.CanSeeDocument (a physician's own uploads; the report only once
// released, except to its reviewers).
//
// # Tables
//
// The package owns cases, documents, assignments, case_events, document_requests, payments and
// extras (migrations 001, 003, 006, 010). It asks package access about accounts
// (AccountDirectory) and package consent about consents (ConsentChecker), never with its own
// SQL.
package cases
