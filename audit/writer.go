package audit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/internal/prepared"
)

// ErrUnavailable wraps every failure to commit an entry. A caller that cannot log must not
// act: the web layer answers 503 and sends no content.
var ErrUnavailable = errors.New("audit: log unavailable")

// ErrClosed is returned by Log after Close.
var ErrClosed = errors.New("audit: writer closed")

// lockKey is the transaction advisory lock that serializes appends across processes
// ("so-audit" in ASCII).
const lockKey int64 = 0x736f2d6175646974

// WriterConfig configures a Writer. The zero value works.
type WriterConfig struct {
	// MaxBatch is the most entries committed in one transaction. Default 512.
	MaxBatch int
	// Linger is how long a batch waits for more entries after its first one. Default 0:
	// a batch takes whatever queued while the previous one committed, which is where
	// group commit gets its throughput; a linger only adds latency unless commits are rare.
	Linger time.Duration
	// Timeout bounds one batch's transaction. Default 5 s.
	Timeout time.Duration
	// Now is the clock for entries logged without a Time. Default time.Now.
	Now func() time.Time
	// Committed, if set, is called after each commit with the new tree size, from the
	// writer's goroutine; it must not block (Checkpointer.Committed does not).
	Committed func(size int64)
	// Logger receives commit failures (never entry contents). Default slog.Default().
	Logger *slog.Logger
}

// Writer appends entries with group commit: callers of Log wait while one goroutine
// commits everything queued so far in a single transaction. Safe for concurrent use.
type Writer struct {
	db    *sqlx.DB
	cfg   WriterConfig
	queue chan *pending
	done  chan struct{}

	mu     sync.RWMutex // guards closed against sends on queue
	closed bool

	// The writer goroutine's cache of the tree frontier, valid while the log has cacheSize entries.
	cache     map[int64]tlog.Hash
	cacheSize int64

	stmts prepared.Statements
}

type pending struct {
	e    Entry
	done chan result
}

type result struct {
	seq int64
	err error
}

// NewWriter starts a writer on db (the runtime connection). Call Close to drain and stop it.
func NewWriter(db *sqlx.DB, cfg WriterConfig) *Writer {
	if cfg.MaxBatch <= 0 {
		cfg.MaxBatch = 512
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	w := &Writer{
		db:        db,
		cfg:       cfg,
		queue:     make(chan *pending, 4*cfg.MaxBatch),
		done:      make(chan struct{}),
		cacheSize: -1,
	}
	go w.run()
	return w
}

// Log appends e and returns its sequence number once the transaction holding it has
// committed. e.Seq is ignored; a zero e.Time is set from the clock. Every commit failure
// is reported to every caller in the batch as an error wrapping ErrUnavailable. If ctx ends
// first Log returns ctx.Err(); the entry may still be committed.
func (w *Writer) Log(ctx context.Context, e Entry) (int64, error) {
	if e.Time.IsZero() {
		e.Time = w.cfg.Now()
	}
	e, err := normalize(e)
	if err != nil {
		return 0, err
	}
	p := &pending{e: e, done: make(chan result, 1)}
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return 0, ErrClosed
	}
	select {
	case w.queue <- p:
		w.mu.RUnlock()
	case <-ctx.Done():
		w.mu.RUnlock()
		return 0, ctx.Err()
	}
	select {
	case r := <-p.done:
		return r.seq, r.err
	case <-ctx.Done():
		return 0, ctx.Err()
	}
}

// Close stops accepting entries, commits those already queued and returns when done.
func (w *Writer) Close() error {
	w.mu.Lock()
	if !w.closed {
		w.closed = true
		close(w.queue)
	}
	w.mu.Unlock()
	<-w.done
	return nil
}

func (w *Writer) run() {
	defer close(w.done)
	batch := make([]*pending, 0, w.cfg.MaxBatch)
	for {
		p, ok := <-w.queue
		if !ok {
			return
		}
		batch = append(batch[:0], p)
		open := w.collect(&batch)
		w.commit(batch)
		if !open {
			return
		}
	}
}

// collect adds queued entries to batch: for up to Linger, then whatever is already queued,
// up to MaxBatch. It returns false once the queue is closed and drained.
func (w *Writer) collect(batch *[]*pending) bool {
	if w.cfg.Linger > 0 {
		t := time.NewTimer(w.cfg.Linger)
		defer t.Stop()
	linger:
		for len(*batch) < w.cfg.MaxBatch {
			select {
			case p, ok := <-w.queue:
				if !ok {
					return false
				}
				*batch = append(*batch, p)
			case <-t.C:
				break linger
			}
		}
	}
	for len(*batch) < w.cfg.MaxBatch {
		select {
		case p, ok := <-w.queue:
			if !ok {
				return false
			}
			*batch = append(*batch, p)
		default:
			return true
		}
	}
	return true
}

func (w *Writer) commit(batch []*pending) {
	ctx, cancel := context.WithTimeout(context.Background(), w.cfg.Timeout)
	defer cancel()
	first, err := w.append(ctx, batch)
	if err != nil {
		w.cacheSize = -1
		w.cfg.Logger.Error("audit batch not committed", "entries", len(batch), "err", err)
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
		for _, p := range batch {
			p.done <- result{err: err}
		}
		return
	}
	for i, p := range batch {
		p.done <- result{seq: first + int64(i)}
	}
	if w.cfg.Committed != nil {
		w.cfg.Committed(first + int64(len(batch)))
	}
}

// append writes batch in one transaction and returns the first entry's sequence number.
func (w *Writer) append(ctx context.Context, batch []*pending) (int64, error) {
	tx, err := w.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := w.stmts.Exec(ctx, w.db, tx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return 0, fmt.Errorf("lock: %w", err)
	}
	var first int64
	if err := w.stmts.Get(ctx, w.db, tx, &first, `SELECT coalesce(max(seq) + 1, 0) FROM audit_entries`); err != nil {
		return 0, fmt.Errorf("read last entry: %w", err)
	}
	known := map[int64]tlog.Hash{}
	if w.cacheSize == first {
		known = w.cache
	}
	r := &dbHashes{ctx: ctx, q: tx, known: known}

	n := len(batch)
	cols := batchColumns{}
	cols.grow(n)
	var idxs []int64
	var hashes [][]byte
	for i, p := range batch {
		e := p.e
		e.Seq = first + int64(i)
		cols.add(e)
		stored, err := tlog.StoredHashesForRecordHash(e.Seq, e.Hash(), r)
		if err != nil {
			return 0, fmt.Errorf("hash entry %d: %w", e.Seq, err)
		}
		base := tlog.StoredHashIndex(0, e.Seq)
		for j, h := range stored {
			known[base+int64(j)] = h
			idxs = append(idxs, base+int64(j))
			hashes = append(hashes, h[:])
		}
	}
	if err := w.stmts.Exec(ctx, w.db, tx, insertEntries, cols.args()...); err != nil {
		return 0, fmt.Errorf("insert entries: %w", err)
	}
	if err := w.stmts.Exec(ctx, w.db, tx, `INSERT INTO audit_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
		pq.Array(idxs), pq.Array(hashes)); err != nil {
		return 0, fmt.Errorf("insert hashes: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("commit: %w", err)
	}
	size := first + int64(n)
	w.cache = make(map[int64]tlog.Hash, 64)
	for _, idx := range frontierIndexes(size) {
		if h, ok := known[idx]; ok {
			w.cache[idx] = h
		}
	}
	w.cacheSize = size
	return first, nil
}

const insertEntries = `INSERT INTO audit_entries (seq, recorded_at, actor_id, actor_role, on_behalf_of, action,
	object_type, object_id, case_id, client_ip, user_agent, request_id, outcome, purpose, reason)
SELECT s, 'epoch'::timestamptz + t * interval '1 microsecond', a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, o, a11, a12
FROM unnest($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
	$9::text[], $10::text[], $11::text[], $12::text[], $13::smallint[], $14::text[], $15::text[])
	AS u(s, t, a1, a2, a3, a4, a5, a6, a7, a8, a9, a10, o, a11, a12)`

// batchColumns holds a batch column by column, for one INSERT ... SELECT FROM unnest.
type batchColumns struct {
	seq, micros, outcome []int64
	text                 [12][]string
}

func (c *batchColumns) grow(n int) {
	c.seq = make([]int64, 0, n)
	c.micros = make([]int64, 0, n)
	c.outcome = make([]int64, 0, n)
	for i := range c.text {
		c.text[i] = make([]string, 0, n)
	}
}

func (c *batchColumns) add(e Entry) {
	c.seq = append(c.seq, e.Seq)
	c.micros = append(c.micros, e.Time.UnixMicro())
	c.outcome = append(c.outcome, int64(e.Outcome))
	for i, s := range [12]string{e.ActorID, e.ActorRole, e.OnBehalfOf, e.Action, e.ObjectType, e.ObjectID,
		e.CaseID, e.ClientIP, e.UserAgent, e.RequestID, e.Purpose, e.Reason} {
		c.text[i] = append(c.text[i], s)
	}
}

func (c *batchColumns) args() []any {
	a := []any{pq.Array(c.seq), pq.Array(c.micros)}
	for _, t := range c.text[:10] {
		a = append(a, pq.Array(t))
	}
	a = append(a, pq.Array(c.outcome), pq.Array(c.text[10]), pq.Array(c.text[11]))
	return a
}

// LogTx appends e inside the caller's transaction tx, so that the entry commits with the
// change it records, or neither does: a case's transition and its audit entry are one
// transaction. It takes the same transaction-scoped lock as the group writer, so call it as
// the transaction's last statement before Commit (the lock is held until then). It returns
// the entry's sequence number, valid once tx commits.
func (w *Writer) LogTx(ctx context.Context, tx *sqlx.Tx, e Entry) (int64, error) {
	if e.Time.IsZero() {
		e.Time = w.cfg.Now()
	}
	e, err := normalize(e)
	if err != nil {
		return 0, err
	}
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey); err != nil {
		return 0, fmt.Errorf("audit: lock: %w", err)
	}
	if err := tx.GetContext(ctx, &e.Seq, `SELECT coalesce(max(seq) + 1, 0) FROM audit_entries`); err != nil {
		return 0, fmt.Errorf("audit: read last entry: %w", err)
	}
	stored, err := tlog.StoredHashesForRecordHash(e.Seq, e.Hash(), &dbHashes{ctx: ctx, q: tx, known: map[int64]tlog.Hash{}})
	if err != nil {
		return 0, fmt.Errorf("audit: hash entry %d: %w", e.Seq, err)
	}
	idxs := make([]int64, len(stored))
	hashes := make([][]byte, len(stored))
	base := tlog.StoredHashIndex(0, e.Seq)
	for j := range stored {
		idxs[j], hashes[j] = base+int64(j), stored[j][:]
	}
	var cols batchColumns
	cols.grow(1)
	cols.add(e)
	if _, err := tx.ExecContext(ctx, insertEntries, cols.args()...); err != nil {
		return 0, fmt.Errorf("audit: insert entry: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO audit_hashes (idx, hash) SELECT * FROM unnest($1::bigint[], $2::bytea[])`,
		pq.Array(idxs), pq.Array(hashes)); err != nil {
		return 0, fmt.Errorf("audit: insert hashes: %w", err)
	}
	return e.Seq, nil
}

// LogAll appends every entry, as Log does each, and returns once all are committed: they are
// queued together, from the calling goroutine, and share the writer's batches rather than
// wait for one commit each. The first error is returned; entries queued before it may still
// be committed.
func (w *Writer) LogAll(ctx context.Context, entries []Entry) error {
	queued := make([]*pending, 0, len(entries))
	w.mu.RLock()
	if w.closed {
		w.mu.RUnlock()
		return ErrClosed
	}
	var err error
	for _, e := range entries {
		if e.Time.IsZero() {
			e.Time = w.cfg.Now()
		}
		if e, err = normalize(e); err != nil {
			break
		}
		p := &pending{e: e, done: make(chan result, 1)}
		select {
		case w.queue <- p:
			queued = append(queued, p)
		case <-ctx.Done():
			err = ctx.Err()
		}
		if err != nil {
			break
		}
	}
	w.mu.RUnlock()
	for _, p := range queued {
		select {
		case r := <-p.done:
			if r.err != nil && err == nil {
				err = r.err
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}
