package web

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// contentDisposition returns an RFC 6266 Content-Disposition value for a stored file name, which
// came from a client and is untrusted: path components, control and format characters (bidi
// overrides among them), quotes and backslashes are removed, the length is capped, and an empty
// result becomes fallback. The plain filename= parameter holds an ASCII-only form; filename*=
// holds the full UTF-8 name, percent-encoded (RFC 8187).
func contentDisposition(disposition, name, fallback string) string {
	clean := sanitizeFilename(name)
	if clean == "" {
		clean = fallback
	}
	var ascii strings.Builder
	for _, r := range clean {
		if r < 0x80 && r >= 0x20 && r != '"' && r != '\\' && r != '%' && r != ';' {
			ascii.WriteRune(r)
		} else {
			ascii.WriteByte('_')
		}
	}
	return disposition + `; filename="` + ascii.String() + `"; filename*=UTF-8''` + pathEscape(clean)
}

// sanitizeFilename keeps the last path element of name and only printable, non-format runes.
func sanitizeFilename(name string) string {
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	name = strings.ReplaceAll(name, "\\", "/")
	name = path.Base("/" + name)
	var b strings.Builder
	n := 0
	for _, r := range name {
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || r == '"' || r == '/' || r == utf8.RuneError {
			continue
		}
		if n == 200 {
			break
		}
		b.WriteRune(r)
		n++
	}
	return strings.TrimLeft(strings.TrimSpace(b.String()), ".")
}

// pathEscape percent-encodes everything but RFC 5987 attr-chars.
func pathEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x80 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("!#$&+-.^_`|~", c) >= 0) {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte("0123456789ABCDEF"[c>>4])
		b.WriteByte("0123456789ABCDEF"[c&15])
	}
	return b.String()
}
