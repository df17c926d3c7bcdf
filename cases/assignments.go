package cases

import (
	"context"
	"errors"
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
)

// Assignment is a reviewer assigned to a case.
type Assignment struct {
	ReviewerID string    `db:"reviewer_id" json:"reviewer_id"`
	Email      string    `db:"-" json:"reviewer_email"`
	Name       string    `db:"-" json:"reviewer_name"`
	AssignedBy string    `db:"assigned_by" json:"assigned_by"`
	AssignedAt time.Time `db:"assigned_at" json:"assigned_at"`
}

// Assign assigns the enabled reviewer with this email to the case, on behalf of by (a case
// manager: ask access.Policy for ActionAssignReviewer first), while the case is not final.
// Assigning twice is not an error. A missing case is so.ErrNotFound; an email that names no
// enabled reviewer is an EInvalid error on "reviewer_email". It returns the reviewer's
// account id.
func (c *Cases) Assign(ctx context.Context, by Actor, caseID, reviewerEmail string) (string, error) {
	if by.Subject.AccountID == "" {
		return "", so.ErrForbidden
	}
	if c.cfg.Accounts == nil {
		return "", errors.New("assign reviewer: no account directory configured")
	}
	reviewerID, err := c.cfg.Accounts.EnabledAccount(ctx, reviewerEmail, so.RoleReviewer)
	if errors.Is(err, so.ErrNotFound) {
		ve := so.Invalid()
		ve.AddField("reviewer_email", "names no enabled reviewer")
		return "", ve
	}
	if err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	tx, cs, err := c.lock(ctx, caseID, "assign reviewer")
	if err != nil {
		return "", err
	}
	defer tx.Rollback()
	if cs.Status.Final() {
		return "", so.StateError(cs.Status)
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO assignments (case_id, reviewer_id, assigned_by, assigned_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (case_id, reviewer_id) DO NOTHING`, caseID, reviewerID, by.Subject.AccountID, c.Now())
	if err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 1 {
		if err := c.addEvent(ctx, tx, by.Subject, caseID, "reviewer.assigned", cs.Status, cs.Status, reviewerID, ""); err != nil {
			return "", err
		}
		if err := c.logTx(ctx, tx, by.entry(audit.ActionCaseAssign, "account", reviewerID, caseID)); err != nil {
			return "", err
		}
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	return reviewerID, nil
}

// Unassign removes the reviewer from the case; the reviewer loses sight of it at once.
// so.ErrNotFound when no such assignment exists.
func (c *Cases) Unassign(ctx context.Context, caseID, reviewerID string) error {
	if !so.ValidID(caseID) || !so.ValidID(reviewerID) {
		return so.ErrNotFound
	}
	res, err := c.db.ExecContext(ctx, `DELETE FROM assignments WHERE case_id = $1 AND reviewer_id = $2`, caseID, reviewerID)
	if err != nil {
		return fmt.Errorf("unassign reviewer: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return so.ErrNotFound
	}
	return nil
}

// Assignments returns the case's reviewers, in the order they were assigned, with their
// emails and names from the account directory.
func (c *Cases) Assignments(ctx context.Context, caseID string) ([]Assignment, error) {
	if !so.ValidID(caseID) {
		return nil, so.ErrNotFound
	}
	out := []Assignment{}
	err := c.db.SelectContext(ctx, &out, `SELECT reviewer_id, assigned_by, assigned_at FROM assignments
		WHERE case_id = $1 ORDER BY assigned_at, reviewer_id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	if len(out) == 0 || c.cfg.Accounts == nil {
		return out, nil
	}
	ids := make([]string, len(out))
	for i, a := range out {
		ids[i] = a.ReviewerID
	}
	names, err := c.cfg.Accounts.AccountNames(ctx, ids)
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	for i := range out {
		out[i].Email, out[i].Name = names[out[i].ReviewerID].Email, names[out[i].ReviewerID].Name
	}
	return out, nil
}
