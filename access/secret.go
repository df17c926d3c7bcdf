package access

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"
)

// Wire formats of the random credentials. Each is a fixed prefix and the unpadded base64url
// encoding of a fixed number of random bytes; parsing accepts exactly that and nothing else
// (no padding, no standard alphabet, no stray bits, no whitespace). Only the SHA-256 of the
// random bytes is stored.
//
//	session cookie   43 characters: 32 random bytes
//	sign-in link     "sl_" + 43 characters: 32 random bytes
//	invitation link  "inv_" + 43 characters: 32 random bytes
//	API token        "so_" + 64 characters: 16-byte token id, then 32-byte secret
const (
	secretLen      = 32
	tokenIDLen     = 16
	linkPrefix     = "sl_"
	invitePrefix   = "inv_"
	passwordPrefix = "pw_"
	apiTokenPrefix = "so_"
)

var errMalformed = errors.New("malformed credential")

var b64 = base64.RawURLEncoding.Strict()

func newSecret() []byte {
	b := make([]byte, secretLen)
	rand.Read(b) // crypto/rand.Read never fails (Go 1.24+)
	return b
}

func encodeSecret(prefix string, b []byte) string {
	return prefix + b64.EncodeToString(b)
}

// parseSecret decodes prefix + base64url(n bytes), strictly.
func parseSecret(prefix, s string, n int) ([]byte, error) {
	if len(s) != len(prefix)+b64.EncodedLen(n) || !strings.HasPrefix(s, prefix) {
		return nil, errMalformed
	}
	b, err := b64.DecodeString(s[len(prefix):])
	if err != nil || len(b) != n {
		return nil, errMalformed
	}
	return b, nil
}

func hashSecret(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}

// parseSessionToken parses a session cookie value.
func parseSessionToken(s string) ([]byte, error) { return parseSecret("", s, secretLen) }

// parseLinkToken parses the token of an email sign-in link.
func parseLinkToken(s string) ([]byte, error) { return parseSecret(linkPrefix, s, secretLen) }

// parseInvitationToken parses the token of an invitation link.
func parseInvitationToken(s string) ([]byte, error) { return parseSecret(invitePrefix, s, secretLen) }

// parseAPIToken parses a bearer token into its id (a UUID string) and secret.
func parseAPIToken(s string) (id string, secret []byte, err error) {
	b, err := parseSecret(apiTokenPrefix, s, tokenIDLen+secretLen)
	if err != nil {
		return "", nil, err
	}
	return formatUUID(b[:tokenIDLen]), b[tokenIDLen:], nil
}

func formatAPIToken(id [tokenIDLen]byte, secret []byte) string {
	return encodeSecret(apiTokenPrefix, append(id[:], secret...))
}

// newUUID returns a random (version 4) UUID.
func newUUID() [16]byte {
	var u [16]byte
	rand.Read(u[:])
	u[6] = u[6]&0x0f | 0x40
	u[8] = u[8]&0x3f | 0x80
	return u
}

const hexDigits = "0123456789abcdef"

func formatUUID(b []byte) string {
	out := make([]byte, 0, 36)
	for i, c := range b {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			out = append(out, '-')
		}
		out = append(out, hexDigits[c>>4], hexDigits[c&0x0f])
	}
	return string(out)
}
