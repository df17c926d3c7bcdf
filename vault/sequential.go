package vault

import (
	"errors"
	"fmt"
	"io"
	"sync"

	"filippo.io/age"
)

// streamBlock is the size of the blocks a whole-object stream receives: 32 sealed chunks,
// about 2 MiB, so that no chunk spans two blocks. A stream holds at most prefetchDepth+3
// blocks of ciphertext (about 10 MiB).
const streamBlock = 32 * SealedChunkSize

// parallelRead is the smallest read of a stream that is decrypted by two goroutines, each
// taking one half: the service's other core decrypts while this one does. maxStreamRead is
// the most one Read returns: the chunks two halves read then lie within two blocks, which
// is what a seqSource keeps.
const (
	parallelRead  = 256 << 10
	maxStreamRead = 1 << 20
)

// Stream returns the whole plaintext of the object r reads, decrypted with id as it is read,
// from its first byte. The chunks between the header and the final chunk come from one GET,
// received a few blocks ahead of the decryption, so that receiving, decrypting and sending
// overlap; the header and the final chunk are read through r (for a ReadAhead made by
// OpenReaderAt they are in memory already). Decryption is age.DecryptReaderAt's: reads of
// many chunks at a time, each chunk authenticated in place. A damaged or truncated object
// is a read error, never a short clean EOF. Close the stream to end the GET.
func (r *ReadAhead) Stream(id age.Identity) (io.ReadCloser, error) {
	payload := r.size - r.origin
	chunks := (payload + SealedChunkSize - 1) / SealedChunkSize
	src := &seqSource{origin: r.origin, end: r.origin + max(chunks-1, 0)*SealedChunkSize, at: r, blkOff: r.origin}
	if src.end > src.origin {
		body, err := r.src.ReadRange(r.ctx, src.origin, src.end-src.origin)
		if err != nil {
			return nil, fmt.Errorf("vault: read object: %w", err)
		}
		src.feed = newPrefetcher(body, streamBlock)
	}
	plain, size, err := age.DecryptReaderAt(src, r.size, id)
	if err != nil {
		src.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		return nil, fmt.Errorf("vault: open age object: %w", err)
	}
	return &plainStream{plain: plain, size: size, src: src}, nil
}

// seqSource is the io.ReaderAt a Stream decrypts from. Reads before origin (the header) and
// from end on (the final chunk) go to at; reads in between are served from feed, and must
// come at offsets that never go back before the block preceding the newest one received, as
// a sequential decryption (by one goroutine, or by two taking the halves of one read, see
// plainStream) makes them. Safe for concurrent use.
type seqSource struct {
	origin, end int64
	at          io.ReaderAt
	feed        *prefetcher // nil when there is nothing between origin and end

	mu     sync.Mutex
	prev   []byte // the block before blk, still readable (prev ends where blk starts)
	blk    []byte // the newest block received, holding [blkOff, blkOff+len(blk))
	blkOff int64
	err    error // the feed's error, once it has ended
}

var errStreamBackwards = errors.New("vault: a stream was read backwards")

// ReadAt implements io.ReaderAt.
func (s *seqSource) ReadAt(p []byte, off int64) (int, error) {
	if off < s.origin {
		return s.at.ReadAt(p, off)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for n < len(p) {
		pos := off + int64(n)
		if pos >= s.end {
			m, err := s.at.ReadAt(p[n:], pos)
			return n + m, err
		}
		if pos < s.blkOff {
			prevOff := s.blkOff - int64(len(s.prev))
			if pos < prevOff {
				return n, errStreamBackwards
			}
			n += copy(p[n:], s.prev[pos-prevOff:])
			continue
		}
		for pos >= s.blkOff+int64(len(s.blk)) {
			if s.err != nil {
				if s.err == io.EOF {
					return n, fmt.Errorf("vault: object ends early: %w", io.ErrUnexpectedEOF)
				}
				return n, fmt.Errorf("vault: read object: %w", s.err)
			}
			s.blkOff += int64(len(s.blk))
			s.prev = s.blk
			s.blk, s.err = s.feed.next()
		}
		n += copy(p[n:], s.blk[pos-s.blkOff:])
	}
	return n, nil
}

// Close ends the GET, if one was made.
func (s *seqSource) Close() error {
	if s.feed == nil {
		return nil
	}
	return s.feed.Close()
}

// plainStream reads a decrypted object from its start to its authenticated end.
type plainStream struct {
	plain     io.ReaderAt
	pos, size int64
	src       *seqSource
}

func (s *plainStream) Read(p []byte) (int, error) {
	if s.pos >= s.size {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), s.size-s.pos, maxStreamRead)]
	n, err := s.readAt(p)
	s.pos += int64(n)
	if err == io.EOF {
		if s.pos != s.size { // not reachable with age's ReaderAt; kept as a guard
			return n, io.ErrUnexpectedEOF
		}
		if n > 0 {
			err = nil
		}
	}
	return n, err
}

// readAt reads p at s.pos, a large p in two halves at once, split at a chunk boundary so
// that no chunk is decrypted twice. The bytes it counts are all good: a failure in the
// second half after a whole first half counts the first.
func (s *plainStream) readAt(p []byte) (int, error) {
	split := int(((s.pos+int64(len(p))/2)/ChunkSize)*ChunkSize - s.pos)
	if len(p) < parallelRead || split <= 0 {
		return s.plain.ReadAt(p, s.pos)
	}
	var (
		wg   sync.WaitGroup
		n2   int
		err2 error
	)
	wg.Go(func() { n2, err2 = s.plain.ReadAt(p[split:], s.pos+int64(split)) })
	n1, err1 := s.plain.ReadAt(p[:split], s.pos)
	wg.Wait()
	switch {
	case err1 != nil && err1 != io.EOF:
		return n1, err1
	case n1 < split:
		return n1, io.ErrUnexpectedEOF // not reachable with age's ReaderAt
	}
	return split + n2, err2
}

func (s *plainStream) Close() error { return s.src.Close() }
