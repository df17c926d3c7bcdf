package access

import (
	"encoding/hex"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"
)

func TestSecretFormats(t *testing.T) {
	secret := newSecret()
	raw := encodeSecret("", secret)
	if len(raw) != 43 {
		t.Fatalf("session token has %d characters, want 43", len(raw))
	}
	got, err := parseSessionToken(raw)
	if err != nil || string(got) != string(secret) {
		t.Fatalf("session round trip: %v", err)
	}
	id := newUUID()
	tok := formatAPIToken(id, secret)
	if !strings.HasPrefix(tok, "so_") || len(tok) != 67 {
		t.Fatalf("API token %d characters", len(tok))
	}
	gotID, gotSecret, err := parseAPIToken(tok)
	if err != nil || gotID != formatUUID(id[:]) || string(gotSecret) != string(secret) || !so.ValidID(gotID) {
		t.Fatalf("API token round trip: %s %v", gotID, err)
	}
	inv := encodeSecret(invitePrefix, secret)
	if got, err := parseInvitationToken(inv); err != nil || string(got) != string(secret) {
		t.Fatalf("invitation round trip: %v", err)
	}
	// One credential is never accepted as another.
	if _, err := parseInvitationToken(encodeSecret(linkPrefix, secret)); err == nil {
		t.Error("a sign-in link token parsed as an invitation")
	}
	if _, err := parseLinkToken(inv); err == nil {
		t.Error("an invitation token parsed as a sign-in link")
	}
	if _, err := parseSessionToken(inv); err == nil {
		t.Error("an invitation token parsed as a session")
	}
}

func TestParseSecretRejects(t *testing.T) {
	good := encodeSecret("", newSecret())
	bad := []string{
		"", good[:42], good + "A", good + "=", " " + good[1:], good[:42] + "\n",
		strings.Replace(good, good[:1], "+", 1), // standard alphabet
		good[:42] + "B",                         // 43rd character with stray low bits: 'B' = 000001
		strings.Repeat("A", 42) + "B",
	}
	for _, s := range bad {
		if _, err := parseSessionToken(s); err == nil {
			t.Errorf("parseSessionToken(%q) accepted", s)
		}
	}
	for _, s := range []string{"so_", "so_" + good, "SO_" + good + strings.Repeat("A", 21), "so-" + strings.Repeat("A", 64)} {
		if _, _, err := parseAPIToken(s); err == nil {
			t.Errorf("parseAPIToken(%q) accepted", s)
		}
	}
}

func TestValidUUID(t *testing.T) {
	for s, ok := range map[string]bool{
		"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77":   true,
		"0B8E3A0C-2F4E-4C1A-9A43-8D2B6C1F0E77":   false,
		"0b8e3a0c2f4e4c1a9a438d2b6c1f0e77":       false,
		"{0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77}": false,
		"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e7g":   false,
		"":                                       false,
	} {
		if so.ValidID(s) != ok {
			t.Errorf("so.ValidID(%q) = %v", s, !ok)
		}
	}
}

// fuzzSecret checks a parser: it never panics, and what it accepts is canonical (re-encoding
// gives back the input exactly), so one credential has one spelling.
func fuzzSecret(f *testing.F, prefix string, n int, parse func(string) ([]byte, error)) {
	f.Add(encodeSecret(prefix, make([]byte, n)))
	f.Add(encodeSecret(prefix, newSecret()[:min(n, secretLen)]))
	f.Add(prefix + strings.Repeat("_", b64.EncodedLen(n)))
	f.Add(prefix + strings.Repeat("=", b64.EncodedLen(n)))
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		b, err := parse(s)
		if err != nil {
			return
		}
		if len(b) != n {
			t.Fatalf("accepted %q as %d bytes, want %d", s, len(b), n)
		}
		if re := encodeSecret(prefix, b); re != s {
			t.Fatalf("accepted %q, which re-encodes as %q", s, re)
		}
	})
}

func FuzzParseSessionToken(f *testing.F) { fuzzSecret(f, "", secretLen, parseSessionToken) }

func FuzzParseInvitationToken(f *testing.F) {
	fuzzSecret(f, invitePrefix, secretLen, parseInvitationToken)
}

func FuzzParseSignInLinkToken(f *testing.F) { fuzzSecret(f, linkPrefix, secretLen, parseLinkToken) }

func FuzzParseAPIToken(f *testing.F) {
	// The id and secret are joined back into bytes, so the canonical re-encoding also proves
	// that the token was split at the right place.
	fuzzSecret(f, apiTokenPrefix, tokenIDLen+secretLen, func(s string) ([]byte, error) {
		id, secret, err := parseAPIToken(s)
		if err != nil {
			return nil, err
		}
		if !so.ValidID(id) {
			panic("token id " + id + " is not a UUID")
		}
		b, err := hex.DecodeString(strings.ReplaceAll(id, "-", ""))
		if err != nil {
			panic(err)
		}
		return append(b, secret...), nil
	})
}
