package vault

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
)

// A RangeReader reads n bytes of an object, starting at off, in one request.
type RangeReader interface {
	ReadRange(ctx context.Context, off, n int64) (io.ReadCloser, error)
}

// DefaultWindow is the read-ahead window of OpenReaderAt when none is given.
const DefaultWindow = 8 << 20

// headProbe is how much of an object OpenReaderAt fetches first to find the end of the
// age header (a hybrid header is about 1.6 KiB).
const headProbe = 64 << 10

// cachedWindows is how many windows a ReadAhead keeps: memory is bounded by this many
// windows, plus one per ReadAt running at the moment on a window not cached.
const cachedWindows = 2

// A ReadAhead is an io.ReaderAt over an object of known size that reads it a window at
// a time: one RangeReader request per window, never one per chunk. Windows are aligned
// to whole age chunks past origin (the end of header and nonce), so that a chunk never
// spans two windows; bytes before origin form a window of their own. ReadAt may be
// called concurrently.
type ReadAhead struct {
	ctx    context.Context
	src    RangeReader
	size   int64
	origin int64
	window int64
	head   []byte // the object's first bytes, when already fetched

	mu    sync.Mutex
	tick  uint64
	cache [cachedWindows]*window
}

type window struct {
	start int64
	used  uint64        // guarded by ReadAhead.mu
	done  chan struct{} // closed once data and err are set
	data  []byte
	err   error
}

// NewReadAhead returns a ReadAhead over the size bytes of src, with windows of about
// window bytes (rounded down to whole sealed chunks; 0 means DefaultWindow) aligned at
// origin. ctx bounds every request the ReadAhead makes.
func NewReadAhead(ctx context.Context, src RangeReader, size, origin, window int64) *ReadAhead {
	if window <= 0 {
		window = DefaultWindow
	}
	window = max(window/SealedChunkSize, 1) * SealedChunkSize
	return &ReadAhead{ctx: ctx, src: src, size: size, origin: min(max(origin, 0), size), window: window}
}

// ReadAt implements io.ReaderAt.
func (r *ReadAhead) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("vault: negative offset")
	}
	if off >= r.size {
		return 0, io.EOF
	}
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= r.size {
			return n, io.EOF
		}
		if pos < int64(len(r.head)) {
			n += copy(p[n:], r.head[pos:])
			continue
		}
		w, err := r.get(pos)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], w.data[pos-w.start:])
	}
	return n, nil
}

// bounds returns the window holding pos.
func (r *ReadAhead) bounds(pos int64) (start, end int64) {
	if pos < r.origin {
		return 0, r.origin
	}
	start = r.origin + (pos-r.origin)/r.window*r.window
	return start, min(start+r.window, r.size)
}

// get returns the window holding pos, fetching it unless cached or being fetched.
func (r *ReadAhead) get(pos int64) (*window, error) {
	start, end := r.bounds(pos)
	r.mu.Lock()
	r.tick++
	for _, w := range r.cache {
		if w != nil && w.start == start {
			w.used = r.tick
			r.mu.Unlock()
			<-w.done
			return w, w.err
		}
	}
	lru := 0 // an empty slot, else the least recently used
	for i, w := range r.cache {
		if w == nil {
			lru = i
			break
		}
		if w.used < r.cache[lru].used {
			lru = i
		}
	}
	w := &window{start: start, used: r.tick, done: make(chan struct{})}
	r.cache[lru] = w
	r.mu.Unlock()

	w.data, w.err = fetch(r.ctx, r.src, start, end-start)
	if w.err != nil {
		r.mu.Lock()
		if r.cache[lru] == w {
			r.cache[lru] = nil // let a later ReadAt try again
		}
		r.mu.Unlock()
	}
	close(w.done)
	return w, w.err
}

// fetch reads exactly n bytes at off with one request.
func fetch(ctx context.Context, src RangeReader, off, n int64) ([]byte, error) {
	rc, err := src.ReadRange(ctx, off, n)
	if err != nil {
		return nil, fmt.Errorf("vault: read object range: %w", err)
	}
	defer rc.Close()
	b := make([]byte, n)
	if _, err := io.ReadFull(rc, b); err != nil {
		return nil, fmt.Errorf("vault: read object range: %w", err)
	}
	return b, nil
}

// OpenReaderAt decrypts the age object of encryptedSize bytes read from src, with
// random access: it returns an io.ReaderAt of the plaintext and the plaintext size, as
// age.DecryptReaderAt, over a ReadAhead with windows of about window bytes (0 means
// DefaultWindow). Opening costs one request for the header and one for the window
// holding the final chunk, which is authenticated before OpenReaderAt returns, so a
// truncated or extended object fails here. Other chunks are authenticated as they are
// read. The ReaderAt may be used concurrently, as long as ctx lives.
func OpenReaderAt(ctx context.Context, src RangeReader, encryptedSize int64, id age.Identity, window int64) (io.ReaderAt, int64, error) {
	plain, _, size, err := openReadAhead(ctx, src, encryptedSize, id, window)
	return plain, size, err
}

// openReadAhead is OpenReaderAt that also returns the ReadAhead the plaintext is read from.
func openReadAhead(ctx context.Context, src RangeReader, encryptedSize int64, id age.Identity, window int64) (io.ReaderAt, *ReadAhead, int64, error) {
	var head []byte
	if probe := min(encryptedSize, headProbe); probe > 0 {
		var err error
		if head, err = fetch(ctx, src, 0, probe); err != nil {
			return nil, nil, 0, err
		}
	}
	hdr, err := age.ExtractHeader(bytes.NewReader(head))
	if err != nil {
		return nil, nil, 0, fmt.Errorf("vault: read age header: %w", err)
	}
	ra := NewReadAhead(ctx, src, encryptedSize, int64(len(hdr))+NonceSize, window)
	ra.head = head
	plain, size, err := age.DecryptReaderAt(ra, encryptedSize, id)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("vault: open age object: %w", err)
	}
	return plain, ra, size, nil
}
