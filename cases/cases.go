package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/internal/prepared"
	"github.com/secondopinion/secondopinion/internal/workdays"
)

// Config is what the case store needs. DB is required; the rest have working defaults for
// tests of one part (no audit entries, no mails, weekends-only calendar, DESIGN §1 prices).
type Config struct {
	DB       *sqlx.DB         // the runtime connection
	Now      func() time.Time // the clock; time.Now
	Calendar Calendar         // working days for the SLA clocks; weekends only
	Prices   Prices           // DefaultPrices
	Audit    TxAuditor        // writes each transition's audit entry in its transaction
	Notifier Notifier         // queues each event's mail in its transaction
	Accounts AccountDirectory // looks up reviewers (*access.Accounts)
	Consent  ConsentChecker   // which cases have an active consent (*consent.Gate); required: without it nothing that needs consent is allowed
	Logger   *slog.Logger
}

// TxAuditor appends an audit entry inside the caller's transaction (*audit.Writer): the
// entry commits with the change it records, or neither does.
type TxAuditor interface {
	LogTx(ctx context.Context, tx *sqlx.Tx, e audit.Entry) (int64, error)
}

// Notifier queues a mail about a case event inside the caller's transaction. The mail names
// no health data: the event, the case's id (for the link), the language and an amount.
type Notifier interface {
	Notify(ctx context.Context, tx *sqlx.Tx, n Notice) error
}

// AccountDirectory answers what cases needs to know about accounts (package access owns them).
type AccountDirectory interface {
	// EnabledAccount returns the id of the enabled account with this email and role, or an
	// error matching so.ErrNotFound.
	EnabledAccount(ctx context.Context, email string, role so.Role) (id string, err error)
	// AccountNames returns the email and display name of each account id that exists.
	AccountNames(ctx context.Context, ids []string) (map[string]access.AccountName, error)
}

// ConsentChecker tells which of the cases have an active countersigned consent (*consent.Gate),
// reading through q: a transaction of the caller's, or nil for its own connection.
type ConsentChecker interface {
	ActiveConsents(ctx context.Context, q sqlx.QueryerContext, caseIDs []string) (map[string]bool, error)
}

// Cases is the case store: requests, their state machine, checklist, clocks, payments,
// extras, assignments and document registry. It implements access.Directory.
type Cases struct {
	db    *sqlx.DB
	cfg   Config
	Now   func() time.Time // the clock; tests may replace it
	stmts prepared.Statements
}

// New returns the store for cfg.
func New(cfg Config) *Cases {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Calendar == nil {
		cfg.Calendar, _ = workdays.Parse("", time.UTC)
	}
	if cfg.Prices.Currency == "" {
		cfg.Prices = DefaultPrices()
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Cases{db: cfg.DB, cfg: cfg, Now: cfg.Now}
}

// SetAccounts sets the account directory after construction (access is built over the case
// store, and the case store asks access about accounts).
func (c *Cases) SetAccounts(a AccountDirectory) { c.cfg.Accounts = a }

var _ access.Directory = (*Cases)(nil)

// Case is a second-opinion request.
type Case struct {
	ID                    string                `json:"id"`
	OwnerID               string                `json:"-"`
	Status                so.CaseStatus         `json:"status"`
	Patient               Patient               `json:"patient"`
	ApplicantRelationship so.Relationship       `json:"applicant_relationship"`
	ConsultationTypes     []so.ConsultationType `json:"consultation_types"`
	ClinicalQuestion      string                `json:"clinical_question"`
	Language              so.Language           `json:"language"`
	ImagingRelevant       bool                  `json:"imaging_relevant"`
	PreviousCaseID        *string               `json:"previous_case_id"`
	CreatedAt             time.Time             `json:"created_at"`
	UpdatedAt             time.Time             `json:"updated_at"`
	SubmittedAt           *time.Time            `json:"submitted_at"`
	AcceptedAt            *time.Time            `json:"accepted_at"`
	PaidAt                *time.Time            `json:"paid_at"`
	ReleasedAt            *time.Time            `json:"released_at"`
	ClosedAt              *time.Time            `json:"closed_at"`
	TriageDueAt           *time.Time            `json:"triage_due_at"`
	ReportDueAt           *time.Time            `json:"report_due_at"`
	ClockPausedAt         *time.Time            `json:"clock_paused_at"`
	Overdue               bool                  `json:"overdue"`
	Price                 *Price                `json:"price"` // fixed at acceptance
}

// Price is what the second opinion itself costs, fixed when the case is accepted.
type Price struct {
	Kind    PriceKind `json:"kind"`
	Amount  Money     `json:"amount"`
	Courier *Money    `json:"courier,omitempty"`
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
	ImagingRelevant       bool           `db:"imaging_relevant"`
	PreviousCaseID        sql.NullString `db:"previous_case_id"`
	CreatedAt             time.Time      `db:"created_at"`
	UpdatedAt             time.Time      `db:"updated_at"`
	SubmittedAt           sql.NullTime   `db:"submitted_at"`
	AcceptedAt            sql.NullTime   `db:"accepted_at"`
	PaidAt                sql.NullTime   `db:"paid_at"`
	ReleasedAt            sql.NullTime   `db:"released_at"`
	ClosedAt              sql.NullTime   `db:"closed_at"`
	TriageDueAt           sql.NullTime   `db:"triage_due_at"`
	ReportDueAt           sql.NullTime   `db:"report_due_at"`
	ClockPausedAt         sql.NullTime   `db:"clock_paused_at"`
	PriceKind             sql.NullString `db:"price_kind"`
	PriceCents            sql.NullInt64  `db:"price_cents"`
	CourierCents          int64          `db:"courier_cents"`
	Currency              sql.NullString `db:"currency"`
}

const caseColumns = `id, owner_id, status, patient_given_name, patient_family_name, patient_birth_date,
	applicant_relationship, consultation_types, clinical_question, language, imaging_relevant, previous_case_id,
	created_at, updated_at, submitted_at, accepted_at, paid_at, released_at, closed_at, triage_due_at, report_due_at,
	clock_paused_at, price_kind, price_cents, courier_cents, currency`

func timePtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time
	return &v
}

func (r caseRow) value(now time.Time) Case {
	c := Case{ID: r.ID, OwnerID: r.OwnerID, Status: so.CaseStatus(r.Status),
		Patient:               Patient{GivenName: r.GivenName, FamilyName: r.FamilyName, BirthDate: r.BirthDate.Format(birthDateFmt)},
		ApplicantRelationship: so.Relationship(r.ApplicantRelationship), ClinicalQuestion: r.ClinicalQuestion,
		Language: so.Language(r.Language), ImagingRelevant: r.ImagingRelevant, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt,
		SubmittedAt: timePtr(r.SubmittedAt), AcceptedAt: timePtr(r.AcceptedAt), PaidAt: timePtr(r.PaidAt),
		ReleasedAt: timePtr(r.ReleasedAt), ClosedAt: timePtr(r.ClosedAt), TriageDueAt: timePtr(r.TriageDueAt),
		ReportDueAt: timePtr(r.ReportDueAt), ClockPausedAt: timePtr(r.ClockPausedAt)}
	for _, t := range r.ConsultationTypes {
		c.ConsultationTypes = append(c.ConsultationTypes, so.ConsultationType(t))
	}
	if r.PreviousCaseID.Valid {
		c.PreviousCaseID = &r.PreviousCaseID.String
	}
	if r.PriceKind.Valid && r.PriceCents.Valid {
		c.Price = &Price{Kind: PriceKind(r.PriceKind.String), Amount: Money{Cents: r.PriceCents.Int64, Currency: r.Currency.String}}
		if r.CourierCents > 0 {
			c.Price.Courier = &Money{Cents: r.CourierCents, Currency: r.Currency.String}
		}
	}
	c.Overdue = overdue(c, now)
	return c
}

// checklistRequest is what decides the case's checklist.
func (c Case) checklistRequest() so.ChecklistRequest {
	return so.ChecklistRequest{Relationship: c.ApplicantRelationship, ConsultationTypes: c.ConsultationTypes,
		ImagingRelevant: c.ImagingRelevant}
}

// Create validates in (see CreateInput.Validate) and opens a draft case owned by owner, who
// must be an applicant. An update request's previous case must be the owner's, of the same
// patient, with a report released within the last 12 months.
func (c *Cases) Create(ctx context.Context, owner access.Subject, in CreateInput) (Case, error) {
	if owner.Role != so.RoleApplicant || owner.AccountID == "" {
		return Case{}, so.ErrForbidden
	}
	now := c.Now()
	if err := in.Validate(now); err != nil {
		return Case{}, err
	}
	imaging := in.ImagingRelevant == nil || *in.ImagingRelevant
	types := make(pq.StringArray, len(in.ConsultationTypes))
	for i, t := range in.ConsultationTypes {
		types[i] = string(t)
	}
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return Case{}, fmt.Errorf("create case: %w", err)
	}
	defer tx.Rollback()
	var previous sql.NullString
	if in.PreviousCaseID != "" {
		if err := c.checkPrevious(ctx, tx, owner, in, now); err != nil {
			return Case{}, err
		}
		previous = sql.NullString{String: in.PreviousCaseID, Valid: true}
	}
	var r caseRow
	err = tx.GetContext(ctx, &r, `INSERT INTO cases (owner_id, status, patient_given_name, patient_family_name,
		patient_birth_date, applicant_relationship, consultation_types, clinical_question, language, imaging_relevant,
		previous_case_id, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) RETURNING `+caseColumns,
		owner.AccountID, so.StatusDraft, in.Patient.GivenName, in.Patient.FamilyName, in.Patient.BirthDate,
		in.ApplicantRelationship, types, in.ClinicalQuestion, in.Language, imaging, previous, now)
	if err != nil {
		return Case{}, fmt.Errorf("create case: %w", err)
	}
	if err := c.addEvent(ctx, tx, owner, r.ID, "create", so.StatusDraft, so.StatusDraft, "", ""); err != nil {
		return Case{}, err
	}
	if err := tx.Commit(); err != nil {
		return Case{}, fmt.Errorf("create case: %w", err)
	}
	return r.value(now), nil
}

// UpdateWindow is how long after its report a case may be followed by an update request.
const UpdateWindow = 12 // months

func (c *Cases) checkPrevious(ctx context.Context, tx *sqlx.Tx, owner access.Subject, in CreateInput, now time.Time) error {
	var p caseRow
	err := tx.GetContext(ctx, &p, `SELECT `+caseColumns+` FROM cases WHERE id = $1 AND owner_id = $2 AND erasing_at IS NULL`, in.PreviousCaseID, owner.AccountID)
	ve := so.Invalid()
	switch {
	case errors.Is(err, sql.ErrNoRows):
		ve.AddField("previous_case_id", "names none of your cases")
	case err != nil:
		return fmt.Errorf("create case: previous case: %w", err)
	case p.GivenName != in.Patient.GivenName || p.FamilyName != in.Patient.FamilyName ||
		p.BirthDate.Format(birthDateFmt) != in.Patient.BirthDate:
		ve.AddField("previous_case_id", "is about another patient")
	case !p.ReleasedAt.Valid:
		ve.AddField("previous_case_id", "has no released report yet")
	case p.ReleasedAt.Time.AddDate(0, UpdateWindow, 0).Before(now):
		ve.AddField("previous_case_id", "its report was released more than %d months ago: open a new request", UpdateWindow)
	}
	return ve.OrNil()
}

// Get returns the case with this id; ErrNotFound when there is none. It does not authorize:
// ask access.Policy first, and show a subject only what View allows.
func (c *Cases) Get(ctx context.Context, id string) (Case, error) {
	return c.get(ctx, c.db, id, false)
}

func (c *Cases) get(ctx context.Context, q sqlx.QueryerContext, id string, forUpdate bool) (Case, error) {
	if !so.ValidID(id) {
		return Case{}, so.ErrNotFound
	}
	query := `SELECT ` + caseColumns + ` FROM cases WHERE id = $1 AND erasing_at IS NULL`
	if forUpdate {
		query += ` FOR UPDATE`
	}
	var r caseRow
	err := sqlx.GetContext(ctx, q, &r, query, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Case{}, so.ErrNotFound
	}
	if err != nil {
		return Case{}, fmt.Errorf("get case: %w", err)
	}
	return r.value(c.Now()), nil
}

// CaseFacts tells access.Policy who owns the case, who is assigned to it and where it stands.
func (c *Cases) CaseFacts(ctx context.Context, id string) (access.CaseFacts, error) {
	if !so.ValidID(id) {
		return access.CaseFacts{}, so.ErrNotFound
	}
	var r struct {
		ID        string         `db:"id"`
		OwnerID   string         `db:"owner_id"`
		Status    string         `db:"status"`
		Reviewers pq.StringArray `db:"reviewers"`
	}
	err := c.stmts.Get(ctx, c.db, nil, &r, `SELECT c.id, c.owner_id, c.status,
		coalesce(array_agg(a.reviewer_id::text) FILTER (WHERE a.reviewer_id IS NOT NULL), '{}') AS reviewers
		FROM cases c LEFT JOIN assignments a ON a.case_id = c.id WHERE c.id = $1 AND c.erasing_at IS NULL GROUP BY c.id`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return access.CaseFacts{}, so.ErrNotFound
	}
	if err != nil {
		return access.CaseFacts{}, fmt.Errorf("case facts: %w", err)
	}
	return access.CaseFacts{ID: r.ID, OwnerID: r.OwnerID, Status: so.CaseStatus(r.Status), Reviewers: []string(r.Reviewers)}, nil
}

// Relationship is the applicant's relationship to the patient of the case (for the consent's
// signature); so.ErrNotFound when there is no case.
func (c *Cases) Relationship(ctx context.Context, caseID string) (so.Relationship, error) {
	cs, err := c.Get(ctx, caseID)
	return cs.ApplicantRelationship, err
}
