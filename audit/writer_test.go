package audit

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
)

// Fifty goroutines on two writers (two connection pools, as two service instances would be)
// append concurrently; the result is one gap-free log in which every entry appears exactly
// once with the sequence number its caller was given, and it verifies.
func TestConcurrentWritersFormOneLinearLog(t *testing.T) {
	l := newTestLog(t, nil)
	other, err := sqlx.Open("postgres", l.db.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	w2 := NewWriter(other, WriterConfig{Logger: quiet(), MaxBatch: 7})
	defer w2.Close()

	const goroutines, each = 50, 20
	ctx := context.Background()
	var mu sync.Mutex
	got := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, goroutines)
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := l.w
			if g%2 == 1 {
				w = w2
			}
			for i := range each {
				e := sampleEntry(g*each + i)
				e.RequestID = fmt.Sprintf("g%d-%d", g, i)
				seq, err := w.Log(ctx, e)
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				if prev, dup := got[seq]; dup {
					errs <- fmt.Errorf("seq %d given to %s and %s", seq, prev, e.RequestID)
				}
				got[seq] = e.RequestID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if len(got) != goroutines*each {
		t.Fatalf("got %d distinct seqs, want %d", len(got), goroutines*each)
	}
	for seq := range int64(goroutines * each) {
		e, err := l.r.Entry(ctx, seq)
		if err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		if e.RequestID != got[seq] {
			t.Fatalf("entry %d holds request %q, its caller logged %q", seq, e.RequestID, got[seq])
		}
	}
	l.checkpoint(t)
	if rep := l.verify(t, nil); !rep.OK || rep.Size != goroutines*each {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

// With INSERT revoked from the runtime role the writer reports ErrUnavailable to every
// caller, nothing hangs, and once the grant is back it carries on where the log ended.
func TestWriterFailsClosedWhenLogUnwritable(t *testing.T) {
	l := newTestLog(t, nil)
	l.fill(t, 0, 5)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := l.db.Owner.ExecContext(ctx, `REVOKE INSERT ON audit_entries FROM secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := l.w.Log(ctx, sampleEntry(100+i))
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("log with INSERT revoked: %v, want ErrUnavailable", err)
			}
		}()
	}
	wg.Wait()
	if _, err := l.db.Owner.ExecContext(ctx, `GRANT INSERT ON audit_entries TO secondopinion_runtime`); err != nil {
		t.Fatal(err)
	}
	l.fill(t, 5, 8)
	if rep := l.verify(t, nil); !rep.OK || rep.Size != 8 {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

// A trigger that raises (the table made unwritable another way) fails the batch too.
func TestWriterFailsWhenInsertRaises(t *testing.T) {
	l := newTestLog(t, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := l.db.Owner.ExecContext(ctx, `CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS
		$$ BEGIN RAISE EXCEPTION 'disk full'; END $$;
		CREATE TRIGGER audit_down BEFORE INSERT ON audit_hashes FOR EACH ROW EXECUTE FUNCTION audit_down()`); err != nil {
		t.Fatal(err)
	}
	if _, err := l.w.Log(ctx, sampleEntry(0)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("log: %v, want ErrUnavailable", err)
	}
	// The entry of the failed batch is not in the log: its transaction rolled back.
	if n, err := l.r.Size(ctx); err != nil || n != 0 {
		t.Fatalf("size after failed batch: %d, %v", n, err)
	}
}

func TestWriterRejectsInvalidEntriesAndClosedUse(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	for _, e := range []Entry{{}, {Action: "x", Outcome: 3}} {
		if _, err := l.w.Log(ctx, e); !errors.Is(err, ErrInvalidEntry) {
			t.Errorf("log %+v: %v, want ErrInvalidEntry", e, err)
		}
	}
	// Entries queued before Close are committed by it.
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := l.w.Log(ctx, sampleEntry(i)); err != nil && !errors.Is(err, ErrClosed) {
				t.Errorf("log: %v", err)
			}
		}()
	}
	time.Sleep(time.Millisecond)
	l.w.Close()
	wg.Wait()
	if _, err := l.w.Log(ctx, sampleEntry(0)); !errors.Is(err, ErrClosed) {
		t.Fatalf("log after close: %v", err)
	}
	if rep := l.verify(t, nil); !rep.OK {
		t.Fatalf("verify: %v", rep.Problem)
	}
}

// The writer stores what it hashes: text is cleaned to valid UTF-8 without NUL and bounded,
// time is UTC microseconds, and an entry read back hashes to its stored leaf.
func TestStoredEntryRoundTrips(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	// Now (the log refuses entries dated otherwise), in another zone, with nanoseconds.
	when := time.Now().In(time.FixedZone("CET", 3600)).Truncate(time.Second).Add(891234567)
	long := make([]byte, 2000)
	for i := range long {
		long[i] = 'a'
	}
	in := Entry{Time: when, Action: ActionDocumentOpen, ActorID: "bad\xffutf8\x00nul", UserAgent: string(long),
		CaseID: "c1", Outcome: OutcomeMinorFailure, Reason: ReasonConsent, Purpose: PurposeTreatment}
	seq, err := l.w.Log(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	out, err := l.r.Entry(ctx, seq)
	if err != nil {
		t.Fatal(err)
	}
	if !out.Time.Equal(when.Truncate(time.Microsecond)) || out.Time.Location() != time.UTC {
		t.Errorf("time %v, want %v in UTC", out.Time, when.Truncate(time.Microsecond))
	}
	if out.ActorID != "bad\uFFFDutf8nul" || len(out.UserAgent) != maxUserAgent {
		t.Errorf("cleaning: actor %q, user agent %d bytes", out.ActorID, len(out.UserAgent))
	}
	var leaf []byte
	if err := l.db.Runtime.GetContext(ctx, &leaf, `SELECT hash FROM audit_hashes WHERE idx = 0`); err != nil {
		t.Fatal(err)
	}
	if h := out.Hash(); string(leaf) != string(h[:]) {
		t.Fatal("the stored leaf hash is not the hash of the stored entry")
	}
}

// Entries appended inside callers' transactions (LogTx) interleave with the group writer's
// into one linear, verifiable log; a rolled-back transaction leaves neither its entry nor a
// gap.
func TestLogTxJoinsTheLinearLog(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	var mu sync.Mutex
	committed := map[int64]string{}
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 5 {
				e := sampleEntry(g*5 + i)
				e.RequestID = fmt.Sprintf("g%d-%d", g, i)
				if g%2 == 0 {
					seq, err := l.w.Log(ctx, e)
					if err != nil {
						errs <- err
						return
					}
					mu.Lock()
					committed[seq] = e.RequestID
					mu.Unlock()
					continue
				}
				tx, err := l.db.Runtime.BeginTxx(ctx, nil)
				if err != nil {
					errs <- err
					return
				}
				seq, err := l.w.LogTx(ctx, tx, e)
				if err != nil {
					tx.Rollback()
					errs <- err
					return
				}
				if i == 2 { // the change this entry recorded failed: neither stays
					tx.Rollback()
					continue
				}
				if err := tx.Commit(); err != nil {
					errs <- err
					return
				}
				mu.Lock()
				committed[seq] = e.RequestID
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if want := 20*5 - 10; len(committed) != want {
		t.Fatalf("%d entries committed, want %d", len(committed), want)
	}
	for seq := range int64(len(committed)) {
		e, err := l.r.Entry(ctx, seq)
		if err != nil {
			t.Fatalf("entry %d: %v (a gap?)", seq, err)
		}
		if e.RequestID != committed[seq] {
			t.Fatalf("entry %d holds %q, its caller committed %q", seq, e.RequestID, committed[seq])
		}
	}
	l.checkpoint(t)
	if rep := l.verify(t, nil); !rep.OK || rep.Size != int64(len(committed)) {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

// LogAll commits every entry before it returns, each once.
func TestLogAllCommitsEveryEntry(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	var entries []Entry
	for i := range 50 {
		e := sampleEntry(i)
		e.RequestID = fmt.Sprintf("list-%d", i)
		entries = append(entries, e)
	}
	if err := l.w.LogAll(ctx, entries); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for seq := range int64(50) {
		e, err := l.r.Entry(ctx, seq)
		if err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		if seen[e.RequestID] {
			t.Fatalf("%s logged twice", e.RequestID)
		}
		seen[e.RequestID] = true
	}
	if _, err := l.r.Entry(ctx, 50); err == nil {
		t.Fatal("more entries than were logged")
	}
}

// The runtime role cannot date an entry otherwise than now, nor store hashes out of order or
// beyond the entries written, which would jam every later commit (security review, finding 9).
func TestLogRefusesForgedRows(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	if _, err := l.w.Log(ctx, Entry{Action: ActionLogin}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, q string }{
		{"back-dated entry", `INSERT INTO audit_entries (seq, recorded_at, action, outcome) VALUES (1, now() - interval '2 days', 'x', 0)`},
		{"future entry", `INSERT INTO audit_entries (seq, recorded_at, action, outcome) VALUES (1, now() + interval '2 days', 'x', 0)`},
		{"hash far ahead", `INSERT INTO audit_hashes (idx, hash) VALUES (1000, decode(repeat('00', 32), 'hex'))`},
		{"hash beyond the entries", `INSERT INTO audit_hashes (idx, hash) VALUES (1, decode(repeat('00', 32), 'hex'))`},
	} {
		if _, err := l.db.Runtime.ExecContext(ctx, c.q); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	// The writer goes on as if nothing happened.
	if _, err := l.w.Log(ctx, Entry{Action: ActionLogout}); err != nil {
		t.Fatalf("the writer after the attempts: %v", err)
	}
}
