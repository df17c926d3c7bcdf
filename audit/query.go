package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/mod/sumdb/tlog"
)

// ErrNotFound is returned for a sequence number or checkpoint that is not in the log.
var ErrNotFound = errors.New("audit: not found")

// ErrInvalidFilter is returned by ParseFilter for a parameter it cannot accept.
var ErrInvalidFilter = errors.New("audit: invalid filter")

// Query limits.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// Filter selects entries. Empty fields do not filter.
type Filter struct {
	CaseID  string
	ActorID string
	// Action is an exact action, or a prefix followed by ".*" ("document.*").
	Action  string
	Outcome *Outcome
	From    time.Time // inclusive
	To      time.Time // exclusive
	// Before and Limit page Query (newest first): entries with Seq < Before (0: from the
	// newest), at most Limit (default DefaultLimit, at most MaxLimit). Each ignores them.
	Before int64
	Limit  int
}

// ParseFilter reads a filter from query parameters case_id, actor, action, outcome (0, 4,
// 8, 12 or success, minor_failure, serious_failure, major_failure; "denied" is
// minor_failure), from and to (RFC 3339 or YYYY-MM-DD, UTC), before and limit. Other
// parameters are ignored; a repeated or malformed one is an error wrapping ErrInvalidFilter.
func ParseFilter(q url.Values) (Filter, error) {
	var f Filter
	get := func(name string) (string, error) {
		vs := q[name]
		switch {
		case len(vs) > 1:
			return "", fmt.Errorf("%w: %s given %d times", ErrInvalidFilter, name, len(vs))
		case len(vs) == 0:
			return "", nil
		case len(vs[0]) > maxField || strings.ContainsRune(vs[0], 0):
			return "", fmt.Errorf("%w: %s is not acceptable", ErrInvalidFilter, name)
		}
		return vs[0], nil
	}
	var err error
	if f.CaseID, err = get("case_id"); err != nil {
		return f, err
	}
	if f.ActorID, err = get("actor"); err != nil {
		return f, err
	}
	if f.Action, err = get("action"); err != nil {
		return f, err
	}
	if !validAction(f.Action) {
		return f, fmt.Errorf("%w: action %q", ErrInvalidFilter, f.Action)
	}
	s, err := get("outcome")
	if err != nil {
		return f, err
	}
	if s != "" {
		o, err := parseOutcome(s)
		if err != nil {
			return f, err
		}
		f.Outcome = &o
	}
	for _, t := range []struct {
		name string
		dst  *time.Time
	}{{"from", &f.From}, {"to", &f.To}} {
		s, err := get(t.name)
		if err != nil {
			return f, err
		}
		if s == "" {
			continue
		}
		if *t.dst, err = parseTime(s); err != nil {
			return f, fmt.Errorf("%w: %s %q", ErrInvalidFilter, t.name, s)
		}
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		return f, fmt.Errorf("%w: from is not before to", ErrInvalidFilter)
	}
	for _, n := range []struct {
		name string
		dst  *int64
		max  int64
	}{{"before", &f.Before, 1 << 62}, {"limit", new(int64), MaxLimit}} {
		s, err := get(n.name)
		if err != nil {
			return f, err
		}
		if s == "" {
			continue
		}
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 0 || v > n.max {
			return f, fmt.Errorf("%w: %s %q", ErrInvalidFilter, n.name, s)
		}
		*n.dst = v
		if n.name == "limit" {
			f.Limit = int(v)
		}
	}
	return f, nil
}

// validAction accepts "", lowercase dotted names, and a prefix ending in ".*".
func validAction(a string) bool {
	a = strings.TrimSuffix(a, ".*")
	for _, r := range a {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '.' || r == '_') {
			return false
		}
	}
	return true
}

func parseOutcome(s string) (Outcome, error) {
	switch s {
	case "0", "success":
		return OutcomeSuccess, nil
	case "4", "minor_failure", "denied":
		return OutcomeMinorFailure, nil
	case "8", "serious_failure":
		return OutcomeSeriousFailure, nil
	case "12", "major_failure":
		return OutcomeMajorFailure, nil
	}
	return 0, fmt.Errorf("%w: outcome %q", ErrInvalidFilter, s)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t.UTC(), nil
	}
	return time.Parse(time.DateOnly, s)
}

// where returns the SQL conditions (joined with AND, or "TRUE") and their arguments.
func (f Filter) where() (string, []any) {
	var conds []string
	var args []any
	add := func(cond string, v any) {
		args = append(args, v)
		conds = append(conds, fmt.Sprintf(cond, len(args)))
	}
	if f.CaseID != "" {
		add("case_id = $%d", f.CaseID)
	}
	if f.ActorID != "" {
		add("actor_id = $%d", f.ActorID)
	}
	if p, ok := strings.CutSuffix(f.Action, ".*"); ok {
		add(`action LIKE $%d`, strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(p)+".%")
	} else if f.Action != "" {
		add("action = $%d", f.Action)
	}
	if f.Outcome != nil {
		add("outcome = $%d", int(*f.Outcome))
	}
	if !f.From.IsZero() {
		add("recorded_at >= $%d", f.From)
	}
	if !f.To.IsZero() {
		add("recorded_at < $%d", f.To)
	}
	if len(conds) == 0 {
		return "TRUE", nil
	}
	return strings.Join(conds, " AND "), args
}

// entryColumns lists audit_entries' columns in the order scanEntry reads them.
const entryColumns = `seq, recorded_at, actor_id, actor_role, on_behalf_of, action, object_type, object_id,
	case_id, client_ip, user_agent, request_id, outcome, purpose, reason`

func scanEntry(rows *sql.Rows) (Entry, error) {
	var e Entry
	err := rows.Scan(&e.Seq, &e.Time, &e.ActorID, &e.ActorRole, &e.OnBehalfOf, &e.Action, &e.ObjectType, &e.ObjectID,
		&e.CaseID, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Outcome, &e.Purpose, &e.Reason)
	e.Time = e.Time.UTC()
	return e, err
}

// Reader reads the log: queries, single entries, proofs and checkpoints. It needs only
// SELECT, so it may run on the runtime connection.
type Reader struct {
	db *sqlx.DB
	// Observer names this service in exported AuditEvents (source.observer). Default "secondopinion".
	Observer string
}

// NewReader returns a Reader over db.
func NewReader(db *sqlx.DB) *Reader { return &Reader{db: db} }

// Query returns one page of entries matching f, newest first.
func (r *Reader) Query(ctx context.Context, f Filter) ([]Entry, error) {
	where, args := f.where()
	if f.Before > 0 {
		args = append(args, f.Before)
		where += fmt.Sprintf(" AND seq < $%d", len(args))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = DefaultLimit
	}
	args = append(args, min(limit, MaxLimit))
	rows, err := r.db.QueryContext(ctx, fmt.Sprintf(`SELECT %s FROM audit_entries WHERE %s ORDER BY seq DESC LIMIT $%d`,
		entryColumns, where, len(args)), args...)
	if err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	defer rows.Close()
	var out []Entry
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: query: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: query: %w", err)
	}
	return out, nil
}

// eachBatch is the page size Each reads.
const eachBatch = 1000

// Each calls fn for every entry matching f, oldest first, up to the log's size when Each
// started. It reads in pages, so no connection is held while fn runs; an error from fn
// stops it and is returned.
func (r *Reader) Each(ctx context.Context, f Filter, fn func(Entry) error) error {
	size, err := r.Size(ctx)
	if err != nil {
		return err
	}
	where, args := f.where()
	return r.each(ctx, where, args, size, fn)
}

// each calls fn with every entry matching where (with its args) below size, oldest first, a
// batch of eachBatch at a time.
func (r *Reader) each(ctx context.Context, where string, args []any, size int64, fn func(Entry) error) error {
	args = append(args, int64(0), size)
	q := fmt.Sprintf(`SELECT %s FROM audit_entries WHERE %s AND seq >= $%d AND seq < $%d ORDER BY seq LIMIT %d`,
		entryColumns, where, len(args)-1, len(args), eachBatch)
	for {
		page, err := r.page(ctx, q, args)
		if err != nil {
			return err
		}
		for _, e := range page {
			if err := fn(e); err != nil {
				return err
			}
		}
		if len(page) < eachBatch {
			return nil
		}
		args[len(args)-2] = page[len(page)-1].Seq + 1
	}
}

func (r *Reader) page(ctx context.Context, q string, args []any) ([]Entry, error) {
	rows, err := r.db.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("audit: read entries: %w", err)
	}
	defer rows.Close()
	out := make([]Entry, 0, eachBatch)
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, fmt.Errorf("audit: read entries: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("audit: read entries: %w", err)
	}
	return out, nil
}

// Entry returns the entry with sequence number seq, or an error wrapping ErrNotFound.
func (r *Reader) Entry(ctx context.Context, seq int64) (Entry, error) {
	rows, err := r.db.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries WHERE seq = $1`, seq)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: entry %d: %w", seq, err)
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return Entry{}, fmt.Errorf("audit: entry %d: %w", seq, err)
		}
		return Entry{}, fmt.Errorf("entry %d: %w", seq, ErrNotFound)
	}
	e, err := scanEntry(rows)
	if err != nil {
		return Entry{}, fmt.Errorf("audit: entry %d: %w", seq, err)
	}
	return e, nil
}

// Size returns the number of entries in the log.
func (r *Reader) Size(ctx context.Context) (int64, error) {
	var n int64
	if err := r.db.GetContext(ctx, &n, `SELECT coalesce(max(seq) + 1, 0) FROM audit_entries`); err != nil {
		return 0, fmt.Errorf("audit: size: %w", err)
	}
	return n, nil
}

// Prove returns the inclusion proof of entry seq in the tree of the first treeSize entries,
// read from the stored hashes. Check it with CheckInclusion against a checkpoint of that size.
func (r *Reader) Prove(ctx context.Context, seq, treeSize int64) (tlog.RecordProof, error) {
	size, err := r.Size(ctx)
	if err != nil {
		return nil, err
	}
	if seq < 0 || seq >= treeSize || treeSize > size {
		return nil, fmt.Errorf("prove entry %d in tree %d of log size %d: %w", seq, treeSize, size, ErrNotFound)
	}
	p, err := tlog.ProveRecord(treeSize, seq, &dbHashes{ctx: ctx, q: r.db})
	if err != nil {
		return nil, fmt.Errorf("audit: prove entry %d in tree %d: %w", seq, treeSize, err)
	}
	return p, nil
}

// LatestCheckpoint returns the newest checkpoint stored in the database, as stored: verify
// its note with OpenCheckpoint before trusting it. An empty log or none yet is ErrNotFound.
func (r *Reader) LatestCheckpoint(ctx context.Context) (Checkpoint, error) {
	var row checkpointRow
	err := r.db.GetContext(ctx, &row, `SELECT size, root_hash, note, created_at FROM audit_checkpoints ORDER BY size DESC LIMIT 1`)
	if errors.Is(err, sql.ErrNoRows) {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", ErrNotFound)
	}
	if err != nil {
		return Checkpoint{}, fmt.Errorf("audit: latest checkpoint: %w", err)
	}
	origin, _, _, _ := ParseCheckpoint(noteText([]byte(row.Note)))
	return row.checkpoint(origin)
}

// noteText returns the text of a signed note, before its signature block.
func noteText(signed []byte) []byte {
	if i := strings.LastIndex(string(signed), "\n\n"); i >= 0 {
		return signed[:i+1]
	}
	return nil
}
