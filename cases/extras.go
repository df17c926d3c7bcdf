package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/audit"
)

// ExtraStatus is where an extra stands: proposed by the specialist, then approved or declined
// by the applicant.
type ExtraStatus string

// The states of an extra.
const (
	ExtraProposed ExtraStatus = "proposed"
	ExtraApproved ExtraStatus = "approved"
	ExtraDeclined ExtraStatus = "declined"
)

// Extra is an extra a specialist proposed.
type Extra struct {
	ID         string       `db:"id" json:"id"`
	CaseID     string       `db:"case_id" json:"case_id"`
	Type       so.ExtraType `db:"type" json:"type"`
	Cents      int64        `db:"price_cents" json:"-"`
	Currency   string       `db:"currency" json:"-"`
	Price      Money        `db:"-" json:"price"`
	Reason     string       `db:"reason" json:"reason"`
	Status     ExtraStatus  `db:"status" json:"status"`
	ProposedBy string       `db:"proposed_by" json:"proposed_by"`
	ProposedAt time.Time    `db:"proposed_at" json:"proposed_at"`
	DecidedBy  *string      `db:"decided_by" json:"decided_by"`
	DecidedAt  *time.Time   `db:"decided_at" json:"decided_at"`
}

// priced fills Price from the scanned columns.
func (x Extra) priced() Extra {
	x.Price = Money{Cents: x.Cents, Currency: x.Currency}
	return x
}

const extraColumns = `id, case_id, type, price_cents, currency, reason, status, proposed_by, proposed_at, decided_by, decided_at`

// ExtraInput is the body of POST /api/v1/cases/{id}/extras.
type ExtraInput struct {
	Type   so.ExtraType `json:"type"`
	Reason string       `json:"reason"`
}

// Validate checks the input, trimming the reason.
func (in *ExtraInput) Validate() error {
	ve := so.Invalid()
	if !in.Type.Valid() {
		ve.AddField("type", "must be one of %s", list(so.ExtraTypes))
	}
	in.Reason = strings.TrimSpace(in.Reason)
	checkText(ve, "reason", in.Reason, maxNote, true, true)
	return ve.OrNil()
}

// ProposeExtra records an extra proposed by an assigned reviewer of a case in review, at the
// configured price; the report clock pauses until the applicant decides, who is mailed. The
// caller has asked access.Policy for ActionExtrasPropose.
func (c *Cases) ProposeExtra(ctx context.Context, by Actor, caseID string, in ExtraInput) (Extra, error) {
	if err := in.Validate(); err != nil {
		return Extra{}, err
	}
	tx, cs, err := c.lock(ctx, caseID, "propose extra", so.StatusInReview)
	if err != nil {
		return Extra{}, err
	}
	defer tx.Rollback()
	if err := c.requireConsent(ctx, tx, caseID, "the privacy consent is not active"); err != nil {
		return Extra{}, err
	}
	now := c.Now()
	price := c.cfg.Prices.Extra(in.Type)
	var x Extra
	if err := tx.GetContext(ctx, &x, `INSERT INTO extras (case_id, type, price_cents, currency, reason, proposed_by, proposed_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+extraColumns,
		caseID, in.Type, price.Cents, price.Currency, in.Reason, by.Subject.AccountID, now); err != nil {
		return Extra{}, fmt.Errorf("propose extra: %w", err)
	}
	if cs.ClockPausedAt == nil {
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET clock_paused_at = $2, updated_at = $2 WHERE id = $1`, caseID, now); err != nil {
			return Extra{}, fmt.Errorf("propose extra: %w", err)
		}
	}
	if err := c.addEvent(ctx, tx, by.Subject, caseID, "extra.proposed", cs.Status, cs.Status, x.ID, in.Reason); err != nil {
		return Extra{}, err
	}
	n := Notice{Event: NoticeExtraProposed, CaseID: caseID, RecipientID: cs.OwnerID, Language: cs.Language, Amount: &price}
	if err := c.notify(ctx, tx, n); err != nil {
		return Extra{}, err
	}
	if err := c.logTx(ctx, tx, by.entry(audit.ActionExtraPropose, "extra", x.ID, caseID)); err != nil {
		return Extra{}, err
	}
	if err := tx.Commit(); err != nil {
		return Extra{}, fmt.Errorf("propose extra: %w", err)
	}
	return x.priced(), nil
}

// ExtraCase returns the case of an extra, for the policy; so.ErrNotFound when there is none.
func (c *Cases) ExtraCase(ctx context.Context, extraID string) (string, error) {
	if !so.ValidID(extraID) {
		return "", so.ErrNotFound
	}
	var id string
	err := c.db.GetContext(ctx, &id, `SELECT case_id FROM extras WHERE id = $1`, extraID)
	if errors.Is(err, sql.ErrNoRows) {
		return "", so.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("extra: %w", err)
	}
	return id, nil
}

// DecideExtra records the applicant's approval or decline of a proposed extra. When no other
// extra waits, the report clock resumes, its due date moved by the working days it waited.
// An extra decided already, or a case no longer in review, is a so.EState conflict. The
// caller has asked access.Policy for ActionExtrasDecide on the extra's case.
func (c *Cases) DecideExtra(ctx context.Context, by Actor, extraID string, approve bool) (Extra, error) {
	caseID, err := c.ExtraCase(ctx, extraID)
	if err != nil {
		return Extra{}, err
	}
	tx, cs, err := c.lock(ctx, caseID, "decide extra", so.StatusInReview)
	if err != nil {
		return Extra{}, err
	}
	defer tx.Rollback()
	status := ExtraDeclined
	if approve {
		status = ExtraApproved
	}
	now := c.Now()
	var x Extra
	err = tx.GetContext(ctx, &x, `UPDATE extras SET status = $2, decided_by = $3, decided_at = $4
		WHERE id = $1 AND status = 'proposed' RETURNING `+extraColumns, extraID, status, by.Subject.AccountID, now)
	if errors.Is(err, sql.ErrNoRows) {
		return Extra{}, &so.Error{Code: so.EState, Message: "the extra was decided already", Status: cs.Status}
	}
	if err != nil {
		return Extra{}, fmt.Errorf("decide extra: %w", err)
	}
	var waiting int
	if err := tx.GetContext(ctx, &waiting, `SELECT count(*) FROM extras WHERE case_id = $1 AND status = 'proposed'`, caseID); err != nil {
		return Extra{}, fmt.Errorf("decide extra: %w", err)
	}
	if waiting == 0 && cs.ClockPausedAt != nil {
		due := cs.ReportDueAt
		if due != nil {
			d := shiftDue(c.cfg.Calendar, *due, *cs.ClockPausedAt, now)
			due = &d
		}
		if _, err := tx.ExecContext(ctx, `UPDATE cases SET clock_paused_at = NULL, report_due_at = $2, updated_at = $3
			WHERE id = $1`, caseID, due, now); err != nil {
			return Extra{}, fmt.Errorf("decide extra: %w", err)
		}
	}
	if err := c.addEvent(ctx, tx, by.Subject, caseID, "extra."+string(status), cs.Status, cs.Status, x.ID, ""); err != nil {
		return Extra{}, err
	}
	n := Notice{Event: NoticeExtraDecided, CaseID: caseID, RecipientID: x.ProposedBy}
	if err := c.notify(ctx, tx, n); err != nil {
		return Extra{}, err
	}
	action := audit.ActionExtraDecline
	if approve {
		action = audit.ActionExtraApprove
	}
	if err := c.logTx(ctx, tx, by.entry(action, "extra", x.ID, caseID)); err != nil {
		return Extra{}, err
	}
	if err := tx.Commit(); err != nil {
		return Extra{}, fmt.Errorf("decide extra: %w", err)
	}
	return x.priced(), nil
}

// Extras returns the case's extras, oldest first. It does not authorize.
func (c *Cases) Extras(ctx context.Context, caseID string) ([]Extra, error) {
	return c.extras(ctx, c.db, caseID)
}

func (c *Cases) extras(ctx context.Context, q sqlx.QueryerContext, caseID string) ([]Extra, error) {
	out := []Extra{}
	if err := sqlx.SelectContext(ctx, q, &out, `SELECT `+extraColumns+` FROM extras WHERE case_id = $1 ORDER BY proposed_at, id`, caseID); err != nil {
		return nil, fmt.Errorf("extras: %w", err)
	}
	for i := range out {
		out[i] = out[i].priced()
	}
	return out, nil
}
