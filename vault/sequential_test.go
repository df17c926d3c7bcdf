package vault

import (
	"bytes"
	"context"
	"io"
	"testing"
	"testing/iotest"

	"filippo.io/age"
)

// TestStreamReturnsExactBytes: a whole-object stream yields exactly the plaintext, for sizes
// around chunk and block boundaries, whatever the size of the reads, with one GET besides
// the two of opening (none for a single chunk).
func TestStreamReturnsExactBytes(t *testing.T) {
	id := newIdentity(t)
	tests := []struct {
		name string
		size int
		gets int64 // requests of opening and streaming
	}{
		{"empty", 0, 1}, // the header probe holds it all
		{"one chunk", ChunkSize, 2},
		{"one chunk and a byte", ChunkSize + 1, 3},
		{"a block of chunks", 32 * ChunkSize, 3},
		{"a block and a chunk", 33 * ChunkSize, 3},
		{"blocks and a bit", 5*32*ChunkSize + 3*ChunkSize + 17, 3},
	}
	for _, tt := range tests {
		plain := randomBytes(tt.size)
		file := sealAll(t, id, plain)
		for _, bufSize := range []int{1000, ChunkSize, 256 << 10, 1<<20 + 1000, 9 << 20} {
			src := &memObject{data: file}
			_, ra, n, err := openReadAhead(t.Context(), src, int64(len(file)), id, 4*SealedChunkSize)
			if err != nil || n != int64(tt.size) {
				t.Fatalf("%s: open: %d, %v", tt.name, n, err)
			}
			rc, err := ra.Stream(id)
			if err != nil {
				t.Fatalf("%s: Stream: %v", tt.name, err)
			}
			got, err := readInto(rc, make([]byte, bufSize))
			rc.Close()
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("%s, reads of %d: %d bytes, %v; want %d bytes", tt.name, bufSize, len(got), err, len(plain))
			}
			if g := src.requests.Load(); g != tt.gets {
				t.Errorf("%s: %d requests, want %d", tt.name, g, tt.gets)
			}
		}
	}
}

// readInto reads r to its end with reads into buf, as a copy loop does.
func readInto(r io.Reader, buf []byte) ([]byte, error) {
	var got []byte
	for {
		n, err := r.Read(buf)
		got = append(got, buf[:n]...)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
	}
}

// cutObject serves ranges of data, but the body of the range starting at cutAt ends after
// keep bytes, with err (a connection cut) or a clean EOF when err is nil.
type cutObject struct {
	memObject
	cutAt, keep int64
	err         error
}

func (c *cutObject) ReadRange(ctx context.Context, off, n int64) (io.ReadCloser, error) {
	rc, err := c.memObject.ReadRange(ctx, off, n)
	if err != nil || off != c.cutAt {
		return rc, err
	}
	var tail io.Reader = bytes.NewReader(nil)
	if c.err != nil {
		tail = iotest.ErrReader(c.err)
	}
	return io.NopCloser(io.MultiReader(io.LimitReader(rc, c.keep), tail)), nil
}

// TestStreamNeverEndsCleanWhenDamaged: a stream of a damaged object, or one whose GET is cut
// short (cleanly or not), fails with an error after the last good chunk; it never ends with a
// clean EOF short of the size.
func TestStreamNeverEndsCleanWhenDamaged(t *testing.T) {
	id := newIdentity(t)
	plain := randomBytes(3*32*ChunkSize + 5)
	file := sealAll(t, id, plain)
	_, origin, err := headerLength(file)
	if err != nil {
		t.Fatal(err)
	}
	flipped := bytes.Clone(file)
	flipped[origin+40*SealedChunkSize+9] ^= 1
	tests := []struct {
		name string
		src  RangeReader
	}{
		{"bit flipped", &memObject{data: flipped}},
		{"cut cleanly", &cutObject{memObject: memObject{data: file}, cutAt: origin, keep: 40*SealedChunkSize + 100}},
		{"cut at a block's end", &cutObject{memObject: memObject{data: file}, cutAt: origin, keep: 2 * streamBlock}},
		{"connection reset", &cutObject{memObject: memObject{data: file}, cutAt: origin, keep: 40 * SealedChunkSize, err: io.ErrClosedPipe}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, ra, _, err := openReadAhead(t.Context(), tt.src, int64(len(file)), id, 4*SealedChunkSize)
			if err != nil {
				t.Fatal(err)
			}
			rc, err := ra.Stream(id)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err == nil {
				t.Fatalf("read %d of %d bytes without error", len(got), len(plain))
			}
			if len(got) > 2*streamBlock || !bytes.Equal(got, plain[:len(got)]) {
				t.Fatalf("%d bytes before the error, not a prefix of the plaintext within the good chunks", len(got))
			}
		})
	}
}

// headerLength is the length of file's age header and of header and nonce.
func headerLength(file []byte) (int64, int64, error) {
	hdr, err := age.ExtractHeader(bytes.NewReader(file))
	if err != nil {
		return 0, 0, err
	}
	return int64(len(hdr)), int64(len(hdr)) + NonceSize, nil
}

// TestStreamClosedEarly: closing a stream before its end stops its GET and frees its blocks.
func TestStreamClosedEarly(t *testing.T) {
	id := newIdentity(t)
	file := sealAll(t, id, randomBytes(8*32*ChunkSize))
	_, ra, _, err := openReadAhead(t.Context(), &memObject{data: file}, int64(len(file)), id, 4*SealedChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := ra.Stream(id)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(rc, make([]byte, 3*ChunkSize)); err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Fatal(err)
	}
	feed := rc.(*plainStream).src.feed
	select {
	case <-feed.done:
	default:
		t.Fatal("the GET goes on after Close")
	}
	if feed.made > prefetchDepth+3 {
		t.Fatalf("%d blocks made", feed.made)
	}
}
