package audit

import (
	"context"
	"os"
	"strconv"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// BenchmarkWriter measures entries per second through the group-commit writer with many
// concurrent callers, each waiting for its commit, as document opens do.
func BenchmarkWriter(b *testing.B) {
	l := newTestLog(b, nil)
	ctx := context.Background()
	b.SetParallelism(32)
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := l.w.Log(ctx, sampleEntry(i)); err != nil {
				b.Error(err)
				return
			}
			i++
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkVerify measures Verify over a log of SO_BENCH_AUDIT_ENTRIES entries (default one
// million), bulk-loaded with COPY, and reports seconds per million entries.
func BenchmarkVerify(b *testing.B) {
	n := int64(1_000_000)
	if s := os.Getenv("SO_BENCH_AUDIT_ENTRIES"); s != "" {
		v, err := strconv.ParseInt(s, 10, 64)
		if err != nil || v < 1 {
			b.Fatalf("SO_BENCH_AUDIT_ENTRIES=%q", s)
		}
		n = v
	}
	db := testenv.NewDB(b)
	signer, v := testKey(b)
	bulkLoad(b, db, n)
	cp := NewCheckpointer(db.Runtime, CheckpointConfig{Signer: signer, Logger: quiet()})
	if _, err := cp.Checkpoint(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		rep, err := Verify(context.Background(), db.Runtime, v, nil)
		if err != nil || !rep.OK || rep.Size != n {
			b.Fatalf("verify: %+v %v", rep, err)
		}
	}
	per := time.Since(start).Seconds() / float64(b.N)
	b.ReportMetric(per*1e6/float64(n), "s/1M-entries")
}

// bulkLoad writes n sample entries and their stored hashes with COPY, as the owner with the
// insert trigger off (the bench measures Verify, not loading).
func bulkLoad(b *testing.B, db *testenv.DB, n int64) {
	b.Helper()
	ctx := context.Background()
	tx, err := db.Owner.BeginTx(ctx, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_gap_free`); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_recorded_now`,
		`ALTER TABLE audit_hashes DISABLE TRIGGER audit_hashes_in_order`} { // sample entries are dated, hashes go first
		if _, err := tx.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	es, err := tx.PrepareContext(ctx, "COPY audit_entries (seq, recorded_at, actor_id, actor_role, on_behalf_of, action, object_type, object_id, case_id, client_ip, user_agent, request_id, outcome, purpose, reason) FROM STDIN")
	if err != nil {
		b.Fatal(err)
	}
	f := NewFrontier()
	var hashes [][2]any
	t0 := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for seq := range n {
		e := sampleEntry(int(seq))
		e.Seq, e.Time = seq, t0.Add(time.Duration(seq)*time.Millisecond)
		stored, err := tlog.StoredHashesForRecordHash(seq, e.Hash(), f)
		if err != nil {
			b.Fatal(err)
		}
		f.Add(seq, stored)
		for j, h := range stored {
			hashes = append(hashes, [2]any{tlog.StoredHashIndex(0, seq) + int64(j), h[:]})
		}
		if _, err := es.ExecContext(ctx, e.Seq, e.Time, e.ActorID, e.ActorRole, e.OnBehalfOf, e.Action, e.ObjectType, e.ObjectID,
			e.CaseID, e.ClientIP, e.UserAgent, e.RequestID, int(e.Outcome), e.Purpose, e.Reason); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := es.ExecContext(ctx); err != nil {
		b.Fatal(err)
	}
	hs, err := tx.PrepareContext(ctx, "COPY audit_hashes (idx, hash) FROM STDIN")
	if err != nil {
		b.Fatal(err)
	}
	for _, h := range hashes {
		if _, err := hs.ExecContext(ctx, h[0], h[1]); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := hs.ExecContext(ctx); err != nil {
		b.Fatal(err)
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_gap_free`); err != nil {
		b.Fatal(err)
	}
	for _, q := range []string{`ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_recorded_now`,
		`ALTER TABLE audit_hashes ENABLE TRIGGER audit_hashes_in_order`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			b.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		b.Fatal(err)
	}
	if _, err := db.Owner.ExecContext(ctx, `ANALYZE audit_entries; ANALYZE audit_hashes`); err != nil {
		b.Fatal(err)
	}
}
