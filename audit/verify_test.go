package audit

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lib/pq"
	"github.com/minio/minio-go/v7"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// A clean log verifies at every size, with checkpoints at irregular sizes, from the
// database alone and together with the sink's copies.
func TestVerifyCleanLog(t *testing.T) {
	bucket := testenv.NewBucket(t)
	sink := &MinIOSink{Client: bucket.Client, Bucket: bucket.Bucket, Prefix: "audit/"}
	l := newTestLog(t, sink)
	if rep := l.verify(t, sink); !rep.OK || rep.Size != 0 {
		t.Fatalf("empty log: %+v %v", rep, rep.Problem)
	}
	checkpoints := 0
	for i := range 67 {
		l.fill(t, i, i+1)
		if i%5 == 0 || i&(i+1) == 0 {
			l.checkpoint(t)
			checkpoints++
			rep := l.verify(t, sink)
			if !rep.OK || rep.Size != int64(i+1) || rep.Latest != int64(i+1) || rep.Checkpoints != 2*checkpoints {
				t.Fatalf("after entry %d: %+v %v", i, rep, rep.Problem)
			}
		}
	}
	if rep := l.verify(t, nil); !rep.OK || rep.Size != 67 {
		t.Fatalf("final: %+v %v", rep, rep.Problem)
	}
}

// Tampering by the database owner with the triggers disabled is found and named.
// The log has 40 entries and checkpoints at 16 and 32, copied to MinIO.
func TestVerifyDetectsTampering(t *testing.T) {
	entryCols := `recorded_at, actor_id, actor_role, on_behalf_of, action, object_type, object_id, case_id,
		client_ip, user_agent, request_id, outcome, purpose, reason`
	set := []string{}
	for _, c := range strings.Split(entryCols, ",") {
		c = strings.TrimSpace(c)
		set = append(set, c+" = b."+c)
	}
	swap := fmt.Sprintf(`UPDATE audit_entries a SET %s FROM audit_entries b
		WHERE (a.seq = 10 AND b.seq = 20) OR (a.seq = 20 AND b.seq = 10)`, strings.Join(set, ", "))

	cases := []struct {
		name     string
		tamper   func(t *testing.T, l *testLog)
		withSink bool
		kind     ProblemKind
		seq      int64
		size     int64
	}{
		{name: "edit a field", kind: KindModified, seq: 21,
			tamper: sqlTamper(`UPDATE audit_entries SET actor_id = 'someone-else' WHERE seq = 21`)},
		{name: "edit a time", kind: KindModified, seq: 3,
			tamper: sqlTamper(`UPDATE audit_entries SET recorded_at = recorded_at + interval '1 second' WHERE seq = 3`)},
		{name: "edit an outcome in the last, uncheckpointed part", kind: KindModified, seq: 38,
			tamper: sqlTamper(`UPDATE audit_entries SET outcome = 12 WHERE seq = 38`)},
		{name: "edit a stored tree node", kind: KindModified, seq: 11,
			tamper: sqlTamper(fmt.Sprintf(`UPDATE audit_hashes SET hash = sha256(hash) WHERE idx = %d`, tlog.StoredHashIndex(1, 5)))},
		{name: "delete a middle row", kind: KindGap, seq: 21,
			tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq = 21`)},
		{name: "delete the first row", kind: KindGap, seq: 0,
			tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq = 0`)},
		{name: "delete the tail below a checkpoint", kind: KindRollback, seq: 25, size: 32,
			tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq >= 25`)},
		{name: "delete the tail after the last checkpoint", kind: KindRollback, seq: 35,
			tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq >= 35`)},
		{name: "delete the tail with its hashes and checkpoints", withSink: true, kind: KindRollback, seq: 25, size: 32,
			tamper: sqlTamper(`DELETE FROM audit_entries WHERE seq >= 25`,
				fmt.Sprintf(`DELETE FROM audit_hashes WHERE idx >= %d`, tlog.StoredHashCount(25)),
				`DELETE FROM audit_checkpoints WHERE size > 25`)},
		{name: "truncate everything", withSink: true, kind: KindRollback, seq: 0, size: 32,
			tamper: sqlTamper(`TRUNCATE audit_entries, audit_hashes, audit_checkpoints`)},
		{name: "swap two rows", kind: KindModified, seq: 10, tamper: sqlTamper(swap)},
		{name: "rehash the whole table", kind: KindFork, seq: 16, size: 32,
			tamper: func(t *testing.T, l *testLog) {
				asOwner(t, l.db.Owner, `UPDATE audit_entries SET reason = '' WHERE seq = 22`)
				rehash(t, l)
			}},
		{name: "rehash and drop the database checkpoint", withSink: true, kind: KindFork, seq: 16, size: 32,
			tamper: func(t *testing.T, l *testLog) {
				asOwner(t, l.db.Owner, `UPDATE audit_entries SET reason = '' WHERE seq = 22`,
					`DELETE FROM audit_checkpoints WHERE size = 32`)
				rehash(t, l)
			}},
		{name: "drop a checkpoint only", withSink: true, kind: KindCheckpoint, seq: 16, size: 16,
			tamper: sqlTamper(`DELETE FROM audit_checkpoints WHERE size = 16`)},
		{name: "forged checkpoint", kind: KindCheckpoint, seq: 40, size: 40,
			tamper: func(t *testing.T, l *testLog) {
				other, _ := testKey(t)
				body := string(FormatCheckpoint(l.signer.Name(), 40, tlog.Hash{1}))
				signed, err := note.Sign(&note.Note{Text: body}, other)
				if err != nil {
					t.Fatal(err)
				}
				asOwner(t, l.db.Owner, fmt.Sprintf(`INSERT INTO audit_checkpoints VALUES (40, '\x%x', %s, now())`,
					make([]byte, 32), pq.QuoteLiteral(string(signed))))
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bucket := testenv.NewBucket(t)
			sink := &MinIOSink{Client: bucket.Client, Bucket: bucket.Bucket}
			l := newTestLog(t, sink)
			l.fill(t, 0, 16)
			l.checkpoint(t)
			l.fill(t, 16, 32)
			l.checkpoint(t)
			l.fill(t, 32, 40)
			if rep := l.verify(t, sink); !rep.OK {
				t.Fatalf("before tampering: %v", rep.Problem)
			}
			c.tamper(t, l)
			var src CheckpointSource
			if c.withSink {
				src = sink
			}
			rep := l.verify(t, src)
			p := rep.Problem
			if rep.OK || p == nil {
				t.Fatalf("tampering not detected: %+v", rep)
			}
			if p.Kind != c.kind || p.Seq != c.seq || p.Size != c.size {
				t.Fatalf("got %s at %d (size %d): %s; want %s at %d (size %d)", p.Kind, p.Seq, p.Size, p.Detail, c.kind, c.seq, c.size)
			}
			t.Logf("%s", p.Error())
		})
	}
}

func sqlTamper(stmts ...string) func(*testing.T, *testLog) {
	return func(t *testing.T, l *testLog) { asOwner(t, l.db.Owner, stmts...) }
}

// rehash recomputes audit_hashes from the rows as they now are, consistently, as an
// attacker covering an edit would.
func rehash(t *testing.T, l *testLog) {
	t.Helper()
	ctx := context.Background()
	rows, err := l.db.Owner.QueryContext(ctx, `SELECT `+entryColumns+` FROM audit_entries ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	mem := map[int64]tlog.Hash{}
	r := tlog.HashReaderFunc(func(idx []int64) ([]tlog.Hash, error) {
		out := make([]tlog.Hash, len(idx))
		for i, x := range idx {
			out[i] = mem[x]
		}
		return out, nil
	})
	for rows.Next() {
		e, err := scanEntry(rows)
		if err != nil {
			t.Fatal(err)
		}
		hs, err := tlog.StoredHashesForRecordHash(e.Seq, e.Hash(), r)
		if err != nil {
			t.Fatal(err)
		}
		for i, h := range hs {
			mem[tlog.StoredHashIndex(0, e.Seq)+int64(i)] = h
		}
	}
	stmts := []string{`DELETE FROM audit_hashes`}
	for idx, h := range mem {
		stmts = append(stmts, fmt.Sprintf(`INSERT INTO audit_hashes VALUES (%d, '\x%x')`, idx, h[:]))
	}
	asOwner(t, l.db.Owner, stmts...)
	if rep := l.verify(t, nil); rep.Problem != nil && rep.Problem.Kind == KindModified {
		t.Fatalf("the rehash is not consistent: %+v", rep.Problem)
	}
}

// The runtime role cannot change or remove audit rows, and even the owner cannot while the
// triggers are enabled; an entry out of sequence is refused.
func TestAuditTablesAreAppendOnly(t *testing.T) {
	l := newTestLog(t, nil)
	l.fill(t, 0, 3)
	l.checkpoint(t)
	ctx := context.Background()
	for _, table := range []string{"audit_entries", "audit_hashes", "audit_checkpoints"} {
		col := map[string]string{"audit_entries": "actor_id = 'x'", "audit_hashes": "hash = hash", "audit_checkpoints": "note = note"}[table]
		for _, stmt := range []string{"UPDATE " + table + " SET " + col, "DELETE FROM " + table, "TRUNCATE " + table} {
			if _, err := l.db.Runtime.ExecContext(ctx, stmt); err == nil {
				t.Errorf("runtime role: %s succeeded", stmt)
			}
			_, err := l.db.Owner.ExecContext(ctx, stmt)
			if err == nil || !strings.Contains(err.Error(), "append-only") {
				t.Errorf("owner with triggers: %s: %v, want the append-only trigger's refusal", stmt, err)
			}
		}
	}
	for _, seq := range []int{2, 4, 100} {
		_, err := l.db.Runtime.ExecContext(ctx, `INSERT INTO audit_entries (seq, recorded_at, action, outcome) VALUES ($1, now(), 'x', 0)`, seq)
		if err == nil {
			t.Errorf("runtime inserted entry %d out of sequence", seq)
		}
	}
	if rep := l.verify(t, nil); !rep.OK || rep.Size != 3 {
		t.Fatalf("verify: %+v %v", rep, rep.Problem)
	}
}

// fixedNotes is a CheckpointSource holding given notes.
type fixedNotes [][]byte

func (n fixedNotes) Checkpoints(context.Context) ([][]byte, error) { return n, nil }

// On a bucket with object locking (security review, finding 3) a copy written again under its
// key does not replace the first: Verify compares every version, so rewriting entries, their
// hashes, the database's checkpoint and the copy together, as whoever held the owner's and
// the service's credentials and the signing key could, is still found. Copying an unchanged
// checkpoint again adds no version.
func TestVerifyComparesEveryVersionOfACopy(t *testing.T) {
	bucket := testenv.NewBucket(t)
	sink := &MinIOSink{Client: bucket.Client, Bucket: testenv.NewLockedBucket(t, bucket), Prefix: "audit/"}
	l := newTestLog(t, sink)
	l.fill(t, 0, 16)
	first := l.checkpoint(t)
	l.checkpoint(t) // the same checkpoint, copied again
	versions := func() int {
		n := 0
		for o := range bucket.Client.ListObjects(context.Background(), sink.Bucket,
			minio.ListObjectsOptions{Prefix: sink.key(16), WithVersions: true}) {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
			n++
		}
		return n
	}
	if n := versions(); n != 1 {
		t.Fatalf("%d versions of an unchanged checkpoint's copy, want 1", n)
	}

	asOwner(t, l.db.Owner, `UPDATE audit_entries SET actor_id = 'someone-else' WHERE seq = 5`,
		`DELETE FROM audit_checkpoints WHERE size = 16`)
	rehash(t, l)
	forged := l.checkpoint(t) // signed over the rewritten tree, and put under the same key
	if bytes.Equal(forged.Note, first.Note) {
		t.Fatal("the rewrite changed no checkpoint")
	}
	if n := versions(); n != 2 {
		t.Fatalf("%d versions after the rewrite, want 2", n)
	}
	// The newest copy alone (all that was read before) agrees with the rewritten log.
	if rep := l.verify(t, fixedNotes{forged.Note}); !rep.OK {
		t.Fatalf("the rewritten log against its own checkpoint: %v", rep.Problem)
	}
	rep := l.verify(t, sink)
	if p := rep.Problem; rep.OK || p.Kind != KindFork || p.Seq != 0 || p.Size != 16 {
		t.Fatalf("rewrite with a rewritten copy: %+v %v", rep, rep.Problem)
	}
}
