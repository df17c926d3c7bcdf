package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	"golang.org/x/mod/sumdb/note"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// testLog is a fresh database with a writer, a checkpointer and the key they use.
type testLog struct {
	db     *testenv.DB
	w      *Writer
	cp     *Checkpointer
	r      *Reader
	signer note.Signer
	v      note.Verifier
	sink   CheckpointSink
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// testKey returns a fresh checkpoint key pair.
func testKey(t testing.TB) (note.Signer, note.Verifier) {
	t.Helper()
	skey, _, err := GenerateCheckpointKey("test.example/audit")
	if err != nil {
		t.Fatal(err)
	}
	s, v, err := ParseCheckpointKey(skey)
	if err != nil {
		t.Fatal(err)
	}
	return s, v
}

func newTestLog(t testing.TB, sink CheckpointSink) *testLog {
	t.Helper()
	db := testenv.NewDB(t)
	s, v := testKey(t)
	l := &testLog{db: db, signer: s, v: v, sink: sink, r: NewReader(db.Runtime)}
	l.cp = NewCheckpointer(db.Runtime, CheckpointConfig{Signer: s, Sink: sink, Logger: quiet()})
	l.w = NewWriter(db.Runtime, WriterConfig{Logger: quiet()})
	t.Cleanup(func() { l.w.Close() })
	return l
}

// sampleEntry is entry i of a test log: varied actors, cases, actions and outcomes.
func sampleEntry(i int) Entry {
	actions := []string{ActionDocumentOpen, ActionLogin, ActionConsentSign, ActionUploadFinish, ActionDocumentErase}
	outcomes := []Outcome{OutcomeSuccess, OutcomeSuccess, OutcomeMinorFailure, OutcomeSuccess, OutcomeSeriousFailure}
	e := Entry{
		ActorID:    fmt.Sprintf("acct-%d", i%7),
		ActorRole:  []string{"reviewer", "case_manager", "applicant"}[i%3],
		Action:     actions[i%len(actions)],
		ObjectType: "document",
		ObjectID:   fmt.Sprintf("doc-%d", i),
		CaseID:     fmt.Sprintf("case-%d", i%4),
		ClientIP:   fmt.Sprintf("192.0.2.%d", i%250),
		UserAgent:  "test-agent/1.0",
		RequestID:  fmt.Sprintf("req-%d", i),
		Outcome:    outcomes[i%len(outcomes)],
		Purpose:    PurposeTreatment,
	}
	if e.Outcome != OutcomeSuccess {
		e.Reason = ReasonConsent
	}
	return e
}

// fill logs entries from..to-1 of sampleEntry, one Log call each.
func (l *testLog) fill(t testing.TB, from, to int) {
	t.Helper()
	ctx := context.Background()
	for i := from; i < to; i++ {
		seq, err := l.w.Log(ctx, sampleEntry(i))
		if err != nil {
			t.Fatalf("log entry %d: %v", i, err)
		}
		if seq != int64(i) {
			t.Fatalf("entry %d got seq %d", i, seq)
		}
	}
}

func (l *testLog) checkpoint(t testing.TB) Checkpoint {
	t.Helper()
	cp, err := l.cp.Checkpoint(context.Background())
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	return cp
}

func (l *testLog) verify(t testing.TB, src CheckpointSource) Report {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rep, err := Verify(ctx, l.db.Runtime, l.v, src)
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	return rep
}

// asOwner runs statements as the database owner with the audit tables' triggers disabled,
// which is how an attacker holding the owner's credentials would tamper.
func asOwner(t testing.TB, db *sqlx.DB, stmts ...string) {
	t.Helper()
	ctx := context.Background()
	all := []string{
		`ALTER TABLE audit_entries DISABLE TRIGGER ALL`,
		`ALTER TABLE audit_hashes DISABLE TRIGGER ALL`,
		`ALTER TABLE audit_checkpoints DISABLE TRIGGER ALL`,
	}
	all = append(all, stmts...)
	all = append(all,
		`ALTER TABLE audit_entries ENABLE TRIGGER ALL`,
		`ALTER TABLE audit_hashes ENABLE TRIGGER ALL`,
		`ALTER TABLE audit_checkpoints ENABLE TRIGGER ALL`)
	for _, s := range all {
		if _, err := db.ExecContext(ctx, s); err != nil {
			t.Fatalf("as owner: %s: %v", s, err)
		}
	}
}
