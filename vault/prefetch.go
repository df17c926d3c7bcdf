package vault

import (
	"io"
	"sync"
)

// prefetchDepth is how many blocks a prefetcher may hold ahead of its reader.
const prefetchDepth = 2

// A prefetcher reads ahead of its reader, in a goroutine of its own, so that receiving
// the next blocks of an object overlaps with decrypting and sending the current ones. It
// holds at most prefetchDepth+3 blocks of ciphertext, allocated once and reused: one being
// filled, prefetchDepth ready, two being read. Close stops it and closes src.
type prefetcher struct {
	src    io.ReadCloser
	block  int
	blocks chan prefetched
	free   chan []byte
	stop   chan struct{}
	once   sync.Once
	done   chan struct{}
	made   int // blocks allocated by fill: at most cap(free), then reused

	held [2][]byte // the blocks next returned last and before: the older is handed back next
	err  error
}

type prefetched struct {
	b   []byte
	err error
}

// newPrefetcher reads src in blocks of block bytes.
func newPrefetcher(src io.ReadCloser, block int) *prefetcher {
	p := &prefetcher{
		src:    src,
		block:  block,
		blocks: make(chan prefetched, prefetchDepth),
		free:   make(chan []byte, prefetchDepth+3),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	go p.fill()
	return p
}

func (p *prefetcher) fill() {
	defer close(p.done)
	defer close(p.blocks)
	for {
		var b []byte
		if p.made < cap(p.free) {
			b = make([]byte, p.block)
			p.made++
		} else {
			select {
			case b = <-p.free:
			case <-p.stop:
				return
			}
		}
		n, err := io.ReadFull(p.src, b[:cap(b)])
		if err == io.ErrUnexpectedEOF {
			err = io.EOF
		}
		select {
		case p.blocks <- prefetched{b: b[:n], err: err}:
		case <-p.stop:
			return
		}
		if err != nil {
			return
		}
	}
}

// next returns the next block of the source: every block is whole but the last, which may
// be short or empty and comes with the error that ended the source (io.EOF at its end). A
// caller may go on reading the block next returned before; the one before that is handed
// back to be refilled.
func (p *prefetcher) next() ([]byte, error) {
	if old := p.held[0]; old != nil {
		p.free <- old // never blocks: at most cap(free) blocks exist
	}
	p.held[0], p.held[1] = p.held[1], nil
	if p.err != nil {
		return nil, p.err
	}
	blk, ok := <-p.blocks
	if !ok {
		p.err = io.ErrClosedPipe
		return nil, p.err
	}
	p.held[1], p.err = blk.b, blk.err
	return blk.b, blk.err
}

// Close stops the prefetching goroutine and closes the source.
func (p *prefetcher) Close() error {
	var err error
	p.once.Do(func() {
		close(p.stop)
		err = p.src.Close() // unblocks a read in progress
		<-p.done
	})
	return err
}
