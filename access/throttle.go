package access

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"strings"
	"time"
)

// Throttling counts events (failed logins, sign-in link requests) per key in a sliding window
// of Config.ThrottleWindow, in PostgreSQL so that every instance sees the same counts. Keys are
// hashed: the table holds no email addresses or client addresses in clear.

func throttleKey(kind, value string) []byte {
	h := sha256.Sum256([]byte(kind + "\x00" + strings.ToLower(strings.TrimSpace(value))))
	return h[:]
}

// throttled reports whether key has reached limit events in the window, and if so how long
// until the oldest of them leaves it.
func (e *env) throttled(ctx context.Context, key []byte, limit int, now time.Time) (time.Duration, bool, error) {
	var r struct {
		N      int          `db:"n"`
		Oldest sql.NullTime `db:"oldest"`
	}
	err := e.db.GetContext(ctx, &r, `SELECT count(*) AS n, min(at) AS oldest FROM throttle_events WHERE key = $1 AND at > $2`,
		key, now.Add(-e.ThrottleWindow))
	if err != nil {
		return 0, false, fmt.Errorf("throttle: %w", err)
	}
	if r.N < limit {
		return 0, false, nil
	}
	wait := r.Oldest.Time.Add(e.ThrottleWindow).Sub(now)
	if wait < time.Second {
		wait = time.Second
	}
	return wait, true, nil
}

func (e *env) recordEvent(ctx context.Context, key []byte, now time.Time) error {
	if _, err := e.db.ExecContext(ctx, `INSERT INTO throttle_events (key, at) VALUES ($1, $2)`, key, now); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

func (e *env) clearEvents(ctx context.Context, key []byte) error {
	if _, err := e.db.ExecContext(ctx, `DELETE FROM throttle_events WHERE key = $1`, key); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// gate checks each key against its limit and returns a ThrottledError for the first one over.
func (e *env) gate(ctx context.Context, now time.Time, keys ...throttleCheck) error {
	for _, k := range keys {
		if k.key == nil {
			continue
		}
		wait, over, err := e.throttled(ctx, k.key, k.limit, now)
		if err != nil {
			return err
		}
		if over {
			return &ThrottledError{RetryAfter: wait}
		}
	}
	return nil
}

type throttleCheck struct {
	key   []byte
	limit int
}

// ipKey is nil for an unknown client address (a CLI caller): nothing to throttle by.
func ipKey(kind, ip string) []byte {
	if strings.TrimSpace(ip) == "" {
		return nil
	}
	return throttleKey(kind, ip)
}
