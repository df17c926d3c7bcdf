package upload

import (
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	so "github.com/secondopinion/secondopinion"

	"github.com/tus/tusd/v2/pkg/handler"
)

// RejectError says why an upload is refused: an HTTP status, a stable machine-readable code
// and a message for the uploader. Messages name metadata keys and limits, never metadata
// values, file names or content, so they are safe to show and to log.
//
// Codes: invalid_metadata (400), file_too_large and case_quota_exceeded (413),
// file_type_not_allowed (415), unsafe_archive and unreadable_file (422).
type RejectError struct {
	Status  int
	Code    string
	Message string
}

func (e *RejectError) Error() string { return "upload rejected: " + e.Code + ": " + e.Message }

// TusError converts the rejection for a tusd hook, which sends its status and message.
func (e *RejectError) TusError() handler.Error { return handler.NewError(e.Code, e.Message, e.Status) }

func invalidMetadata(format string, args ...any) *RejectError {
	return &RejectError{Status: http.StatusBadRequest, Code: "invalid_metadata", Message: fmt.Sprintf(format, args...)}
}

// Metadata is the validated Upload-Metadata of a tus upload.
type Metadata struct {
	CaseID   string          // canonical lower-case UUID
	Kind     so.DocumentKind // a checklist kind (see AllowedTypes)
	Filename string          // for display only, sanitised; never part of an object key
	// Filetype is the media type the client claims, lower-case and without parameters, or
	// application/octet-stream when the client gave none (browsers give none for DICOM
	// files). It is informative only: the sniffed content decides.
	Filetype     string
	Language     string    // "en", "it", "es", or "" when not given
	DocumentDate time.Time // midnight UTC; the zero time when not given
	// RelativePath is where the file was in a folder the client uploaded whole (a CD's
	// contents: "CD/DICOM/IM000001"), sanitised per component; "" when not given.
	RelativePath string
	// Fingerprint is the client's SHA-256 (lower-case hex) of the file's first MiB, by which
	// an interrupted upload is found again after a reload; "" when not given.
	Fingerprint string
}

// Limits on metadata values.
const (
	maxFilenameBytes = 255
	maxFilenameExt   = 16 // an extension up to this long survives truncation
	maxMediaTypeLen  = 127
	maxRelativePath  = 1024 // bytes
	maxPathDepth     = 32   // components
	defaultFilename  = "document"
	defaultFiletype  = "application/octet-stream"
)

var languages = map[string]bool{"en": true, "it": true, "es": true}

// ParseMetadata validates a tus upload's metadata as of now; see ParseMetadataAt.
func ParseMetadata(meta map[string]string) (Metadata, error) {
	return ParseMetadataAt(meta, time.Now())
}

// ParseMetadataAt validates a tus upload's metadata for the pre-create hook; now bounds
// document_date. Keys: case_id (a UUID) and kind (a checklist kind) are required; filename is
// required and sanitised for display (path components, control and bidirectional formatting
// characters removed, length capped); filetype (a media type), language (en, it, es) and
// document_date (YYYY-MM-DD, not in the future), relative_path (a folder path, sanitised per
// component) and fingerprint (64 hex digits) are optional. Other keys are ignored and not kept. An invalid value is a *RejectError with status 400.
func ParseMetadataAt(meta map[string]string, now time.Time) (Metadata, error) {
	var m Metadata
	var ok bool
	if m.CaseID, ok = parseUUID(meta["case_id"]); !ok {
		return Metadata{}, invalidMetadata("case_id must be the case's UUID")
	}
	m.Kind = so.DocumentKind(meta["kind"])
	if _, ok := kindTypes[m.Kind]; !ok {
		return Metadata{}, invalidMetadata("kind must be one of the checklist kinds")
	}
	name, ok := meta["filename"]
	if !ok {
		return Metadata{}, invalidMetadata("filename is required")
	}
	m.Filename = SanitizeFilename(name)
	if m.Filetype, ok = parseMediaType(meta["filetype"]); !ok {
		return Metadata{}, invalidMetadata("filetype must be a media type such as application/pdf")
	}
	if lang := strings.ToLower(meta["language"]); lang != "" {
		if !languages[lang] {
			return Metadata{}, invalidMetadata("language must be en, it or es")
		}
		m.Language = lang
	}
	if s := meta["document_date"]; s != "" {
		d, err := time.Parse(time.DateOnly, s)
		if err != nil {
			return Metadata{}, invalidMetadata("document_date must be a date as YYYY-MM-DD")
		}
		// The latest date anywhere on Earth (UTC+14) is still today for someone.
		latest := now.UTC().Add(14 * time.Hour).Truncate(24 * time.Hour)
		if d.After(latest) || d.Year() < 1900 {
			return Metadata{}, invalidMetadata("document_date must not be in the future")
		}
		m.DocumentDate = d
	}
	if p := meta["relative_path"]; p != "" {
		if m.RelativePath, ok = sanitizeRelativePath(p); !ok {
			return Metadata{}, invalidMetadata("relative_path must be a folder path of at most %d bytes", maxRelativePath)
		}
	}
	if fp := strings.ToLower(meta["fingerprint"]); fp != "" {
		if len(fp) != 64 || strings.Trim(fp, "0123456789abcdef") != "" {
			return Metadata{}, invalidMetadata("fingerprint must be a SHA-256 in hexadecimal")
		}
		m.Fingerprint = fp
	}
	return m, nil
}

// sanitizeRelativePath keeps a client's folder path for display: components separated by / or
// \, each made safe as SanitizeFilename makes a name; empty, "." and ".." components dropped.
// It refuses a path too long or too deep to be a real folder.
func sanitizeRelativePath(p string) (string, bool) {
	if len(p) > maxRelativePath {
		return "", false
	}
	parts := strings.FieldsFunc(p, func(r rune) bool { return r == '/' || r == '\\' })
	if len(parts) > maxPathDepth {
		return "", false
	}
	out := parts[:0]
	for _, c := range parts {
		if strings.TrimFunc(c, dotOrSpace) == "" {
			continue
		}
		out = append(out, SanitizeFilename(c))
	}
	return strings.Join(out, "/"), true
}

// parseUUID accepts the 36-character hyphenated form in either case and returns it in
// lower case.
func parseUUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f', 'A' <= c && c <= 'F':
		default:
			return "", false
		}
	}
	return strings.ToLower(s), true
}

// parseMediaType checks type "/" subtype (RFC 6838 restricted names), dropping parameters.
func parseMediaType(s string) (string, bool) {
	s, _, _ = strings.Cut(s, ";")
	s = strings.ToLower(strings.TrimSpace(s))
	if s == "" {
		return defaultFiletype, true
	}
	typ, sub, ok := strings.Cut(s, "/")
	if !ok || len(s) > maxMediaTypeLen || !restrictedName(typ) || !restrictedName(sub) {
		return "", false
	}
	return s, true
}

func restrictedName(s string) bool {
	if s == "" || !isAlnum(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		if !isAlnum(s[i]) && !strings.ContainsRune("!#$&-^_.+", rune(s[i])) {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z'
}

// SanitizeFilename makes a client-supplied file name safe to display and to offer as a
// download name: only the last path component is kept (both / and \ separate); control
// characters, invisible formatting characters (bidirectional overrides and isolates, zero
// widths, BOM; the joiners U+200C and U+200D stay) and line separators are removed;
// characters Windows forbids in names become "_"; leading and trailing dots and spaces are
// trimmed; invalid UTF-8 becomes U+FFFD; the result is at most 255 bytes, keeping a short
// extension; an empty result becomes "document".
func SanitizeFilename(name string) string {
	name = strings.ToValidUTF8(name, "\uFFFD")
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '\u200c' || r == '\u200d':
			return r
		case unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp):
			return -1
		case strings.ContainsRune(`<>:"|?*`, r):
			return '_'
		}
		return r
	}, name)
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.TrimFunc(name, dotOrSpace)
	if len(name) > maxFilenameBytes {
		ext := ""
		if i := strings.LastIndexByte(name, '.'); i >= 0 && len(name)-i <= maxFilenameExt {
			ext = name[i:]
		}
		name = strings.TrimRightFunc(truncateUTF8(name[:len(name)-len(ext)], maxFilenameBytes-len(ext)), dotOrSpace) + ext
	}
	if name == "" {
		return defaultFilename
	}
	return name
}

func dotOrSpace(r rune) bool { return r == '.' || unicode.IsSpace(r) }

// truncateUTF8 cuts s to at most n bytes without splitting a character.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
