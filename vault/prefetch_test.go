package vault

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
)

type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

// A prefetcher yields its source's bytes in order, in whole blocks but the last, and then its
// error; closing it early stops it and closes the source once.
func TestPrefetcher(t *testing.T) {
	const block = 100000
	data := make([]byte, 5*block+12345)
	r := rand.New(rand.NewPCG(1, 2))
	for i := range data {
		data[i] = byte(r.Uint32())
	}
	boom := errors.New("connection reset")
	tests := []struct {
		name string
		src  io.Reader
		want []byte
		err  error
	}{
		{"whole", bytes.NewReader(data), data, io.EOF},
		{"one byte at a time", iotest.OneByteReader(bytes.NewReader(data[:3000])), data[:3000], io.EOF},
		{"empty", bytes.NewReader(nil), nil, io.EOF},
		{"whole blocks", bytes.NewReader(data[:3*block]), data[:3*block], io.EOF},
		{"cut off", io.MultiReader(bytes.NewReader(data[:2*block+7]), iotest.ErrReader(boom)), data[:2*block+7], boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &closeCounter{Reader: tt.src}
			p := newPrefetcher(src, block)
			var got bytes.Buffer
			var err error
			for {
				var b []byte
				b, err = p.next()
				if err == nil && len(b) != block {
					t.Fatalf("a block of %d bytes before the end", len(b))
				}
				got.Write(b)
				if err != nil {
					break
				}
			}
			if _, again := p.next(); again != err {
				t.Fatalf("next after the end: %v, want %v again", again, err)
			}
			if err != tt.err || !bytes.Equal(got.Bytes(), tt.want) {
				t.Fatalf("read %d bytes and %v; want %d bytes and %v", got.Len(), err, len(tt.want), tt.err)
			}
			p.Close()
			p.Close()
			if src.closed != 1 {
				t.Fatalf("source closed %d times", src.closed)
			}
		})
	}
	t.Run("closed early", func(t *testing.T) {
		src := &closeCounter{Reader: bytes.NewReader(data)}
		p := newPrefetcher(src, block)
		if _, err := p.next(); err != nil {
			t.Fatal(err)
		}
		p.Close() // returns only once the goroutine is gone
		if src.closed != 1 || p.made > prefetchDepth+3 {
			t.Fatalf("closed %d times, %d blocks made", src.closed, p.made)
		}
	})
}
