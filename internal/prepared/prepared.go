// Package prepared keeps PostgreSQL prepared statements for the hot, hand-written queries of
// the domain packages (every document open runs a few; every audit batch runs four). A
// prepared statement costs PostgreSQL no parsing or planning per execution and lib/pq one
// round trip instead of two. Each statement is prepared once, on first use, and reused;
// database/sql prepares it again on each pooled connection as needed, and in a transaction
// sqlx's StmtxContext reuses it. Queries must be constants of the calling package, never built
// from input.
package prepared

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// Statements holds one package's prepared statements, by query text. The zero value is ready.
type Statements struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// Get runs query (a single-row SELECT) as a prepared statement of db, in tx when tx is not
// nil, and scans its row into dest.
func (s *Statements) Get(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := s.stmt(ctx, db, tx, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
}

// Exec runs query as a prepared statement of db, in tx when tx is not nil.
func (s *Statements) Exec(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, query string, args ...any) error {
	st, err := s.stmt(ctx, db, tx, query)
	if err != nil {
		return err
	}
	_, err = st.ExecContext(ctx, args...)
	return err
}

func (s *Statements) stmt(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, query string) (*sqlx.Stmt, error) {
	s.mu.Lock()
	st, ok := s.m[query]
	if !ok {
		var err error
		if st, err = db.PreparexContext(ctx, query); err != nil {
			s.mu.Unlock()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		if s.m == nil {
			s.m = make(map[string]*sqlx.Stmt)
		}
		s.m[query] = st
	}
	s.mu.Unlock()
	if tx != nil {
		return tx.StmtxContext(ctx, st), nil
	}
	return st, nil
}
