package vault

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"sync"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// countingTransport counts the GET requests of objects a MinIO client sends (not those of a
// bucket's location, which the client asks once).
type countingTransport struct {
	mu   sync.Mutex
	gets int
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if _, location := r.URL.Query()["location"]; r.Method == http.MethodGet && !location {
		c.mu.Lock()
		c.gets++
		c.mu.Unlock()
	}
	return http.DefaultTransport.RoundTrip(r)
}

func (c *countingTransport) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.gets
	c.gets = 0
	return n
}

// documentsEnv is a bucket, a database and Documents over them, with a MinIO client that
// counts its GETs.
type documentsEnv struct {
	docs  *Documents
	gets  *countingTransport
	m     *testenv.MinIO
	db    *testenv.DB
	keks  []string
	plain map[string][]byte
}

func newDocumentsEnv(t *testing.T, keks []string, window int64) *documentsEnv {
	t.Helper()
	m := testenv.NewBucket(t)
	db := testenv.NewDB(t)
	gets := &countingTransport{}
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""), Transport: gets})
	if err != nil {
		t.Fatal(err)
	}
	keys := NewKeys(db.Runtime, loadKeyring(t, keks...))
	return &documentsEnv{docs: &Documents{Keys: keys, Client: c, Bucket: m.Bucket, Window: window}, gets: gets, m: m, db: db,
		keks: keks, plain: map[string][]byte{}}
}

// store creates docID's key with keys and stores size random bytes encrypted to it.
func (e *documentsEnv) store(t *testing.T, keys *Keys, docID string, size int) int64 {
	t.Helper()
	id, err := keys.Create(t.Context(), docID)
	if err != nil {
		t.Fatal(err)
	}
	plain := randomBytes(size)
	file := sealAll(t, id, plain)
	if _, err := e.m.Client.PutObject(t.Context(), e.m.Bucket, docID, bytes.NewReader(file), int64(len(file)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	e.plain[docID] = plain
	return int64(len(file))
}

// readAll opens docID and reads it whole through Stream, as a plain GET of its content does.
func (e *documentsEnv) readAll(ctx context.Context, docID string, encSize int64) ([]byte, error) {
	ra, size, err := e.docs.Open(ctx, docID, docID, encSize)
	if err != nil {
		return nil, err
	}
	rc, err := ra.(interface{ Stream() (io.ReadCloser, error) }).Stream()
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err == nil && int64(len(b)) != size {
		err = errors.New("short stream")
	}
	return b, err
}

// TestOpenGETs counts the requests of opening and reading documents: one GET in all for a
// document that fits the window, whether read whole or at random, and none when it is
// opened again while its key cache entry keeps it (one when the cache keeps no objects);
// one for the header, one for the final window and one for the stream of a larger one.
func TestOpenGETs(t *testing.T) {
	window := int64(4 * SealedChunkSize)
	e := newDocumentsEnv(t, newKeyring(t, 1), window)
	noObjects := newDocumentsEnv(t, newKeyring(t, 1), window)
	noObjects.docs.Keys.CacheBytes = -1
	ctx := t.Context()
	tests := []struct {
		name       string
		env        *documentsEnv
		size       int
		wholeGETs  int
		randomGETs int // opening again and reading at random; -1: not tried
	}{
		{"one byte", e, 1, 1, 0},
		{"16 KiB", e, 16 << 10, 1, 0},
		{"three chunks", e, 3*ChunkSize + 7, 1, 0},
		{"nearly a window", e, 3*ChunkSize + 60000, 1, 0},
		{"16 KiB, no objects kept", noObjects, 16 << 10, 1, 1},
		{"larger than a window", e, 9*ChunkSize + 3, 3, -1},
	}
	for _, tt := range tests {
		e := tt.env
		t.Run(tt.name, func(t *testing.T) {
			docID := "doc-" + tt.name
			enc := e.store(t, e.docs.Keys, docID, tt.size)
			e.gets.count()
			got, err := e.readAll(ctx, docID, enc)
			if err != nil || !bytes.Equal(got, e.plain[docID]) {
				t.Fatalf("read %d bytes: %v", len(got), err)
			}
			if n := e.gets.count(); n != tt.wholeGETs {
				t.Errorf("a whole read made %d GETs, want %d", n, tt.wholeGETs)
			}
			if tt.randomGETs < 0 {
				return
			}
			ra, size, err := e.docs.Open(ctx, docID, docID, enc)
			if err != nil {
				t.Fatal(err)
			}
			for _, off := range []int64{size - 1, 0, size / 2} {
				b := make([]byte, min(100, size-off))
				if n, err := ra.ReadAt(b, off); (err != nil && !(err == io.EOF && n == len(b))) || !bytes.Equal(b, e.plain[docID][off:off+int64(len(b))]) {
					t.Fatalf("ReadAt %d: %v", off, err)
				}
			}
			if n := e.gets.count(); n != tt.randomGETs {
				t.Errorf("random reads made %d GETs, want %d", n, tt.randomGETs)
			}
		})
	}
}

// TestOpenDetectsDamage: a small document held in memory is still authenticated, whole and
// at random, and a truncated one does not open.
func TestOpenDetectsDamage(t *testing.T) {
	e := newDocumentsEnv(t, newKeyring(t, 1), 0)
	ctx := t.Context()
	enc := e.store(t, e.docs.Keys, "doc", 3*ChunkSize)
	obj, err := e.m.Client.GetObject(ctx, e.m.Bucket, "doc", minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	file, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	file[len(file)-2*SealedChunkSize] ^= 1 // in the second chunk
	if _, err := e.m.Client.PutObject(ctx, e.m.Bucket, "doc", bytes.NewReader(file), int64(len(file)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.readAll(ctx, "doc", enc); err == nil {
		t.Fatal("a damaged document read whole without error")
	}
	ra, _, err := e.docs.Open(ctx, "doc", "doc", enc)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ra.ReadAt(make([]byte, 10), ChunkSize+5); err == nil {
		t.Fatal("a damaged chunk read at random without error")
	}
	if _, _, err := e.docs.Open(ctx, "doc", "doc", enc-1); err == nil {
		t.Fatal("a document opened with a wrong size")
	}
}

// TestOpenKeyCache: a key remembered by the cache is not served once shredded (by this
// process or another), and a key re-wrapped by rotation is unwrapped afresh.
func TestOpenKeyCache(t *testing.T) {
	keks := newKeyring(t, 2)
	e := newDocumentsEnv(t, keks[:1], 0)
	ctx := t.Context()
	encs := map[string]int64{}
	for _, doc := range []string{"shred-here", "shred-elsewhere", "rotated"} {
		encs[doc] = e.store(t, e.docs.Keys, doc, 16<<10)
		for range 2 { // the second open is served by the cache
			if got, err := e.readAll(ctx, doc, encs[doc]); err != nil || !bytes.Equal(got, e.plain[doc]) {
				t.Fatalf("%s: %v", doc, err)
			}
		}
	}
	if n := e.docs.Keys.keyCache().len(); n != 3 {
		t.Fatalf("the cache holds %d keys, want 3", n)
	}
	if held := e.docs.Keys.keyCache().held; held != encs["shred-here"]+encs["shred-elsewhere"]+encs["rotated"] {
		t.Fatalf("the cache keeps %d bytes of objects, want the three objects", held)
	}

	// Erased by this process: the entry goes, and the row is gone.
	if err := e.docs.Erase(ctx, "shred-here", "shred-here"); err != nil {
		t.Fatal(err)
	}
	// Shredded by another process: this one's entry stays, but the row is read on every open.
	other := NewKeys(e.db.Runtime, loadKeyring(t, keks[:1]...))
	if err := other.Shred(ctx, "shred-elsewhere"); err != nil {
		t.Fatal(err)
	}
	for _, doc := range []string{"shred-here", "shred-elsewhere"} {
		if _, _, err := e.docs.Open(ctx, doc, doc, encs[doc]); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s opened after its key was shredded: %v", doc, err)
		}
	}
	// That open also dropped what this process remembered of the document shredded elsewhere.
	if c := e.docs.Keys.keyCache(); c.len() != 1 || c.held != encs["rotated"] {
		t.Fatalf("after the shredded documents' opens the cache holds %d keys and %d bytes; want the third alone", c.len(), c.held)
	}

	// Re-wrapped to a KEK this process does not hold: its cached identity is not used.
	rotated := NewKeys(e.db.Runtime, loadKeyring(t, keks...))
	if n, err := rotated.Rewrap(ctx); err != nil || n != 1 {
		t.Fatalf("Rewrap = %d, %v", n, err)
	}
	if _, _, err := e.docs.Open(ctx, "rotated", "rotated", encs["rotated"]); err == nil {
		t.Fatal("a re-wrapped key was served from the cache")
	}
	// A process holding the new KEK opens it, twice (the second time from its cache).
	e.docs.Keys = rotated
	for range 2 {
		if got, err := e.readAll(ctx, "rotated", encs["rotated"]); err != nil || !bytes.Equal(got, e.plain["rotated"]) {
			t.Fatalf("rotated key: %v", err)
		}
	}
	// Rotated back to the first KEK by the process that holds both: still opens.
	back := NewKeys(e.db.Runtime, loadKeyring(t, keks[1], keks[0]))
	if n, err := back.Rewrap(ctx); err != nil || n != 1 {
		t.Fatalf("Rewrap back = %d, %v", n, err)
	}
	if got, err := e.readAll(ctx, "rotated", encs["rotated"]); err != nil || !bytes.Equal(got, e.plain["rotated"]) {
		t.Fatalf("key rotated back: %v", err)
	}
}
