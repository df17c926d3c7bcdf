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
	if d.Kind == so.KindReport || d.Status != "available" {
		return Document{}, so.Errorf(so.EConflict, "only an available document of the applicant's checklist can be reviewed")
	}
	tx, cs, err := c.lock(ctx, d.CaseID, "review document", so.StatusSubmitted, so.StatusTriage, so.StatusDocumentsRequested)
	if err != nil {
		return Document{}, err
	}
	defer tx.Rollback()
	now := c.Now()
	_, err = tx.ExecContext(ctx, `UPDATE documents SET review = $2, review_reason = $3, reviewed_by = $4, reviewed_at = $5
		WHERE id = $1 AND status = 'available'`, docID, in.Decision, in.Reason, by.Subject.AccountID, now)
	if err != nil {
		return Document{}, fmt.Errorf("review document: %w", err)
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
	err := c.db.GetContext(ctx, &status, `SELECT status FROM cases WHERE id = $1`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("upload allowed: %w", err)
	}
	if kind == so.KindReport {
		if status == so.StatusInReview {
			return nil
		}
	} else if status.OpenForDocuments() {
		return nil
	}
	return so.StateError(status)
}
