package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"io"
	"math/rand/v2"
)

// sourceBlock is the unit the generator produces: block i of a source is the ChaCha8 stream
// keyed by (seed, i), so the bytes at any offset are produced without those before them.
const sourceBlock = 1 << 20

// A source describes size deterministic bytes: ChaCha8 output with prefix written over its
// start (a DICOM preamble, "%PDF-"). Its bytes exist only while a reader produces them.
type source struct {
	seed   uint64
	size   int64
	prefix []byte
}

// reader returns a reader of the n bytes at off (fewer when the source ends first).
func (s source) reader(off, n int64) *sourceReader {
	return &sourceReader{s: s, off: off, end: min(off+n, s.size), block: -1}
}

// sha256 returns the hex SHA-256 of all the source's bytes.
func (s source) sha256() string {
	h := sha256.New()
	io.Copy(h, s.reader(0, s.size)) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	return hex.EncodeToString(h.Sum(nil))
}

// sourceReader streams part of a source through one block-sized buffer.
type sourceReader struct {
	s        source
	off, end int64
	buf      []byte
	block    int64 // the block buf holds; -1 for none
	rng      rand.ChaCha8
}

func (r *sourceReader) Read(p []byte) (int, error) {
	if r.off >= r.end {
		return 0, io.EOF
	}
	i := r.off / sourceBlock
	if i != r.block {
		r.fill(i)
	}
	in := r.off % sourceBlock
	n := copy(p[:min(int64(len(p)), r.end-r.off)], r.buf[in:])
	r.off += int64(n)
	return n, nil
}

// fill generates block i into buf.
func (r *sourceReader) fill(i int64) {
	if r.buf == nil {
		r.buf = make([]byte, sourceBlock)
	}
	var key [32]byte
	binary.LittleEndian.PutUint64(key[0:], r.s.seed)
	binary.LittleEndian.PutUint64(key[8:], uint64(i)) // #nosec G115 -- a block index, never negative
	r.rng.Seed(key)
	r.rng.Read(r.buf) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	if start := i * sourceBlock; start < int64(len(r.s.prefix)) {
		copy(r.buf, r.s.prefix[start:])
	}
	r.block = i
}

// dicomPrefix is a DICOM file's start: a 128-byte zero preamble and "DICM".
var dicomPrefix = append(make([]byte, 128), "DICM"...)

// pdfPrefix is a PDF file's start.
var pdfPrefix = []byte("%PDF-1.7\n")
