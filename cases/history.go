package cases

import (
	"context"
	"fmt"
	"time"

	"github.com/jmoiron/sqlx"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
)

// Event is one step of a case's history: a transition (Action is the transition's name), a
// document reviewed ("document.accepted", "document.rejected"), an extra proposed or decided
// ("extra.proposed", "extra.approved", "extra.declined"), a reviewer assigned
// ("reviewer.assigned"). The history is the timeline a page draws.
type Event struct {
	At        time.Time     `db:"at" json:"at"`
	Actor     string        `db:"actor" json:"actor"` // "account:<id>" or "invitation:<id>"
	ActorRole so.Role       `db:"actor_role" json:"actor_role"`
	Action    string        `db:"action" json:"action"`
	From      so.CaseStatus `db:"from_status" json:"from_status"`
	To        so.CaseStatus `db:"to_status" json:"to_status"`
	ObjectID  string        `db:"object_id" json:"object_id,omitempty"`
	Note      string        `db:"note" json:"note,omitempty"` // the reason or message the actor gave
}

func (c *Cases) addEvent(ctx context.Context, tx *sqlx.Tx, by access.Subject, caseID, action string,
	from, to so.CaseStatus, objectID, note string) error {
	if _, err := tx.ExecContext(ctx, `INSERT INTO case_events (case_id, at, actor, actor_role, action, from_status,
		to_status, object_id, note) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		caseID, c.Now(), by.Actor(), by.Role, action, from, to, objectID, note); err != nil {
		return fmt.Errorf("case history: %w", err)
	}
	return nil
}

// History returns the case's steps, oldest first.
func (c *Cases) History(ctx context.Context, caseID string) ([]Event, error) {
	if !so.ValidID(caseID) {
		return nil, so.ErrNotFound
	}
	out := []Event{}
	if err := c.db.SelectContext(ctx, &out, `SELECT at, actor, actor_role, action, from_status, to_status, object_id, note
		FROM case_events WHERE case_id = $1 ORDER BY id`, caseID); err != nil {
		return nil, fmt.Errorf("case history: %w", err)
	}
	return out, nil
}
