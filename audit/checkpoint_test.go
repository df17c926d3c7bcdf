package audit

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

func TestCheckpointFormat(t *testing.T) {
	root := tlog.RecordHash([]byte("x"))
	body := FormatCheckpoint("hospital.example/audit", 42, root)
	want := "hospital.example/audit\n42\n" + "" // the root line is base64 of the hash
	if !strings.HasPrefix(string(body), want) || strings.Count(string(body), "\n") != 3 {
		t.Fatalf("body %q", body)
	}
	origin, size, got, err := ParseCheckpoint(body)
	if err != nil || origin != "hospital.example/audit" || size != 42 || got != root {
		t.Fatalf("parse: %q %d %v %v", origin, size, got, err)
	}
	// Extension lines are allowed.
	if _, _, _, err := ParseCheckpoint(append(body, "extension line\n"...)); err != nil {
		t.Fatalf("with extension: %v", err)
	}
	for _, bad := range []string{
		"", "o\n1\n", "o\n1\nAAAA\n", "\n1\n" + root.String() + "\n", "o\n01\n" + root.String() + "\n",
		"o\n-1\n" + root.String() + "\n", "o\n1\n" + root.String(), "o\n1\n" + root.String() + "\n\n",
		"o\nx\n" + root.String() + "\n",
	} {
		if _, _, _, err := ParseCheckpoint([]byte(bad)); !errors.Is(err, ErrMalformedCheckpoint) {
			t.Errorf("ParseCheckpoint(%q) = %v, want ErrMalformedCheckpoint", bad, err)
		}
	}
}

func TestCheckpointKeys(t *testing.T) {
	for range 20 { // base64 keys often contain '+', the field separator
		skey, vkey, err := GenerateCheckpointKey("hospital.example/audit")
		if err != nil {
			t.Fatal(err)
		}
		s, v, err := ParseCheckpointKey(skey + "\n")
		if err != nil {
			t.Fatal(err)
		}
		published, err := note.NewVerifier(vkey)
		if err != nil {
			t.Fatal(err)
		}
		if v.Name() != published.Name() || v.KeyHash() != published.KeyHash() {
			t.Fatal("derived verifier differs from the published key")
		}
		signed, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(s.Name(), 1, tlog.Hash{}))}, s)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := OpenCheckpoint(signed, published); err != nil {
			t.Fatalf("published key rejects a checkpoint: %v", err)
		}
	}
	if _, _, err := ParseCheckpointKey("PRIVATE+KEY+x+00000000+AAAA"); err == nil {
		t.Fatal("malformed key accepted")
	}
}

func TestOpenCheckpointRejects(t *testing.T) {
	s, v := testKey(t)
	other, _ := testKey(t)
	sign := func(signer note.Signer, text string) []byte {
		b, err := note.Sign(&note.Note{Text: text}, signer)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := sign(s, string(FormatCheckpoint(s.Name(), 5, tlog.Hash{7})))
	cp, err := OpenCheckpoint(good, v)
	if err != nil || cp.Size != 5 || cp.Root != (tlog.Hash{7}) || cp.Origin != s.Name() {
		t.Fatalf("open good: %+v %v", cp, err)
	}
	for name, signed := range map[string][]byte{
		"other key":      sign(other, string(FormatCheckpoint(s.Name(), 5, tlog.Hash{7}))),
		"other origin":   sign(s, string(FormatCheckpoint("elsewhere", 5, tlog.Hash{7}))),
		"malformed body": sign(s, "just text\n"),
		"edited":         []byte(strings.Replace(string(good), "\n5\n", "\n6\n", 1)),
	} {
		if _, err := OpenCheckpoint(signed, v); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// Every entry's inclusion proof checks against a signed checkpoint; a changed entry, the
// wrong position or another tree does not.
func TestInclusionProofs(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	l.fill(t, 0, 37)
	stored := l.checkpoint(t)
	cp, err := OpenCheckpoint(stored.Note, l.v)
	if err != nil {
		t.Fatal(err)
	}
	latest, err := l.r.LatestCheckpoint(ctx)
	if err != nil || latest.Size != 37 || latest.Root != cp.Root || latest.Origin != cp.Origin {
		t.Fatalf("latest checkpoint: %+v %v", latest, err)
	}
	for seq := range int64(37) {
		e, err := l.r.Entry(ctx, seq)
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.r.Prove(ctx, seq, 37)
		if err != nil {
			t.Fatalf("prove %d: %v", seq, err)
		}
		if err := CheckInclusion(p, cp, e); err != nil {
			t.Fatalf("entry %d: %v", seq, err)
		}
		changed := e
		changed.Reason = "edited"
		if CheckInclusion(p, cp, changed) == nil {
			t.Fatalf("changed entry %d passes", seq)
		}
		moved := e
		moved.Seq = (seq + 1) % 37
		if CheckInclusion(p, cp, moved) == nil {
			t.Fatalf("entry %d passes at position %d", seq, moved.Seq)
		}
	}
	// A proof in an earlier tree checks against that tree's checkpoint only.
	p, err := l.r.Prove(ctx, 3, 10)
	if err != nil {
		t.Fatal(err)
	}
	e, _ := l.r.Entry(ctx, 3)
	if CheckInclusion(p, cp, e) == nil {
		t.Fatal("proof in tree 10 passes against the checkpoint of 37")
	}
	for _, bad := range [][2]int64{{37, 37}, {0, 38}, {-1, 5}, {5, 5}} {
		if _, err := l.r.Prove(ctx, bad[0], bad[1]); !errors.Is(err, ErrNotFound) {
			t.Errorf("prove %v: %v, want ErrNotFound", bad, err)
		}
	}
	if _, err := l.r.Entry(ctx, 99); !errors.Is(err, ErrNotFound) {
		t.Errorf("entry 99: %v", err)
	}
}

// The checkpointer signs when Every entries have been committed (woken by the writer) and
// copies each checkpoint to MinIO under a zero-padded key.
func TestCheckpointerEveryNEntries(t *testing.T) {
	bucket := testenv.NewBucket(t)
	sink := &MinIOSink{Client: bucket.Client, Bucket: bucket.Bucket, Prefix: "audit/"}
	db := testenv.NewDB(t)
	s, v := testKey(t)
	clock := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	cp := NewCheckpointer(db.Runtime, CheckpointConfig{Signer: s, Sink: sink, Every: 10, Interval: time.Hour,
		Now: func() time.Time { return clock }, Logger: quiet()})
	w := NewWriter(db.Runtime, WriterConfig{Committed: cp.Committed, Logger: quiet()})
	defer w.Close()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := cp.Checkpoint(ctx); !errors.Is(err, ErrEmptyLog) {
		t.Fatalf("checkpoint of empty log: %v", err)
	}
	cp.last.Store(-1) // as new: Run's first pass below sets it to 0 again
	done := make(chan error, 1)
	go func() { done <- cp.Run(ctx) }()
	logEntries := func(from, to int) {
		for i := from; i < to; i++ {
			if _, err := w.Log(ctx, sampleEntry(i)); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Run's own first pass (the log still empty) must be over before entries come: a first
	// pass that saw some of them would make a checkpoint of those, and the next would wait for
	// Every entries more than that.
	for deadline := time.Now().Add(10 * time.Second); cp.last.Load() != 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	logEntries(0, 10)
	// Wait (bounded) for Run to have made a checkpoint of at least 10 entries and copied it
	// to the sink (the copy follows the database row, so both are awaited before Run stops).
	// The other 15 entries are logged only then, so that Run's checkpoint is not the one on
	// demand below, whatever the batches of the writer.
	r := NewReader(db.Runtime)
	copied := func(size int64) bool {
		_, err := bucket.Client.StatObject(ctx, bucket.Bucket, fmt.Sprintf("audit/checkpoints/%020d", size), minio.StatObjectOptions{})
		return err == nil
	}
	deadline := time.Now().Add(20 * time.Second)
	var latest Checkpoint
	for time.Now().Before(deadline) {
		var err error
		if latest, err = r.LatestCheckpoint(ctx); err == nil && latest.Size >= 10 && copied(latest.Size) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	logEntries(10, 25)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("run: %v", err)
	}
	if latest.Size < 10 || !latest.Time.Equal(clock) {
		t.Fatalf("latest checkpoint %d at %v", latest.Size, latest.Time)
	}
	obj, err := bucket.Client.StatObject(context.Background(), bucket.Bucket, fmt.Sprintf("audit/checkpoints/%020d", latest.Size), minio.StatObjectOptions{})
	if err != nil || obj.Size != int64(len(latest.Note)) {
		t.Fatalf("sink copy: %+v %v", obj, err)
	}
	// On demand: the whole log, once; asking again returns the same checkpoint.
	a, err := cp.Checkpoint(context.Background())
	if err != nil || a.Size != 25 {
		t.Fatalf("checkpoint: %+v %v", a, err)
	}
	b, err := cp.Checkpoint(context.Background())
	if err != nil || string(b.Note) != string(a.Note) {
		t.Fatalf("second checkpoint differs: %v", err)
	}
	notes, err := sink.Checkpoints(context.Background())
	if err != nil || len(notes) < 2 {
		t.Fatalf("sink holds %d checkpoints: %v", len(notes), err)
	}
	rep, err := Verify(context.Background(), db.Runtime, v, sink)
	if err != nil || !rep.OK || rep.Latest != 25 {
		t.Fatalf("verify: %+v %v", rep, err)
	}
}
