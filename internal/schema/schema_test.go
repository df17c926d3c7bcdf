package schema_test

import (
	"context"
	"testing"

	"github.com/secondopinion/secondopinion/internal/schema"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// Migrations applied a second time change nothing, and the runtime role sees none pending.
func TestApplyTwiceChangesNothing(t *testing.T) {
	db := testenv.NewDB(t) // applies every migration once
	ctx := context.Background()
	before := dump(t, db)

	applied, err := schema.Apply(ctx, db.Owner.DB)
	if err != nil {
		t.Fatalf("second apply: %v", err)
	}
	if len(applied) != 0 {
		t.Fatalf("second apply applied %v, want nothing", applied)
	}
	if after := dump(t, db); after != before {
		t.Fatalf("schema changed on second apply:\nbefore %s\nafter  %s", before, after)
	}
	pending, err := schema.Pending(ctx, db.Runtime.DB)
	if err != nil {
		t.Fatalf("pending as runtime role: %v", err)
	}
	if len(pending) != 0 {
		t.Fatalf("pending after apply: %v", pending)
	}
}

func TestPendingOnEmptyDatabase(t *testing.T) {
	db := testenv.NewDB(t)
	if _, err := db.Owner.Exec(`DROP TABLE schema_migrations`); err != nil {
		t.Fatal(err)
	}
	pending, err := schema.Pending(context.Background(), db.Owner.DB)
	if err != nil {
		t.Fatal(err)
	}
	all, _ := schema.All()
	if len(pending) != len(all) || len(all) == 0 {
		t.Fatalf("pending = %v, want all %d migrations", pending, len(all))
	}
}

// The runtime role cannot change the schema.
func TestRuntimeRoleCannotCreateTables(t *testing.T) {
	db := testenv.NewDB(t)
	if _, err := db.Runtime.Exec(`CREATE TABLE intruder (x int)`); err == nil {
		t.Fatal("runtime role created a table")
	}
}

// dump lists columns and grants, which is what a migration changes.
func dump(t *testing.T, db *testenv.DB) string {
	t.Helper()
	var s string
	err := db.Owner.Get(&s, `SELECT coalesce(string_agg(x, ';' ORDER BY x), '') FROM (
		SELECT table_name || '.' || column_name || ':' || data_type AS x FROM information_schema.columns WHERE table_schema = 'public'
		UNION ALL
		SELECT table_name || '/' || grantee || '/' || privilege_type FROM information_schema.role_table_grants WHERE table_schema = 'public'
		UNION ALL
		SELECT version || '@' || sha256 FROM schema_migrations) q`)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
