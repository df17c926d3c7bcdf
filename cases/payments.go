package cases

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"
)

// Balance is what the applicant owes and has paid: the base price and courier fixed at
// acceptance plus approved extras, against payments less refunds.
type Balance struct {
	Due      Money `json:"due"`
	Paid     Money `json:"paid"`
	Refunded Money `json:"refunded"`
}

// Outstanding is what remains to pay.
func (b Balance) Outstanding() Money {
	return Money{Cents: max(b.Due.Cents-b.Paid.Cents, 0), Currency: b.Due.Currency}
}

// Payment is a recorded payment or refund.
type Payment struct {
	ID         string    `db:"id" json:"id"`
	Kind       string    `db:"kind" json:"kind"` // payment, refund
	Cents      int64     `db:"amount_cents" json:"-"`
	Currency   string    `db:"currency" json:"-"`
	Amount     Money     `db:"-" json:"amount"`
	Method     string    `db:"method" json:"method,omitempty"`
	Reference  string    `db:"reference" json:"reference,omitempty"`
	Reason     string    `db:"reason" json:"reason,omitempty"`
	RecordedBy string    `db:"recorded_by" json:"recorded_by"`
	RecordedAt time.Time `db:"recorded_at" json:"recorded_at"`
}

func (c *Cases) balance(ctx context.Context, q sqlx.QueryerContext, cs Case) (Balance, error) {
	cur := c.cfg.Prices.Currency
	b := Balance{Due: Money{Currency: cur}, Paid: Money{Currency: cur}, Refunded: Money{Currency: cur}}
	if cs.Price == nil {
		return b, nil
	}
	b.Due.Currency, b.Paid.Currency, b.Refunded.Currency = cs.Price.Amount.Currency, cs.Price.Amount.Currency, cs.Price.Amount.Currency
	b.Due.Cents = cs.Price.Amount.Cents
	if cs.Price.Courier != nil {
		b.Due.Cents += cs.Price.Courier.Cents
	}
	var sums struct {
		Extras   int64 `db:"extras"`
		Paid     int64 `db:"paid"`
		Refunded int64 `db:"refunded"`
	}
	if err := sqlx.GetContext(ctx, q, &sums, `SELECT
		(SELECT coalesce(sum(price_cents), 0) FROM extras WHERE case_id = $1 AND status = 'approved') AS extras,
		(SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE case_id = $1 AND kind = 'payment') AS paid,
		(SELECT coalesce(sum(amount_cents), 0) FROM payments WHERE case_id = $1 AND kind = 'refund') AS refunded`,
		cs.ID); err != nil {
		return b, fmt.Errorf("balance: %w", err)
	}
	b.Due.Cents += sums.Extras
	b.Paid.Cents = sums.Paid - sums.Refunded
	b.Refunded.Cents = sums.Refunded
	return b, nil
}

// Balance returns what the case's applicant owes and has paid. It does not authorize.
func (c *Cases) Balance(ctx context.Context, caseID string) (Balance, error) {
	cs, err := c.Get(ctx, caseID)
	if err != nil {
		return Balance{}, err
	}
	return c.balance(ctx, c.db, cs)
}

// Payments returns the case's payments and refunds, oldest first. It does not authorize.
func (c *Cases) Payments(ctx context.Context, caseID string) ([]Payment, error) {
	out := []Payment{}
	if err := c.db.SelectContext(ctx, &out, `SELECT id, kind, amount_cents, currency, method, reference, reason,
		recorded_by, recorded_at FROM payments WHERE case_id = $1 ORDER BY recorded_at, kind, id`, caseID); err != nil {
		return nil, fmt.Errorf("payments: %w", err)
	}
	for i := range out {
		out[i].Amount = Money{Cents: out[i].Cents, Currency: out[i].Currency}
	}
	return out, nil
}
