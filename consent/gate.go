package consent

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/cmd/prepared"
)

// Roles the gate knows. They are the account roles of migration 001 plus "physician", the
// referring physician acting through an invitation link.
const (
	RoleApplicant   = "applicant"
	RoleCaseManager = "case_manager"
	RoleReviewer    = "reviewer"
	RoleDPO         = "dpo"
	RoleAdmin       = "admin"
	RolePhysician   = "physician"
)

// identityKinds are the document kinds a case manager reads without an active consent,
// because checking them is how the consent gets countersigned.
var identityKinds = map[string]bool{
	"identity_document":           true,
	"applicant_identity_document": true,
	"proof_of_authority":          true,
	"consent_form":                true,
}

// Required tells whether role needs an active consent to read a document of kind. Roles
// that never read document content (dpo, admin, any unknown role) get ErrRoleNotAllowed.
func Required(role, kind string) (bool, error) {
	switch role {
	case RoleReviewer:
		return true, nil
	case RoleCaseManager:
		return !identityKinds[kind], nil
	case RoleApplicant, RolePhysician:
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
func (g *Gate) Check(ctx context.Context, caseID, role, kind string) error {
	need, err := Required(role, kind)
	if err != nil || !need {
		return err
	}
	if !validUUID(caseID) {
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
