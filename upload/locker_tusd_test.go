package upload

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// memStore is an in-memory tusd DataStore shared by two handlers, standing in for the object
// store two server processes share. It counts writers per upload to catch overlapping writes.
type memStore struct {
	mu       sync.Mutex
	uploads  map[string]*memUpload
	next     int
	overlaps atomic.Int32
}

type memUpload struct {
	store   *memStore
	id      string
	size    int64
	data    []byte // guarded by store.mu
	writers atomic.Int32
}

func newMemStore() *memStore { return &memStore{uploads: map[string]*memUpload{}} }

func (s *memStore) NewUpload(_ context.Context, info handler.FileInfo) (handler.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	u := &memUpload{store: s, id: fmt.Sprintf("u%d", s.next), size: info.Size}
	s.uploads[u.id] = u
	return u, nil
}

func (s *memStore) GetUpload(_ context.Context, id string) (handler.Upload, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.uploads[id]
	if !ok {
		return nil, handler.ErrNotFound
	}
	return u, nil
}

func (s *memStore) offset(id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return int64(len(s.uploads[id].data))
}

func (s *memStore) content(id string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return bytes.Clone(s.uploads[id].data)
}

func (u *memUpload) WriteChunk(_ context.Context, offset int64, src io.Reader) (int64, error) {
	if u.writers.Add(1) != 1 {
		u.store.overlaps.Add(1)
	}
	defer u.writers.Add(-1)
	buf := make([]byte, 4096)
	var n int64
	for {
		k, err := src.Read(buf)
		if k > 0 {
			u.store.mu.Lock()
			if int64(len(u.data)) != offset+n {
				u.store.mu.Unlock()
				return n, fmt.Errorf("write at %d, but the upload holds %d bytes", offset+n, len(u.data))
			}
			u.data = append(u.data, buf[:k]...)
			u.store.mu.Unlock()
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func (u *memUpload) GetInfo(context.Context) (handler.FileInfo, error) {
	u.store.mu.Lock()
	defer u.store.mu.Unlock()
	return handler.FileInfo{ID: u.id, Size: u.size, Offset: int64(len(u.data))}, nil
}

func (u *memUpload) GetReader(context.Context) (io.ReadCloser, error) {
	return io.NopCloser(bytes.NewReader(u.store.content(u.id))), nil
}

func (u *memUpload) FinishUpload(context.Context) error { return nil }

// newTusServer serves one tusd UnroutedHandler, mounted under /files as the service mounts it.
func newTusServer(t *testing.T, store *memStore, locker *Locker) *httptest.Server {
	t.Helper()
	composer := handler.NewStoreComposer()
	composer.UseCore(store)
	locker.UseIn(composer)
	h, err := handler.NewUnroutedHandler(handler.Config{
		BasePath:           "/files/",
		StoreComposer:      composer,
		AcquireLockTimeout: 10 * time.Second,
		Logger:             xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mount := func(pattern string, f http.HandlerFunc) {
		mux.Handle(pattern, http.StripPrefix("/files", h.Middleware(f)))
	}
	mount("POST /files/", h.PostFile)
	mount("HEAD /files/{id}", h.HeadFile)
	mount("PATCH /files/{id}", h.PatchFile)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

func tusRequest(ctx context.Context, method, url string, body io.Reader, header map[string]string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if r, ok := body.(*bytes.Reader); ok {
		req.ContentLength = int64(r.Len())
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp, nil
}

func tusCreate(t *testing.T, srv *httptest.Server, size int) string {
	t.Helper()
	resp, err := tusRequest(context.Background(), "POST", srv.URL+"/files/", nil,
		map[string]string{"Upload-Length": strconv.Itoa(size)})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("create upload: %v %v", resp, err)
	}
	loc := resp.Header.Get("Location")
	return loc[bytes.LastIndexByte([]byte(loc), '/')+1:]
}

func tusOffset(ctx context.Context, srv *httptest.Server, id string) (int64, error) {
	resp, err := tusRequest(ctx, "HEAD", srv.URL+"/files/"+id, nil, nil)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("HEAD: %s", resp.Status)
	}
	return strconv.ParseInt(resp.Header.Get("Upload-Offset"), 10, 64)
}

func tusPatch(ctx context.Context, srv *httptest.Server, id string, offset int64, body io.Reader) (*http.Response, error) {
	return tusRequest(ctx, "PATCH", srv.URL+"/files/"+id, body, map[string]string{
		"Upload-Offset": strconv.FormatInt(offset, 10),
		"Content-Type":  "application/offset+octet-stream",
	})
}

// pattern returns n bytes whose value depends on their position, so a chunk written at the
// wrong offset is visible.
func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*31 + i>>11)
	}
	return b
}

// TestLockerTusdInterruptsWriterInOtherProcess: a PATCH on server A is in progress; a HEAD
// for the same upload on server B makes A's lock holder stop, A's PATCH ends with
// ERR_UPLOAD_INTERRUPTED, B reads the offset A reached and completes the upload.
func TestLockerTusdInterruptsWriterInOtherProcess(t *testing.T) {
	d := testenv.NewDB(t)
	store := newMemStore()
	srvA := newTusServer(t, store, newTestLocker(t, d))
	srvB := newTusServer(t, store, newTestLocker(t, d))
	ctx := lockCtx(t, 30*time.Second)

	const size = 64 << 10
	data := pattern(size)
	id := tusCreate(t, srvA, size)

	pr, pw := io.Pipe()
	defer pw.Close()
	type result struct {
		resp *http.Response
		err  error
	}
	aDone := make(chan result, 1)
	go func() {
		resp, err := tusPatch(ctx, srvA, id, 0, pr)
		aDone <- result{resp, err}
	}()
	if _, err := pw.Write(data[:size/2]); err != nil {
		t.Fatal(err)
	}
	for store.offset(id) < size/2 { // the pipe hands bytes over before the store appends them
		select {
		case <-ctx.Done():
			t.Fatal("the first half never reached the store")
		case <-time.After(time.Millisecond):
		}
	}

	off, err := tusOffset(ctx, srvB, id)
	if err != nil {
		t.Fatalf("HEAD on B: %v", err)
	}
	if off != size/2 {
		t.Fatalf("B sees offset %d, want %d", off, size/2)
	}
	var a result
	select {
	case a = <-aDone:
	case <-ctx.Done():
		t.Fatal("A's PATCH was never interrupted")
	}
	if a.err != nil {
		t.Fatalf("A's PATCH: %v", a.err)
	}
	if a.resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("A's interrupted PATCH answered %s, want 400 (ERR_UPLOAD_INTERRUPTED)", a.resp.Status)
	}

	resp, err := tusPatch(ctx, srvB, id, size/2, bytes.NewReader(data[size/2:]))
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("B's PATCH: %v %v", resp, err)
	}
	if got := resp.Header.Get("Upload-Offset"); got != strconv.Itoa(size) {
		t.Fatalf("final offset %s, want %d", got, size)
	}
	if !bytes.Equal(store.content(id), data) {
		t.Fatal("the upload's content differs from what was sent")
	}
	if n := store.overlaps.Load(); n != 0 {
		t.Fatalf("%d overlapping writes", n)
	}
}
