package jobs

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/lib/pq"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"
)

// RuntimeRole is the role whose members the service connects as; Migrate grants it what
// River needs at run time.
const RuntimeRole = "secondopinion_runtime"

// migrateLockKey is the session advisory lock that serializes Migrate across processes
// ("so-river" in ASCII), apart from the one internal/schema takes for its own files.
const migrateLockKey = 0x736f2d7269766572

// Migrate applies River's pending migrations to db and grants RuntimeRole what River needs
// at run time. It returns the migrations it applied, as "river/NNN_name", in order; none
// when the schema was current. It is idempotent and safe to run from several processes at
// once.
//
// db must connect as the owner of the schema (the role that runs the service's own
// migrations, after them: RuntimeRole must exist) and allow two connections: one holds the
// advisory lock while River migrates over another.
func Migrate(ctx context.Context, db *sql.DB) ([]string, error) {
	conn, err := db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: migrate: %w", err)
	}
	locked := false
	defer func() { releaseLock(conn, locked) }()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock($1)`, int64(migrateLockKey)); err != nil {
		return nil, fmt.Errorf("jobs: migrate: lock: %w", err)
	}
	locked = true

	m, err := migrator(db)
	if err != nil {
		return nil, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return nil, fmt.Errorf("jobs: migrate River: %w", err)
	}
	applied := make([]string, 0, len(res.Versions))
	for _, v := range res.Versions {
		applied = append(applied, versionName(v.Version, v.Name))
	}
	if err := grantRuntime(ctx, conn); err != nil {
		return applied, err
	}
	return applied, nil
}

// releaseLock gives conn back to the pool without the advisory lock; should the unlock fail,
// the session is closed instead, which releases the lock too.
func releaseLock(conn *sql.Conn, locked bool) {
	if locked {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_unlock($1)`, int64(migrateLockKey)); err != nil {
			conn.Raw(func(any) error { return driver.ErrBadConn }) // #nosec G104 -- marks a pooled connection bad so that it is dropped
		}
	}
	conn.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
}

// Pending returns River's migrations not yet applied to db, as "river/NNN_name"; none when
// River's schema is current (or newer than this binary's). It only reads, so the runtime
// role may call it, as readiness does.
func Pending(ctx context.Context, db *sql.DB) ([]string, error) {
	m, err := migrator(db)
	if err != nil {
		return nil, err
	}
	v, err := m.Validate(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("jobs: check River's schema: %w", err)
	}
	if v.OK {
		return nil, nil
	}
	have, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, fmt.Errorf("jobs: check River's schema: %w", err)
	}
	var pending []string
	for _, want := range m.AllVersions() {
		if !slices.ContainsFunc(have, func(h rivermigrate.Migration) bool { return h.Version == want.Version }) {
			pending = append(pending, versionName(want.Version, want.Name))
		}
	}
	return pending, nil
}

func migrator(db *sql.DB) (*rivermigrate.Migrator[*sql.Tx], error) {
	m, err := rivermigrate.New(riverdatabasesql.New(db), &rivermigrate.Config{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		return nil, fmt.Errorf("jobs: River migrator: %w", err)
	}
	return m, nil
}

func versionName(version int, name string) string {
	return fmt.Sprintf("river/%03d_%s", version, name)
}

// grantRuntime grants RuntimeRole, on every River object in the current schema (those named
// river_*): SELECT on river_migration (readiness reads it); SELECT, INSERT, UPDATE, DELETE
// on the other tables; USAGE on the sequences and the types; EXECUTE on the functions.
// Objects are found in the catalog rather than listed here, so that a River upgrade adding
// a table needs no change. GRANT is idempotent.
func grantRuntime(ctx context.Context, conn *sql.Conn) error {
	tx, err := conn.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("jobs: grant: %w", err)
	}
	defer tx.Rollback()
	rows, err := tx.QueryContext(ctx, `
		SELECT CASE
			WHEN c.relkind = 'S' THEN 'USAGE ON SEQUENCE '
			WHEN c.relname = 'river_migration' THEN 'SELECT ON TABLE '
			ELSE 'SELECT, INSERT, UPDATE, DELETE ON TABLE ' END,
			quote_ident(c.relname)
		FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
		WHERE n.nspname = current_schema() AND c.relname LIKE 'river\_%' AND c.relkind IN ('r', 'p', 'S')
		UNION ALL
		SELECT 'EXECUTE ON FUNCTION ', p.oid::regprocedure::text
		FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
		WHERE n.nspname = current_schema() AND p.proname LIKE 'river\_%' AND p.prokind = 'f'
		UNION ALL
		SELECT 'USAGE ON TYPE ', quote_ident(t.typname)
		FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
		WHERE n.nspname = current_schema() AND t.typname LIKE 'river\_%' AND t.typtype IN ('e', 'd')
		ORDER BY 1, 2`)
	if err != nil {
		return fmt.Errorf("jobs: grant: list River's objects: %w", err)
	}
	var grants []string
	for rows.Next() {
		var priv, object string
		if err := rows.Scan(&priv, &object); err != nil {
			rows.Close() // #nosec G104 -- rows were read to the end; Err was checked
			return fmt.Errorf("jobs: grant: list River's objects: %w", err)
		}
		grants = append(grants, "GRANT "+priv+object+" TO "+pq.QuoteIdentifier(RuntimeRole))
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("jobs: grant: list River's objects: %w", err)
	}
	if len(grants) == 0 {
		return fmt.Errorf("jobs: grant: no River objects in the current schema")
	}
	for _, g := range grants {
		if _, err := tx.ExecContext(ctx, g); err != nil {
			return fmt.Errorf("jobs: %s: %w", g, err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("jobs: grant: commit: %w", err)
	}
	return nil
}
