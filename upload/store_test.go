package upload

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"filippo.io/age"

	"github.com/secondopinion/secondopinion/vault"
)

func TestStoreChunksPerPart(t *testing.T) {
	tests := []struct {
		size     int64
		declared bool
		want     int
	}{
		{0, true, 80},
		{1, true, 80},
		{storeLargeUpload - 1, true, 80},
		{storeLargeUpload, true, 128},
		{5 << 30, true, 128},
		{128 * storeMaxParts * vault.ChunkSize, true, 128},
		{128*storeMaxParts*vault.ChunkSize + 1, true, 129},
		{5 << 40, true, 8389},
		// deferred lengths: sized by the store's maximum
		{5 << 30, false, 80},
		{80 * storeMaxParts * vault.ChunkSize, false, 80},
		{80*storeMaxParts*vault.ChunkSize + 1, false, 81},
		{64 << 30, false, 105},
		{5 << 40, false, 8389},
	}
	for _, tt := range tests {
		cpp := storeChunksPerPart(tt.size, tt.declared)
		if cpp != tt.want {
			t.Errorf("storeChunksPerPart(%d, %v) = %d, want %d", tt.size, tt.declared, cpp, tt.want)
		}
		if int64(cpp)*vault.SealedChunkSize < storeMinPartSize {
			t.Errorf("size %d: parts of %d bytes are below the S3 minimum", tt.size, int64(cpp)*vault.SealedChunkSize)
		}
		if parts := (tt.size + int64(cpp)*vault.ChunkSize - 1) / (int64(cpp) * vault.ChunkSize); parts > storeMaxParts {
			t.Errorf("size %d needs %d parts", tt.size, parts)
		}
	}
}

// TestPartBufferSealsInPlace fills a part buffer across reads of any size and checks the
// sealed bytes form an age payload that decrypts to what was read.
func TestPartBufferSealsInPlace(t *testing.T) {
	id, _ := age.GenerateHybridIdentity()
	for _, n := range []int{0, 1, vault.ChunkSize - 1, vault.ChunkSize, vault.ChunkSize + 1, 3 * vault.ChunkSize} {
		hn, _ := vault.NewFileHeader(id.Recipient())
		s, err := vault.NewSealer(hn, id)
		if err != nil {
			t.Fatal(err)
		}
		p := &partBuffer{b: make([]byte, len(hn)+3*vault.SealedChunkSize), cpp: 3}
		p.pre = copy(p.b, hn)
		plain := bytes.Repeat([]byte("0123456789abcdef"), n/16+1)[:n]
		err = p.readFrom(iotest.OneByteReader(io.MultiReader(bytes.NewReader(plain), strings.NewReader("more"))), int64(n))
		if err != nil || p.n != n || p.full() != (n == 3*vault.ChunkSize) {
			t.Fatalf("readFrom %d bytes: n %d, full %v, %v", n, p.n, p.full(), err)
		}
		file, err := p.seal(s, 0, true)
		if err != nil {
			t.Fatal(err)
		}
		r, err := age.Decrypt(bytes.NewReader(file), id)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(r)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%d bytes: decrypted %d bytes, %v", n, len(got), err)
		}
	}
}

func TestPartBufferRefusesShortNonFinalParts(t *testing.T) {
	id, _ := age.GenerateHybridIdentity()
	hn, _ := vault.NewFileHeader(id.Recipient())
	s, _ := vault.NewSealer(hn, id)
	p := &partBuffer{b: make([]byte, 2*vault.SealedChunkSize), cpp: 2, n: vault.ChunkSize + 1}
	if _, err := p.seal(s, 0, false); !errors.Is(err, vault.ErrBadChunk) {
		t.Fatalf("sealing a short part as not final: %v", err)
	}
}

func TestStoreLookahead(t *testing.T) {
	l := &storeLookahead{r: iotest.OneByteReader(strings.NewReader("abc"))}
	if more, err := l.more(); !more || err != nil {
		t.Fatalf("more() = %v, %v", more, err)
	}
	if more, _ := l.more(); !more {
		t.Fatal("second more() lost the byte")
	}
	got, err := io.ReadAll(l)
	if err != nil || string(got) != "abc" {
		t.Fatalf("read %q, %v", got, err)
	}
	if more, err := l.more(); more || err != nil {
		t.Fatalf("more() at the end = %v, %v", more, err)
	}
	failing := &storeLookahead{r: iotest.ErrReader(errors.New("boom"))}
	if more, err := failing.more(); more || err == nil {
		t.Fatalf("more() over a failing reader = %v, %v", more, err)
	}
}

// Part buffers come back zeroed and are reused by size, a bounded number of each.
func TestPartBuffers(t *testing.T) {
	var b partBuffers
	first := b.get(1000)
	copy(first, "plaintext")
	b.put(first, false)
	again := b.get(1000)
	if &again[0] != &first[0] {
		t.Fatal("a free buffer of the size asked for was not reused")
	}
	if string(again[:9]) == "plaintext" {
		t.Fatal("a reused buffer still holds what was written in it")
	}
	if other := b.get(2000); len(other) != 2000 || &other[0] == &first[0] {
		t.Fatal("a buffer of another size was handed out")
	}
	var held [][]byte
	for range keepPartBuffers + 3 {
		held = append(held, b.get(3000))
	}
	for _, buf := range held {
		b.put(buf, false)
	}
	if n := len(b.free[3000]); n != keepPartBuffers {
		t.Fatalf("%d free buffers kept, want %d", n, keepPartBuffers)
	}
	if partMemoryMapped {
		// outside the Go heap; those not kept are unmapped
		if n := len(b.mapped); n != keepPartBuffers+2 { // the 3000-byte ones kept, the 1000- and 2000-byte ones
			t.Fatalf("%d mapped buffers, want %d", n, keepPartBuffers+2)
		}
	}
}
