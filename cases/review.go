package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
)

// Decision is a case manager's verdict on a document.
type Decision string

// The decisions.
const (
	DecisionAccepted Decision = "accepted"
	DecisionRejected Decision = "rejected"
)

// ReviewInput is the body of POST /api/v1/documents/{id}/review.
type ReviewInput struct {
	Decision Decision `json:"decision"`
	Reason   string   `json:"reason"`
}

// Validate checks the input: a rejection needs a reason the applicant will read.
func (in *ReviewInput) Validate() error {
	ve := so.Invalid()
	in.Reason = strings.TrimSpace(in.Reason)
	switch in.Decision {
	case DecisionAccepted, DecisionRejected:
	default:
		ve.AddField("decision", "must be accepted or rejected")
	}
	checkText(ve, "reason", in.Reason, maxNote, in.Decision == DecisionRejected, true)
	return ve.OrNil()
}

// ReviewDocument records a case manager's decision on an available document while the case is
// being checked (submitted, triage, documents requested); deciding again replaces the earlier
// decision. The step is in the case history and the audit log. The caller has asked
// access.Policy for ActionDocumentReview on the document's case.
func (c *Cases) ReviewDocument(ctx context.Context, by Actor, docID string, in ReviewInput) (Document, error) {
	if err := in.Validate(); err != nil {
		return Document{}, err
	}
	d, err := c.Document(ctx, docID)
	if err != nil {
		return Document{}, err
	}
	tx, cs, err := c.lock(ctx, d.CaseID, "review document", so.StatusSubmitted, so.StatusTriage, so.StatusDocumentsRequested)
	if err != nil {
		return Document{}, err
	}
	defer tx.Rollback()
	now := c.Now()
	res, err := tx.ExecContext(ctx, `UPDATE documents SET review = $2, review_reason = $3, reviewed_by = $4, reviewed_at = $5
		WHERE id = $1 AND case_id = $6 AND status = 'available' AND kind <> 'report'`,
		docID, in.Decision, in.Reason, by.Subject.AccountID, now, cs.ID)
	if err != nil {
		return Document{}, fmt.Errorf("review document: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return Document{}, so.Errorf(so.EConflict, "only an available document of the applicant's checklist can be reviewed")
	}
	if err := c.addEvent(ctx, tx, by.Subject, cs.ID, "document."+string(in.Decision), cs.Status, cs.Status, docID, in.Reason); err != nil {
		return Document{}, err
	}
	e := by.entry(audit.ActionDocumentReview, "document", docID, cs.ID)
	e.Reason = string(in.Decision)
	if err := c.logTx(ctx, tx, e); err != nil {
		return Document{}, err
	}
	if err := tx.Commit(); err != nil {
		return Document{}, fmt.Errorf("review document: %w", err)
	}
	return c.Document(ctx, docID)
}

// UploadAllowed tells the upload path whether role may add a document of kind to the case in
// its current state: the applicant's and the physician's documents until the case manager
// accepts the documentation (so.CaseStatus.OpenForDocuments), the specialist's report while
// the case is in review. Otherwise a so.EState error.
func (c *Cases) UploadAllowed(ctx context.Context, caseID string, role so.Role, kind so.DocumentKind) error {
	if !so.ValidID(caseID) {
		return so.ErrNotFound
	}
	var status so.CaseStatus
	err := c.db.GetContext(ctx, &status, `SELECT status FROM cases WHERE id = $1 AND erasing_at IS NULL`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("upload allowed: %w", err)
	}
	switch {
	case kind == so.KindReport && status == so.StatusInReview:
		return c.requireConsent(ctx, c.db, caseID, "the privacy consent is not active")
	case kind != so.KindReport && status.OpenForDocuments():
		return nil
	}
	return so.StateError(status)
}

// PrepareDeletion decides whether by may erase the document now and records the erasure in
// the case history and the audit log, in one transaction, before the erasure. An applicant erases a document of their own case while the case is open
// for documents, unless a case manager accepted it, and never the specialist's report; the
// DPO erases any document (GDPR Art. 17). Otherwise an EState or EConflict error. The caller
// has asked access.Policy for ActionDocumentDelete, and erases the document after this.
func (c *Cases) PrepareDeletion(ctx context.Context, by Actor, docID string) error {
	d, err := c.Document(ctx, docID)
	if err != nil {
		return err
	}
	tx, cs, err := c.lock(ctx, d.CaseID, "erase document")
	if err != nil {
		return err
	}
	defer tx.Rollback()
	// Read again under the case's lock: a review decided meanwhile counts.
	var r documentRow
	if err := tx.GetContext(ctx, &r, `SELECT `+documentColumns+` FROM documents WHERE id = $1 AND case_id = $2`,
		docID, cs.ID); err != nil {
		return fmt.Errorf("erase document: %w", err)
	}
	d = r.value()
	// A legal hold blocks every erasure, the DPO's too.
	if h, err := held(ctx, tx, cs.ID); err != nil || h {
		if err == nil {
			err = ErrHeld
		}
		return err
	}
	if by.Subject.Role != so.RoleDPO {
		switch {
		case !cs.Status.OpenForDocuments():
			return so.StateError(cs.Status)
		case d.Kind == so.KindReport:
			return so.Errorf(so.EConflict, "the specialist's report cannot be erased by the applicant")
		case d.Review != nil && d.Review.Decision == DecisionAccepted:
			return so.Errorf(so.EConflict, "a document the case manager accepted cannot be erased")
		}
	}
	if err := c.addEvent(ctx, tx, by.Subject, cs.ID, "document.erased", cs.Status, cs.Status, docID, ""); err != nil {
		return err
	}
	if err := c.logTx(ctx, tx, by.entry(audit.ActionDocumentErase, "document", docID, cs.ID)); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("erase document: %w", err)
	}
	return nil
}
