package consent_test

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/jmoiron/sqlx"
	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/consent"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// The acceptance scenario at the domain level, as the web layer will run it for each
// document read: ask the gate, record the decision in the audit log, and only then (on
// success) stream. No consent: denied with reason "consent". After countersignature:
// allowed. After withdrawal: denied at once. The earlier entries stay unchanged and the
// log verifies.
func TestReviewerReadScenario(t *testing.T) {
	ctx := context.Background()
	db := testenv.NewDB(t)
	skey, _, err := audit.GenerateCheckpointKey("scenario.example/audit")
	if err != nil {
		t.Fatal(err)
	}
	signer, verifier, err := audit.ParseCheckpointKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	w := audit.NewWriter(db.Runtime, audit.WriterConfig{})
	defer w.Close()
	store, gate := consent.NewStore(db.Runtime, caseRow{db.Runtime}), consent.NewGate(db.Runtime)

	var owner, manager, reviewer, caseID string
	for _, a := range []struct {
		dst  *string
		role string
	}{{&owner, "applicant"}, {&manager, "case_manager"}, {&reviewer, "reviewer"}} {
		if err := db.Runtime.GetContext(ctx, a.dst, `INSERT INTO accounts (email, role) VALUES (gen_random_uuid()::text || '@example.org', $1) RETURNING id`, a.role); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.Runtime.GetContext(ctx, &caseID, `INSERT INTO cases (owner_id, patient_given_name, patient_family_name,
		patient_birth_date, applicant_relationship, consultation_types, language)
		VALUES ($1, 'Ada', 'Rossi', '1970-01-01', 'self', '{oncological}', 'en') RETURNING id`, owner); err != nil {
		t.Fatal(err)
	}

	// open is what a document read does before any byte is fetched from storage.
	open := func() (allowed bool, seq int64) {
		t.Helper()
		e := audit.Entry{ActorID: reviewer, ActorRole: string(so.RoleReviewer), Action: audit.ActionDocumentOpen,
			ObjectType: "document", ObjectID: "doc-1", CaseID: caseID, Purpose: audit.PurposeTreatment}
		err := gate.Check(ctx, caseID, so.RoleReviewer, "imaging_study")
		switch {
		case errors.Is(err, consent.ErrNoConsent):
			e.Outcome, e.Reason = audit.OutcomeMinorFailure, audit.ReasonConsent
		case err != nil:
			t.Fatalf("gate: %v", err)
		}
		seq, err = w.Log(ctx, e)
		if err != nil {
			t.Fatalf("audit: %v", err)
		}
		return e.Outcome == audit.OutcomeSuccess, seq
	}

	if ok, _ := open(); ok {
		t.Fatal("read allowed without consent")
	}
	if _, err := store.Sign(ctx, caseID, "2025-01-en", "Ada Rossi", so.RelationshipSelf, "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := open(); ok {
		t.Fatal("read allowed before countersignature")
	}
	if _, err := store.Countersign(ctx, caseID, manager); err != nil {
		t.Fatal(err)
	}
	if ok, _ := open(); !ok {
		t.Fatal("read denied after countersignature")
	}
	r := audit.NewReader(db.Runtime)
	before, err := r.Query(ctx, audit.Filter{CaseID: caseID})
	if err != nil {
		t.Fatal(err)
	}
	cp := audit.NewCheckpointer(db.Runtime, audit.CheckpointConfig{Signer: signer})
	if _, err := cp.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Withdraw(ctx, caseID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := open(); ok {
		t.Fatal("read allowed after withdrawal")
	}

	denied := audit.OutcomeMinorFailure
	entries, err := r.Query(ctx, audit.Filter{CaseID: caseID, Outcome: &denied})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 3 {
		t.Fatalf("%d denied entries, want 3", len(entries))
	}
	for _, e := range entries {
		if e.Reason != audit.ReasonConsent || e.ActorID != reviewer || e.Action != audit.ActionDocumentOpen {
			t.Fatalf("denied entry %+v", e)
		}
	}
	after, err := r.Query(ctx, audit.Filter{CaseID: caseID})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(after[1:], before) {
		t.Fatal("earlier entries changed")
	}
	rep, err := audit.Verify(ctx, db.Runtime, verifier, nil)
	if err != nil || !rep.OK || rep.Size != 4 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}

// caseRow reads the test's case's relationship (package cases answers this in the service).
type caseRow struct{ db *sqlx.DB }

func (c caseRow) Relationship(ctx context.Context, id string) (so.Relationship, error) {
	var r so.Relationship
	err := c.db.GetContext(ctx, &r, `SELECT applicant_relationship FROM cases WHERE id = $1`, id)
	return r, err
}
