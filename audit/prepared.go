package audit

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// prepared holds the statements every batch of the Writer runs, each prepared once on first
// use and reused: PostgreSQL does not parse and plan them per batch, and lib/pq makes one
// round trip per statement instead of two. database/sql prepares a statement again on each
// pooled connection as needed, and Tx.Stmtx reuses it inside a transaction. The zero value is
// ready; queries are constants of this package.
type prepared struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// exec runs query in tx as a prepared statement.
func (p *prepared) exec(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, query string, args ...any) error {
	st, err := p.stmt(ctx, db, query)
	if err != nil {
		return err
	}
	_, err = tx.StmtxContext(ctx, st).ExecContext(ctx, args...)
	return err
}

// get runs query (a single-row SELECT) in tx as a prepared statement and scans its row into dest.
func (p *prepared) get(ctx context.Context, db *sqlx.DB, tx *sqlx.Tx, dest any, query string, args ...any) error {
	st, err := p.stmt(ctx, db, query)
	if err != nil {
		return err
	}
	return tx.StmtxContext(ctx, st).GetContext(ctx, dest, args...)
}

func (p *prepared) stmt(ctx context.Context, db *sqlx.DB, query string) (*sqlx.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if st, ok := p.m[query]; ok {
		return st, nil
	}
	st, err := db.PreparexContext(ctx, query)
	if err != nil {
		return nil, fmt.Errorf("prepare: %w", err)
	}
	if p.m == nil {
		p.m = make(map[string]*sqlx.Stmt)
	}
	p.m[query] = st
	return st, nil
}
