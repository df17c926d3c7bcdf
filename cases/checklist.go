package cases

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	so "github.com/secondopinion/secondopinion"
)

// ItemState is where one kind of the checklist stands.
type ItemState string

// The states of a checklist item: no document of the kind; one waiting for review; one
// accepted; only rejected ones (the latest reason is given).
const (
	ItemMissing  ItemState = "missing"
	ItemUploaded ItemState = "uploaded"
	ItemAccepted ItemState = "accepted"
	ItemRejected ItemState = "rejected"
)

// ChecklistItem is one kind of document the case needs or has.
type ChecklistItem struct {
	Kind      so.DocumentKind `json:"kind"`
	Required  bool            `json:"required"`
	State     ItemState       `json:"state"`
	Reason    string          `json:"reason,omitempty"` // why the latest was rejected
	Documents int             `json:"documents"`        // available documents of the kind
	Requested bool            `json:"requested"`        // named in the open request for documents
}

// checklist computes the case's checklist: the kinds its request needs (so.RequiredKinds),
// then any other kind it has documents of, except the specialist's report.
func (c *Cases) checklist(ctx context.Context, q sqlx.QueryerContext, cs Case) ([]ChecklistItem, error) {
	var rows []struct {
		Kind       string         `db:"kind"`
		Review     sql.NullString `db:"review"`
		Reason     string         `db:"review_reason"`
		ReviewedAt sql.NullTime   `db:"reviewed_at"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT kind, review, review_reason, reviewed_at FROM documents
		WHERE case_id = $1 AND status = 'available' AND kind <> 'report' ORDER BY created_at, id`, cs.ID); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	var requested pq.StringArray
	if err := sqlx.GetContext(ctx, q, &requested, `SELECT coalesce((SELECT kinds FROM document_requests
		WHERE case_id = $1 AND answered_at IS NULL ORDER BY requested_at DESC LIMIT 1), '{}')`, cs.ID); err != nil {
		return nil, fmt.Errorf("checklist: %w", err)
	}
	required := so.RequiredKinds(cs.checklistRequest())
	out := []ChecklistItem{}
	for _, k := range so.Kinds {
		if k == so.KindReport {
			continue
		}
		it := ChecklistItem{Kind: k, Required: slices.Contains(required, k), State: ItemMissing,
			Requested: slices.Contains(requested, string(k))}
		var accepted, pending, rejected bool
		var lastRejected time.Time
		for _, r := range rows {
			if r.Kind != string(k) {
				continue
			}
			it.Documents++
			switch r.Review.String {
			case "accepted":
				accepted = true
			case "rejected":
				rejected = true
				if !r.ReviewedAt.Time.Before(lastRejected) {
					it.Reason, lastRejected = r.Reason, r.ReviewedAt.Time
				}
			default:
				pending = true
			}
		}
		switch {
		case accepted:
			it.State, it.Reason = ItemAccepted, ""
		case pending:
			it.State, it.Reason = ItemUploaded, ""
		case rejected:
			it.State = ItemRejected
		}
		if it.Required || it.Documents > 0 || it.Requested {
			out = append(out, it)
		}
	}
	return out, nil
}
