package consent

import (
	"context"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"
)

// prepared holds the statements of this package's hot queries (one per request: every
// document open runs them), each prepared once on first use and reused. A prepared statement
// costs PostgreSQL no parsing or planning per execution and lib/pq one round trip instead of
// two. database/sql prepares it again on each pooled connection as needed. The zero value is
// ready; queries are constants of this package (never built from input).
type prepared struct {
	mu sync.Mutex
	m  map[string]*sqlx.Stmt
}

// get runs query (a single-row SELECT) on db as a prepared statement and scans its row into dest.
func (p *prepared) get(ctx context.Context, db *sqlx.DB, dest any, query string, args ...any) error {
	st, err := p.stmt(ctx, db, query)
	if err != nil {
		return err
	}
	return st.GetContext(ctx, dest, args...)
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
