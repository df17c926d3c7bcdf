package upload

import (
	"bufio"
	"compress/zlib"
	"io"
	"slices"
)

// A PDF is scanned as a stream of bytes by a small tokenizer that knows just enough of the
// syntax (ISO 32000-1 §7.2, §7.3) to find names where names can be: outside literal strings,
// comments and stream data. Names are compared after decoding #xx escapes, so /J#61vaScript is
// /JavaScript. Object streams (/Type /ObjStm, where PDF 1.5+ writers put most dictionaries) are
// inflated and scanned the same way, within a budget. This finds what a PDF declares; it does
// not parse the object graph, so an /OpenAction and JavaScript found anywhere in one file are
// reported together.

// pdfFindings are what a scan found.
type pdfFindings struct {
	javascript, openAction, launch, embedded, additional, encrypted, incomplete bool
}

func (f *pdfFindings) flags() []string {
	var flags []string
	for _, c := range []struct {
		on   bool
		flag string
	}{
		{f.javascript, FlagPDFJavaScript},
		{f.javascript && f.openAction, FlagPDFOpenActionJavaScript},
		{f.launch, FlagPDFLaunch},
		{f.embedded, FlagPDFEmbeddedFile},
		{f.additional, FlagPDFAdditionalActions},
		{f.encrypted, FlagPDFEncrypted},
		{f.incomplete, FlagPDFScanIncomplete},
	} {
		if c.on {
			flags = append(flags, c.flag)
		}
	}
	slices.Sort(flags)
	return flags
}

// scanPDF reads size bytes of r in windows and returns the sorted flags for what it found. A read
// error ends the scan; the caller learns of it from r.
func scanPDF(r io.ReaderAt, size int64, lim inspectLimits) []string {
	var found pdfFindings
	budget := pdfInflateBudget{bytes: lim.pdfInflate, streams: lim.pdfObjStreams}
	s := &pdfScanner{found: &found}
	s.onObjStm = func(dataStart int64) { budget.scan(r, dataStart, size, &found) }
	buf := make([]byte, min(size, int64(lim.pdfWindow)))
	for off := int64(0); off < size; {
		n, err := r.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		s.feed(buf[:n], off)
		off += int64(n)
		if err != nil || n == 0 {
			break
		}
	}
	return found.flags()
}

// pdfInflateBudget bounds the object streams inflated in one file.
type pdfInflateBudget struct {
	bytes   int64
	streams int
}

// scan inflates the object stream whose data starts at start (just after the "stream"
// keyword) and scans its content.
func (b *pdfInflateBudget) scan(r io.ReaderAt, start, size int64, found *pdfFindings) {
	if b.streams <= 0 || b.bytes <= 0 {
		found.incomplete = true
		return
	}
	b.streams--
	br := bufio.NewReader(io.NewSectionReader(r, start, size-start))
	for { // the end of line after "stream"; zlib data never starts with CR or LF
		c, err := br.ReadByte()
		if err != nil {
			found.incomplete = true
			return
		}
		if c != '\r' && c != '\n' {
			br.UnreadByte() // #nosec G104 -- follows a successful ReadByte
			break
		}
	}
	zr, err := zlib.NewReader(br)
	if err != nil { // another filter, encryption or damage
		found.incomplete = true
		return
	}
	child := &pdfScanner{found: found} // no onObjStm: object streams hold no streams
	buf := make([]byte, 32<<10)
	for {
		n, err := zr.Read(buf[:min(int64(len(buf)), b.bytes)])
		child.feed(buf[:n], 0)
		b.bytes -= int64(n)
		if err == io.EOF {
			return
		}
		if err != nil || b.bytes <= 0 {
			found.incomplete = true
			return
		}
	}
}

type pdfState uint8

const (
	pdfNormal  pdfState = iota
	pdfName             // after "/"
	pdfComment          // after "%", to the end of the line
	pdfString           // inside a literal string "( … )"
	pdfStream           // inside stream data, up to "endstream"
)

// pdfScanner is the tokenizer. It keeps its state between calls to feed, so a file can be
// fed in pieces of any size with the same result.
type pdfScanner struct {
	found    *pdfFindings
	onObjStm func(dataStart int64) // called at the data of an object stream; nil when inside one
	state    pdfState
	name     []byte // the name being read, at most maxPDFToken bytes
	word     []byte // the regular token being read, at most maxPDFToken bytes
	long     bool   // the current name or word is longer than maxPDFToken
	depth    int    // parentheses open in a literal string
	escaped  bool   // the previous byte in a string was a backslash
	matched  int    // bytes of "endstream" matched in stream data
	objStm   bool   // /ObjStm seen in the current object, before its stream
}

const maxPDFToken = 127

func (s *pdfScanner) feed(p []byte, base int64) {
	for i, c := range p {
		s.step(c, base+int64(i))
	}
}

func (s *pdfScanner) step(c byte, pos int64) {
	switch s.state {
	case pdfComment:
		if c == '\r' || c == '\n' {
			s.state = pdfNormal
		}
		return
	case pdfString:
		switch {
		case s.escaped:
			s.escaped = false
		case c == '\\':
			s.escaped = true
		case c == '(':
			s.depth++
		case c == ')':
			if s.depth--; s.depth == 0 {
				s.state = pdfNormal
			}
		}
		return
	case pdfStream:
		if s.matched = matchEndstream(s.matched, c); s.matched == len(endstream) {
			s.matched = 0
			s.state = pdfNormal
		}
		return
	case pdfName:
		if pdfRegular(c) {
			s.name, s.long = appendToken(s.name, s.long, c)
			return
		}
		s.endName()
		s.state = pdfNormal
	}
	if pdfRegular(c) {
		s.word, s.long = appendToken(s.word, s.long, c)
		return
	}
	if s.endWord(pos) {
		return
	}
	switch c {
	case '/':
		s.state = pdfName
	case '(':
		s.state, s.depth = pdfString, 1
	case '%':
		s.state = pdfComment
	}
}

func appendToken(tok []byte, long bool, c byte) ([]byte, bool) {
	if len(tok) < maxPDFToken {
		return append(tok, c), long
	}
	return tok, true
}

// endName records an interesting name.
func (s *pdfScanner) endName() {
	name, long := s.name, s.long
	s.name, s.long = s.name[:0], false
	if long {
		return
	}
	switch string(decodePDFName(name)) {
	case "JavaScript", "JS":
		s.found.javascript = true
	case "OpenAction":
		s.found.openAction = true
	case "Launch":
		s.found.launch = true
	case "EmbeddedFile", "EmbeddedFiles":
		s.found.embedded = true
	case "AA":
		s.found.additional = true
	case "Encrypt":
		s.found.encrypted = true
	case "ObjStm":
		s.objStm = true
	}
}

// endWord acts on a keyword ended at the delimiter at pos, and reports whether it began
// stream data (which the delimiter, an end of line, is part of).
func (s *pdfScanner) endWord(pos int64) bool {
	word, long := s.word, s.long
	s.word, s.long = s.word[:0], false
	if long {
		return false
	}
	switch string(word) {
	case "stream":
		if s.onObjStm == nil {
			return false
		}
		if s.objStm {
			s.onObjStm(pos + 1)
		}
		s.objStm = false
		s.state = pdfStream
		return true
	case "endobj":
		s.objStm = false
	}
	return false
}

// decodePDFName replaces #xx escapes in place.
func decodePDFName(name []byte) []byte {
	out := name[:0]
	for i := 0; i < len(name); i++ {
		if name[i] == '#' && i+2 < len(name) && isHex(name[i+1]) && isHex(name[i+2]) {
			out = append(out, unhex(name[i+1])<<4|unhex(name[i+2]))
			i += 2
			continue
		}
		out = append(out, name[i])
	}
	return out
}

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}

// pdfRegular reports a byte that is neither white space nor a delimiter (ISO 32000-1 §7.2.2).
func pdfRegular(c byte) bool {
	switch c {
	case 0, '\t', '\n', '\f', '\r', ' ', '(', ')', '<', '>', '[', ']', '{', '}', '/', '%':
		return false
	}
	return true
}

const endstream = "endstream"

// endstreamFail is the Knuth–Morris–Pratt failure function of "endstream".
var endstreamFail = func() []int {
	fail := make([]int, len(endstream))
	for i, k := 1, 0; i < len(endstream); i++ {
		for k > 0 && endstream[i] != endstream[k] {
			k = fail[k-1]
		}
		if endstream[i] == endstream[k] {
			k++
		}
		fail[i] = k
	}
	return fail
}()

// matchEndstream returns how many bytes of "endstream" are matched after c, given matched
// before it.
func matchEndstream(matched int, c byte) int {
	for matched > 0 && endstream[matched] != c {
		matched = endstreamFail[matched-1]
	}
	if endstream[matched] == c {
		matched++
	}
	return matched
}
