package upload

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"

	so "github.com/secondopinion/secondopinion"
)

// Flags Inspect raises. A flag marks something a reviewer should know before opening the
// file; it does not refuse the file.
const (
	FlagZIPEncrypted            = "zip_encrypted_entries"      // entries a reviewer cannot open without a password
	FlagZIPNested               = "zip_nested_archive"         // an archive inside the archive (not inspected)
	FlagPDFJavaScript           = "pdf_javascript"             // /JavaScript or /JS
	FlagPDFOpenActionJavaScript = "pdf_open_action_javascript" // JavaScript and an /OpenAction: may run on opening
	FlagPDFLaunch               = "pdf_launch_action"          // /Launch: starts another program
	FlagPDFEmbeddedFile         = "pdf_embedded_file"          // /EmbeddedFile(s): files inside the PDF
	FlagPDFAdditionalActions    = "pdf_additional_actions"     // /AA: actions on page or field events
	FlagPDFEncrypted            = "pdf_encrypted"              // /Encrypt: may need a password; compressed parts unscanned
	FlagPDFScanIncomplete       = "pdf_scan_incomplete"        // some object streams could not be or were not inflated
	FlagDICOMPolyglot           = "dicom_preamble_polyglot"    // the preamble holds another format (PDF, ZIP, executable…)
)

// Verdict is what Inspect concluded about a finished upload.
type Verdict struct {
	Type   string       // the sniffed type, one of the Type constants
	Flags  []string     // sorted, without duplicates
	Reject *RejectError // non-nil when the file must be erased; tell the uploader Reject.Message
}

// inspectLimits bound the work and memory of one inspection.
type inspectLimits struct {
	zipEntries      int    // most entries in an archive
	zipDirBytes     int64  // most bytes read to find and load the central directory
	zipUncompressed uint64 // most bytes the entries may expand to, in total
	zipRatio        uint64 // most expansion, of an entry or the whole archive...
	zipRatioFloor   uint64 // ...once it expands beyond this many bytes
	pdfWindow       int    // bytes read at a time
	pdfInflate      int64  // most bytes inflated from object streams, in total
	pdfObjStreams   int    // most object streams inflated
}

var defaultInspectLimits = inspectLimits{
	zipEntries:      100_000,
	zipDirBytes:     16 << 20,
	zipUncompressed: 256 << 30,
	zipRatio:        100,
	zipRatioFloor:   64 << 20,
	pdfWindow:       256 << 10,
	pdfInflate:      256 << 20,
	pdfObjStreams:   10_000,
}

// Inspect decides whether a finished upload of the given kind may be kept. It reads r only
// through ReadAt, in bounded pieces (in production r decrypts the stored object on the fly;
// nothing is written anywhere), and:
//
//   - sniffs the type and rejects a type not in AllowedTypes(kind) (415);
//   - ZIP: rejects more than 100,000 entries or a central directory over 16 MiB, entries
//     whose names are absolute, contain "..", backslashes, NUL or control characters, symbolic
//     links, more than 256 GiB uncompressed in total, and bombs: an entry or the whole archive
//     expanding beyond 64 MiB and more than 100 times its compressed size (422); flags
//     encrypted entries and nested archives. Sizes are those the archive declares; entries are
//     not decompressed;
//   - PDF: scans the file in 256 KiB windows and inflates object streams (at most 256 MiB in
//     all), and flags JavaScript, launch actions, embedded files, open actions with
//     JavaScript, additional actions and encryption;
//   - DICOM: flags a preamble that holds another format.
//
// The error is non-nil only when r fails or ctx ends: a verdict needs the whole file.
func Inspect(ctx context.Context, r io.ReaderAt, size int64, kind so.DocumentKind) (Verdict, error) {
	return inspect(ctx, r, size, kind, defaultInspectLimits)
}

func inspect(ctx context.Context, r io.ReaderAt, size int64, kind so.DocumentKind, lim inspectLimits) (Verdict, error) {
	cr := &checkedReaderAt{ctx: ctx, r: r}
	head := make([]byte, min(max(size, 0), SniffLen))
	n, _ := cr.ReadAt(head, 0)
	if cr.err != nil {
		return Verdict{}, fmt.Errorf("upload: inspect: %w", cr.err)
	}
	v := Verdict{Type: Sniff(head[:n])}
	if !slices.Contains(kindTypes[kind], v.Type) {
		v.Reject = &RejectError{Status: http.StatusUnsupportedMediaType, Code: "file_type_not_allowed",
			Message: fmt.Sprintf("a document of this kind must be %s; this file's content is %s",
				typeList(kindTypes[kind]), typeName(v.Type))}
		return v, nil
	}
	switch v.Type {
	case TypeZIP:
		v.Flags, v.Reject = inspectZIP(cr, size, lim)
	case TypePDF:
		v.Flags = scanPDF(cr, size, lim)
	case TypeDICOM:
		if p := head[:128]; Sniff(p) != TypeUnknown && Sniff(p) != TypeTIFF || // TIFF is allowed: PS3.10 §7.5
			strings.HasPrefix(string(p), "MZ") || strings.HasPrefix(string(p), "\x7fELF") {
			v.Flags = []string{FlagDICOMPolyglot}
		}
	}
	if cr.err != nil {
		return Verdict{}, fmt.Errorf("upload: inspect: %w", cr.err)
	}
	slices.Sort(v.Flags)
	v.Flags = slices.Compact(v.Flags)
	return v, nil
}

func typeName(t string) string {
	if t == TypeUnknown {
		return "of no accepted format"
	}
	return strings.ToUpper(t)
}

func typeList(types []string) string {
	if len(types) == 0 {
		return "of a known kind"
	}
	names := make([]string, len(types))
	for i, t := range types {
		names[i] = typeName(t)
	}
	if len(names) == 1 {
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " or " + names[len(names)-1]
}

// checkedReaderAt checks ctx before every read and keeps the first read error other than
// io.EOF, so that a failing source is reported as an error, never as a verdict on the file.
type checkedReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
	err error
}

func (c *checkedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		c.err = err
		return 0, err
	}
	n, err := c.r.ReadAt(p, off)
	if err != nil && err != io.EOF {
		c.err = err
	}
	return n, err
}
