package web

import (
	"mime"
	"strings"
	"testing"
	"unicode"
)

func TestContentDisposition(t *testing.T) {
	tests := []struct {
		name, in, wantName string
	}{
		{"plain", "report.pdf", "report.pdf"},
		{"path", "../../etc/passwd", "passwd"},
		{"windows path", `C:\Users\x\scan.dcm`, "scan.dcm"},
		{"quotes and newline", "a\"b\r\nSet-Cookie: x.pdf", "abSet-Cookie: x.pdf"},
		{"bidi override", "invoice\u202Efdp.exe", "invoicefdp.exe"},
		{"unicode", "referto_città.pdf", "referto_città.pdf"},
		{"hidden", "...", "document"},
		{"empty", "", "document"},
		{"invalid utf8", "ok\xff.pdf", "ok.pdf"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := contentDisposition("attachment", tt.in, "document")
			disp, params, err := mime.ParseMediaType(v)
			if err != nil {
				t.Fatalf("%q does not parse: %v", v, err)
			}
			if disp != "attachment" {
				t.Fatalf("disposition %q", disp)
			}
			if params["filename"] != tt.wantName {
				t.Fatalf("filename = %q, want %q (header %q)", params["filename"], tt.wantName, v)
			}
		})
	}
}

func FuzzContentDisposition(f *testing.F) {
	for _, s := range []string{"a.pdf", "../x", "\u202e", "a\"b", "x\r\ny", "%41;b", strings.Repeat("é", 300)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		v := contentDisposition("attachment", name, "document")
		for _, r := range v {
			if r > unicode.MaxASCII || r < 0x20 || r == 0x7f {
				t.Fatalf("non-ASCII or control byte in header %q", v)
			}
		}
		_, params, err := mime.ParseMediaType(v)
		if err != nil {
			t.Fatalf("%q does not parse: %v", v, err)
		}
		if fn := params["filename"]; fn == "" || strings.ContainsAny(fn, "/\\\"") {
			t.Fatalf("unsafe filename %q from %q", fn, name)
		}
	})
}

// A document is downloaded under the extension of what it really is (finding 10 of the
// security review): a PDF named like a program is saved as a PDF.
func TestDownloadName(t *testing.T) {
	for _, c := range []struct{ name, sniffed, want string }{
		{"referto.pdf", "pdf", "referto.pdf"},
		{"referto.exe", "pdf", "referto.pdf"},
		{"referto", "pdf", "referto.pdf"},
		{"scan.JPEG", "jpeg", "scan.JPEG"},
		{"scan.png", "jpeg", "scan.jpg"},
		{"slide.tiff", "tiff", "slide.tiff"},
		{"IM000001", "dicom", "IM000001.dcm"},
		{"cd.zip.exe", "zip", "cd.zip.zip"},
		{".pdf", "zip", "document.zip"},
		{"notes.txt", "unknown", "notes.txt"},
	} {
		if got := downloadName(c.name, c.sniffed); got != c.want {
			t.Errorf("downloadName(%q, %s) = %q, want %q", c.name, c.sniffed, got, c.want)
		}
	}
}
