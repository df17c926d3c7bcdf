package consent

import (
	"context"
	"fmt"

	"github.com/lib/pq"
	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/internal/prepared"
)

// Required tells whether role needs an active consent to read a document of kind: reviewers
// always; case managers for every kind but those they must read to countersign
// (so.DocumentKind.IdentityKind); applicants and invited physicians never (the access policy
// limits them to their own case or uploads). Roles that never read document content (dpo,
// admin, any unknown role) get ErrRoleNotAllowed.
func Required(role so.Role, kind so.DocumentKind) (bool, error) {
	switch role {
	case so.RoleReviewer:
		return true, nil
	case so.RoleCaseManager:
		return !kind.IdentityKind(), nil
	case so.RoleApplicant, so.RolePhysician:
		return false, nil
	}
	return false, fmt.Errorf("%w: %q", ErrRoleNotAllowed, role)
}

// Gate answers for every document read whether the case's consent allows it.
type Gate struct {
	db    *sqlx.DB
	stmts prepared.Statements
}

// NewGate returns a Gate over db (the runtime connection).
func NewGate(db *sqlx.DB) *Gate { return &Gate{db: db} }

// Check returns nil when role may read a document of kind in the case as far as consent is
// concerned, ErrNoConsent when an active consent is needed and missing, ErrRoleNotAllowed
// for roles that never read documents, or another error when the database could not answer
// (deny then too). Assignment and ownership are the access policy's to check, not the gate's.
func (g *Gate) Check(ctx context.Context, caseID string, role so.Role, kind so.DocumentKind) error {
	need, err := Required(role, kind)
	if err != nil || !need {
		return err
	}
	if !so.ValidID(caseID) {
		return ErrNoConsent
	}
	var active bool
	if err := g.stmts.Get(ctx, g.db, nil, &active, `SELECT EXISTS (SELECT 1 FROM case_consents WHERE case_id = $1
		AND countersigned_at IS NOT NULL AND withdrawn_at IS NULL AND rejected_at IS NULL)`, caseID); err != nil {
		return fmt.Errorf("consent: gate: %w", err)
	}
	if !active {
		return ErrNoConsent
	}
	return nil
}

// ActiveConsents returns, for each of the cases, whether it has an active countersigned
// consent, read through q (the caller's transaction, or nil for the gate's connection); a
// database error is returned (the caller denies).
func (g *Gate) ActiveConsents(ctx context.Context, q sqlx.QueryerContext, caseIDs []string) (map[string]bool, error) {
	if q == nil {
		q = g.db
	}
	out := make(map[string]bool, len(caseIDs))
	valid := make([]string, 0, len(caseIDs))
	for _, id := range caseIDs {
		out[id] = false
		if so.ValidID(id) {
			valid = append(valid, id)
		}
	}
	if len(valid) == 0 {
		return out, nil
	}
	var active []string
	if err := sqlx.SelectContext(ctx, q, &active, `SELECT DISTINCT case_id::text FROM case_consents WHERE case_id = ANY($1::uuid[])
		AND countersigned_at IS NOT NULL AND withdrawn_at IS NULL AND rejected_at IS NULL`, pq.StringArray(valid)); err != nil {
		return nil, fmt.Errorf("consent: active consents: %w", err)
	}
	for _, id := range active {
		out[id] = true
	}
	return out, nil
}
