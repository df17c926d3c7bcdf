package prepared_test

import (
	"testing"

	"github.com/secondopinion/secondopinion/internal/prepared"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// A statement runs on the pool and in a transaction, and a query that cannot be prepared is
// an error.
func TestStatements(t *testing.T) {
	db := testenv.NewDB(t).Owner
	ctx := t.Context()
	var s prepared.Statements
	const q = `SELECT $1::int + 1`
	var n int
	if err := s.Get(ctx, db, nil, &n, q, 41); err != nil || n != 42 {
		t.Fatalf("Get on the pool = %d, %v", n, err)
	}
	tx, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := s.Exec(ctx, db, tx, `SELECT pg_advisory_xact_lock($1)`, 12345); err != nil {
		t.Fatal(err)
	}
	var held bool
	if err := tx.GetContext(ctx, &held, `SELECT count(*) = 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid()`); err != nil || !held {
		t.Fatalf("the statement did not run in the transaction (lock held %v, %v)", held, err)
	}
	tx.Rollback()
	if err := s.Get(ctx, db, nil, &n, `SELECT nosuchcolumn`); err == nil {
		t.Fatal("a query that cannot be prepared did not fail")
	}
	tx2, err := db.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx2.Rollback()
	if err := s.Get(ctx, db, tx2, &n, q, 1); err != nil || n != 2 {
		t.Fatalf("Get in a transaction = %d, %v", n, err)
	}
}
