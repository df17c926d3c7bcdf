package access

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"fmt"
	"net/netip"
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

// ipKey is nil for an unknown client address (a CLI caller): nothing to throttle by. An IPv6
// address counts by its /64, the smallest network one subscriber gets, so that hopping
// addresses within it does not escape the limit (security review, finding 2).
func ipKey(kind, ip string) []byte {
	ip = strings.TrimSpace(ip)
	if ip == "" {
		return nil
	}
	if a, err := netip.ParseAddr(ip); err == nil {
		a = a.Unmap()
		if a.Is6() {
			if p, err := a.Prefix(64); err == nil {
				ip = p.String()
			}
		} else {
			ip = a.String()
		}
	}
	return throttleKey(kind, ip)
}

// reserve counts an attempt under each key before the work it limits (a password hash), in
// one transaction holding a lock per key: the count and the record are one step, so parallel
// attempts cannot all pass the check before any is recorded (security review, finding 2). A
// key over its limit gets a *ThrottledError and nothing is recorded.
func (e *env) reserve(ctx context.Context, now time.Time, keys ...throttleCheck) error {
	tx, err := e.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	defer tx.Rollback()
	for _, k := range keys {
		if k.key == nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(binary.BigEndian.Uint64(k.key))); err != nil { // #nosec G115 -- a lock key: any 64-bit pattern of the hash will do
			return fmt.Errorf("throttle: %w", err)
		}
		var r struct {
			N      int          `db:"n"`
			Oldest sql.NullTime `db:"oldest"`
		}
		if err := tx.GetContext(ctx, &r, `SELECT count(*) AS n, min(at) AS oldest FROM throttle_events WHERE key = $1 AND at > $2`,
			k.key, now.Add(-e.ThrottleWindow)); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
		if r.N >= k.limit {
			return &ThrottledError{RetryAfter: max(r.Oldest.Time.Add(e.ThrottleWindow).Sub(now), time.Second)}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO throttle_events (key, at) VALUES ($1, $2)`, k.key, now); err != nil {
			return fmt.Errorf("throttle: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// release forgets one attempt reserved under key at now: the attempt succeeded.
func (e *env) release(ctx context.Context, key []byte, now time.Time) error {
	if key == nil {
		return nil
	}
	if _, err := e.db.ExecContext(ctx, `DELETE FROM throttle_events WHERE ctid IN
		(SELECT ctid FROM throttle_events WHERE key = $1 AND at = $2 LIMIT 1)`, key, now); err != nil {
		return fmt.Errorf("throttle: %w", err)
	}
	return nil
}

// hashSlots bounds the password hashes computed at once: each holds Argon2's memory (64 MiB),
// and a burst of sign-ins must not exhaust the machine (security review, finding 2).
var hashSlots = make(chan struct{}, 4)

// withHashSlot runs f when a hash slot is free, or gives up with ctx.
func withHashSlot[T any](ctx context.Context, f func() T) (T, error) {
	select {
	case hashSlots <- struct{}{}:
		defer func() { <-hashSlots }()
		return f(), nil
	case <-ctx.Done():
		var zero T
		return zero, ctx.Err()
	}
}
