package upload

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"io"
	"sync"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/secondopinion/secondopinion/vault"
)

// partBuffer holds the plaintext of one part where its ciphertext will go, so that
// chunks are sealed in place: chunk j starts at pre+j*SealedChunkSize, with room for
// its tag after it. pre is the age header and nonce at the start of part 1.
type partBuffer struct {
	b      []byte
	pre    int
	n      int  // plaintext bytes held
	cpp    int  // chunks per part
	sealed bool // every chunk held is sealed in place: no plaintext is left in b
}

func (p *partBuffer) full() bool { return p.n == p.cpp*vault.ChunkSize }

// readFrom fills the part from r, reading at most limit bytes. It stops when the part
// is full, at the limit, or at r's first error, which it returns (io.EOF included).
func (p *partBuffer) readFrom(r io.Reader, limit int64) error {
	for !p.full() && limit > 0 {
		k := p.n % vault.ChunkSize
		start := p.pre + p.n/vault.ChunkSize*vault.SealedChunkSize + k
		want := int(min(int64(vault.ChunkSize-k), limit))
		m, err := r.Read(p.b[start : start+want])
		p.n += m
		limit -= int64(m)
		if err != nil {
			return err
		}
	}
	return nil
}

// seal seals the chunks held, in place, as chunks first, first+1, … of s's file, the
// last of them with the last-chunk flag when final, and returns the bytes of the part
// (pre included). The plaintext is gone afterwards. A large part is sealed by two
// goroutines, each taking half of the chunks (each chunk is sealed once, under its own
// counter).
func (p *partBuffer) seal(s *vault.Sealer, first uint64, final bool) ([]byte, error) {
	chunks := p.chunks()
	sealRange := func(from, to int) error {
		for j := from; j < to; j++ {
			off, l := p.chunk(j)
			if _, err := s.Seal(p.b[off:off], first+uint64(j), p.b[off:off+l], final && j == chunks-1); err != nil { // #nosec G115 -- chunk counters are never negative
				return err
			}
		}
		return nil
	}
	var err error
	if half := chunks / 2; chunks >= sealParallelFrom {
		done := make(chan error, 1)
		go func() { done <- sealRange(0, half) }()
		err = errors.Join(sealRange(half, chunks), <-done)
	} else {
		err = sealRange(0, chunks)
	}
	if err != nil {
		return nil, err
	}
	p.sealed = true
	off, l := p.chunk(chunks - 1)
	return p.b[:off+l+chacha20poly1305.Overhead], nil
}

// chunks is how many chunks the part holds: at least one (an empty final chunk).
func (p *partBuffer) chunks() int { return max(1, (p.n+vault.ChunkSize-1)/vault.ChunkSize) }

// chunk is where chunk j starts in the buffer and how many plaintext bytes it holds.
func (p *partBuffer) chunk(j int) (off, l int) {
	return p.pre + j*vault.SealedChunkSize, min(vault.ChunkSize, p.n-j*vault.ChunkSize)
}

// sealParallelFrom is the number of chunks from which a part is sealed by two goroutines.
const sealParallelFrom = 16

// tagsFingerprint hashes the Poly1305 tags of the chunks just sealed, bound to the part's
// number and last-chunk flag (see sealRecord).
func (p *partBuffer) tagsFingerprint(num int, final bool) []byte {
	h := sha256.New()
	fmt.Fprintf(h, "secondopinion sealed part tags\x00%d\x00%d\x00%t\x00", num, p.n, final)
	for j := range p.chunks() {
		off, l := p.chunk(j)
		h.Write(p.b[off+l : off+l+chacha20poly1305.Overhead])
	}
	return h.Sum(nil)
}

// hashPlaintext writes the part's plaintext, chunk by chunk, to h (before seal overwrites it).
func (p *partBuffer) hashPlaintext(h hash.Hash) {
	for j := range p.chunks() {
		off, l := p.chunk(j)
		h.Write(p.b[off : off+l]) // the empty chunk of an empty part writes nothing
	}
}

// storeLookahead is a reader that can tell whether more bytes follow.
type storeLookahead struct {
	r   io.Reader
	b   [1]byte
	has bool
}

func (l *storeLookahead) Read(p []byte) (int, error) {
	if !l.has || len(p) == 0 {
		return l.r.Read(p)
	}
	p[0], l.has = l.b[0], false
	return 1, nil
}

// more reports whether a byte follows, reading it ahead.
func (l *storeLookahead) more() (bool, error) {
	if l.has {
		return true, nil
	}
	n, err := io.ReadFull(l.r, l.b[:])
	if n == 1 {
		l.has = true
		return true, nil
	}
	if err == io.EOF {
		err = nil
	}
	return false, err
}

// partBuffers keeps part buffers for reuse, a few of each size. A part buffer is large (5 to
// 8 MiB, more for uploads over 80 GiB) and holds plaintext: it is allocated outside the Go heap
// where the system allows (allocPartMemory), reused while an upload goes on, and cleared
// whenever it is handed back.
type partBuffers struct {
	mu     sync.Mutex
	free   map[int][][]byte
	mapped map[*byte]bool // buffers from allocPartMemory that are mapped outside the heap
}

// keepPartBuffers is how many free buffers of each size are kept: enough for one PATCH (an
// idle service keeps at most that many, per part size, of memory locked).
const keepPartBuffers = storeInFlight + 1

// get returns a buffer of n bytes holding no plaintext (zeroes, or ciphertext sealed before).
func (b *partBuffers) get(n int) []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	if l := b.free[n]; len(l) > 0 {
		buf := l[len(l)-1]
		b.free[n] = l[:len(l)-1]
		return buf
	}
	buf, mapped := allocPartMemory(n)
	if mapped {
		if b.mapped == nil {
			b.mapped = map[*byte]bool{}
		}
		b.mapped[&buf[0]] = true
	}
	return buf
}

// put clears buf (no plaintext is left behind; clean: it holds none, only ciphertext sealed in
// place) and keeps it for reuse, unless enough of its size are kept already: then it is freed.
// buf must not be used afterwards.
func (b *partBuffers) put(buf []byte, clean bool) {
	if !clean {
		clear(buf)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.free == nil {
		b.free = map[int][][]byte{}
	}
	if len(b.free[len(buf)]) < keepPartBuffers {
		b.free[len(buf)] = append(b.free[len(buf)], buf)
		return
	}
	if b.mapped[&buf[0]] {
		delete(b.mapped, &buf[0])
		freePartMemory(buf)
	}
}
