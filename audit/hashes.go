package audit

import (
	"context"
	"fmt"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"golang.org/x/mod/sumdb/tlog"
)

// dbHashes reads stored hashes from audit_hashes, consulting a map of known hashes first
// (those computed in the current batch, and the writer's cached tree frontier). It adapts
// a context and a query handle to tlog.HashReader, which has neither.
type dbHashes struct {
	ctx   context.Context
	q     sqlx.QueryerContext
	known map[int64]tlog.Hash
}

func (r *dbHashes) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	var missing []int64
	for i, idx := range indexes {
		if h, ok := r.known[idx]; ok {
			out[i] = h
		} else {
			missing = append(missing, idx)
		}
	}
	if len(missing) == 0 {
		return out, nil
	}
	rows, err := r.q.QueryContext(r.ctx, `SELECT idx, hash FROM audit_hashes WHERE idx = ANY($1::bigint[])`, pq.Array(missing))
	if err != nil {
		return nil, fmt.Errorf("read stored hashes: %w", err)
	}
	defer rows.Close()
	got := make(map[int64]tlog.Hash, len(missing))
	for rows.Next() {
		var idx int64
		var b []byte
		if err := rows.Scan(&idx, &b); err != nil {
			return nil, fmt.Errorf("read stored hashes: %w", err)
		}
		if len(b) != tlog.HashSize {
			return nil, fmt.Errorf("stored hash %d has %d bytes", idx, len(b))
		}
		got[idx] = tlog.Hash(b)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read stored hashes: %w", err)
	}
	for i, idx := range indexes {
		if _, ok := r.known[idx]; ok {
			continue
		}
		h, ok := got[idx]
		if !ok {
			return nil, fmt.Errorf("stored hash %d is missing", idx)
		}
		out[i] = h
		if r.known != nil {
			r.known[idx] = h
		}
	}
	return out, nil
}

// frontierIndexes returns the stored hash indexes of the tree of size n that appending
// records or computing the tree hash may need: the last complete node of every level.
func frontierIndexes(n int64) []int64 {
	var out []int64
	for level := 0; n>>uint(level) > 0; level++ {
		out = append(out, tlog.StoredHashIndex(level, n>>uint(level)-1))
	}
	return out
}

// Frontier is the right edge of a tree being built in order: the newest node of each level.
// It is all tlog.StoredHashesForRecordHash and tlog.TreeHash need when records are appended
// one after another, so a verifier (or a bulk loader) streams any number of entries in
// O(log n) memory. It implements tlog.HashReader for the hashes on the frontier.
type Frontier struct {
	n    [64]int64 // n[level]: index within the level of the newest node, -1 if none
	hash [64]tlog.Hash
}

// NewFrontier returns the frontier of the empty tree.
func NewFrontier() *Frontier {
	f := &Frontier{}
	for i := range f.n {
		f.n[i] = -1
	}
	return f
}

// Add records the stored hashes written for record seq (level 0 first, as tlog returns them).
func (f *Frontier) Add(seq int64, hashes []tlog.Hash) {
	for level, h := range hashes {
		f.n[level] = seq >> uint(level)
		f.hash[level] = h
	}
}

// ReadHashes implements tlog.HashReader.
func (f *Frontier) ReadHashes(indexes []int64) ([]tlog.Hash, error) {
	out := make([]tlog.Hash, len(indexes))
	for i, idx := range indexes {
		level, n := tlog.SplitStoredHashIndex(idx)
		if f.n[level] != n {
			return nil, fmt.Errorf("stored hash %d (level %d, node %d) is not on the frontier", idx, level, n)
		}
		out[i] = f.hash[level]
	}
	return out, nil
}
