package audit

import (
	"context"
	"database/sql"
	"fmt"
	"slices"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// ProblemKind names what Verify found wrong.
type ProblemKind string

// The kinds of problem Verify reports.
const (
	// KindModified: an entry, or a stored hash, differs from what its row recomputes to.
	KindModified ProblemKind = "modified"
	// KindGap: a sequence number is missing.
	KindGap ProblemKind = "gap"
	// KindRollback: the log is shorter than a signed checkpoint (or than its stored hashes):
	// entries were removed from its end.
	KindRollback ProblemKind = "rollback"
	// KindFork: the log's tree at a checkpoint's size has another root than the signed one:
	// entries before that size were rewritten together with their hashes.
	KindFork ProblemKind = "fork"
	// KindCheckpoint: a checkpoint's signature does not verify, its row disagrees with its
	// note, or a copy in the sink is missing from the database.
	KindCheckpoint ProblemKind = "checkpoint"
)

// Problem is the first thing Verify found wrong, in log order.
type Problem struct {
	Kind ProblemKind `json:"kind"`
	// Seq is the first entry that differs, is missing, or (for a fork) may differ: a fork is
	// somewhere from Seq, the size of the last checkpoint that matched, up to Size.
	Seq int64 `json:"seq"`
	// Size is the tree size of the checkpoint involved (rollback, fork, checkpoint), else 0.
	Size   int64  `json:"size,omitempty"`
	Detail string `json:"detail"`
}

func (p *Problem) Error() string {
	return fmt.Sprintf("audit log %s at entry %d: %s", p.Kind, p.Seq, p.Detail)
}

// Report is the result of Verify.
type Report struct {
	OK          bool     `json:"ok"`
	Size        int64    `json:"size"`        // entries read
	Checkpoints int      `json:"checkpoints"` // checkpoints checked, database and sink
	Latest      int64    `json:"latest"`      // size of the largest checkpoint that matched
	Problem     *Problem `json:"problem,omitempty"`
}

// Verify recomputes the whole log and checks it against its stored hashes and its signed
// checkpoints, those in the database and, if src is not nil, the copies in the sink. It reads
// the log once, in order, in one repeatable-read snapshot, in memory independent of its length.
//
// The report names the first problem: an entry whose contents or stored hashes differ
// (modified), a missing sequence number (gap), a log shorter than a signed checkpoint
// (rollback), a tree whose root at a checkpoint's size is not the signed one (fork), or a
// checkpoint that does not verify or is missing from the database (checkpoint). An error is
// returned only when the log could not be read; the log is then of unknown state.
//
// Verify holds two connections of db for its duration (entries and hashes stream side by
// side in one exported snapshot): a pool limited to one connection would block it.
func Verify(ctx context.Context, db *sqlx.DB, v note.Verifier, src CheckpointSource) (Report, error) {
	vf := &verifier{v: v, at: map[int64][]check{}}
	// The sink is read before the snapshot is taken: every copy there was stored in the
	// database first, so the snapshot covers it.
	if src != nil {
		notes, err := src.Checkpoints(ctx)
		if err != nil {
			return Report{}, fmt.Errorf("audit: verify: read sink checkpoints: %w", err)
		}
		for _, n := range notes {
			vf.addSink(n)
		}
	}
	// Entries and hashes are read by two connections sharing one snapshot, so both stream
	// at once while this goroutine hashes.
	opts := &sql.TxOptions{Isolation: sql.LevelRepeatableRead, ReadOnly: true}
	tx, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: begin: %w", err)
	}
	defer tx.Rollback()
	var snapshot string
	if err := tx.GetContext(ctx, &snapshot, `SELECT pg_export_snapshot()`); err != nil {
		return Report{}, fmt.Errorf("audit: verify: export snapshot: %w", err)
	}
	tx2, err := db.BeginTxx(ctx, opts)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: begin: %w", err)
	}
	defer tx2.Rollback()
	if _, err := tx2.ExecContext(ctx, `SET TRANSACTION SNAPSHOT `+pq.QuoteLiteral(snapshot)); err != nil {
		return Report{}, fmt.Errorf("audit: verify: import snapshot: %w", err)
	}
	var rows []checkpointRow
	if err := tx.SelectContext(ctx, &rows, `SELECT size, root_hash, note, created_at FROM audit_checkpoints ORDER BY size`); err != nil {
		return Report{}, fmt.Errorf("audit: verify: read checkpoints: %w", err)
	}
	for _, r := range rows {
		vf.addDB(r)
	}
	er, err := tx.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries ORDER BY seq`)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: read entries: %w", err)
	}
	defer er.Close()
	hr, err := tx2.QueryContext(ctx, `SELECT idx, hash FROM audit_hashes ORDER BY idx`)
	if err != nil {
		return Report{}, fmt.Errorf("audit: verify: read hashes: %w", err)
	}
	defer hr.Close()
	return vf.scan(&stream[Entry]{rows: er, scan: scanEntry}, &stream[storedHash]{rows: hr, scan: scanStoredHash})
}

// check is something to test when the rebuilt tree reaches a size.
type check struct {
	cp      Checkpoint
	inDB    bool     // from audit_checkpoints (else from the sink)
	problem *Problem // already known bad (signature, malformed)
}

type verifier struct {
	v       note.Verifier
	at      map[int64][]check
	dbSizes map[int64]tlog.Hash
	count   int
}

func (vf *verifier) addSink(signed []byte) {
	vf.count++
	cp, err := OpenCheckpoint(signed, vf.v)
	if err != nil {
		size := claimedSize(signed)
		vf.at[size] = append(vf.at[size], check{problem: &Problem{Kind: KindCheckpoint, Seq: size, Size: size,
			Detail: fmt.Sprintf("sink checkpoint of size %d does not verify: %v", size, err)}})
		return
	}
	vf.at[cp.Size] = append(vf.at[cp.Size], check{cp: cp})
}

func (vf *verifier) addDB(r checkpointRow) {
	vf.count++
	if vf.dbSizes == nil {
		vf.dbSizes = map[int64]tlog.Hash{}
	}
	bad := func(format string, a ...any) {
		vf.at[r.Size] = append(vf.at[r.Size], check{inDB: true, problem: &Problem{Kind: KindCheckpoint, Seq: r.Size,
			Size: r.Size, Detail: fmt.Sprintf("database checkpoint of size %d: ", r.Size) + fmt.Sprintf(format, a...)}})
	}
	cp, err := OpenCheckpoint([]byte(r.Note), vf.v)
	if err != nil {
		bad("%v", err)
		return
	}
	if cp.Size != r.Size || len(r.Root) != tlog.HashSize || tlog.Hash(r.Root) != cp.Root {
		bad("row does not match its signed note (note says size %d)", cp.Size)
		return
	}
	vf.dbSizes[cp.Size] = cp.Root
	vf.at[cp.Size] = append(vf.at[cp.Size], check{cp: cp, inDB: true})
}

// claimedSize reads the tree size an unverified note claims, to place its problem in log order.
func claimedSize(signed []byte) int64 {
	_, size, _, err := ParseCheckpoint(noteText(signed))
	if err != nil {
		return 0
	}
	return size
}

func (vf *verifier) scan(entries *stream[Entry], hashes *stream[storedHash]) (Report, error) {
	rep := Report{Checkpoints: vf.count}
	fail := func(p *Problem) (Report, error) {
		rep.Problem = p
		return rep, nil
	}
	sizes := make([]int64, 0, len(vf.at))
	for s := range vf.at {
		sizes = append(sizes, s)
	}
	slices.Sort(sizes)
	// Checks at size 0 (only unparseable notes land there) come first.
	for len(sizes) > 0 && sizes[0] <= 0 {
		for _, c := range vf.at[sizes[0]] {
			if c.problem != nil {
				return fail(c.problem)
			}
		}
		sizes = sizes[1:]
	}

	f := NewFrontier()
	var next int64 // the sequence number expected next
	for {
		e, ok, err := entries.next()
		if err != nil {
			return rep, fmt.Errorf("audit: verify: read entries: %w", err)
		}
		if !ok {
			break
		}
		if e.Seq != next {
			return fail(&Problem{Kind: KindGap, Seq: next, Detail: fmt.Sprintf("entry %d is missing (next present is %d)", next, e.Seq)})
		}
		stored, err := tlog.StoredHashesForRecordHash(e.Seq, e.Hash(), f)
		if err != nil {
			return rep, fmt.Errorf("audit: verify: entry %d: %w", e.Seq, err)
		}
		base := tlog.StoredHashIndex(0, e.Seq)
		for j, want := range stored {
			h, ok, err := hashes.next()
			if err != nil {
				return rep, fmt.Errorf("audit: verify: read hashes: %w", err)
			}
			idx := base + int64(j)
			switch {
			case !ok || h.idx > idx:
				return fail(&Problem{Kind: KindModified, Seq: e.Seq, Detail: fmt.Sprintf("stored hash %d of entry %d is missing", idx, e.Seq)})
			case h.idx < idx:
				return fail(&Problem{Kind: KindModified, Seq: e.Seq, Detail: fmt.Sprintf("stored hash %d is out of place", h.idx)})
			case h.hash != want:
				what := "its contents differ from its recorded hash"
				if j > 0 {
					what = fmt.Sprintf("tree node hash %d differs", idx)
				}
				return fail(&Problem{Kind: KindModified, Seq: e.Seq, Detail: fmt.Sprintf("entry %d: %s", e.Seq, what)})
			}
		}
		f.Add(e.Seq, stored)
		next++
		rep.Size = next

		if len(sizes) > 0 && sizes[0] == next {
			if p, err := vf.checkAt(next, f, rep.Latest); err != nil {
				return rep, err
			} else if p != nil {
				return fail(p)
			}
			rep.Latest = next
			sizes = sizes[1:]
		}
	}

	// The entries end at next. Anything signed or stored beyond it means the tail is gone.
	var signed int64
	for _, s := range sizes {
		for _, c := range vf.at[s] {
			if c.problem == nil {
				signed = s
			}
		}
	}
	if signed > 0 {
		return fail(&Problem{Kind: KindRollback, Seq: next, Size: signed, Detail: fmt.Sprintf(
			"the log has %d entries but a signed checkpoint covers %d", next, signed)})
	}
	if len(sizes) > 0 {
		return fail(vf.at[sizes[0]][0].problem)
	}
	h, ok, err := hashes.next()
	if err != nil {
		return rep, fmt.Errorf("audit: verify: read hashes: %w", err)
	}
	if ok {
		return fail(&Problem{Kind: KindRollback, Seq: next, Detail: fmt.Sprintf(
			"the log has %d entries but stored hashes continue (index %d): entries were removed from its end", next, h.idx)})
	}
	rep.OK = true
	return rep, nil
}

// checkAt tests every checkpoint of tree size n against the rebuilt tree. lastGood is the
// size of the last checkpoint that matched, where a fork's range starts.
func (vf *verifier) checkAt(n int64, f *Frontier, lastGood int64) (*Problem, error) {
	root, err := tlog.TreeHash(n, f)
	if err != nil {
		return nil, fmt.Errorf("audit: verify: tree hash at %d: %w", n, err)
	}
	for _, c := range vf.at[n] {
		switch {
		case c.problem != nil:
			return c.problem, nil
		case c.cp.Root != root:
			where := "database"
			if !c.inDB {
				where = "sink"
			}
			return &Problem{Kind: KindFork, Seq: lastGood, Size: n, Detail: fmt.Sprintf(
				"the tree of the first %d entries does not match the signed %s checkpoint: entries between %d and %d were rewritten with their hashes",
				n, where, lastGood, n-1)}, nil
		case !c.inDB:
			if _, ok := vf.dbSizes[n]; !ok {
				return &Problem{Kind: KindCheckpoint, Seq: n, Size: n, Detail: fmt.Sprintf(
					"the sink's checkpoint of size %d is missing from the database", n)}, nil
			}
		}
	}
	return nil, nil
}

type storedHash struct {
	idx  int64
	hash tlog.Hash
}

func scanStoredHash(rows *sql.Rows) (storedHash, error) {
	var h storedHash
	var b []byte
	if err := rows.Scan(&h.idx, &b); err != nil {
		return h, err
	}
	if len(b) != tlog.HashSize {
		return h, fmt.Errorf("stored hash %d has %d bytes", h.idx, len(b))
	}
	h.hash = tlog.Hash(b)
	return h, nil
}

// stream reads rows one by one.
type stream[T any] struct {
	rows *sql.Rows
	scan func(*sql.Rows) (T, error)
}

func (s *stream[T]) next() (T, bool, error) {
	var zero T
	if !s.rows.Next() {
		return zero, false, s.rows.Err()
	}
	v, err := s.scan(s.rows)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}
