package cases_test

import (
	"errors"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
)

// The case store's half of erasure: a legal hold blocks it; the retention rules' erasure is
// refused when the case moved on since it was found expired; once begun the case is missing to
// everyone; the tombstone replaces it; and the database itself refuses to delete a case row
// without a tombstone, or one under hold.
func TestErasureInTheCaseStore(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	dpo := cases.Actor{Subject: f.subject("dpo@example.org", so.RoleDPO)}
	c := f.create(ann, "Maria")

	for _, x := range []struct {
		name   string
		expiry cases.Expiry
	}{
		{"another state", cases.Expiry{Status: so.StatusWithdrawn, Cutoff: now}},
		{"changed after the cutoff", cases.Expiry{Status: so.StatusDraft, Cutoff: now.Add(-time.Hour)}},
	} {
		if _, err := f.cases.BeginErasure(f.ctx, dpo, c.ID, cases.ErasureRetention, "r", &x.expiry); so.ErrorCode(err) != so.EConflict {
			t.Errorf("%s: %v, want a conflict", x.name, err)
		}
	}
	if _, err := f.cases.PlaceHold(f.ctx, dpo, c.ID, cases.HoldInput{Reason: "claim 1"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cases.BeginErasure(f.ctx, dpo, c.ID, cases.ErasureRequest, "DSR-1", nil); !errors.Is(err, cases.ErrHeld) {
		t.Fatalf("erasure under hold: %v", err)
	}
	// The database keeps a held case even from its owner role, tombstone or not.
	if _, err := f.db.Owner.Exec(`INSERT INTO case_tombstones (case_id, last_status, created_at, erased_at, reason, documents)
		VALUES ($1, 'draft', now(), now(), 'request', 0)`, c.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Owner.Exec(`DELETE FROM cases WHERE id = $1`, c.ID); err == nil {
		t.Fatal("a held case's row was deleted")
	}
	f.db.Owner.Exec(`DELETE FROM case_tombstones WHERE case_id = $1`, c.ID)
	if err := f.cases.ReleaseHold(f.ctx, dpo, c.ID); err != nil {
		t.Fatal(err)
	}
	// Without a tombstone the database refuses to delete the case.
	if _, err := f.db.Owner.Exec(`DELETE FROM cases WHERE id = $1`, c.ID); err == nil {
		t.Fatal("a case row was deleted without a tombstone")
	}

	if _, err := f.cases.BeginErasure(f.ctx, dpo, c.ID, cases.ErasureRetention, "retention: draft=365d",
		&cases.Expiry{Status: so.StatusDraft, Cutoff: now}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.cases.Get(f.ctx, c.ID); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("a case being erased: Get %v", err)
	}
	if _, err := f.cases.CaseFacts(f.ctx, c.ID); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("a case being erased: CaseFacts %v", err)
	}
	if l, err := f.cases.List(f.ctx, ann, cases.ListOptions{}); err != nil || len(l) != 0 {
		t.Errorf("a case being erased is listed: %v %v", l, err)
	}
	// Interrupted, it is begun again, by the retention job, and carries on; the rules find it
	// still; the tombstone says what the beginning said.
	system := cases.Actor{Subject: access.Subject{Role: so.RoleSystem}}
	er, err := f.cases.BeginErasure(f.ctx, system, c.ID, cases.ErasureRetention, "retention: something else", nil)
	if err != nil {
		t.Fatalf("begin again: %v", err)
	}
	if ex, err := f.cases.ExpiredCases(f.ctx, nil, 10); err != nil || len(ex) != 1 || !ex[0].Erasing {
		t.Errorf("an interrupted erasure is not found again: %+v %v", ex, err)
	}
	tomb, err := f.cases.FinishErasure(f.ctx, er)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.cases.TombstoneOf(f.ctx, c.ID)
	if err != nil || got.CaseID != c.ID || got.LastStatus != so.StatusDraft || got.Reason != cases.ErasureRetention ||
		!got.CreatedAt.Equal(now) || got.ErasedBy == nil || *got.ErasedBy != dpo.Subject.AccountID || tomb.Rule != got.Rule ||
		got.Rule != "retention: draft=365d" {
		t.Errorf("tombstone %+v (%v), returned %+v", got, err, tomb)
	}
	if _, err := f.cases.TombstoneOf(f.ctx, f.create(ann, "Other").ID); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("tombstone of a live case: %v", err)
	}
}
