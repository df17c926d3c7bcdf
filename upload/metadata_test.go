package upload

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	so "github.com/secondopinion/secondopinion"
)

var testNow = time.Date(2025, 3, 14, 10, 0, 0, 0, time.UTC)

func validMeta() map[string]string {
	return map[string]string{
		"case_id":  "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b",
		"kind":     "histology_report",
		"filename": "histology 2025.pdf",
		"filetype": "application/pdf",
	}
}

func with(kv ...string) map[string]string {
	m := validMeta()
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == "\x00delete" {
			delete(m, kv[i])
			continue
		}
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestParseMetadata(t *testing.T) {
	tests := []struct {
		name string
		meta map[string]string
		want Metadata // compared when wantErr is empty
		err  string   // substring of the rejection message
	}{
		{name: "minimal", meta: validMeta(), want: Metadata{
			CaseID: "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", Kind: "histology_report",
			Filename: "histology 2025.pdf", Filetype: "application/pdf"}},
		{name: "all fields, normalised", meta: with("case_id", "0B5E2C9A-7F3D-4E21-9A1C-5D6E7F809A1B",
			"filetype", "Application/PDF; charset=binary", "language", "IT", "document_date", "2025-03-14",
			"name", "ignored", "relativePath", "/home/x"), want: Metadata{
			CaseID: "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", Kind: "histology_report",
			Filename: "histology 2025.pdf", Filetype: "application/pdf", Language: "it",
			DocumentDate: time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC)}},
		{name: "date tomorrow in UTC is today east of it", meta: with("document_date", "2025-03-15"),
			want: Metadata{CaseID: "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", Kind: "histology_report",
				Filename: "histology 2025.pdf", Filetype: "application/pdf",
				DocumentDate: time.Date(2025, 3, 15, 0, 0, 0, 0, time.UTC)}},
		{name: "no filetype (browsers send none for DICOM)", meta: with("filetype", "\x00delete", "kind", "imaging_study"),
			want: Metadata{CaseID: "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", Kind: "imaging_study",
				Filename: "histology 2025.pdf", Filetype: "application/octet-stream"}},
		{name: "path in filename", meta: with("filename", `C:\Users\maria\Desktop\..\referto.pdf`),
			want: Metadata{CaseID: "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", Kind: "histology_report",
				Filename: "referto.pdf", Filetype: "application/pdf"}},

		{name: "missing case_id", meta: with("case_id", "\x00delete"), err: "case_id"},
		{name: "case_id not a uuid", meta: with("case_id", "0b5e2c9a7f3d4e219a1c5d6e7f809a1b"), err: "case_id"},
		{name: "case_id with braces", meta: with("case_id", "{0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a}"), err: "case_id"},
		{name: "case_id with non-hex", meta: with("case_id", "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1g"), err: "case_id"},
		{name: "missing kind", meta: with("kind", "\x00delete"), err: "kind"},
		{name: "unknown kind", meta: with("kind", "x-ray"), err: "kind"},
		{name: "kind is case sensitive", meta: with("kind", "Imaging_Study"), err: "kind"},
		{name: "missing filename", meta: with("filename", "\x00delete"), err: "filename"},
		{name: "filetype without subtype", meta: with("filetype", "pdf"), err: "filetype"},
		{name: "filetype with spaces", meta: with("filetype", "application/ pdf"), err: "filetype"},
		{name: "filetype with two slashes", meta: with("filetype", "a/b/c"), err: "filetype"},
		{name: "filetype too long", meta: with("filetype", "application/"+strings.Repeat("x", 120)), err: "filetype"},
		{name: "unsupported language", meta: with("language", "fr"), err: "language"},
		{name: "date in the future", meta: with("document_date", "2025-03-16"), err: "future"},
		{name: "date not ISO", meta: with("document_date", "14/03/2025"), err: "YYYY-MM-DD"},
		{name: "date with time", meta: with("document_date", "2025-03-14T00:00:00Z"), err: "YYYY-MM-DD"},
		{name: "impossible date", meta: with("document_date", "2025-02-30"), err: "YYYY-MM-DD"},
		{name: "date before 1900", meta: with("document_date", "1899-12-31"), err: "document_date"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMetadataAt(tt.meta, testNow)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if got != tt.want {
					t.Fatalf("got %+v\nwant %+v", got, tt.want)
				}
				return
			}
			var rej *RejectError
			if !errors.As(err, &rej) {
				t.Fatalf("got %v, want a *RejectError", err)
			}
			if rej.Status != http.StatusBadRequest || rej.Code != "invalid_metadata" || !strings.Contains(rej.Message, tt.err) {
				t.Fatalf("got %d %s %q, want 400 invalid_metadata mentioning %q", rej.Status, rej.Code, rej.Message, tt.err)
			}
		})
	}
}

func TestRejectMessagesCarryNoMetadataValues(t *testing.T) {
	secret := "Rossi-carcinoma"
	for _, meta := range []map[string]string{
		with("case_id", secret), with("kind", secret), with("filetype", secret+"/"),
		with("language", secret), with("document_date", secret),
	} {
		_, err := ParseMetadataAt(meta, testNow)
		if err == nil {
			t.Fatalf("%v accepted", meta)
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.(*RejectError).TusError().Message, secret) {
			t.Fatalf("the rejection repeats a metadata value: %v", err)
		}
	}
}

func TestSanitizeFilename(t *testing.T) {
	long := strings.Repeat("é", 200) // 400 bytes
	tests := []struct{ in, want string }{
		{"referto.pdf", "referto.pdf"},
		{"a/b/c.pdf", "c.pdf"},
		{`..\..\windows\system32\x.dll`, "x.dll"},
		{"../../etc/passwd", "passwd"},
		{"..", "document"},
		{"/", "document"},
		{"", "document"},
		{"  .hidden.pdf. ", "hidden.pdf"},
		{"scan\x00.pdf", "scan.pdf"},
		{"line\nbreak\r.pdf", "linebreak.pdf"},
		{"invoice\u202Efdp.exe", "invoicefdp.exe"},              // right-to-left override
		{"a\u2066b\u2069\u200Fc\u061C.pdf", "abc.pdf"},          // isolates, RLM, Arabic letter mark
		{"\uFEFFzero\u200Bwidth.pdf", "zerowidth.pdf"},          // BOM, zero width space
		{"क्\u200Dष.pdf", "क्\u200Dष.pdf"},                      // the joiner stays
		{"what?<are>:these*|\".pdf", "what__are__these___.pdf"}, // forbidden on Windows
		{"bad\xffutf8.pdf", "bad\uFFFDutf8.pdf"},
		{long + ".pdf", strings.Repeat("é", 125) + ".pdf"},
		{long, strings.Repeat("é", 127)},
		{strings.Repeat("a", 300) + ".verylongextension", strings.Repeat("a", 255)},
	}
	for _, tt := range tests {
		if got := SanitizeFilename(tt.in); got != tt.want {
			t.Errorf("SanitizeFilename(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestLimitsCheck(t *testing.T) {
	l := DefaultLimits()
	tests := []struct {
		name     string
		limits   Limits
		kind     so.DocumentKind
		size     int64
		deferred bool
		used     int64
		code     string // "" when allowed
	}{
		{"document at the limit", l, "histology_report", 200 << 20, false, 0, ""},
		{"document over the limit", l, "histology_report", 200<<20 + 1, false, 0, "file_too_large"},
		{"imaging study of 50 GiB", l, "imaging_study", 50 << 30, false, 0, ""},
		{"imaging study over 50 GiB", l, "imaging_study", 50<<30 + 1, false, 0, "file_too_large"},
		{"radiotherapy plan of 10 GiB", l, "radiotherapy_plan", 10 << 30, false, 0, ""},
		{"radiotherapy plan over 10 GiB", l, "radiotherapy_plan", 10<<30 + 1, false, 0, "file_too_large"},
		{"empty file", l, "other", 0, false, 0, ""},
		{"negative size", l, "other", -1, false, 0, "invalid_metadata"},
		{"fills the quota exactly", l, "imaging_study", 10 << 30, false, 90 << 30, ""},
		{"over the quota", l, "imaging_study", 10<<30 + 1, false, 90 << 30, "case_quota_exceeded"},
		{"quota already exceeded", l, "other", 0, false, 101 << 30, "case_quota_exceeded"},
		{"deferred with room", l, "imaging_study", 0, true, 100<<30 - 1, ""},
		{"deferred without room", l, "imaging_study", 0, true, 100 << 30, "case_quota_exceeded"},
		{"deferred ignores size", l, "other", -1, true, 0, ""},
		{"zero Limits are the defaults", Limits{}, "imaging_study", 50<<30 + 1, false, 0, "file_too_large"},
		{"zero Limits quota", Limits{}, "other", 1, false, 100 << 30, "case_quota_exceeded"},
		{"custom", Limits{MaxSize: map[so.DocumentKind]int64{"other": 10}, DefaultMaxSize: 5, CaseQuota: 100}, "other", 11, false, 0, "file_too_large"},
		{"custom default", Limits{MaxSize: map[so.DocumentKind]int64{"other": 10}, DefaultMaxSize: 5, CaseQuota: 100}, "report", 6, false, 0, "file_too_large"},
		{"custom quota", Limits{MaxSize: map[so.DocumentKind]int64{"other": 10}, DefaultMaxSize: 5, CaseQuota: 100}, "other", 10, false, 91, "case_quota_exceeded"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.limits.Check(tt.kind, tt.size, tt.deferred, tt.used)
			if tt.code == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Code != tt.code {
				t.Fatalf("got %v, want %s", err, tt.code)
			}
			want := http.StatusRequestEntityTooLarge
			if tt.code == "invalid_metadata" {
				want = http.StatusBadRequest
			}
			if rej.Status != want {
				t.Fatalf("status %d, want %d", rej.Status, want)
			}
		})
	}
}

func TestLimitsMessagesAndRemaining(t *testing.T) {
	l := DefaultLimits()
	err := l.Check("imaging_study", 51<<30, false, 0)
	if !strings.Contains(err.Error(), "50 GiB") {
		t.Errorf("message %q does not state the limit", err)
	}
	err = l.Check("report", 201<<20, false, 0)
	if !strings.Contains(err.Error(), "200 MiB") {
		t.Errorf("message %q does not state the limit", err)
	}
	for _, tt := range []struct {
		kind so.DocumentKind
		used int64
		want int64
	}{
		{"imaging_study", 0, 50 << 30},
		{"imaging_study", 70 << 30, 30 << 30},
		{"report", 70 << 30, 200 << 20},
		{"report", 200 << 30, 0},
	} {
		if got := l.Remaining(tt.kind, tt.used); got != tt.want {
			t.Errorf("Remaining(%s, %d) = %d, want %d", tt.kind, tt.used, got, tt.want)
		}
	}
}

// FuzzParseMetadata: whatever the client sends, a parse either fails with a 400 rejection or
// yields values that satisfy every promise of Metadata.
func FuzzParseMetadata(f *testing.F) {
	f.Add("0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", "report", "a.pdf", "application/pdf", "en", "2024-01-31")
	f.Add("", "", "", "", "", "")
	f.Add("0B5E2C9A-7F3D-4E21-9A1C-5D6E7F809A1B", "imaging_study", "../\u202e/x", "", "ES", "2025-03-15")
	f.Add("0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", "other", "\xff\xfe..", "a/b;c=d", "it", "0000-01-01")
	f.Fuzz(func(t *testing.T, caseID, kind, filename, filetype, language, date string) {
		m, err := ParseMetadataAt(map[string]string{"case_id": caseID, "kind": kind, "filename": filename,
			"filetype": filetype, "language": language, "document_date": date}, testNow)
		if err != nil {
			var rej *RejectError
			if !errors.As(err, &rej) || rej.Status != http.StatusBadRequest {
				t.Fatalf("error %v is not a 400 rejection", err)
			}
			return
		}
		if _, ok := parseUUID(m.CaseID); !ok || m.CaseID != strings.ToLower(m.CaseID) {
			t.Fatalf("case id %q", m.CaseID)
		}
		if AllowedTypes(m.Kind) == nil {
			t.Fatalf("kind %q", m.Kind)
		}
		if _, ok := parseMediaType(m.Filetype); !ok || strings.ContainsAny(m.Filetype, "; ") {
			t.Fatalf("filetype %q", m.Filetype)
		}
		if m.Language != "" && !languages[m.Language] {
			t.Fatalf("language %q", m.Language)
		}
		if m.DocumentDate.After(testNow.Add(24*time.Hour)) || (!m.DocumentDate.IsZero() && m.DocumentDate.Year() < 1900) {
			t.Fatalf("date %v", m.DocumentDate)
		}
		checkFilename(t, m.Filename)
	})
}

func checkFilename(t *testing.T, name string) {
	t.Helper()
	if name == "" || len(name) > maxFilenameBytes || !utf8.ValidString(name) {
		t.Fatalf("filename %q: empty, too long or invalid UTF-8", name)
	}
	if strings.ContainsAny(name, `/\<>:"|?*`) || name == "." || name == ".." {
		t.Fatalf("filename %q has a separator or a forbidden character", name)
	}
	if strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") || strings.TrimSpace(name) != name {
		t.Fatalf("filename %q has leading or trailing dots or spaces", name)
	}
	for _, r := range name {
		if unicode.In(r, unicode.Cc, unicode.Zl, unicode.Zp) || unicode.Is(unicode.Cf, r) && r != '\u200c' && r != '\u200d' {
			t.Fatalf("filename %q has control or formatting character %U", name, r)
		}
	}
}

func FuzzSanitizeFilename(f *testing.F) {
	f.Add("referto.pdf")
	f.Add("../..\\\u202e\x00 .")
	f.Add(strings.Repeat("€", 100) + ".tar.gz")
	f.Fuzz(func(t *testing.T, in string) {
		out := SanitizeFilename(in)
		checkFilename(t, out)
		if SanitizeFilename(out) != out {
			t.Fatalf("not idempotent: %q → %q → %q", in, out, SanitizeFilename(out))
		}
	})
}

func ExampleParseMetadataAt() {
	m, err := ParseMetadataAt(map[string]string{
		"case_id":       "0B5E2C9A-7F3D-4E21-9A1C-5D6E7F809A1B",
		"kind":          "imaging_report",
		"filename":      "C:\\fakepath\\TC torace\u202egnp.exe",
		"language":      "it",
		"document_date": "2025-01-31",
	}, time.Date(2025, 3, 14, 0, 0, 0, 0, time.UTC))
	fmt.Println(err)
	fmt.Printf("%s %s %q %s %s %s\n", m.CaseID, m.Kind, m.Filename, m.Filetype, m.Language, m.DocumentDate.Format(time.DateOnly))
	// Output:
	// <nil>
	// 0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b imaging_report "TC toracegnp.exe" application/octet-stream it 2025-01-31
}

func ExampleLimits_Check() {
	err := DefaultLimits().Check("histology_report", 300<<20, false, 0)
	var rej *RejectError
	if errors.As(err, &rej) {
		fmt.Println(rej.Status, rej.Code+":", rej.Message)
	}
	// Output: 413 file_too_large: a document of this kind may be at most 200 MiB
}

// A folder path is kept for display, each component made safe; nothing in it can climb out
// of the folder or hide characters.
func TestRelativePath(t *testing.T) {
	meta := func(p, fp string) map[string]string {
		return map[string]string{"case_id": "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", "kind": "imaging_study",
			"filename": "IM000001", "relative_path": p, "fingerprint": fp}
	}
	const sum = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	for _, c := range []struct {
		name, path, fp string
		want, wantFP   string
		bad            bool
	}{
		{name: "a CD", path: "CD/DICOM/IM000001", want: "CD/DICOM/IM000001"},
		{name: "windows separators", path: `E:\DICOM\IM000001`, want: "E_/DICOM/IM000001"},
		{name: "climbing out", path: "../../etc/passwd", want: "etc/passwd"},
		{name: "dots and empties", path: "./CD//./DICOM/", want: "CD/DICOM"},
		{name: "hidden characters", path: "CD/\u202eFDP.exe/x", want: "CD/FDP.exe/x"},
		{name: "too long", path: strings.Repeat("a/", 600), bad: true},
		{name: "too deep", path: strings.Repeat("a/", 40), bad: true},
		{name: "fingerprint", path: "", fp: strings.ToUpper(sum), wantFP: sum},
		{name: "short fingerprint", fp: "abc", bad: true},
		{name: "not hex", fp: strings.Repeat("g", 64), bad: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			m, err := ParseMetadataAt(meta(c.path, c.fp), testNow)
			if c.bad {
				var rej *RejectError
				if !errors.As(err, &rej) || rej.Status != http.StatusBadRequest {
					t.Fatalf("got %+v, %v; want a 400 rejection", m, err)
				}
				return
			}
			if err != nil || m.RelativePath != c.want || m.Fingerprint != c.wantFP {
				t.Fatalf("got %q %q, %v; want %q %q", m.RelativePath, m.Fingerprint, err, c.want, c.wantFP)
			}
		})
	}
}

func FuzzRelativePath(f *testing.F) {
	f.Add("CD/DICOM/IM000001")
	f.Add(`..\..\x`)
	f.Add("a/\u202e/b/\x00/c")
	f.Fuzz(func(t *testing.T, p string) {
		got, ok := sanitizeRelativePath(p)
		if !ok {
			return
		}
		if got == "" {
			return
		}
		for _, c := range strings.Split(got, "/") {
			checkFilename(t, c)
		}
		if len(got) > 4*maxRelativePath {
			t.Fatalf("path grew to %d bytes", len(got))
		}
	})
}
