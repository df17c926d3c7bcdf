package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
)

// Hold is a legal hold on a case: while it stands, nothing of the case is erased, neither by
// the retention job nor on request.
type Hold struct {
	CaseID   string    `json:"case_id"`
	Reason   string    `json:"reason"`
	PlacedBy string    `json:"placed_by"`
	PlacedAt time.Time `json:"placed_at"`
}

// maxLegalReference bounds a hold's reason and an erasure's reference: a reference (a court order's
// number, a claim, a ticket), not a story; it must not hold health data.
const maxLegalReference = 500

// checkReference trims a hold's reason or an erasure's reference and checks it: required, one
// line, at most maxLegalReference characters.
func checkReference(field string, s *string) error {
	ve := so.Invalid()
	*s = strings.TrimSpace(*s)
	checkText(ve, field, *s, maxLegalReference, true, false)
	return ve.OrNil()
}

// HoldInput is the body of POST /api/v1/cases/{id}/hold.
type HoldInput struct {
	Reason string `json:"reason"`
}

// Validate checks the input: a hold needs its reason.
func (in *HoldInput) Validate() error { return checkReference("reason", &in.Reason) }

// PlaceHold puts the case under legal hold, in one transaction with its audit entry. A case
// already under hold keeps its first hold (EConflict). The caller has asked access.Policy for
// access.ActionCaseHold.
func (c *Cases) PlaceHold(ctx context.Context, by Actor, caseID string, in HoldInput) (Hold, error) {
	if err := in.Validate(); err != nil {
		return Hold{}, err
	}
	tx, cs, err := c.lock(ctx, caseID, "place legal hold")
	if err != nil {
		return Hold{}, err
	}
	defer tx.Rollback()
	h := Hold{CaseID: cs.ID, Reason: in.Reason, PlacedBy: by.Subject.AccountID, PlacedAt: c.Now().UTC()}
	res, err := tx.ExecContext(ctx, `INSERT INTO case_holds (case_id, reason, placed_by, placed_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (case_id) DO NOTHING`, h.CaseID, h.Reason, h.PlacedBy, h.PlacedAt)
	if err != nil {
		return Hold{}, fmt.Errorf("place legal hold: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return Hold{}, so.Errorf(so.EConflict, "the case is under legal hold already")
	}
	e := by.entry(audit.ActionCaseHold, "case", cs.ID, cs.ID)
	e.Purpose = audit.PurposeLegal
	if err := c.logTx(ctx, tx, e); err != nil {
		return Hold{}, err
	}
	if err := tx.Commit(); err != nil {
		return Hold{}, fmt.Errorf("place legal hold: %w", err)
	}
	return h, nil
}

// ReleaseHold lifts the case's legal hold, in one transaction with its audit entry; ErrNotFound
// when the case is not under hold. The caller has asked access.Policy for access.ActionCaseHold.
func (c *Cases) ReleaseHold(ctx context.Context, by Actor, caseID string) error {
	tx, cs, err := c.lock(ctx, caseID, "release legal hold")
	if err != nil {
		return err
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, `DELETE FROM case_holds WHERE case_id = $1`, cs.ID)
	if err != nil {
		return fmt.Errorf("release legal hold: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return so.Errorf(so.ENotFound, "the case is not under legal hold")
	}
	e := by.entry(audit.ActionCaseHoldRelease, "case", cs.ID, cs.ID)
	e.Purpose = audit.PurposeLegal
	if err := c.logTx(ctx, tx, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("release legal hold: %w", err)
	}
	return nil
}

// HoldOf returns the case's legal hold, or nil when it has none.
func (c *Cases) HoldOf(ctx context.Context, caseID string) (*Hold, error) {
	if !so.ValidID(caseID) {
		return nil, so.ErrNotFound
	}
	var r struct {
		CaseID   string    `db:"case_id"`
		Reason   string    `db:"reason"`
		PlacedBy string    `db:"placed_by"`
		PlacedAt time.Time `db:"placed_at"`
	}
	err := c.db.GetContext(ctx, &r, `SELECT case_id, reason, placed_by, placed_at FROM case_holds WHERE case_id = $1`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("legal hold: %w", err)
	}
	return &Hold{CaseID: r.CaseID, Reason: r.Reason, PlacedBy: r.PlacedBy, PlacedAt: r.PlacedAt.UTC()}, nil
}

// ErasureReason says why a case is erased.
type ErasureReason string

// The reasons.
const (
	ErasureRetention ErasureReason = "retention" // its retention period ended
	ErasureRequest   ErasureReason = "request"   // the data subject asked (GDPR Art. 17), through the DPO
)

// Tombstone is what remains of an erased case: no health data, no names.
type Tombstone struct {
	CaseID      string        `json:"case_id" db:"case_id"`
	LastStatus  so.CaseStatus `json:"last_status" db:"last_status"`
	CreatedAt   time.Time     `json:"created_at" db:"created_at"`
	SubmittedAt *time.Time    `json:"submitted_at" db:"submitted_at"`
	ClosedAt    *time.Time    `json:"closed_at" db:"closed_at"`
	ErasedAt    time.Time     `json:"erased_at" db:"erased_at"`
	Reason      ErasureReason `json:"reason" db:"reason"`
	Rule        string        `json:"rule" db:"rule"` // the retention rule, or the DPO's reference
	ErasedBy    *string       `json:"erased_by" db:"erased_by"`
	Documents   int           `json:"documents" db:"documents"` // the documents the case had when its erasure began
}

// ErasureInput is the body of POST /api/v1/cases/{id}/erasure: the DPO's reference for the
// request (a ticket number; never health data).
type ErasureInput struct {
	Reference string `json:"reference"`
}

// Validate checks the input.
func (in *ErasureInput) Validate() error { return checkReference("reference", &in.Reference) }

// StoredObject is a document of a case being erased: its id and its object's key.
type StoredObject struct {
	DocumentID string `db:"id"`
	ObjectKey  string `db:"object_key"`
}

// Erasure is an erasure begun by BeginErasure: the documents to shred and delete before
// FinishErasure.
type Erasure struct {
	CaseID    string
	Documents []StoredObject
}

// ErrHeld is the refusal of an erasure of a case under legal hold.
var ErrHeld = so.Errorf(so.EConflict, "the case is under legal hold")

// BeginErasure starts erasing the case: it checks that the case is not under legal hold
// (ErrHeld), not in review (a report is being written: so.StateError), and, for the retention
// rules (expiry not nil), still expired (EConflict when it moved on meanwhile), marks the case as
// being erased (from then on it answers as missing: so.ErrNotFound to everyone), and writes the
// erasure's audit entry, in one transaction. It returns the documents to crypto-shred and
// delete, one by one, before FinishErasure. A case whose erasure began and was interrupted can
// be begun again: it carries on. The caller authorized the erasure (the DPO, asking
// access.Policy for access.ActionErasure, or the retention job).
func (c *Cases) BeginErasure(ctx context.Context, by Actor, caseID string, reason ErasureReason, rule string, expiry *Expiry) (*Erasure, error) {
	if !so.ValidID(caseID) {
		return nil, so.ErrNotFound
	}
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("begin erasure: %w", err)
	}
	defer tx.Rollback()
	var cs struct {
		Status  string       `db:"status"`
		Erasing sql.NullTime `db:"erasing_at"`
		Held    bool         `db:"held"`
		Since   time.Time    `db:"since"`
	}
	err = tx.GetContext(ctx, &cs, `SELECT status, erasing_at, EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id) AS held,
		`+sinceSQL+` AS since FROM cases c WHERE id = $1 FOR UPDATE`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, so.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("begin erasure: %w", err)
	}
	switch {
	case cs.Held:
		return nil, ErrHeld
	case !cs.Erasing.Valid && so.CaseStatus(cs.Status) == so.StatusInReview:
		return nil, so.StateError(so.StatusInReview)
	case !cs.Erasing.Valid && expiry != nil && (so.CaseStatus(cs.Status) != expiry.Status || cs.Since.After(expiry.Cutoff)):
		return nil, so.Errorf(so.EConflict, "the case changed since it was found expired: kept")
	}
	if !cs.Erasing.Valid {
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET erasing_at = $2,
			erasing_documents = (SELECT count(*) FROM documents WHERE case_id = $1),
			erasing_reason = $3, erasing_rule = $4, erasing_by = NULLIF($5, '')::uuid WHERE id = $1`,
			caseID, c.Now(), reason, rule, by.Subject.AccountID); err != nil {
			return nil, fmt.Errorf("begin erasure: %w", err)
		}
	}
	e := by.entry(audit.ActionCaseErase, "case", caseID, caseID)
	e.Purpose = audit.PurposeLegal
	if err := c.logTx(ctx, tx, e); err != nil {
		return nil, err
	}
	er := &Erasure{CaseID: caseID}
	if err := tx.SelectContext(ctx, &er.Documents, `SELECT id, object_key FROM documents WHERE case_id = $1 ORDER BY id`,
		caseID); err != nil {
		return nil, fmt.Errorf("begin erasure: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("begin erasure: %w", err)
	}
	return er, nil
}

// ForgetErased deletes the registry row of a document of a case being erased, once its key is
// shredded and its object deleted; a row already gone is not an error.
func (c *Cases) ForgetErased(ctx context.Context, er *Erasure, docID string) error {
	if _, err := c.db.ExecContext(ctx, `DELETE FROM documents d USING cases c
		WHERE d.id = $1 AND d.case_id = $2 AND c.id = d.case_id AND c.erasing_at IS NOT NULL`, docID, er.CaseID); err != nil {
		return fmt.Errorf("forget erased document: %w", err)
	}
	return nil
}

// FinishErasure ends the erasure once every document of the case is erased (EConflict while
// a document remains, e.g. one whose upload finished meanwhile: begin again): in one
// transaction it writes the tombstone and deletes the case's row, which deletes the history,
// requests, payments, extras, assignments, invitations and consent records with it.
func (c *Cases) FinishErasure(ctx context.Context, er *Erasure) (Tombstone, error) {
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return Tombstone{}, fmt.Errorf("finish erasure: %w", err)
	}
	defer tx.Rollback()
	var r struct {
		Status      string         `db:"status"`
		CreatedAt   time.Time      `db:"created_at"`
		SubmittedAt sql.NullTime   `db:"submitted_at"`
		ClosedAt    sql.NullTime   `db:"closed_at"`
		Erasing     sql.NullTime   `db:"erasing_at"`
		Erased      sql.NullInt64  `db:"erasing_documents"`
		Reason      sql.NullString `db:"erasing_reason"` // set with erasing_at
		Rule        sql.NullString `db:"erasing_rule"`
		By          sql.NullString `db:"erasing_by"`
		Documents   int            `db:"documents"`
	}
	err = tx.GetContext(ctx, &r, `SELECT status, created_at, submitted_at, closed_at, erasing_at, erasing_documents, erasing_reason, erasing_rule, erasing_by,
		(SELECT count(*) FROM documents d WHERE d.case_id = c.id) AS documents
		FROM cases c WHERE id = $1 FOR UPDATE`, er.CaseID)
	if errors.Is(err, sql.ErrNoRows) {
		return Tombstone{}, so.ErrNotFound
	}
	if err != nil {
		return Tombstone{}, fmt.Errorf("finish erasure: %w", err)
	}
	if !r.Erasing.Valid {
		return Tombstone{}, fmt.Errorf("finish erasure: case %s: erasure not begun", er.CaseID)
	}
	if r.Documents > 0 {
		return Tombstone{}, so.Errorf(so.EConflict, "%d documents of the case are not erased yet", r.Documents)
	}
	// The tombstone says what the erasure's beginning said (one carried on by the retention
	// job after the DPO's request was interrupted is still the DPO's).
	t := Tombstone{CaseID: er.CaseID, LastStatus: so.CaseStatus(r.Status), CreatedAt: r.CreatedAt.UTC(),
		SubmittedAt: utcPtr(r.SubmittedAt), ClosedAt: utcPtr(r.ClosedAt), ErasedAt: c.Now().UTC(),
		Reason: ErasureReason(r.Reason.String), Rule: r.Rule.String, Documents: max(int(r.Erased.Int64), len(er.Documents))}
	if r.By.Valid {
		t.ErasedBy = &r.By.String
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_tombstones (case_id, last_status, created_at, submitted_at,
		closed_at, erased_at, reason, rule, erased_by, documents) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)`,
		t.CaseID, t.LastStatus, t.CreatedAt, t.SubmittedAt, t.ClosedAt, t.ErasedAt, t.Reason, t.Rule, t.ErasedBy,
		t.Documents); err != nil {
		return Tombstone{}, fmt.Errorf("finish erasure: tombstone: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM cases WHERE id = $1`, er.CaseID); err != nil {
		return Tombstone{}, fmt.Errorf("finish erasure: delete case: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Tombstone{}, fmt.Errorf("finish erasure: %w", err)
	}
	return t, nil
}

func utcPtr(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	v := t.Time.UTC()
	return &v
}

// TombstoneOf returns the tombstone of an erased case; so.ErrNotFound when the case was not
// erased.
func (c *Cases) TombstoneOf(ctx context.Context, caseID string) (Tombstone, error) {
	if !so.ValidID(caseID) {
		return Tombstone{}, so.ErrNotFound
	}
	var t Tombstone
	err := c.db.GetContext(ctx, &t, `SELECT case_id, last_status, created_at, submitted_at, closed_at, erased_at,
		reason, rule, erased_by, documents FROM case_tombstones WHERE case_id = $1`, caseID)
	if errors.Is(err, sql.ErrNoRows) {
		return Tombstone{}, so.ErrNotFound
	}
	if err != nil {
		return Tombstone{}, fmt.Errorf("tombstone: %w", err)
	}
	return t, nil
}

// sinceSQL is when the case c entered its state: closed_at for a closed case; for a draft its
// last change or upload; else its latest step into the state, else its last change.
const sinceSQL = `coalesce(CASE WHEN c.status = 'closed' THEN c.closed_at END,
	CASE WHEN c.status = 'draft' THEN greatest(c.updated_at, (SELECT max(d.created_at) FROM documents d WHERE d.case_id = c.id)) END,
	(SELECT max(e.at) FROM case_events e WHERE e.case_id = c.id AND e.to_status = c.status AND e.from_status <> e.to_status),
	c.updated_at)`

// Expiry is what the retention rules found expired, checked again by BeginErasure under the
// case's lock: the case must still be in Status, and have been since Cutoff or before.
type Expiry struct {
	Status so.CaseStatus
	Cutoff time.Time
}

// Expired is a case whose retention period has ended: the state it is in, since when.
type Expired struct {
	CaseID string        `json:"case_id" db:"id"`
	Status so.CaseStatus `json:"status" db:"status"`
	Since  time.Time     `json:"since" db:"since"`
	// Erasing: an erasure of the case began and was not finished.
	Erasing bool `json:"erasing" db:"erasing"`
}

// ExpiredCases returns up to limit cases not under legal hold that have been in a state of
// cutoffs since before its cutoff (a case is in a state since it entered it: closed_at for
// closed cases, else its latest step into that state, else its last update), and the cases
// whose erasure began and did not finish, oldest first.
func (c *Cases) ExpiredCases(ctx context.Context, cutoffs map[so.CaseStatus]time.Time, limit int) ([]Expired, error) {
	var states []string
	var times []time.Time
	for s, t := range cutoffs {
		if s == so.StatusInReview {
			continue // never while a report is being written
		}
		states = append(states, string(s))
		times = append(times, t)
	}
	out := []Expired{}
	err := c.db.SelectContext(ctx, &out, `WITH since AS (
			SELECT c.id, c.status, c.erasing_at IS NOT NULL AS erasing,
				`+sinceSQL+` AS since
			FROM cases c
			WHERE (c.status = ANY($1) OR c.erasing_at IS NOT NULL)
				AND NOT EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id)
		)
		SELECT s.id, s.status, s.since, s.erasing FROM since s
		LEFT JOIN unnest($1::text[], $2::timestamptz[]) AS r(status, cutoff) ON r.status = s.status
		WHERE s.erasing OR (r.cutoff IS NOT NULL AND s.since <= r.cutoff AND s.status <> 'in_review')
		ORDER BY s.since, s.id LIMIT $3`, pq.StringArray(states), pq.Array(times), limit)
	if err != nil {
		return nil, fmt.Errorf("expired cases: %w", err)
	}
	for i := range out {
		out[i].Since = out[i].Since.UTC()
	}
	return out, nil
}

// ExpiredRejections returns up to limit documents a case manager rejected at or before
// cutoff, of cases not under legal hold, oldest rejection first.
func (c *Cases) ExpiredRejections(ctx context.Context, cutoff time.Time, limit int) ([]RejectedDocument, error) {
	out := []RejectedDocument{}
	err := c.db.SelectContext(ctx, &out, `SELECT d.id, d.case_id, d.object_key, d.reviewed_at
		FROM documents d JOIN cases c ON c.id = d.case_id
		WHERE d.review = 'rejected' AND d.reviewed_at <= $1 AND c.erasing_at IS NULL
			AND NOT EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = d.case_id)
		ORDER BY d.reviewed_at, d.id LIMIT $2`, cutoff, limit)
	if err != nil {
		return nil, fmt.Errorf("expired rejected documents: %w", err)
	}
	return out, nil
}

// RejectedDocument is a document a case manager rejected.
type RejectedDocument struct {
	DocumentID string    `json:"document_id" db:"id"`
	CaseID     string    `json:"case_id" db:"case_id"`
	ObjectKey  string    `json:"-" db:"object_key"`
	RejectedAt time.Time `json:"rejected_at" db:"reviewed_at"`
}

// PrepareRejectionErasure records, before the erasure, that the retention job erases a
// rejected document: in the case history and the audit log, in one transaction that checks
// again that the document is still rejected and its case not under legal hold (EConflict
// otherwise: the document is kept).
func (c *Cases) PrepareRejectionErasure(ctx context.Context, by Actor, d RejectedDocument, cutoff time.Time) error {
	tx, cs, err := c.lock(ctx, d.CaseID, "erase rejected document")
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var ok bool
	if err := tx.GetContext(ctx, &ok, `SELECT EXISTS (SELECT 1 FROM documents WHERE id = $1 AND case_id = $2
			AND review = 'rejected' AND reviewed_at <= $3)
		AND NOT EXISTS (SELECT 1 FROM case_holds WHERE case_id = $2)`, d.DocumentID, cs.ID, cutoff); err != nil {
		return fmt.Errorf("erase rejected document: %w", err)
	}
	if !ok {
		return so.Errorf(so.EConflict, "the document is no longer a rejected one past its retention, or the case is under legal hold")
	}
	if err := c.addEvent(ctx, tx, by.Subject, cs.ID, "document.erased", cs.Status, cs.Status, d.DocumentID, ""); err != nil {
		return err
	}
	e := by.entry(audit.ActionDocumentErase, "document", d.DocumentID, cs.ID)
	e.Purpose = audit.PurposeLegal
	if err := c.logTx(ctx, tx, e); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("erase rejected document: %w", err)
	}
	return nil
}

// held reports, in tx, whether the case is under legal hold.
func held(ctx context.Context, q sqlx.QueryerContext, caseID string) (bool, error) {
	var h bool
	if err := sqlx.GetContext(ctx, q, &h, `SELECT EXISTS (SELECT 1 FROM case_holds WHERE case_id = $1)`, caseID); err != nil {
		return false, fmt.Errorf("legal hold: %w", err)
	}
	return h, nil
}
