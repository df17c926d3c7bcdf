package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cmd/prepared"
)

// Errors: the same values as package access's, so that the web layer maps one set.
var (
	ErrNotFound  = access.ErrNotFound  // no such case or document (or the caller may not see it)
	ErrInvalid   = access.ErrInvalid   // matched by *ValidationError
	ErrForbidden = access.ErrForbidden // the subject cannot do this at all
)

// The states of a case (DESIGN §8). This package creates drafts; the state machine that moves
// them is not here.
const (
	StatusDraft              = "draft"
	StatusSubmitted          = "submitted"
	StatusTriage             = "triage"
	StatusDocumentsRequested = "documents_requested"
	StatusAwaitingPayment    = "awaiting_payment"
	StatusInReview           = "in_review"
	StatusReportReleased     = "report_released"
	StatusClosed             = "closed"
	StatusWithdrawn          = "withdrawn"
	StatusRefunded           = "refunded"
)

// Cases is the case store. It implements access.Directory.
type Cases struct {
	db    *sqlx.DB
	Now   func() time.Time // the clock; time.Now by default
	stmts prepared.Statements
}

// New returns the store over the runtime connection.
func New(db *sqlx.DB) *Cases { return &Cases{db: db, Now: time.Now} }

var _ access.Directory = (*Cases)(nil)

// Case is a second-opinion request.
type Case struct {
	ID                    string    `json:"id"`
	OwnerID               string    `json:"-"`
	Status                string    `json:"status"`
	Patient               Patient   `json:"patient"`
	ApplicantRelationship string    `json:"applicant_relationship"`
	ConsultationTypes     []string  `json:"consultation_types"`
	ClinicalQuestion      string    `json:"clinical_question"`
	Language              string    `json:"language"`
	CreatedAt             time.Time `json:"created_at"`
	UpdatedAt             time.Time `json:"updated_at"`
}

type caseRow struct {
	ID                    string         `db:"id"`
	OwnerID               string         `db:"owner_id"`
	Status                string         `db:"status"`
	GivenName             string         `db:"patient_given_name"`
	FamilyName            string         `db:"patient_family_name"`
	BirthDate             time.Time      `db:"patient_birth_date"`
	ApplicantRelationship string         `db:"applicant_relationship"`
	ConsultationTypes     pq.StringArray `db:"consultation_types"`
	ClinicalQuestion      string         `db:"clinical_question"`
	Language              string         `db:"language"`
	CreatedAt             time.Time      `db:"created_at"`
	UpdatedAt             time.Time      `db:"updated_at"`
}

const caseColumns = `id, owner_id, status, patient_given_name, patient_family_name, patient_birth_date,
	applicant_relationship, consultation_types, clinical_question, language, created_at, updated_at`

func (r caseRow) value() Case {
	return Case{ID: r.ID, OwnerID: r.OwnerID, Status: r.Status,
		Patient:               Patient{GivenName: r.GivenName, FamilyName: r.FamilyName, BirthDate: r.BirthDate.Format(birthDateFmt)},
		ApplicantRelationship: r.ApplicantRelationship, ConsultationTypes: []string(r.ConsultationTypes),
		ClinicalQuestion: r.ClinicalQuestion, Language: r.Language, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}

// Create validates in (see CreateInput.Validate) and opens a draft case owned by owner, who
// must be an applicant.
func (c *Cases) Create(ctx context.Context, owner access.Subject, in CreateInput) (Case, error) {
	if owner.Role != access.RoleApplicant || owner.AccountID == "" {
		return Case{}, ErrForbidden
	}
	now := c.Now()
	if err := in.Validate(now); err != nil {
		return Case{}, err
	}
	var r caseRow
	err := c.db.GetContext(ctx, &r, `INSERT INTO cases (owner_id, status, patient_given_name, patient_family_name,
		patient_birth_date, applicant_relationship, consultation_types, clinical_question, language, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $10) RETURNING `+caseColumns,
		owner.AccountID, StatusDraft, in.Patient.GivenName, in.Patient.FamilyName, in.Patient.BirthDate,
		in.ApplicantRelationship, pq.StringArray(in.ConsultationTypes), in.ClinicalQuestion, in.Language, now)
	if err != nil {
		return Case{}, fmt.Errorf("create case: %w", err)
	}
	return r.value(), nil
}

// Get returns the case with this id; ErrNotFound when there is none. It does not authorize:
// ask access.Policy first.
func (c *Cases) Get(ctx context.Context, id string) (Case, error) {
	if !access.ValidUUID(id) {
		return Case{}, ErrNotFound
	}
	var r caseRow
	err := c.db.GetContext(ctx, &r, `SELECT `+caseColumns+` FROM cases WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Case{}, ErrNotFound
	}
	if err != nil {
		return Case{}, fmt.Errorf("get case: %w", err)
	}
	return r.value(), nil
}

// ListForSubject returns the cases s may read (access.ReadableCases), newest first.
func (c *Cases) ListForSubject(ctx context.Context, s access.Subject) ([]Case, error) {
	scope := access.ReadableCases(s)
	q, arg := `SELECT `+caseColumns+` FROM cases WHERE `, any(nil)
	switch {
	case scope.All:
		q += `true`
	case scope.OwnerID != "":
		q, arg = q+`owner_id = $1`, scope.OwnerID
	case scope.ReviewerID != "":
		q, arg = q+`id IN (SELECT case_id FROM assignments WHERE reviewer_id = $1)`, scope.ReviewerID
	default:
		return []Case{}, nil
	}
	q += ` ORDER BY created_at DESC, id`
	var rows []caseRow
	var err error
	if arg == nil {
		err = c.db.SelectContext(ctx, &rows, q)
	} else {
		err = c.db.SelectContext(ctx, &rows, q, arg)
	}
	if err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	out := make([]Case, len(rows))
	for i, r := range rows {
		out[i] = r.value()
	}
	return out, nil
}

// CaseFacts tells access.Policy who owns the case and who is assigned to it.
func (c *Cases) CaseFacts(ctx context.Context, id string) (access.CaseFacts, error) {
	if !access.ValidUUID(id) {
		return access.CaseFacts{}, ErrNotFound
	}
	var r struct {
		ID        string         `db:"id"`
		OwnerID   string         `db:"owner_id"`
		Reviewers pq.StringArray `db:"reviewers"`
	}
	err := c.stmts.Get(ctx, c.db, nil, &r, `SELECT c.id, c.owner_id,
		coalesce(array_agg(a.reviewer_id::text) FILTER (WHERE a.reviewer_id IS NOT NULL), '{}') AS reviewers
		FROM cases c LEFT JOIN assignments a ON a.case_id = c.id WHERE c.id = $1 GROUP BY c.id`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return access.CaseFacts{}, ErrNotFound
	}
	if err != nil {
		return access.CaseFacts{}, fmt.Errorf("case facts: %w", err)
	}
	return access.CaseFacts{ID: r.ID, OwnerID: r.OwnerID, Reviewers: []string(r.Reviewers)}, nil
}
