package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/secondopinion/secondopinion/access"
)

// Assignment is a reviewer assigned to a case.
type Assignment struct {
	ReviewerID string    `db:"reviewer_id" json:"reviewer_id"`
	Email      string    `db:"email" json:"reviewer_email"`
	Name       string    `db:"name" json:"reviewer_name"`
	AssignedBy string    `db:"assigned_by" json:"assigned_by"`
	AssignedAt time.Time `db:"assigned_at" json:"assigned_at"`
}

// Assign assigns the enabled reviewer with this email to the case, on behalf of by (a case
// manager: ask access.Policy for ActionAssignReviewer first). Assigning twice is not an error.
// A missing case is ErrNotFound; an email that names no enabled reviewer is a
// *ValidationError on "reviewer_email". It returns the reviewer's account id.
func (c *Cases) Assign(ctx context.Context, by access.Subject, caseID, reviewerEmail string) (string, error) {
	if by.AccountID == "" {
		return "", ErrForbidden
	}
	if !access.ValidUUID(caseID) {
		return "", ErrNotFound
	}
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	defer tx.Rollback()
	var one int
	err = tx.GetContext(ctx, &one, `SELECT 1 FROM cases WHERE id = $1 FOR SHARE`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	var reviewerID string
	err = tx.GetContext(ctx, &reviewerID, `SELECT id FROM accounts WHERE lower(email) = lower($1) AND role = 'reviewer' AND disabled_at IS NULL`,
		reviewerEmail)
	if errors.Is(err, sql.ErrNoRows) {
		ve := &ValidationError{}
		ve.add("reviewer_email", "names no enabled reviewer")
		return "", ve
	}
	if err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO assignments (case_id, reviewer_id, assigned_by, assigned_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (case_id, reviewer_id) DO NOTHING`, caseID, reviewerID, by.AccountID, c.Now()); err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return "", fmt.Errorf("assign reviewer: %w", err)
	}
	return reviewerID, nil
}

// Unassign removes the reviewer with this email from the case; the reviewer loses sight of it at
// once. ErrNotFound when no such assignment exists.
func (c *Cases) Unassign(ctx context.Context, caseID, reviewerEmail string) error {
	if !access.ValidUUID(caseID) {
		return ErrNotFound
	}
	res, err := c.db.ExecContext(ctx, `DELETE FROM assignments WHERE case_id = $1
		AND reviewer_id = (SELECT id FROM accounts WHERE lower(email) = lower($2))`, caseID, reviewerEmail)
	if err != nil {
		return fmt.Errorf("unassign reviewer: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// Assignments returns the case's reviewers, in the order they were assigned.
func (c *Cases) Assignments(ctx context.Context, caseID string) ([]Assignment, error) {
	if !access.ValidUUID(caseID) {
		return nil, ErrNotFound
	}
	out := []Assignment{}
	err := c.db.SelectContext(ctx, &out, `SELECT a.reviewer_id, r.email, r.name, a.assigned_by, a.assigned_at
		FROM assignments a JOIN accounts r ON r.id = a.reviewer_id WHERE a.case_id = $1 ORDER BY a.assigned_at, r.email`, caseID)
	if err != nil {
		return nil, fmt.Errorf("list assignments: %w", err)
	}
	return out, nil
}
