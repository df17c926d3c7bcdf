// Package schema applies the embedded SQL migrations and tells whether a database is current.
//
// Each file of package migrations is applied in lexical order in its own transaction and
// recorded in schema_migrations with the SHA-256 of its text. Applying is idempotent and
// safe to run from several processes at once: a transaction-scoped advisory lock serializes
// them. A recorded migration whose text has changed is an error, never silently re-run.
package schema

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"sort"
	"strings"

	"github.com/secondopinion/secondopinion/internal/jobs"
	"github.com/secondopinion/secondopinion/migrations"
)

// lockKey is the advisory lock that serializes migrators ("so-schema" in ASCII).
const lockKey = 0x736f2d736368656d

// Migration is one numbered SQL file.
type Migration struct {
	Version string // file name without ".sql", e.g. "001_foundation"
	SQL     string
	Sum     string // hex SHA-256 of SQL
}

// All returns every embedded migration in the order it is applied.
func All() ([]Migration, error) {
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil {
		return nil, fmt.Errorf("list migrations: %w", err)
	}
	sort.Strings(names)
	out := make([]Migration, 0, len(names))
	for _, n := range names {
		b, err := fs.ReadFile(migrations.FS, n)
		if err != nil {
			return nil, fmt.Errorf("read migration %s: %w", n, err)
		}
		sum := sha256.Sum256(b)
		out = append(out, Migration{Version: strings.TrimSuffix(n, ".sql"), SQL: string(b), Sum: hex.EncodeToString(sum[:])})
	}
	return out, nil
}

const createTable = `CREATE TABLE IF NOT EXISTS schema_migrations (
	version    text PRIMARY KEY,
	sha256     text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Apply applies every pending migration and returns the versions it applied, in order.
func Apply(ctx context.Context, db *sql.DB) ([]string, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var applied []string
	for _, m := range all {
		done, err := applyOne(ctx, db, m)
		if err != nil {
			return applied, err
		}
		if done {
			applied = append(applied, m.Version)
		}
	}
	river, err := jobs.Migrate(ctx, db)
	return append(applied, river...), err
}

func applyOne(ctx context.Context, db *sql.DB, m Migration) (bool, error) {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return false, fmt.Errorf("migration %s: begin: %w", m.Version, err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock($1)`, int64(lockKey)); err != nil {
		return false, fmt.Errorf("migration %s: lock: %w", m.Version, err)
	}
	if _, err := tx.ExecContext(ctx, createTable); err != nil {
		return false, fmt.Errorf("migration %s: create schema_migrations: %w", m.Version, err)
	}
	var sum string
	switch err := tx.QueryRowContext(ctx, `SELECT sha256 FROM schema_migrations WHERE version = $1`, m.Version).Scan(&sum); {
	case err == nil:
		if sum != m.Sum {
			return false, fmt.Errorf("migration %s was changed after it was applied (recorded sha256 %s, now %s)", m.Version, sum, m.Sum)
		}
		return false, nil
	case err != sql.ErrNoRows:
		return false, fmt.Errorf("migration %s: read schema_migrations: %w", m.Version, err)
	}
	if _, err := tx.ExecContext(ctx, m.SQL); err != nil {
		return false, fmt.Errorf("migration %s: %w", m.Version, err)
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, sha256) VALUES ($1, $2)`, m.Version, m.Sum); err != nil {
		return false, fmt.Errorf("migration %s: record: %w", m.Version, err)
	}
	if err := tx.Commit(); err != nil {
		return false, fmt.Errorf("migration %s: commit: %w", m.Version, err)
	}
	return true, nil
}

// Pending returns the versions not yet applied. It only reads, so the runtime role may call it.
// A database with no schema_migrations table has every migration pending.
func Pending(ctx context.Context, db *sql.DB) ([]string, error) {
	all, err := All()
	if err != nil {
		return nil, err
	}
	var exists bool
	if err := db.QueryRowContext(ctx, `SELECT to_regclass('schema_migrations') IS NOT NULL`).Scan(&exists); err != nil {
		return nil, fmt.Errorf("check schema_migrations: %w", err)
	}
	have := map[string]bool{}
	if exists {
		rows, err := db.QueryContext(ctx, `SELECT version FROM schema_migrations`)
		if err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
		defer rows.Close()
		for rows.Next() {
			var v string
			if err := rows.Scan(&v); err != nil {
				return nil, fmt.Errorf("read schema_migrations: %w", err)
			}
			have[v] = true
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("read schema_migrations: %w", err)
		}
	}
	var pending []string
	for _, m := range all {
		if !have[m.Version] {
			pending = append(pending, m.Version)
		}
	}
	river, err := jobs.Pending(ctx, db)
	return append(pending, river...), err
}
