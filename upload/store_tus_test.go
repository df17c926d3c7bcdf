package upload

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/tus/tusd/v2/pkg/handler"
	"github.com/tus/tusd/v2/pkg/memorylocker"
	expslog "golang.org/x/exp/slog"

	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/vault"
)

// partPlain is the plaintext of one part with the default part size.
const partPlain = 80 * vault.ChunkSize

// storeEnv runs a tus server whose every request is served by a NEW Store and a new
// tusd handler: nothing but PostgreSQL, MinIO and the (shared) lock survives between
// requests, as between processes.
type storeEnv struct {
	t      *testing.T
	db     *testenv.DB
	bucket string
	client *minio.Client
	keys   *vault.Keys
	locker *memorylocker.MemoryLocker
	srv    *httptest.Server

	mu       sync.Mutex
	now      time.Time
	modify   func(*StoreConfig) // applied to the next requests' stores
	shared   *Store             // when set, the store of every request (as in production)
	finished map[string]FinishedUpload
}

func newStoreEnv(t *testing.T, m *testenv.MinIO) *storeEnv {
	t.Helper()
	if m == nil {
		m = testenv.NewBucket(t)
	}
	e := &storeEnv{
		t:        t,
		db:       testenv.NewDB(t),
		bucket:   m.Bucket,
		client:   m.Client,
		locker:   memorylocker.New(),
		now:      time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC),
		finished: map[string]FinishedUpload{},
	}
	kek := filepath.Join(t.TempDir(), "kek.txt")
	if _, err := vault.GenerateKEK(kek); err != nil {
		t.Fatal(err)
	}
	kr, err := vault.LoadKeyring([]string{kek})
	if err != nil {
		t.Fatal(err)
	}
	e.keys = vault.NewKeys(e.db.Runtime, kr)
	e.srv = httptest.NewServer(http.StripPrefix("/files", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if cut := r.Header.Get("X-Test-Cut"); cut != "" {
			// The connection "breaks" after cut bytes of the body.
			n, _ := strconv.ParseInt(cut, 10, 64)
			r.Body = io.NopCloser(io.MultiReader(io.LimitReader(r.Body, n), iotestErr{}))
		}
		h, err := handler.NewHandler(handler.Config{
			BasePath:        "/files/",
			StoreComposer:   e.composer(),
			DisableDownload: true,
			Logger:          expslog.New(expslog.NewTextHandler(io.Discard, nil)),
		})
		if err != nil {
			t.Error(err)
			return
		}
		h.ServeHTTP(w, r)
	})))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *storeEnv) store() *Store {
	e.mu.Lock()
	cfg := StoreConfig{
		DB:     e.db.Runtime,
		MinIO:  e.client,
		Bucket: e.bucket,
		Keys:   e.keys,
		Now:    e.clock,
		// Deferred-length uploads then get the parts of known-length ones: partPlain.
		MaxSize: 1 << 30,
		Registered: func(ctx context.Context, id string) (bool, error) {
			e.mu.Lock()
			defer e.mu.Unlock()
			_, ok := e.finished[id]
			return ok, nil
		},
		OnFinish: func(ctx context.Context, f FinishedUpload) error {
			head := make([]byte, min(f.Size, 16))
			if _, err := f.Content.ReadAt(head, 0); err != nil && err != io.EOF {
				return fmt.Errorf("OnFinish could not read the content: %w", err)
			}
			e.mu.Lock()
			defer e.mu.Unlock()
			e.finished[f.ID] = f
			return nil
		},
	}
	if e.modify != nil {
		e.modify(&cfg)
	}
	e.mu.Unlock()
	s, err := NewStore(cfg)
	if err != nil {
		panic(err)
	}
	return s
}

// setModify sets what the next requests' stores change in their configuration (nil: nothing).
func (e *storeEnv) setModify(f func(*StoreConfig)) {
	e.mu.Lock()
	e.modify = f
	e.mu.Unlock()
}

func (e *storeEnv) composer() *handler.StoreComposer {
	c := handler.NewStoreComposer()
	e.mu.Lock()
	shared := e.shared
	e.mu.Unlock()
	if shared != nil {
		shared.UseIn(c)
	} else {
		e.store().UseIn(c)
	}
	c.UseLocker(e.locker)
	return c
}

func (e *storeEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *storeEnv) request(t *testing.T, method, url string, body io.Reader, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	if b, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(b.Len())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", method, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

// create starts an upload (size < 0: deferred length) and returns its URL.
func (e *storeEnv) create(t *testing.T, size int64) string {
	t.Helper()
	hdr := map[string]string{"Upload-Metadata": "filename cmVwb3J0LnBkZg==,kind cGF0aG9sb2d5"}
	if size < 0 {
		hdr["Upload-Defer-Length"] = "1"
	} else {
		hdr["Upload-Length"] = strconv.FormatInt(size, 10)
	}
	resp := e.request(t, "POST", e.srv.URL+"/files/", nil, hdr)
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("POST: %s", resp.Status)
	}
	loc := resp.Header.Get("Location")
	if !strings.HasPrefix(loc, e.srv.URL+"/files/") {
		t.Fatalf("Location %q", loc)
	}
	return loc
}

func (e *storeEnv) patch(t *testing.T, url string, offset int64, body []byte, hdr map[string]string) *http.Response {
	t.Helper()
	h := map[string]string{"Content-Type": "application/offset+octet-stream", "Upload-Offset": strconv.FormatInt(offset, 10)}
	for k, v := range hdr {
		h[k] = v
	}
	return e.request(t, "PATCH", url, bytes.NewReader(body), h)
}

func (e *storeEnv) offset(t *testing.T, url string) int64 {
	t.Helper()
	resp := e.request(t, "HEAD", url, nil, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD: %s", resp.Status)
	}
	off, err := strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return off
}

// interruptedPatch sends body, of which the server receives only the first cut bytes
// before the connection breaks.
func (e *storeEnv) interruptedPatch(t *testing.T, url string, offset int64, body []byte, cut int64) {
	t.Helper()
	resp := e.patch(t, url, offset, body, map[string]string{"X-Test-Cut": strconv.FormatInt(cut, 10)})
	if resp.StatusCode == http.StatusNoContent {
		t.Fatalf("interrupted PATCH: %s", resp.Status)
	}
}

type iotestErr struct{}

func (iotestErr) Read([]byte) (int, error) { return 0, errors.New("connection lost") }

func idOf(url string) string { return url[strings.LastIndex(url, "/")+1:] }

// checkObject proves the finished object is the plaintext: with age.Decrypt, with
// vault.OpenReaderAt (age.DecryptReaderAt) and with the age command.
func (e *storeEnv) checkObject(t *testing.T, url string, plain []byte) FinishedUpload {
	t.Helper()
	ctx := t.Context()
	e.mu.Lock()
	f, ok := e.finished[idOf(url)]
	e.mu.Unlock()
	if !ok {
		t.Fatal("OnFinish was not called")
	}
	want := sha256.Sum256(plain)
	if f.SHA256 != want || f.Size != int64(len(plain)) {
		t.Fatalf("OnFinish: size %d, sha256 %x; want %d, %x", f.Size, f.SHA256, len(plain), want)
	}
	if f.MetaData["filename"] != "report.pdf" || f.MetaData["kind"] != "pathology" {
		t.Fatalf("metadata %v", f.MetaData)
	}
	id, err := e.keys.Identity(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	obj, err := e.client.GetObject(ctx, e.bucket, f.ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cipher, err := io.ReadAll(obj)
	if err != nil {
		t.Fatal(err)
	}
	if int64(len(cipher)) != f.EncryptedSize {
		t.Fatalf("object has %d bytes, OnFinish said %d", len(cipher), f.EncryptedSize)
	}
	r, err := age.Decrypt(bytes.NewReader(cipher), id)
	if err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.Copy(h, r); err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("age.Decrypt: %v or other bytes", err)
	}
	ra, n, err := vault.OpenReaderAt(ctx, vault.MinIOObject{Client: e.client, Bucket: e.bucket, Key: f.ObjectKey}, f.EncryptedSize, id, 0)
	if err != nil || n != int64(len(plain)) {
		t.Fatalf("OpenReaderAt: %d, %v", n, err)
	}
	h.Reset()
	if _, err := io.Copy(h, io.NewSectionReader(ra, 0, n)); err != nil || !bytes.Equal(h.Sum(nil), want[:]) {
		t.Fatalf("DecryptReaderAt: %v or other bytes", err)
	}

	idFile := filepath.Join(t.TempDir(), "document-identity.txt")
	s, err := e.keys.IdentityString(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(idFile, []byte(s+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.Binary(t, "age"), "-d", "-i", idFile)
	cmd.Stdin = bytes.NewReader(cipher)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || sha256.Sum256(out) != want {
		t.Fatalf("age -d: %v: %s", err, stderr.String())
	}

	// Nothing is left of the upload but its finished record: no tails.
	for o := range e.client.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Prefix: "uploads/" + f.ID + "/", Recursive: true}) {
		t.Fatalf("left behind: %s %v", o.Key, o.Err)
	}
	return f
}

func pseudoRandom(seed uint64, n int) []byte {
	rng := mrand.New(mrand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

// TestStoreResumableUploads uploads files of the sizes at the edges of chunks and parts,
// three times each, in PATCH requests that end at random offsets (biased to chunk and
// part edges), a fifth of them interrupted mid-body, each request served by a new Store.
// Every request must leave the offset exactly where its received bytes end, and the
// finished object must decrypt to the file.
func TestStoreResumableUploads(t *testing.T) {
	e := newStoreEnv(t, nil)
	sizes := []int{0, 1, 65535, 65536, 65537, partPlain - 1, partPlain, partPlain + 1, 2*partPlain + 65537}
	rng := mrand.New(mrand.NewPCG(2024, 11))
	for _, size := range sizes {
		for round := range 3 {
			t.Run(fmt.Sprintf("%d/%d", size, round), func(t *testing.T) {
				plain := pseudoRandom(uint64(size+round), size)
				url := e.create(t, int64(size))
				off, requests, interrupted := int64(0), 0, 0
				for ; off < int64(size) || requests == 0; requests++ {
					if requests > 60 {
						t.Fatal("upload does not progress")
					}
					var end int64
					switch rng.IntN(4) {
					case 0:
						end = off + rng.Int64N(int64(size)-off+1)
					case 1:
						end = (off/vault.ChunkSize+1)*vault.ChunkSize + rng.Int64N(3) - 1
					case 2:
						end = (off/partPlain+1)*partPlain + rng.Int64N(3) - 1
					default:
						end = off + 1 + rng.Int64N(max(1, int64(size)/3))
					}
					end = min(max(end, off), int64(size))
					want := end
					if rng.IntN(5) == 0 && end > off {
						want = off + rng.Int64N(end-off)
						e.interruptedPatch(t, url, off, plain[off:end], want-off)
						interrupted++
					} else if resp := e.patch(t, url, off, plain[off:end], nil); resp.StatusCode != http.StatusNoContent {
						t.Fatalf("PATCH %d-%d: %s", off, end, resp.Status)
					}
					if got := e.offset(t, url); got != want {
						t.Fatalf("PATCH %d-%d (received up to %d) left the offset at %d", off, end, want, got)
					}
					off = want
				}
				t.Logf("%d requests, %d interrupted", requests, interrupted)
				e.checkObject(t, url, plain)
				if got := e.offset(t, url); got != int64(size) {
					t.Fatalf("HEAD after finishing: offset %d", got)
				}
			})
		}
	}
}

// TestStoreDeferredLength uploads without a length until the last request, including a
// file ending exactly on a part boundary and a length declared with an empty body.
func TestStoreDeferredLength(t *testing.T) {
	e := newStoreEnv(t, nil)
	tests := []struct {
		name   string
		size   int
		splits []int // PATCH ends; the last one carries Upload-Length
		empty  bool  // declare the length in a final empty PATCH
	}{
		{"small", 1000, []int{10, 1000}, false},
		{"part boundary", partPlain, []int{partPlain / 2, partPlain}, false},
		{"part boundary, length later", partPlain, []int{partPlain}, true},
		{"two parts and a bit", 2*partPlain + 3, []int{partPlain + 1, 2 * partPlain, 2*partPlain + 3}, false},
		{"empty", 0, []int{0}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			plain := pseudoRandom(uint64(tt.size)+7, tt.size)
			url := e.create(t, -1)
			off := 0
			for i, end := range tt.splits {
				var hdr map[string]string
				if i == len(tt.splits)-1 && !tt.empty {
					hdr = map[string]string{"Upload-Length": strconv.Itoa(tt.size)}
				}
				if resp := e.patch(t, url, int64(off), plain[off:end], hdr); resp.StatusCode != http.StatusNoContent {
					t.Fatalf("PATCH %d-%d: %s", off, end, resp.Status)
				}
				off = end
			}
			if tt.empty {
				resp := e.patch(t, url, int64(off), nil, map[string]string{"Upload-Length": strconv.Itoa(tt.size)})
				if resp.StatusCode != http.StatusNoContent {
					t.Fatalf("final PATCH: %s", resp.Status)
				}
			}
			e.checkObject(t, url, plain)
		})
	}
}

// TestStoreStaleTail makes the tail write fail after a part was stored: the previous
// tail is then stale, the offset falls back to the stored parts, and the upload resumes.
func TestStoreStaleTail(t *testing.T) {
	e := newStoreEnv(t, nil)
	size := 2*partPlain + 10
	plain := pseudoRandom(99, size)
	url := e.create(t, int64(size))
	if resp := e.patch(t, url, 0, plain[:1000], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	// The tail is an age file of its own, to the document's recipient, with a file key
	// and nonce other than the object's.
	ctx := t.Context()
	var hn []byte
	if err := e.db.Owner.GetContext(ctx, &hn, `SELECT header_nonce FROM uploads WHERE id = $1`, idOf(url)); err != nil {
		t.Fatal(err)
	}
	id, err := e.keys.Identity(ctx, idOf(url))
	if err != nil {
		t.Fatal(err)
	}
	tails := 0
	for o := range e.client.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Prefix: "uploads/" + idOf(url) + "/", Recursive: true}) {
		tails++
		obj, _ := e.client.GetObject(ctx, e.bucket, o.Key, minio.GetObjectOptions{})
		tail, _ := io.ReadAll(obj)
		if bytes.HasPrefix(tail, hn[len(hn)-vault.NonceSize:]) || bytes.Contains(tail, hn[len(hn)-vault.NonceSize:]) {
			t.Fatal("the tail reuses the object's payload nonce")
		}
		r, err := age.Decrypt(bytes.NewReader(tail), id)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := io.ReadAll(r); err != nil || !bytes.Equal(got, plain[:1000]) {
			t.Fatalf("tail decrypts to %d other bytes, %v", len(got), err)
		}
	}
	if tails != 1 {
		t.Fatalf("%d tail objects, want 1", tails)
	}

	e.setModify(func(c *StoreConfig) { c.TailPrefix = strings.Repeat("x", 1100) }) // keys too long: tails fail
	if resp := e.patch(t, url, 1000, plain[1000:partPlain+5000], nil); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("PATCH with failing tails: %s", resp.Status)
	}
	e.setModify(nil)
	if off := e.offset(t, url); off != partPlain {
		t.Fatalf("offset %d, want the stored part %d", off, partPlain)
	}
	if resp := e.patch(t, url, partPlain, plain[partPlain:], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	e.checkObject(t, url, plain)

	// With a deferred length, the stored part's last chunk is sealed as not the last:
	// the file cannot end there, and declaring that length is refused.
	url = e.create(t, -1)
	e.setModify(func(c *StoreConfig) { c.TailPrefix = strings.Repeat("x", 1100) })
	if resp := e.patch(t, url, 0, plain[:partPlain+10], nil); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("PATCH with failing tails: %s", resp.Status)
	}
	e.setModify(nil)
	resp := e.patch(t, url, partPlain, nil, map[string]string{"Upload-Length": strconv.Itoa(partPlain)})
	if resp.StatusCode != http.StatusConflict {
		t.Fatalf("declaring a length that ends on a sealed chunk: %s", resp.Status)
	}
	if resp := e.patch(t, url, partPlain, plain[partPlain:size], map[string]string{"Upload-Length": strconv.Itoa(size)}); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	e.checkObject(t, url, plain)
}

func TestStoreNewUploadIDs(t *testing.T) {
	e := newStoreEnv(t, nil)
	s := e.store()
	ctx := t.Context()
	u, err := s.NewUpload(ctx, handler.FileInfo{ID: "doc_chosen-by-hook", Size: 10})
	if err != nil {
		t.Fatal(err)
	}
	info, err := u.GetInfo(ctx)
	if err != nil || info.ID != "doc_chosen-by-hook" || info.Offset != 0 || info.Size != 10 {
		t.Fatalf("GetInfo = %+v, %v", info, err)
	}
	if !strings.HasPrefix(info.Storage["Key"], "documents/") || strings.Contains(info.Storage["Key"], info.ID) {
		t.Fatalf("object key %q is not a fresh random key", info.Storage["Key"])
	}
	for _, bad := range []string{"../etc", "a/b", "with space", strings.Repeat("x", 129)} {
		if _, err := s.NewUpload(ctx, handler.FileInfo{ID: bad, Size: 1}); err == nil {
			t.Errorf("NewUpload accepted id %q", bad)
		}
	}
	if _, err := s.NewUpload(ctx, handler.FileInfo{ID: "doc_chosen-by-hook", Size: 1}); err == nil {
		t.Error("NewUpload accepted an id in use")
	}
	if _, err := s.NewUpload(ctx, handler.FileInfo{Size: 2 << 30}); !errors.Is(err, handler.ErrMaxSizeExceeded) {
		t.Errorf("NewUpload over MaxSize: %v", err)
	}
	var n int
	if err := e.db.Owner.GetContext(ctx, &n, `SELECT count(*) FROM document_keys`); err != nil || n != 1 {
		t.Fatalf("%d document keys after one good upload, %v", n, err)
	}
}

// TestStoreDetectsCorruption overwrites a stored part with a bit flipped before the
// last PATCH: verification fails, the upload is erased and its key shredded. It also
// checks truncated and bit-flipped copies of a good object fail to decrypt.
func TestStoreDetectsCorruption(t *testing.T) {
	e := newStoreEnv(t, nil)
	ctx := t.Context()
	size := partPlain + 100
	plain := pseudoRandom(5, size)
	url := e.create(t, int64(size))
	if resp := e.patch(t, url, 0, plain[:partPlain+10], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	var row storeRow
	if err := e.db.Owner.GetContext(ctx, &row, `SELECT * FROM uploads WHERE id = $1`, idOf(url)); err != nil {
		t.Fatal(err)
	}
	core := minio.Core{Client: e.client}
	res, err := core.ListObjectParts(ctx, e.bucket, row.ObjectKey, row.MultipartID, 0, 10)
	if err != nil || len(res.ObjectParts) != 1 {
		t.Fatalf("parts: %v, %v", res.ObjectParts, err)
	}
	// Rebuild part 1 with one bit flipped in its third chunk.
	id, _ := e.keys.Identity(ctx, row.ID)
	s, _ := vault.NewSealer(row.HeaderNonce, id)
	part := bytes.Clone(row.HeaderNonce)
	for i := range 80 {
		part, _ = s.Seal(part, uint64(i), plain[i*vault.ChunkSize:(i+1)*vault.ChunkSize], false)
	}
	part[len(row.HeaderNonce)+2*vault.SealedChunkSize+7] ^= 0x10
	if _, err := core.PutObjectPart(ctx, e.bucket, row.ObjectKey, row.MultipartID, 1, bytes.NewReader(part), int64(len(part)), minio.PutObjectPartOptions{}); err != nil {
		t.Fatal(err)
	}
	if resp := e.patch(t, url, partPlain+10, plain[partPlain+10:], nil); resp.StatusCode != http.StatusInternalServerError {
		t.Fatalf("final PATCH over a corrupt part: %s", resp.Status)
	}
	if resp := e.request(t, "HEAD", url, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after a failed verification: %s", resp.Status)
	}
	if _, err := e.keys.Identity(ctx, row.ID); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("key of the erased upload: %v", err)
	}
	if _, err := e.client.StatObject(ctx, e.bucket, row.ObjectKey, minio.StatObjectOptions{}); err == nil {
		t.Fatal("the corrupt object is still stored")
	}

	// A good object, truncated or with one bit flipped, fails to decrypt.
	url = e.create(t, int64(size))
	if resp := e.patch(t, url, 0, plain, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	f := e.checkObject(t, url, plain)
	id, _ = e.keys.Identity(ctx, f.ID)
	obj, _ := e.client.GetObject(ctx, e.bucket, f.ObjectKey, minio.GetObjectOptions{})
	good, _ := io.ReadAll(obj)
	for name, bad := range map[string][]byte{
		"truncated":   good[:len(good)-1],
		"bit flipped": append(append(bytes.Clone(good[:5000]), good[5000]^1), good[5001:]...),
	} {
		key := "tampered/" + strings.ReplaceAll(name, " ", "-")
		if _, err := e.client.PutObject(ctx, e.bucket, key, bytes.NewReader(bad), int64(len(bad)), minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		src := vault.MinIOObject{Client: e.client, Bucket: e.bucket, Key: key}
		ra, n, err := vault.OpenReaderAt(ctx, src, int64(len(bad)), id, 0)
		if err == nil {
			_, err = io.Copy(io.Discard, io.NewSectionReader(ra, 0, n))
		}
		if err == nil {
			t.Fatalf("%s: DecryptReaderAt read it all", name)
		}
		r, err := age.Decrypt(bytes.NewReader(bad), id)
		if err == nil {
			_, err = io.Copy(io.Discard, r)
		}
		if err == nil {
			t.Fatalf("%s: age.Decrypt read it all", name)
		}
	}
}

// TestStoreTerminateAndExpire checks termination and expiry erase an unfinished upload
// (parts, tail, key, record) and that expiry of a finished one keeps the document.
func TestStoreTerminateAndExpire(t *testing.T) {
	e := newStoreEnv(t, nil)
	ctx := t.Context()
	plain := pseudoRandom(1, partPlain+500)
	leftovers := func() (n int) {
		for range e.client.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Recursive: true}) {
			n++
		}
		for range e.client.ListIncompleteUploads(ctx, e.bucket, "", true) {
			n++
		}
		return n
	}
	started := func() string {
		url := e.create(t, int64(len(plain)))
		if resp := e.patch(t, url, 0, plain[:partPlain+100], nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH: %s", resp.Status)
		}
		return url
	}

	url := started()
	if resp := e.request(t, "DELETE", url, nil, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %s", resp.Status)
	}
	if resp := e.request(t, "HEAD", url, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD after DELETE: %s", resp.Status)
	}
	if _, err := e.keys.Identity(ctx, idOf(url)); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("key after DELETE: %v", err)
	}
	if n := leftovers(); n != 0 {
		t.Fatalf("%d objects or multipart uploads left after DELETE", n)
	}

	expiring := started()
	done := e.create(t, int64(len(plain)))
	if resp := e.patch(t, done, 0, plain, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	f := e.checkObject(t, done, plain)

	e.mu.Lock()
	e.now = e.now.Add(12 * time.Hour)
	e.mu.Unlock()
	if resp := e.request(t, "HEAD", expiring, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD of an expired upload: %s", resp.Status)
	}
	e.setModify(func(c *StoreConfig) { c.ExpireLocker = e.locker })
	n, err := e.store().Expire(ctx, e.clock())
	if err != nil || n != 2 {
		t.Fatalf("Expire = %d, %v; want 2", n, err)
	}
	if _, err := e.keys.Identity(ctx, idOf(expiring)); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("key of the expired upload: %v", err)
	}
	if _, err := e.keys.Identity(ctx, f.ID); err != nil {
		t.Fatalf("key of the finished document: %v", err)
	}
	if n := leftovers(); n != 1 {
		t.Fatalf("%d objects left after Expire, want the finished document only", n)
	}
	var rows int
	if err := e.db.Owner.GetContext(ctx, &rows, `SELECT count(*) FROM uploads`); err != nil || rows != 0 {
		t.Fatalf("%d upload rows left, %v", rows, err)
	}
}

// TestStoreNeverStoresPlaintext uploads a file full of a marker, in pieces that leave
// tails and parts behind, to a private MinIO, and searches its data directory for the
// marker after every request: it must never be found. A plaintext object put there at
// the end proves the search would find it.
func TestStoreNeverStoresPlaintext(t *testing.T) {
	m := testenv.StartMinIO(t)
	e := newStoreEnv(t, &m.MinIO)
	marker := []byte("PATIENT-MARKER-" + strconv.FormatUint(mrand.Uint64(), 36))
	plain := bytes.Repeat(marker, (2*partPlain+12345)/len(marker))
	dataDir := minioDataDir(t, m)
	grep := func() (hits int) {
		t.Helper()
		err := filepath.WalkDir(dataDir, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if bytes.Contains(b, marker) {
				hits++
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return hits
	}
	url := e.create(t, int64(len(plain)))
	off := 0
	for _, end := range []int{1000, partPlain - 5, partPlain + 70000, 2*partPlain + 1, len(plain)} {
		if resp := e.patch(t, url, int64(off), plain[off:end], nil); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH: %s", resp.Status)
		}
		off = end
		if n := grep(); n != 0 {
			t.Fatalf("after PATCH to %d: marker found in %d files", end, n)
		}
	}
	e.checkObject(t, url, plain)
	if n := grep(); n != 0 {
		t.Fatalf("after finishing: marker found in %d files", n)
	}

	ctx := t.Context()
	if _, err := e.client.PutObject(ctx, e.bucket, "control", bytes.NewReader(plain[:70000]), 70000, minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	if n := grep(); n == 0 {
		t.Fatal("the search does not find a plaintext object: it proves nothing")
	}
}

// minioDataDir finds the data directory of a private MinIO: the directory holding
// its .minio.sys.
func minioDataDir(t *testing.T, m *testenv.MinIOProcess) string {
	t.Helper()
	var dir string
	root := filepath.Dir(t.TempDir()) // the test's temporary root, where StartMinIO keeps its data
	filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && d.Name() == ".minio.sys" {
			dir = filepath.Dir(path)
			return filepath.SkipAll
		}
		return nil
	})
	if dir == "" {
		t.Fatal("no MinIO data directory found")
	}
	if _, err := os.Stat(filepath.Join(dir, m.Bucket)); err != nil {
		t.Fatalf("MinIO data directory %s has no bucket %s", dir, m.Bucket)
	}
	return dir
}

// TestStoreOnFinishRefusal checks an upload refused by OnFinish (say, by content
// sniffing) is erased and the uploader gets the hook's answer.
func TestStoreOnFinishRefusal(t *testing.T) {
	e := newStoreEnv(t, nil)
	ctx := t.Context()
	e.mu.Lock()
	e.modify = func(c *StoreConfig) {
		c.OnFinish = func(ctx context.Context, f FinishedUpload) error {
			return handler.NewError("ERR_FILE_TYPE", "not an accepted file type", http.StatusUnprocessableEntity)
		}
	}
	e.mu.Unlock()
	plain := pseudoRandom(3, 70000)
	url := e.create(t, int64(len(plain)))
	if resp := e.patch(t, url, 0, plain, nil); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("PATCH refused on finish: %s", resp.Status)
	}
	if resp := e.request(t, "HEAD", url, nil, nil); resp.StatusCode != http.StatusNotFound {
		t.Fatalf("HEAD of a refused upload: %s", resp.Status)
	}
	if _, err := e.keys.Identity(ctx, idOf(url)); !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("key of a refused upload: %v", err)
	}
	for o := range e.client.ListObjects(ctx, e.bucket, minio.ListObjectsOptions{Recursive: true}) {
		t.Fatalf("object left: %s %v", o.Key, o.Err)
	}
}

// A deferred-length upload cannot outgrow the limit the pre-create hook recorded for it
// (metadata max_size): neither by sending more bytes nor by declaring a larger length.
func TestStoreDeferredLengthLimit(t *testing.T) {
	e := newStoreEnv(t, nil)
	const limit = 100_000
	create := func(t *testing.T) string {
		resp := e.request(t, "POST", e.srv.URL+"/files/", nil, map[string]string{
			"Upload-Defer-Length": "1",
			"Upload-Metadata":     "filename cmVwb3J0LnBkZg==,max_size " + base64.StdEncoding.EncodeToString([]byte(strconv.Itoa(limit))),
		})
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("POST: %s", resp.Status)
		}
		return resp.Header.Get("Location")
	}
	t.Run("more bytes than the limit", func(t *testing.T) {
		url := create(t)
		resp := e.patch(t, url, 0, pseudoRandom(3, limit+50_000), nil)
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("PATCH beyond the limit: %s, want 413", resp.Status)
		}
		if off := e.offset(t, url); off > limit {
			t.Fatalf("offset %d passed the limit %d", off, limit)
		}
	})
	t.Run("declared length over the limit", func(t *testing.T) {
		url := create(t)
		resp := e.patch(t, url, 0, pseudoRandom(4, 10), map[string]string{"Upload-Length": strconv.Itoa(limit + 1)})
		if resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Fatalf("declaring %d: %s, want 413", limit+1, resp.Status)
		}
	})
	t.Run("up to the limit", func(t *testing.T) {
		url := create(t)
		plain := pseudoRandom(5, limit)
		if resp := e.patch(t, url, 0, plain, map[string]string{"Upload-Length": strconv.Itoa(limit)}); resp.StatusCode != http.StatusNoContent {
			t.Fatalf("PATCH to the limit: %s", resp.Status)
		}
		if off := e.offset(t, url); off != limit {
			t.Fatalf("offset %d, want %d", off, limit)
		}
	})
}

// The plaintext SHA-256 is computed as parts are sealed; when the recorded digest does not
// cover the stored parts (a crash between storing a part and recording it, or a MinIO whose
// ETags are not MD5s), finishing reads the object back instead, and the digest is still right.
func TestStoreDigestFallback(t *testing.T) {
	e := newStoreEnv(t, nil)
	size := 2*partPlain + 999
	for _, tc := range []struct{ name, tamper string }{
		{"recorded", ""},
		{"digest behind the parts", `UPDATE uploads SET hash_parts = hash_parts - 1 WHERE id = $1`},
		{"digest lost", `UPDATE uploads SET hash_state = NULL, hash_parts = NULL, part_etags = '{}' WHERE id = $1`},
		{"etag differs", `UPDATE uploads SET part_etags[1] = 'not-the-md5' WHERE id = $1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			plain := pseudoRandom(uint64(len(tc.name)), size)
			url := e.create(t, int64(size))
			if resp := e.patch(t, url, 0, plain[:partPlain+10], nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("PATCH: %s", resp.Status)
			}
			var parts int
			e.db.Owner.Get(&parts, `SELECT coalesce(hash_parts, -99) FROM uploads WHERE id = $1`, idOf(url))
			if parts != 1 {
				t.Fatalf("after one stored part the digest covers %d parts", parts)
			}
			if tc.tamper != "" {
				if _, err := e.db.Owner.Exec(tc.tamper, idOf(url)); err != nil {
					t.Fatal(err)
				}
			}
			if resp := e.patch(t, url, partPlain+10, plain[partPlain+10:], nil); resp.StatusCode != http.StatusNoContent {
				t.Fatalf("final PATCH: %s", resp.Status)
			}
			e.checkObject(t, url, plain)
		})
	}
}

// failPart is an http.RoundTripper that fails every PUT of one part number.
type failPart struct {
	next http.RoundTripper
	part string
}

func (f failPart) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method == http.MethodPut && r.URL.Query().Get("partNumber") == f.part {
		return nil, errors.New("injected: connection reset while storing a part")
	}
	return f.next.RoundTrip(r)
}

// A part that fails to store while the next ones are read ends the PATCH with an error and
// the offset at the end of the parts before it; a later part already stored stays outside the
// upload. Resuming with the same bytes stores the same ciphertext and completes the object;
// resuming with other bytes, in the failed part (its ciphertext may have left the service) or
// any later one, would seal those chunk counters with other data, so it is refused (409) and
// the upload erased.
func TestStorePartFailsWhileNextIsRead(t *testing.T) {
	m := testenv.NewBucket(t)
	e := newStoreEnv(t, m)
	failing, err := minio.New(m.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Transport:  failPart{next: http.DefaultTransport, part: "2"},
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	size := 4*partPlain + 123
	plain := pseudoRandom(7, size)
	changed := func(at int) []byte {
		b := bytes.Clone(plain)
		b[at] ^= 1
		return b
	}
	// Without its recorded running digest, a resumed upload tells resent parts apart by their tags.
	const lost = `UPDATE uploads SET hash_state = NULL, hash_parts = NULL, part_etags = '{}' WHERE id = $1`
	for _, tt := range []struct {
		name   string
		resend []byte
		want   int
		tamper string
	}{
		{"same bytes", plain, http.StatusNoContent, ""},
		{"other bytes in the failed part", changed(partPlain + 5), http.StatusConflict, ""},
		{"other bytes in a part stored after it", changed(2*partPlain + 5), http.StatusConflict, ""},
		{"other bytes in the last part in flight", changed(storeInFlight*partPlain + 5), http.StatusConflict, ""},
		{"other bytes in a part never sealed", changed(size - 1), http.StatusNoContent, ""},
		{"same bytes, running digest lost", plain, http.StatusNoContent, lost},
		{"other bytes in the failed part, running digest lost", changed(partPlain + 5), http.StatusConflict, lost},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := e.create(t, int64(size))
			e.setModify(func(c *StoreConfig) { c.MinIO = failing })
			if resp := e.patch(t, url, 0, plain, nil); resp.StatusCode != http.StatusInternalServerError {
				t.Fatalf("PATCH while part 2 fails: %s", resp.Status)
			}
			e.setModify(nil)
			if off := e.offset(t, url); off != partPlain {
				t.Fatalf("offset %d, want the one part stored in order, %d", off, partPlain)
			}
			var uploadID, key string
			if err := e.db.Owner.QueryRow(`SELECT multipart_id, object_key FROM uploads WHERE id = $1`, idOf(url)).Scan(&uploadID, &key); err != nil {
				t.Fatal(err)
			}
			parts, err := minio.Core{Client: e.client}.ListObjectParts(t.Context(), e.bucket, key, uploadID, 0, 100)
			if err != nil {
				t.Fatal(err)
			}
			var nums []int
			for _, p := range parts.ObjectParts {
				nums = append(nums, p.PartNumber)
			}
			want := []int{1} // and the full parts after part 2 that were in flight with it
			for n := 3; n <= 1+storeInFlight && n <= 4; n++ {
				want = append(want, n)
			}
			if fmt.Sprint(nums) != fmt.Sprint(want) {
				t.Fatalf("parts stored %v, want %v", nums, want)
			}
			if tt.tamper != "" {
				if _, err := e.db.Owner.Exec(tt.tamper, idOf(url)); err != nil {
					t.Fatal(err)
				}
			}
			resp := e.patch(t, url, partPlain, tt.resend[partPlain:], nil)
			if resp.StatusCode != tt.want {
				t.Fatalf("resumed PATCH: %s, want %d", resp.Status, tt.want)
			}
			if tt.want == http.StatusNoContent {
				e.checkObject(t, url, tt.resend)
				return
			}
			if resp := e.request(t, "HEAD", url, nil, nil); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("HEAD after a refused resend: %s, want 404", resp.Status)
			}
			for o := range e.client.ListObjects(t.Context(), e.bucket, minio.ListObjectsOptions{Prefix: key}) {
				t.Fatalf("object %s left after the upload was erased (%v)", o.Key, o.Err)
			}
		})
	}
}

// An upload declared at 256 MiB or more is stored in 8 MiB parts; a PATCH that ends
// inside a part leaves the rest as a tail, counted in the offset.
func TestStoreLargeUploadParts(t *testing.T) {
	e := newStoreEnv(t, nil)
	url := e.create(t, storeLargeUpload)
	plain := pseudoRandom(8, storeLargeChunks*vault.ChunkSize+1000)
	if resp := e.patch(t, url, 0, plain, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	if off := e.offset(t, url); off != int64(len(plain)) {
		t.Fatalf("offset %d, want %d", off, len(plain))
	}
	var cpp, tail int
	if err := e.db.Owner.QueryRow(`SELECT chunks_per_part, tail_size FROM uploads WHERE id = $1`, idOf(url)).Scan(&cpp, &tail); err != nil {
		t.Fatal(err)
	}
	if cpp != storeLargeChunks || tail != 1000 {
		t.Fatalf("chunks per part %d, tail %d bytes; want %d and 1000", cpp, tail, storeLargeChunks)
	}
}

// A finish that fails for a reason that may pass (OnFinish unavailable: the database or the
// audit log) keeps the upload with all its bytes; the next HEAD finishes it, with the right
// digest, whether or not the recorded digest can be used, and only then shows the whole
// length. A finish OnFinish refuses (4xx) erases the upload.
func TestStoreFinishRetried(t *testing.T) {
	e := newStoreEnv(t, nil)
	size := 2*partPlain + 777
	plain := pseudoRandom(11, size)
	unavailable := handler.NewError("unavailable", "temporarily unavailable; try again", http.StatusServiceUnavailable)
	refused := handler.NewError("file_type_not_allowed", "not allowed", http.StatusUnsupportedMediaType)
	for _, tt := range []struct {
		name     string
		err      error
		tamper   string // SQL run before the retry
		wantHEAD int
	}{
		{"unavailable", unavailable, "", http.StatusOK},
		{"plain error", errors.New("register document: connection refused"), "", http.StatusOK},
		{"recorded digest unusable", unavailable, `UPDATE uploads SET part_etags[1] = 'not-the-etag' WHERE id = $1`, http.StatusOK},
		{"refused", refused, "", http.StatusNotFound},
	} {
		t.Run(tt.name, func(t *testing.T) {
			url := e.create(t, int64(size))
			e.mu.Lock()
			e.modify = func(c *StoreConfig) {
				c.OnFinish = func(context.Context, FinishedUpload) error { return tt.err }
			}
			e.mu.Unlock()
			resp := e.patch(t, url, 0, plain, nil)
			e.setModify(nil)
			if resp.StatusCode < 400 {
				t.Fatalf("PATCH with a failing finish: %s", resp.Status)
			}
			if tt.tamper != "" {
				if _, err := e.db.Owner.Exec(tt.tamper, idOf(url)); err != nil {
					t.Fatal(err)
				}
			}
			head := e.request(t, "HEAD", url, nil, nil)
			if head.StatusCode != tt.wantHEAD {
				t.Fatalf("HEAD after the failed finish: %s, want %d", head.Status, tt.wantHEAD)
			}
			if tt.wantHEAD != http.StatusOK {
				return
			}
			if off := head.Header.Get("Upload-Offset"); off != strconv.Itoa(size) {
				t.Fatalf("offset %s after finishing, want %d", off, size)
			}
			var finished bool
			if err := e.db.Owner.QueryRow(`SELECT finished_at IS NOT NULL FROM uploads WHERE id = $1`, idOf(url)).Scan(&finished); err != nil || !finished {
				t.Fatalf("upload not recorded as finished (%v)", err)
			}
			e.checkObject(t, url, plain)
		})
	}
}

// PATCH requests share a budget of part-buffer memory: a request that finds no room in time
// answers 503 (tus clients retry) and loses nothing; once room is back, it goes through.
func TestStoreBufferBudget(t *testing.T) {
	e := newStoreEnv(t, nil)
	one := int64(storeInFlight+1) * (int64(80)*vault.SealedChunkSize + 2048) // a request's reservation, about
	e.setModify(func(c *StoreConfig) { c.BufferMemory, c.BufferWait = one, 300*time.Millisecond })
	s := e.store()
	e.mu.Lock()
	e.shared, e.modify = s, nil
	e.mu.Unlock()
	plain := pseudoRandom(21, partPlain+100)
	first, second := e.create(t, int64(len(plain))), e.create(t, int64(len(plain)))

	// The first PATCH holds its reservation while its body trickles in.
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	done := make(chan *http.Response, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, first, pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			close(done)
			return
		}
		resp.Body.Close()
		done <- resp
	}()
	if _, err := pw.Write(plain[:1000]); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(10 * time.Second); s.budget.TryAcquire(one); { // until the first holds it
		s.budget.Release(one)
		if time.Now().After(deadline) {
			t.Fatal("the first PATCH did not reserve its buffers")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if resp := e.patch(t, second, 0, plain, nil); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("PATCH without buffer memory: %s, want 503", resp.Status)
	}
	if off := e.offset(t, second); off != 0 {
		t.Fatalf("offset %d after a refused PATCH", off)
	}
	pw.Write(plain[1000:])
	pw.Close()
	if resp := <-done; resp == nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("first PATCH: %v", resp)
	}
	if resp := e.patch(t, second, 0, plain, nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH once memory is back: %s", resp.Status)
	}
	e.checkObject(t, second, plain)
}

// cutGet breaks the body of whole-object GETs of documents after 1 MiB, as a reset would.
type cutGet struct{ next http.RoundTripper }

type resetBody struct {
	r io.ReadCloser
	n int64
}

func (b *resetBody) Read(p []byte) (int, error) {
	if b.n <= 0 {
		return 0, &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}
	}
	if int64(len(p)) > b.n {
		p = p[:b.n]
	}
	k, err := b.r.Read(p)
	b.n -= int64(k)
	return k, err
}

func (b *resetBody) Close() error { return b.r.Close() }

func (c cutGet) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(r)
	if err == nil && r.Method == http.MethodGet && r.Header.Get("Range") == "" && strings.Contains(r.URL.Path, "documents/") {
		resp.Body = &resetBody{r: resp.Body, n: 1 << 20}
	}
	return resp, err
}

// A connection reset while finishing reads the whole object back (its digest not known) is a
// failure to read, not a finding about the object: the upload is kept, and the next HEAD
// finishes it.
func TestStoreVerifyReadResetKeepsUpload(t *testing.T) {
	m := testenv.NewBucket(t)
	e := newStoreEnv(t, m)
	cutting, err := minio.New(m.Endpoint, &minio.Options{
		Creds:      credentials.NewStaticV4(m.AccessKey, m.SecretKey, ""),
		Transport:  cutGet{next: http.DefaultTransport},
		MaxRetries: 1,
	})
	if err != nil {
		t.Fatal(err)
	}
	size := 2*partPlain + 999
	plain := pseudoRandom(3, size)
	url := e.create(t, int64(size))
	if resp := e.patch(t, url, 0, plain[:partPlain+10], nil); resp.StatusCode != http.StatusNoContent {
		t.Fatalf("PATCH: %s", resp.Status)
	}
	if _, err := e.db.Owner.Exec(`UPDATE uploads SET hash_parts = hash_parts - 1 WHERE id = $1`, idOf(url)); err != nil {
		t.Fatal(err) // the running digest is not known any more: finishing reads the object back
	}
	e.setModify(func(c *StoreConfig) { c.MinIO = cutting })
	if resp := e.patch(t, url, partPlain+10, plain[partPlain+10:], nil); resp.StatusCode < 500 {
		t.Fatalf("final PATCH with the read back reset: %s, want a 5xx", resp.Status)
	}
	e.setModify(nil)
	head := e.request(t, "HEAD", url, nil, nil)
	if head.StatusCode != http.StatusOK || head.Header.Get("Upload-Offset") != strconv.Itoa(size) {
		t.Fatalf("HEAD after a reset read: %s, offset %s", head.Status, head.Header.Get("Upload-Offset"))
	}
	e.checkObject(t, url, plain)
}

// An upload whose document was registered, but whose finish could not be recorded, is never
// erased: expiring it leaves the document's key and object alone (only the upload's record goes,
// as for a finished upload).
func TestStoreExpireKeepsRegistered(t *testing.T) {
	e := newStoreEnv(t, nil)
	size := partPlain + 5
	plain := pseudoRandom(5, size)
	url := e.create(t, int64(size))
	if _, err := e.db.Owner.Exec(`CREATE FUNCTION fail_finish() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.finished_at IS NOT NULL THEN RAISE EXCEPTION 'injected: database went away'; END IF; RETURN NEW; END $$;
		CREATE TRIGGER fail_finish BEFORE UPDATE ON uploads FOR EACH ROW EXECUTE FUNCTION fail_finish();`); err != nil {
		t.Fatal(err)
	}
	if resp := e.patch(t, url, 0, plain, nil); resp.StatusCode < 500 {
		t.Fatalf("PATCH whose finish cannot be recorded: %s", resp.Status)
	}
	if _, err := e.db.Owner.Exec(`DROP TRIGGER fail_finish ON uploads`); err != nil {
		t.Fatal(err)
	}
	e.mu.Lock()
	_, registered := e.finished[idOf(url)]
	e.now = e.now.Add(13 * time.Hour)
	e.mu.Unlock()
	if !registered {
		t.Fatal("OnFinish was not called")
	}
	if _, err := e.store().Expire(t.Context(), e.clock()); err != nil {
		t.Logf("Expire: %v", err)
	}
	if _, err := e.keys.Identity(t.Context(), idOf(url)); err != nil {
		t.Fatalf("the registered document's key: %v", err)
	}
	e.checkObject(t, url, plain) // the object is there and decrypts
}
