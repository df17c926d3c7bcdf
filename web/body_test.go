package web

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"testing"
	"testing/iotest"
	"time"
)

// failingWriter is a ResponseWriter whose writes fail once more than limit bytes were written.
type failingWriter struct {
	*httptest.ResponseRecorder
	limit int
}

func (f *failingWriter) Write(p []byte) (int, error) {
	if f.Body.Len()+len(p) > f.limit {
		return 0, errors.New("connection reset")
	}
	return f.ResponseRecorder.Write(p)
}

// panicReader panics, as documentBody.abort does, once more than after bytes were read.
type panicReader struct {
	r     io.Reader
	after int
	read  int
}

func (p *panicReader) Read(b []byte) (int, error) {
	if p.read >= p.after {
		panic(http.ErrAbortHandler)
	}
	n, err := p.r.Read(b[:min(len(b), p.after-p.read)])
	p.read += n
	return n, err
}

// A body is written whole and in order, whatever its length and the sizes of its reads; a
// failed write or read ends the copy with its error; an aborted read panics in the caller's
// goroutine (where net/http recovers it); and no goroutine is left behind.
func TestBodyWriter(t *testing.T) {
	data := make([]byte, 5*bodyCopy+12345)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	goroutines := runtime.NumGoroutine()
	for _, size := range []int{0, 1, bodyCopy - 1, bodyCopy, bodyCopy + 1, 3 * bodyCopy, len(data)} {
		for name, r := range map[string]io.Reader{
			"whole":       bytes.NewReader(data[:size]),
			"small reads": iotest.HalfReader(bytes.NewReader(data[:size])),
		} {
			rec := httptest.NewRecorder()
			n, err := bodyWriter{rec}.ReadFrom(r)
			if err != nil || n != int64(size) || !bytes.Equal(rec.Body.Bytes(), data[:size]) {
				t.Fatalf("%d bytes, %s: wrote %d, %v", size, name, n, err)
			}
		}
	}

	boom := errors.New("decryption failed")
	for _, tt := range []struct {
		name string
		r    io.Reader
		w    http.ResponseWriter
		want int64
		err  error
	}{
		{"read fails in the first buffer", io.MultiReader(bytes.NewReader(data[:1000]), iotest.ErrReader(boom)), httptest.NewRecorder(), 1000, boom},
		{"read fails later", io.MultiReader(bytes.NewReader(data[:3*bodyCopy+7]), iotest.ErrReader(boom)), httptest.NewRecorder(), 3*bodyCopy + 7, boom},
		{"write fails at once", bytes.NewReader(data), &failingWriter{httptest.NewRecorder(), 10}, 0, nil},
		{"write fails later", bytes.NewReader(data), &failingWriter{httptest.NewRecorder(), 2 * bodyCopy}, 2 * bodyCopy, nil},
	} {
		n, err := bodyWriter{tt.w}.ReadFrom(tt.r)
		if n != tt.want || err == nil || (tt.err != nil && !errors.Is(err, tt.err)) {
			t.Errorf("%s: wrote %d, %v; want %d and an error", tt.name, n, err, tt.want)
		}
	}

	secret := bytes.Repeat([]byte("S"), 64)
	for _, after := range []int{100, bodyCopy + 100, 3 * bodyCopy} {
		func() {
			defer func() {
				if p := recover(); p != http.ErrAbortHandler {
					t.Fatalf("abort after %d bytes: recovered %v", after, p)
				}
				// The pool hands back the buffer just put, on the same processor: it must
				// not hold the plaintext read before the abort.
				bp := bodyBuffers.Get().(*[]byte)
				defer bodyBuffers.Put(bp)
				if bytes.Contains(*bp, secret) {
					t.Fatalf("abort after %d bytes: a pooled buffer holds plaintext", after)
				}
			}()
			body := bytes.Repeat([]byte("S"), len(data))
			bodyWriter{httptest.NewRecorder()}.ReadFrom(&panicReader{r: bytes.NewReader(body), after: after})
			t.Fatalf("abort after %d bytes: no panic", after)
		}()
	}

	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > goroutines && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutines {
		t.Fatalf("%d goroutines left, %d before", n, goroutines)
	}
}
