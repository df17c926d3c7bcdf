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

// A prefetcher yields its source's bytes in order and then its error; closing it early stops
// it and closes the source once.
func TestPrefetcher(t *testing.T) {
	data := make([]byte, 5*prefetchBlock+12345)
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
		{"cut off", io.MultiReader(bytes.NewReader(data[:2*prefetchBlock+7]), iotest.ErrReader(boom)), data[:2*prefetchBlock+7], boom},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &closeCounter{Reader: tt.src}
			p := newPrefetcher(src)
			var got bytes.Buffer
			buf := make([]byte, 70000)
			var err error
			for {
				var n int
				n, err = p.Read(buf)
				got.Write(buf[:n])
				if err != nil {
					break
				}
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
		p := newPrefetcher(src)
		if _, err := io.ReadFull(p, make([]byte, 100)); err != nil {
			t.Fatal(err)
		}
		p.Close() // returns only once the goroutine is gone
		if src.closed != 1 || p.made > prefetchDepth+2 {
			t.Fatalf("closed %d times, %d blocks made", src.closed, p.made)
		}
	})
}
