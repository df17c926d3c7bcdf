package upload

import (
	"archive/zip"
	"bytes"
	"compress/zlib"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"slices"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"
)

type zipEntry struct {
	name     string
	data     string
	deflate  bool
	mode     fs.FileMode
	flags    uint16
	declared uint64 // when set, a raw entry of len(data) stored bytes that claims this size
}

// zipOf builds an archive in memory.
func zipOf(t testing.TB, entries ...zipEntry) []byte {
	t.Helper()
	var b bytes.Buffer
	zw := zip.NewWriter(&b)
	for _, e := range entries {
		h := &zip.FileHeader{Name: e.name, Method: zip.Store, Flags: e.flags}
		if e.deflate {
			h.Method = zip.Deflate
		}
		if e.mode != 0 {
			h.SetMode(e.mode)
		}
		var w io.Writer
		var err error
		if e.declared > 0 {
			h.Method = zip.Deflate
			h.CompressedSize64, h.UncompressedSize64 = uint64(len(e.data)), e.declared
			w, err = zw.CreateRaw(h)
		} else {
			w, err = zw.CreateHeader(h)
		}
		if err == nil {
			_, err = io.WriteString(w, e.data)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func entries(n int, prefix string) []zipEntry {
	es := make([]zipEntry, n)
	for i := range es {
		es[i] = zipEntry{name: fmt.Sprintf("%s%06d.dcm", prefix, i)}
	}
	return es
}

func inspectBytes(t testing.TB, data []byte, kind so.DocumentKind, lim inspectLimits) Verdict {
	t.Helper()
	v, err := inspect(context.Background(), bytes.NewReader(data), int64(len(data)), kind, lim)
	if err != nil {
		t.Fatalf("inspect: %v", err)
	}
	return v
}

// pdfOf wraps objects in a minimal PDF.
func pdfOf(objects ...string) []byte {
	var b strings.Builder
	b.WriteString("%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
	for i, o := range objects {
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	b.WriteString("trailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return []byte(b.String())
}

// objStm returns an object stream holding content, deflated unless raw is set.
func objStm(t testing.TB, content string, raw bool) string {
	data := []byte(content)
	if !raw {
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		zw.Write(data)
		zw.Close()
		data = b.Bytes()
	}
	return fmt.Sprintf("<< /Type /ObjStm /N 1 /First 4 /Length %d /Filter /FlateDecode >>\nstream\r\n%s\nendstream", len(data), data)
}

// small limits let tests cross every bound with small files.
var small = inspectLimits{
	zipEntries: 20, zipDirBytes: 16 << 10, zipUncompressed: 8 << 20, zipRatio: 100, zipRatioFloor: 1 << 20,
	pdfWindow: 64, pdfInflate: 1 << 20, pdfObjStreams: 3,
}

func TestInspect(t *testing.T) {
	zeros := strings.Repeat("\x00", 4<<20)
	tests := []struct {
		name  string
		kind  so.DocumentKind
		data  []byte
		typ   string
		flags []string
		code  string // the rejection's code, "" when kept
	}{
		// types against the allowlist
		{"pdf report", "report", pdfOf("<< /Type /Catalog >>"), TypePDF, nil, ""},
		{"zip as consent form", "consent_form", zipOf(t, zipEntry{name: "a.pdf"}), TypeZIP, nil, "file_type_not_allowed"},
		{"tiff as identity document", "identity_document", []byte("II*\x00\x08\x00\x00\x00"), TypeTIFF, nil, "file_type_not_allowed"},
		{"tiff as clinical history", "clinical_history", []byte("II*\x00\x08\x00\x00\x00"), TypeTIFF, nil, ""},
		{"text as other", "other", []byte("just text"), TypeUnknown, nil, "file_type_not_allowed"},
		{"empty file", "other", nil, TypeUnknown, nil, "file_type_not_allowed"},
		{"pdf as imaging study", "imaging_study", pdfOf(), TypePDF, nil, "file_type_not_allowed"},
		{"unknown kind", "x-ray", pdfOf(), TypePDF, nil, "file_type_not_allowed"},

		// DICOM
		{"dicom study", "imaging_study", dicomFile(""), TypeDICOM, nil, ""},
		{"dicom with tiff preamble", "imaging_study", dicomFile("II*\x00"), TypeDICOM, nil, ""},
		{"dicom with pdf preamble", "imaging_study", dicomFile("%PDF-1.4"), TypeDICOM, []string{FlagDICOMPolyglot}, ""},
		{"dicom with executable preamble", "imaging_study", dicomFile("MZ\x90\x00"), TypeDICOM, []string{FlagDICOMPolyglot}, ""},
		{"dicom with zip preamble", "imaging_study", dicomFile("PK\x03\x04"), TypeDICOM, []string{FlagDICOMPolyglot}, ""},

		// ZIP
		{"dicom zip", "imaging_study", zipOf(t, zipEntry{name: "DICOMDIR"}, zipEntry{name: "S1/IM0001", data: string(dicomFile("")), deflate: true}), TypeZIP, nil, ""},
		{"names that only look odd", "imaging_study", zipOf(t, zipEntry{name: "..a/b..c/...", data: "x"}, zipEntry{name: "dir/"}), TypeZIP, nil, ""},
		{"empty zip", "imaging_study", zipOf(t), TypeZIP, nil, ""},
		{"zip slip", "imaging_study", zipOf(t, zipEntry{name: "../../etc/cron.d/x"}), TypeZIP, nil, "unsafe_archive"},
		{"zip slip inside", "imaging_study", zipOf(t, zipEntry{name: "a/../../x"}), TypeZIP, nil, "unsafe_archive"},
		{"zip slip at end", "imaging_study", zipOf(t, zipEntry{name: "a/.."}), TypeZIP, nil, "unsafe_archive"},
		{"absolute name", "imaging_study", zipOf(t, zipEntry{name: "/etc/passwd"}), TypeZIP, nil, "unsafe_archive"},
		{"drive letter", "imaging_study", zipOf(t, zipEntry{name: "C:/Windows/x"}), TypeZIP, nil, "unsafe_archive"},
		{"backslash", "imaging_study", zipOf(t, zipEntry{name: `..\..\x`}), TypeZIP, nil, "unsafe_archive"},
		{"NUL in name", "imaging_study", zipOf(t, zipEntry{name: "x.dcm\x00.txt"}), TypeZIP, nil, "unsafe_archive"},
		{"newline in name", "imaging_study", zipOf(t, zipEntry{name: "x\n.dcm"}), TypeZIP, nil, "unsafe_archive"},
		{"symbolic link", "imaging_study", zipOf(t, zipEntry{name: "link", data: "/etc", mode: fs.ModeSymlink | 0o777}), TypeZIP, nil, "unsafe_archive"},
		{"encrypted entry", "imaging_study", zipOf(t, zipEntry{name: "a.dcm", data: "xx", flags: 0x1}), TypeZIP, []string{FlagZIPEncrypted}, ""},
		{"nested archives", "imaging_study", zipOf(t, zipEntry{name: "inner.ZIP"}, zipEntry{name: "b.tar.gz"}), TypeZIP, []string{FlagZIPNested}, ""},
		{"too many entries", "imaging_study", zipOf(t, entries(21, "")...), TypeZIP, nil, "unsafe_archive"},
		{"as many entries as allowed", "imaging_study", zipOf(t, entries(20, "")...), TypeZIP, nil, ""},
		{"directory over budget", "imaging_study", zipOf(t, entries(20, strings.Repeat("d/", 400))...), TypeZIP, nil, "unsafe_archive"},
		{"deflate bomb entry", "imaging_study", zipOf(t, zipEntry{name: "a.dcm", data: zeros, deflate: true}), TypeZIP, nil, "unsafe_archive"},
		{"compressible but under the floor", "imaging_study", zipOf(t, zipEntry{name: "a.dcm", data: zeros[:1<<20], deflate: true}), TypeZIP, nil, ""},
		{"declared bomb", "imaging_study", zipOf(t, zipEntry{name: "a.dcm", data: "0123456789", declared: 1 << 40}), TypeZIP, nil, "unsafe_archive"},
		{"entries under the floor, archive bomb", "imaging_study", zipOf(t,
			zipEntry{name: "a", data: strings.Repeat("x", 20<<10), declared: 1536 << 10},
			zipEntry{name: "b", data: "x", declared: 900 << 10}), TypeZIP, nil, "unsafe_archive"},
		{"over the total", "imaging_study", zipOf(t,
			zipEntry{name: "a", data: strings.Repeat("x", 1<<20), declared: 5 << 20},
			zipEntry{name: "b", data: strings.Repeat("x", 1<<20), declared: 5 << 20}), TypeZIP, nil, "unsafe_archive"},
		{"damaged zip", "imaging_study", []byte("PK\x03\x04 this is not an archive"), TypeZIP, nil, "unreadable_file"},
		{"truncated zip", "imaging_study", zipOf(t, zipEntry{name: "a", data: "abc"})[:40], TypeZIP, nil, "unreadable_file"},

		// PDF
		{"javascript", "report", pdfOf("<< /S /JavaScript /JS (app.alert(1)) >>"), TypePDF, []string{FlagPDFJavaScript}, ""},
		{"open action with javascript", "report", pdfOf("<< /OpenAction 2 0 R >>", "<</S/JavaScript/JS 3 0 R>>"), TypePDF,
			[]string{FlagPDFJavaScript, FlagPDFOpenActionJavaScript}, ""},
		{"open action alone", "report", pdfOf("<< /OpenAction [3 0 R /Fit] >>"), TypePDF, nil, ""},
		{"hex-escaped name", "report", pdfOf("<< /S /J#61va#53cript >>"), TypePDF, []string{FlagPDFJavaScript}, ""},
		{"launch", "report", pdfOf("<</S/Launch/F(cmd.exe)>>"), TypePDF, []string{FlagPDFLaunch}, ""},
		{"embedded files", "report", pdfOf("<< /Names << /EmbeddedFiles 4 0 R >> >>", "<< /Type /EmbeddedFile >>"), TypePDF, []string{FlagPDFEmbeddedFile}, ""},
		{"additional actions", "report", pdfOf("<< /Type /Page /AA << /O 5 0 R >> >>"), TypePDF, []string{FlagPDFAdditionalActions}, ""},
		{"encrypted", "report", []byte("%PDF-1.7\ntrailer\n<< /Encrypt 9 0 R >>\n"), TypePDF, []string{FlagPDFEncrypted}, ""},
		{"names in a string are text", "report", pdfOf("<< /Title (about /JavaScript and \\( /JS \\) (nested /Launch)) >>"), TypePDF, nil, ""},
		{"names in a comment are text", "report", pdfOf("% /JavaScript /Launch\n<< >>"), TypePDF, nil, ""},
		{"names in stream data are data", "report", pdfOf("<< /Length 20 >>\nstream\n/JavaScript /Launch\nendstream"), TypePDF, nil, ""},
		{"after a stream names count again", "report", pdfOf("<< /Length 3 >>\nstream\nabc\nendstream", "<< /AA 1 0 R >>"), TypePDF, []string{FlagPDFAdditionalActions}, ""},
		{"longer names are other names", "report", pdfOf("<< /JSON 1 /AAA 2 /Launcher 3 /JavaScripts 4 >>"), TypePDF, nil, ""},
		{"javascript in an object stream", "report", pdfOf(objStm(t, "<< /S /JavaScript /JS 5 0 R >>", false)), TypePDF, []string{FlagPDFJavaScript}, ""},
		{"object stream not deflated", "report", pdfOf(objStm(t, "<< /S /JavaScript >>", true)), TypePDF, []string{FlagPDFScanIncomplete}, ""},
		{"object stream budget", "report", pdfOf(objStm(t, "1", false), objStm(t, "2", false), objStm(t, "3", false), objStm(t, "<</Launch 1>>", false)), TypePDF,
			[]string{FlagPDFScanIncomplete}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := inspectBytes(t, tt.data, tt.kind, small)
			if v.Type != tt.typ || !slices.Equal(v.Flags, tt.flags) {
				t.Fatalf("type %s flags %v, want %s %v", v.Type, v.Flags, tt.typ, tt.flags)
			}
			switch {
			case tt.code == "" && v.Reject != nil:
				t.Fatalf("rejected: %v", v.Reject)
			case tt.code != "" && v.Reject == nil:
				t.Fatalf("kept, want %s", tt.code)
			case tt.code != "" && v.Reject.Code != tt.code:
				t.Fatalf("rejected as %s (%s), want %s", v.Reject.Code, v.Reject.Message, tt.code)
			}
			if v.Reject != nil {
				want := http.StatusUnprocessableEntity
				if tt.code == "file_type_not_allowed" {
					want = http.StatusUnsupportedMediaType
				}
				if v.Reject.Status != want {
					t.Fatalf("status %d, want %d", v.Reject.Status, want)
				}
			}
		})
	}
}

func TestInspectDefaultLimits(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		code string
	}{
		{"a big study", zipOf(t, entries(5000, "S1/")...), ""},
		{"too many entries", zipOf(t, entries(100_001, "")...), "unsafe_archive"},
		{"one entry of a terabyte", zipOf(t, zipEntry{name: "a", data: strings.Repeat("x", 1<<20), declared: 1 << 40}), "unsafe_archive"},
		{"overlapping-style bomb", zipOf(t, zipEntry{name: "a", data: "x", declared: 60 << 20},
			zipEntry{name: "b", data: "x", declared: 60 << 20}), "unsafe_archive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Inspect(context.Background(), bytes.NewReader(tt.data), int64(len(tt.data)), "imaging_study")
			if err != nil {
				t.Fatal(err)
			}
			if got := ""; v.Reject != nil {
				got = v.Reject.Code
				if got != tt.code {
					t.Fatalf("rejected as %s: %s", got, v.Reject.Message)
				}
			} else if tt.code != "" {
				t.Fatalf("kept, want %s", tt.code)
			}
		})
	}
}

// TestScanPDFWindows: the tokenizer carries its state across windows, so a name, a string or
// an "endstream" split between two reads is handled as if read at once.
func TestScanPDFWindows(t *testing.T) {
	pdf := pdfOf("<< /Title (a /JS in a (string)) >>", "<< /Length 30 >>\nstream\n/Launch endstrea /Launch\nendstream",
		"<< /AA << >> /S /J#61vaScript >>", objStm(t, "<< /EmbeddedFile 1 >>", false))
	want := []string{FlagPDFAdditionalActions, FlagPDFEmbeddedFile, FlagPDFJavaScript}
	for _, w := range []int{1, 2, 3, 5, 7, 64, 4096} {
		lim := small
		lim.pdfWindow = w
		if got := scanPDF(bytes.NewReader(pdf), int64(len(pdf)), lim); !slices.Equal(got, want) {
			t.Errorf("window %d: %v, want %v", w, got, want)
		}
	}
}

// failingReaderAt fails reads that reach beyond ok bytes.
type failingReaderAt struct {
	data []byte
	ok   int64
}

var errDisk = errors.New("simulated read failure")

func (f failingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.ok {
		return 0, errDisk
	}
	return bytes.NewReader(f.data).ReadAt(p, off)
}

func TestInspectReportsReadErrors(t *testing.T) {
	bigPDF := pdfOf(strings.Repeat("<< /Type /Page >>\n", 1000))
	zipFile := zipOf(t, entries(10, "")...)
	tests := []struct {
		name string
		kind so.DocumentKind
		r    io.ReaderAt
		size int64
	}{
		{"head", "report", failingReaderAt{bigPDF, 0}, int64(len(bigPDF))},
		{"pdf body", "report", failingReaderAt{bigPDF, 1000}, int64(len(bigPDF))},
		{"zip directory", "imaging_study", failingReaderAt{zipFile, int64(len(zipFile)) - 100}, int64(len(zipFile))},
	}
	for _, tt := range tests {
		v, err := Inspect(context.Background(), tt.r, tt.size, tt.kind)
		if !errors.Is(err, errDisk) {
			t.Errorf("%s: got verdict %+v, error %v; want the read error", tt.name, v, err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Inspect(ctx, bytes.NewReader(bigPDF), int64(len(bigPDF)), "report"); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled context: %v", err)
	}
}

func TestRejectMessagesNameTheRule(t *testing.T) {
	v := inspectBytes(t, zipOf(t, zipEntry{name: "a.pdf"}), "identity_document", defaultInspectLimits)
	if want := "a document of this kind must be PDF, JPEG or PNG; this file's content is ZIP"; v.Reject.Message != want {
		t.Errorf("message %q, want %q", v.Reject.Message, want)
	}
	v = inspectBytes(t, []byte("plain"), "consent_form", defaultInspectLimits)
	if want := "a document of this kind must be PDF; this file's content is of no accepted format"; v.Reject.Message != want {
		t.Errorf("message %q, want %q", v.Reject.Message, want)
	}
	secret := "Rossi-Mario-biopsy"
	v = inspectBytes(t, zipOf(t, zipEntry{name: "../" + secret}), "imaging_study", defaultInspectLimits)
	if v.Reject == nil || strings.Contains(v.Reject.Message, secret) {
		t.Errorf("rejection %+v repeats an entry name", v.Reject)
	}
}

// checkVerdict holds for every verdict on any input.
func checkVerdict(t *testing.T, data []byte, kind so.DocumentKind, v Verdict) {
	t.Helper()
	if v.Type != Sniff(data) {
		t.Fatalf("type %s, Sniff says %s", v.Type, Sniff(data))
	}
	if !slices.IsSorted(v.Flags) || len(slices.Compact(slices.Clone(v.Flags))) != len(v.Flags) {
		t.Fatalf("flags %v not sorted and unique", v.Flags)
	}
	if v.Reject == nil && !slices.Contains(AllowedTypes(kind), v.Type) {
		t.Fatalf("kept a %s as %s", v.Type, kind)
	}
	if v.Reject != nil && v.Reject.Status != http.StatusUnsupportedMediaType && v.Reject.Status != http.StatusUnprocessableEntity {
		t.Fatalf("reject status %d", v.Reject.Status)
	}
}

func FuzzInspectZIP(f *testing.F) {
	f.Add(zipOf(f, zipEntry{name: "S1/IM1", data: "DICM", deflate: true}, zipEntry{name: "x/../y"}))
	f.Add(zipOf(f, zipEntry{name: "a", data: "0123", declared: 1 << 30}))
	f.Add(zipOf(f, entries(3, "d/")...))
	f.Add([]byte("PK\x05\x06\x00\x00\x00\x00\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x00\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := inspect(context.Background(), bytes.NewReader(data), int64(len(data)), "imaging_study", small)
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		checkVerdict(t, data, "imaging_study", v)
	})
}

func FuzzInspectPDF(f *testing.F) {
	f.Add(pdfOf("<< /OpenAction 2 0 R >>", "<< /S /JavaScript /JS (x) >>"), uint8(7))
	f.Add(pdfOf("(/JS \\) ( /Launch ))", "<< /Length 9 >>\nstream\n/AA\nendstream"), uint8(1))
	f.Add(pdfOf(objStm(f, "<< /S /Launch >>", false)), uint8(3))
	f.Add([]byte("%PDF-1.4\n/J#61vaScript%/AA\n/Encrypt"), uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, window uint8) {
		data = append([]byte("%PDF-"), data...)
		v, err := inspect(context.Background(), bytes.NewReader(data), int64(len(data)), "report", small)
		if err != nil {
			t.Fatalf("error from an in-memory reader: %v", err)
		}
		checkVerdict(t, data, "report", v)
		if v.Type != TypePDF {
			return
		}
		lim := small
		lim.pdfWindow = int(window) + 1
		if got := scanPDF(bytes.NewReader(data), int64(len(data)), lim); !slices.Equal(got, v.Flags) {
			t.Fatalf("window %d found %v, window %d found %v", lim.pdfWindow, got, small.pdfWindow, v.Flags)
		}
	})
}

func ExampleInspect() {
	pdf := []byte("%PDF-1.7\n1 0 obj\n<< /OpenAction << /S /JavaScript /JS (app.alert(1)) >> >>\nendobj\n")
	v, err := Inspect(context.Background(), bytes.NewReader(pdf), int64(len(pdf)), "report")
	fmt.Println(v.Type, v.Flags, v.Reject, err)

	v, err = Inspect(context.Background(), bytes.NewReader(pdf), int64(len(pdf)), "imaging_study")
	fmt.Println(v.Reject.Status, v.Reject.Message, err)
	// Output:
	// pdf [pdf_javascript pdf_open_action_javascript] <nil> <nil>
	// 415 a document of this kind must be DICOM or ZIP; this file's content is PDF <nil>
}
