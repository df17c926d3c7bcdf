package main

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

func readAll(t *testing.T, r io.Reader) []byte {
	t.Helper()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Any part of a source reads as the same bytes as that part of the whole, whatever the
// offset, length and read sizes; the prefix starts the source; seeds give different bytes.
func TestSourceReadsAnyPartConsistently(t *testing.T) {
	src := source{seed: 7, size: 3*sourceBlock + 12345, prefix: dicomPrefix}
	whole := readAll(t, src.reader(0, src.size))
	if int64(len(whole)) != src.size {
		t.Fatalf("read %d bytes of %d", len(whole), src.size)
	}
	if !bytes.Equal(whole[:132], dicomPrefix) {
		t.Fatalf("the source does not start with its prefix: %x", whole[:132])
	}
	tests := []struct {
		name    string
		off, n  int64
		oneByte bool
	}{
		{"start", 0, 100, false},
		{"across the prefix's end", 130, 10, true},
		{"across a block boundary", sourceBlock - 5, 10, true},
		{"two whole blocks", sourceBlock, 2 * sourceBlock, false},
		{"the end", src.size - 1000, 1000, false},
		{"past the end", src.size - 10, 100, false},
		{"at the end", src.size, 10, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r io.Reader = src.reader(tt.off, tt.n)
			if tt.oneByte {
				r = iotest.OneByteReader(r)
			}
			got := readAll(t, r)
			want := whole[min(tt.off, src.size):min(tt.off+tt.n, src.size)]
			if !bytes.Equal(got, want) {
				t.Fatalf("reader(%d, %d) gives %d bytes that differ from the whole's", tt.off, tt.n, len(got))
			}
		})
	}
	again := readAll(t, source{seed: 7, size: 4096}.reader(0, 4096))
	other := readAll(t, source{seed: 8, size: 4096}.reader(0, 4096))
	if !bytes.Equal(again[132:], whole[132:4096]) || bytes.Equal(again, other) {
		t.Fatal("the bytes do not depend on the seed alone")
	}
}

func TestSourceReaderPassesIOTest(t *testing.T) {
	src := source{seed: 1, size: sourceBlock + 777, prefix: pdfPrefix}
	whole := readAll(t, src.reader(0, src.size))
	if err := iotest.TestReader(src.reader(0, src.size), whole); err != nil {
		t.Fatal(err)
	}
}
