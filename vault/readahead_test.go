package vault

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// memObject is an in-memory RangeReader that counts its requests.
type memObject struct {
	data     []byte
	requests atomic.Int64
	failNext atomic.Bool
}

func (m *memObject) ReadRange(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	m.requests.Add(1)
	if m.failNext.Swap(false) {
		return nil, errors.New("injected failure")
	}
	if off < 0 || n <= 0 || off+n > int64(len(m.data)) {
		return nil, fmt.Errorf("bad range %d+%d of %d", off, n, len(m.data))
	}
	return io.NopCloser(bytes.NewReader(m.data[off : off+n])), nil
}

func TestReadAheadReturnsExactBytes(t *testing.T) {
	rng := mrand.New(mrand.NewPCG(1, 2))
	data := make([]byte, 10*SealedChunkSize+777)
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	for _, origin := range []int64{0, 1, 1234, SealedChunkSize} {
		src := &memObject{data: data}
		ra := NewReadAhead(t.Context(), src, int64(len(data)), origin, 3*SealedChunkSize)
		for range 300 {
			off := rng.Int64N(int64(len(data)) + 10)
			n := rng.IntN(5 * SealedChunkSize)
			p := make([]byte, n)
			got, err := ra.ReadAt(p, off)
			want := max(0, min(int64(n), int64(len(data))-off))
			if int64(got) != want {
				t.Fatalf("origin %d: ReadAt(%d, %d) = %d, want %d (%v)", origin, n, off, got, want, err)
			}
			if (err == io.EOF) != (off >= int64(len(data)) || int64(got) < int64(n)) || (err != nil && err != io.EOF) {
				t.Fatalf("origin %d: ReadAt(%d, %d): err %v", origin, n, off, err)
			}
			if !bytes.Equal(p[:got], data[min(off, int64(len(data))):min(off, int64(len(data)))+want]) {
				t.Fatalf("origin %d: ReadAt(%d, %d): wrong bytes", origin, n, off)
			}
		}
	}
}

func TestReadAheadRetriesAfterError(t *testing.T) {
	src := &memObject{data: randomBytes(3 * SealedChunkSize)}
	ra := NewReadAhead(t.Context(), src, int64(len(src.data)), 0, SealedChunkSize)
	src.failNext.Store(true)
	if _, err := ra.ReadAt(make([]byte, 10), 5); err == nil {
		t.Fatal("ReadAt succeeded over a failing source")
	}
	p := make([]byte, 10)
	if _, err := ra.ReadAt(p, 5); err != nil || !bytes.Equal(p, src.data[5:15]) {
		t.Fatalf("ReadAt after the failure: %v", err)
	}
}

// TestOpenReaderAtFewRequests proves random access reads whole windows: reading a
// document of 40 chunks sequentially in small pieces costs one request for the header,
// one per window, and the final chunk's window.
func TestOpenReaderAtFewRequests(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(40*ChunkSize + 99)
	src := &memObject{data: sealAll(t, id, plain)}
	const window = 8 * SealedChunkSize
	ra, n, err := OpenReaderAt(t.Context(), src, int64(len(src.data)), id, window)
	if err != nil || n != int64(len(plain)) {
		t.Fatalf("OpenReaderAt: %d, %v", n, err)
	}
	if got := src.requests.Load(); got != 2 {
		t.Fatalf("opening made %d requests, want 2 (header, final window)", got)
	}
	h := sha256.New()
	if _, err := io.CopyBuffer(h, io.NewSectionReader(ra, 0, n), make([]byte, 4096)); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(h.Sum(nil), sha256Of(plain)) {
		t.Fatal("decrypted bytes differ")
	}
	windows := int64(len(src.data))/window + 1
	if got := src.requests.Load(); got > 2+windows {
		t.Fatalf("sequential read made %d requests for %d windows", got, windows)
	}

	// Random reads at arbitrary offsets return exact bytes.
	rng := mrand.New(mrand.NewPCG(3, 4))
	for range 200 {
		off := rng.Int64N(n)
		p := make([]byte, rng.IntN(3*ChunkSize))
		got, err := ra.ReadAt(p, off)
		if err != nil && err != io.EOF {
			t.Fatalf("ReadAt(%d): %v", off, err)
		}
		if !bytes.Equal(p[:got], plain[off:off+int64(got)]) || (got < len(p) && off+int64(got) != n) {
			t.Fatalf("ReadAt(%d, %d) = %d: wrong bytes", len(p), off, got)
		}
	}
}

func sha256Of(b []byte) []byte {
	s := sha256.Sum256(b)
	return s[:]
}

func TestOpenReaderAtConcurrent(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(20*ChunkSize + 5)
	src := &memObject{data: sealAll(t, id, plain)}
	ra, n, err := OpenReaderAt(t.Context(), src, int64(len(src.data)), id, 3*SealedChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Go(func() {
			rng := mrand.New(mrand.NewPCG(uint64(g), 9))
			for range 100 {
				off := rng.Int64N(n)
				p := make([]byte, rng.IntN(2*ChunkSize)+1)
				got, err := ra.ReadAt(p, off)
				if (err != nil && err != io.EOF) || !bytes.Equal(p[:got], plain[off:off+int64(got)]) {
					errs <- fmt.Errorf("ReadAt(%d, %d): %d, %v", len(p), off, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestOpenReaderAtDetectsTampering proves truncated, extended and bit-flipped objects
// fail: at open for the final chunk and the size, on read for other chunks.
func TestOpenReaderAtDetectsTampering(t *testing.T) {
	id := newIdentity(t)
	good := sealAll(t, id, randomBytes(5*ChunkSize+10))
	hdrEnd := len(good) - (5*SealedChunkSize + 10 + 16)
	flip := func(i int) []byte {
		b := bytes.Clone(good)
		b[i] ^= 0x01
		return b
	}
	tests := []struct {
		name     string
		file     []byte
		openFail bool
	}{
		{"truncated by one byte", good[:len(good)-1], true},
		{"truncated by a chunk", good[:len(good)-SealedChunkSize], true},
		{"extended", append(bytes.Clone(good), 0), true},
		{"flipped in the header", flip(30), true},
		{"flipped in the nonce", flip(hdrEnd - 3), true},
		{"flipped in the final chunk", flip(len(good) - 5), true},
		{"flipped in the second chunk", flip(hdrEnd + SealedChunkSize + 100), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &memObject{data: tt.file}
			ra, n, err := OpenReaderAt(t.Context(), src, int64(len(tt.file)), id, 2*SealedChunkSize)
			if tt.openFail {
				if err == nil {
					t.Fatal("OpenReaderAt succeeded")
				}
				return
			}
			if err != nil {
				t.Fatalf("OpenReaderAt: %v", err)
			}
			if _, err := io.ReadAll(io.NewSectionReader(ra, 0, n)); err == nil {
				t.Fatal("reading a tampered chunk succeeded")
			}
		})
	}
}

// TestMinIOObject reads a sealed object from a real MinIO through MinIOObject.
func TestMinIOObject(t *testing.T) {
	m := testenv.NewBucket(t)
	id := newIdentity(t)
	plain := randomBytes(9*ChunkSize + 3)
	file := sealAll(t, id, plain)
	ctx := t.Context()
	if _, err := m.Client.PutObject(ctx, m.Bucket, "doc", bytes.NewReader(file), int64(len(file)), minio.PutObjectOptions{}); err != nil {
		t.Fatal(err)
	}
	obj := MinIOObject{Client: m.Client, Bucket: m.Bucket, Key: "doc"}
	size, err := obj.Size(ctx)
	if err != nil || size != int64(len(file)) {
		t.Fatalf("Size = %d, %v", size, err)
	}
	ra, n, err := OpenReaderAt(ctx, obj, size, id, 4*SealedChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(io.NewSectionReader(ra, 0, n))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("read %d bytes, %v", len(got), err)
	}
	if _, _, err := OpenReaderAt(ctx, obj, size, newIdentity(t), 0); err == nil {
		t.Fatal("OpenReaderAt with another identity succeeded")
	}
}

// FuzzReadAhead checks ReadAt against bytes.Reader for any object, window, origin and read.
func FuzzReadAhead(f *testing.F) {
	f.Add([]byte("hello, world"), int64(3), int64(0), int64(4), 5)
	f.Add(make([]byte, 3*SealedChunkSize), int64(SealedChunkSize-1), int64(17), int64(1), 2*SealedChunkSize)
	f.Fuzz(func(t *testing.T, data []byte, origin, off, window int64, n int) {
		if n < 0 || n > 1<<20 {
			return
		}
		ra := NewReadAhead(context.Background(), &memObject{data: data}, int64(len(data)), origin, window)
		want := make([]byte, n)
		wn, werr := bytes.NewReader(data).ReadAt(want, off)
		got := make([]byte, n)
		gn, gerr := ra.ReadAt(got, off)
		if gn != wn || !bytes.Equal(got[:gn], want[:wn]) || (gerr == nil) != (werr == nil) {
			t.Fatalf("ReadAt(%d, %d) = %d, %v; bytes.Reader: %d, %v", n, off, gn, gerr, wn, werr)
		}
	})
}

// FuzzOpenReaderAt feeds arbitrary objects, as a tampered store could hold, to
// OpenReaderAt: it must fail cleanly or return exactly as many bytes as it announced.
func FuzzOpenReaderAt(f *testing.F) {
	// An X25519 identity: the target is the payload, and ML-KEM under coverage
	// instrumentation would slow the fuzzer to a crawl.
	id, err := age.GenerateX25519Identity()
	if err != nil {
		f.Fatal(err)
	}
	for _, n := range []int{0, 1, 300, ChunkSize + 1} {
		f.Add(sealTo(f, id.Recipient(), id, bytes.Repeat([]byte{'x'}, n)))
	}
	f.Fuzz(func(t *testing.T, file []byte) {
		ra, n, err := OpenReaderAt(context.Background(), &memObject{data: file}, int64(len(file)), id, SealedChunkSize)
		if err != nil {
			return
		}
		got, err := io.ReadAll(io.NewSectionReader(ra, 0, n))
		if err == nil && int64(len(got)) != n {
			t.Fatalf("read %d bytes of %d", len(got), n)
		}
	})
}
