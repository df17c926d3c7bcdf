// Package consent keeps the privacy consent of every second-opinion case and answers the
// question every document read asks first: may this role read this kind of document now?
//
// # Forms
//
// A consent form version (Form) is an immutable text with the SHA-256 of its UTF-8 bytes.
// Migration 005_consent.sql seeds the English version "2025-01-en"; AddForm adds others.
//
// # A case's consent
//
// The data subject, or their parent, guardian or legal representative, signs by typing
// their full name (Sign); the service records the form version and hash, the time and the
// client IP. The consent is then proposed. A case manager, having checked the identity
// documents and the form, countersigns it (Countersign) and it becomes active, or rejects it
// (Reject). The applicant may withdraw it at any time (Withdraw): it takes effect with the
// next Gate.Check, and what was done before stays lawful and recorded. Nothing is deleted:
// signing again after a withdrawal or rejection creates a new consent; History lists them all.
//
// # The gate
//
// Gate.Check(ctx, caseID, role, kind) returns nil or ErrNoConsent. Reviewers need an active
// consent for every kind of document; case managers for every kind except the four they
// must read in order to countersign (identity_document, applicant_identity_document,
// proof_of_authority, consent_form). Applicants and invited physicians read only their own
// case's or their own uploads, which the access policy checks, and are not gated. The DPO,
// admins and unknown roles never read document content: the gate refuses them with
// ErrRoleNotAllowed. Any database error is returned as an error: the caller denies.
//
// # FHIR
//
// Consent.FHIR returns the consent as a FHIR R4 Consent resource.
package consent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/lib/pq/pqerror"
)

// Errors. Each names one reason a request fails; wrap-aware callers use errors.Is.
var (
	// ErrNoConsent: the case has no active (countersigned, not withdrawn) consent.
	ErrNoConsent = errors.New("consent: no active consent")
	// ErrRoleNotAllowed: the role never reads document content.
	ErrRoleNotAllowed = errors.New("consent: role may not read documents")
	// ErrNotFound: no such case, form, or consent in the needed state.
	ErrNotFound = errors.New("consent: not found")
	// ErrConflict: the consent is not in a state that allows the operation.
	ErrConflict = errors.New("consent: not allowed in the consent's current state")
	// ErrInvalid: a malformed argument (name, relationship, IP, form text).
	ErrInvalid = errors.New("consent: invalid")
)

// Status is where a consent stands.
type Status string

// Consent states.
const (
	StatusProposed  Status = "proposed"  // signed, awaiting the case manager
	StatusActive    Status = "active"    // countersigned, in force
	StatusRejected  Status = "rejected"  // refused by the case manager
	StatusWithdrawn Status = "withdrawn" // withdrawn by the applicant
)

// Form is one version of the consent text.
type Form struct {
	Version   string    `db:"version" json:"version"`
	Language  string    `db:"language" json:"language"`
	Text      string    `db:"text" json:"text"`
	SHA256    []byte    `db:"sha256" json:"sha256"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// Consent is one signature of a case's consent and what happened to it.
type Consent struct {
	ID              string          `db:"id" json:"id"`
	CaseID          string          `db:"case_id" json:"case_id"`
	FormVersion     string          `db:"form_version" json:"form_version"`
	FormSHA256      []byte          `db:"form_sha256" json:"form_sha256"`
	SignerName      string          `db:"signer_name" json:"signer_name"`
	Relationship    so.Relationship `db:"relationship" json:"relationship"`
	SignedAt        time.Time       `db:"signed_at" json:"signed_at"`
	SignedIP        string          `db:"signed_ip" json:"signed_ip"`
	CountersignedBy *string         `db:"countersigned_by" json:"countersigned_by,omitempty"`
	CountersignedAt *time.Time      `db:"countersigned_at" json:"countersigned_at,omitempty"`
	RejectedBy      *string         `db:"rejected_by" json:"rejected_by,omitempty"`
	RejectedAt      *time.Time      `db:"rejected_at" json:"rejected_at,omitempty"`
	RejectionReason string          `db:"rejection_reason" json:"rejection_reason,omitempty"`
	WithdrawnAt     *time.Time      `db:"withdrawn_at" json:"withdrawn_at,omitempty"`
}

// Status returns the consent's state.
func (c Consent) Status() Status {
	switch {
	case c.WithdrawnAt != nil:
		return StatusWithdrawn
	case c.RejectedAt != nil:
		return StatusRejected
	case c.CountersignedAt != nil:
		return StatusActive
	}
	return StatusProposed
}

// Store records forms and consents. One transaction per method.
type Store struct {
	db    *sqlx.DB
	cases CaseDirectory
	// Now is the clock for signatures, countersignatures and withdrawals. Default time.Now.
	Now func() time.Time
}

// CaseDirectory answers what a signature needs to know of its case (*cases.Cases): the
// applicant's relationship to the patient, or an error matching so.ErrNotFound.
type CaseDirectory interface {
	Relationship(ctx context.Context, caseID string) (so.Relationship, error)
}

// NewStore returns a Store over db (the runtime connection), asking cases about cases.
func NewStore(db *sqlx.DB, cases CaseDirectory) *Store {
	return &Store{db: db, cases: cases, Now: time.Now}
}

func (s *Store) now() time.Time { return s.Now().UTC().Truncate(time.Microsecond) }

const consentColumns = `id, case_id, form_version, form_sha256, signer_name, relationship, signed_at, signed_ip,
	countersigned_by, countersigned_at, rejected_by, rejected_at, rejection_reason, withdrawn_at`

// Form returns a form version.
func (s *Store) Form(ctx context.Context, version string) (Form, error) {
	var f Form
	err := s.db.GetContext(ctx, &f, `SELECT version, language, text, sha256, created_at FROM consent_forms WHERE version = $1`, version)
	if errors.Is(err, sql.ErrNoRows) {
		return Form{}, fmt.Errorf("form %q: %w", version, ErrNotFound)
	}
	if err != nil {
		return Form{}, fmt.Errorf("consent: form %q: %w", version, err)
	}
	return f, nil
}

// LatestForm returns the newest form in a language, the one a new signature should use.
func (s *Store) LatestForm(ctx context.Context, language string) (Form, error) {
	var f Form
	err := s.db.GetContext(ctx, &f, `SELECT version, language, text, sha256, created_at FROM consent_forms
		WHERE language = $1 ORDER BY created_at DESC, version DESC LIMIT 1`, language)
	if errors.Is(err, sql.ErrNoRows) {
		return Form{}, fmt.Errorf("form in %q: %w", language, ErrNotFound)
	}
	if err != nil {
		return Form{}, fmt.Errorf("consent: latest form: %w", err)
	}
	return f, nil
}

// AddForm stores a new form version. Versions are lowercase ([a-z0-9._-], e.g. "2026-03-it")
// and never change once stored.
func (s *Store) AddForm(ctx context.Context, version, language, text string) (Form, error) {
	if text == "" || !utf8.ValidString(text) {
		return Form{}, fmt.Errorf("%w: form text", ErrInvalid)
	}
	sum := sha256.Sum256([]byte(text))
	f := Form{Version: version, Language: language, Text: text, SHA256: sum[:], CreatedAt: s.now()}
	_, err := s.db.ExecContext(ctx, `INSERT INTO consent_forms (version, language, text, sha256, created_at) VALUES ($1, $2, $3, $4, $5)`,
		f.Version, f.Language, f.Text, f.SHA256, f.CreatedAt)
	switch code := pqCode(err); {
	case err == nil:
		return f, nil
	case code == "23505":
		return Form{}, fmt.Errorf("form %q exists: %w", version, ErrConflict)
	case code == "23514":
		return Form{}, fmt.Errorf("%w: form version %q or language %q", ErrInvalid, version, language)
	}
	return Form{}, fmt.Errorf("consent: add form: %w", err)
}

// Sign records the signature of the case's consent with form formVersion by signerName,
// whose relationship to the patient must be the case's applicant relationship, from ip
// (may be empty). The case must have no open consent. The consent returned is proposed.
func (s *Store) Sign(ctx context.Context, caseID, formVersion, signerName string, relationship so.Relationship, ip string) (Consent, error) {
	signerName = strings.TrimSpace(signerName)
	if signerName == "" || len(signerName) > 200 || strings.IndexFunc(signerName, unicode.IsControl) >= 0 || !utf8.ValidString(signerName) {
		return Consent{}, fmt.Errorf("%w: signer name", ErrInvalid)
	}
	if !relationship.Valid() {
		return Consent{}, fmt.Errorf("%w: relationship %q", ErrInvalid, relationship)
	}
	if ip != "" {
		a, err := netip.ParseAddr(ip)
		if err != nil {
			return Consent{}, fmt.Errorf("%w: ip address", ErrInvalid)
		}
		ip = a.String()
	}
	if !so.ValidID(caseID) {
		return Consent{}, fmt.Errorf("case %q: %w", caseID, ErrNotFound)
	}
	caseRel, err := s.cases.Relationship(ctx, caseID)
	if errors.Is(err, so.ErrNotFound) {
		return Consent{}, fmt.Errorf("case %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: sign: %w", err)
	}
	if caseRel != relationship {
		return Consent{}, fmt.Errorf("%w: the case's applicant is %q, not %q", ErrInvalid, caseRel, relationship)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Consent{}, fmt.Errorf("consent: sign: %w", err)
	}
	defer tx.Rollback()
	var c Consent
	err = tx.GetContext(ctx, &c, `INSERT INTO case_consents (case_id, form_version, form_sha256, signer_name, relationship, signed_at, signed_ip)
		SELECT $1, version, sha256, $3, $4, $5, $6 FROM consent_forms WHERE version = $2
		RETURNING `+consentColumns, caseID, formVersion, signerName, relationship, s.now(), ip)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return Consent{}, fmt.Errorf("form %q: %w", formVersion, ErrNotFound)
	case pqCode(err) == "23505":
		return Consent{}, fmt.Errorf("case %s already has an open consent: %w", caseID, ErrConflict)
	case err != nil:
		return Consent{}, fmt.Errorf("consent: sign: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Consent{}, fmt.Errorf("consent: sign: %w", err)
	}
	return c, nil
}

// Countersign makes the case's proposed consent active, recording caseManagerID, who must
// be an enabled case manager account.
func (s *Store) Countersign(ctx context.Context, caseID, caseManagerID string) (Consent, error) {
	return s.decide(ctx, caseID, caseManagerID, `countersigned_by = $2, countersigned_at = $3`, "")
}

// Reject refuses the case's proposed consent (e.g. the identity does not match); the
// applicant may sign again. reason is a short note for the applicant, without health data.
func (s *Store) Reject(ctx context.Context, caseID, caseManagerID, reason string) (Consent, error) {
	reason = strings.TrimSpace(reason)
	if len(reason) > 500 || !utf8.ValidString(reason) {
		return Consent{}, fmt.Errorf("%w: rejection reason", ErrInvalid)
	}
	return s.decide(ctx, caseID, caseManagerID, `rejected_by = $2, rejected_at = $3, rejection_reason = $4`, reason)
}

// decide applies a case manager's countersignature or rejection to the open, not yet
// countersigned consent. Who may do it is access.Policy's to decide (case managers, whose
// session ends when their account is disabled); the store records the account id.
func (s *Store) decide(ctx context.Context, caseID, caseManagerID, set, reason string) (Consent, error) {
	if !so.ValidID(caseID) {
		return Consent{}, fmt.Errorf("case %q: %w", caseID, ErrNotFound)
	}
	if !so.ValidID(caseManagerID) {
		return Consent{}, fmt.Errorf("%w: case manager id", ErrInvalid)
	}
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return Consent{}, fmt.Errorf("consent: %w", err)
	}
	defer tx.Rollback()
	args := []any{caseID, caseManagerID, s.now()}
	if strings.Contains(set, "$4") {
		args = append(args, reason)
	}
	var c Consent
	err = tx.GetContext(ctx, &c, `UPDATE case_consents SET `+set+`
		WHERE case_id = $1 AND withdrawn_at IS NULL AND rejected_at IS NULL AND countersigned_at IS NULL
		RETURNING `+consentColumns, args...)
	if errors.Is(err, sql.ErrNoRows) {
		return Consent{}, s.whyNot(ctx, tx, caseID)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Consent{}, fmt.Errorf("consent: %w", err)
	}
	return c, nil
}

// whyNot tells apart a case without an open consent (ErrNotFound) and one whose consent
// is already countersigned (ErrConflict).
func (s *Store) whyNot(ctx context.Context, q sqlx.QueryerContext, caseID string) error {
	var countersigned bool
	err := sqlx.GetContext(ctx, q, &countersigned, `SELECT countersigned_at IS NOT NULL FROM case_consents
		WHERE case_id = $1 AND withdrawn_at IS NULL AND rejected_at IS NULL`, caseID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("no open consent for case %s: %w", caseID, ErrNotFound)
	case err != nil:
		return fmt.Errorf("consent: %w", err)
	case countersigned:
		return fmt.Errorf("consent of case %s is already countersigned: %w", caseID, ErrConflict)
	}
	return fmt.Errorf("consent of case %s changed meanwhile: %w", caseID, ErrConflict)
}

// Withdraw withdraws the case's open consent (proposed or active), at once.
func (s *Store) Withdraw(ctx context.Context, caseID string) (Consent, error) {
	if !so.ValidID(caseID) {
		return Consent{}, fmt.Errorf("case %q: %w", caseID, ErrNotFound)
	}
	var c Consent
	err := s.db.GetContext(ctx, &c, `UPDATE case_consents SET withdrawn_at = $2
		WHERE case_id = $1 AND withdrawn_at IS NULL AND rejected_at IS NULL RETURNING `+consentColumns, caseID, s.now())
	if errors.Is(err, sql.ErrNoRows) {
		return Consent{}, fmt.Errorf("no open consent for case %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: withdraw: %w", err)
	}
	return c, nil
}

// Current returns the case's most recent consent, in whatever state, or ErrNotFound.
func (s *Store) Current(ctx context.Context, caseID string) (Consent, error) {
	if !so.ValidID(caseID) {
		return Consent{}, fmt.Errorf("case %q: %w", caseID, ErrNotFound)
	}
	var c Consent
	err := s.db.GetContext(ctx, &c, `SELECT `+consentColumns+` FROM case_consents WHERE case_id = $1
		ORDER BY signed_at DESC, (withdrawn_at IS NULL AND rejected_at IS NULL) DESC LIMIT 1`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return Consent{}, fmt.Errorf("no consent for case %s: %w", caseID, ErrNotFound)
	}
	if err != nil {
		return Consent{}, fmt.Errorf("consent: current: %w", err)
	}
	return c, nil
}

// History returns every consent of the case, oldest first.
func (s *Store) History(ctx context.Context, caseID string) ([]Consent, error) {
	if !so.ValidID(caseID) {
		return nil, fmt.Errorf("case %q: %w", caseID, ErrNotFound)
	}
	var cs []Consent
	if err := s.db.SelectContext(ctx, &cs, `SELECT `+consentColumns+` FROM case_consents WHERE case_id = $1 ORDER BY signed_at, id`, caseID); err != nil {
		return nil, fmt.Errorf("consent: history: %w", err)
	}
	return cs, nil
}

func pqCode(err error) pqerror.Code {
	var e *pq.Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

// validUUID accepts the canonical textual form of a UUID, as PostgreSQL prints it.
