package access

import (
	"crypto/hmac"
	"crypto/sha1" // #nosec G505 -- HMAC-SHA1 is what RFC 6238 TOTP and every authenticator app use; not a collision-resistance use
	"crypto/subtle"
	"encoding/base32"
	"encoding/binary"
	"fmt"
	"net/url"
	"strings"
	"time"
)

// TOTP (RFC 6238) with the parameters every authenticator app understands: HMAC-SHA-1, a
// 30-second step from the Unix epoch, 6 digits, a 160-bit secret. A code is accepted for the
// previous, the current and the next step (clock drift), and never twice: the step of an
// accepted code is stored, and later codes must come from a later step.
const (
	totpPeriod    = 30
	totpDigits    = 6
	totpSecretLen = 20
)

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// TOTPEnrolment is what an account shows its authenticator app: the secret in base32 (for
// typing) and the otpauth:// URI (for a QR code). Neither may be logged.
type TOTPEnrolment struct {
	Secret string
	URI    string
}

func totpURI(issuer, account string, secret []byte) string {
	v := url.Values{}
	v.Set("secret", b32.EncodeToString(secret))
	v.Set("issuer", issuer)
	v.Set("algorithm", "SHA1")
	v.Set("digits", "6")
	v.Set("period", "30")
	u := url.URL{Scheme: "otpauth", Host: "totp", Path: "/" + issuer + ":" + account, RawQuery: v.Encode()}
	return u.String()
}

// hotp is RFC 4226's HOTP value of counter with the given number of digits.
func hotp(secret []byte, counter uint64, digits int) string {
	m := hmac.New(sha1.New, secret)
	var c [8]byte
	binary.BigEndian.PutUint64(c[:], counter)
	m.Write(c[:])
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	v := binary.BigEndian.Uint32(sum[off:off+4]) & 0x7fffffff
	mod := uint32(1)
	for range digits {
		mod *= 10
	}
	return fmt.Sprintf("%0*d", digits, v%mod)
}

func totpStep(t time.Time) int64 { return t.Unix() / totpPeriod }

// parseTOTPCode accepts exactly six ASCII digits, ignoring spaces (apps show "123 456").
func parseTOTPCode(s string) (string, bool) {
	if len(s) > 16 {
		return "", false
	}
	c := strings.ReplaceAll(s, " ", "")
	if len(c) != totpDigits {
		return "", false
	}
	for i := 0; i < len(c); i++ {
		if c[i] < '0' || c[i] > '9' {
			return "", false
		}
	}
	return c, true
}

// verifyTOTP returns the step whose code matches, trying the step before now, now and the one
// after, and only steps after lastStep. Every candidate is computed and compared in constant
// time, so the answer's timing does not tell which step matched.
func verifyTOTP(secret []byte, code string, now time.Time, lastStep int64) (int64, bool) {
	c, ok := parseTOTPCode(code)
	if !ok {
		return 0, false
	}
	cur := totpStep(now)
	var found int64
	match := 0
	for step := cur - 1; step <= cur+1; step++ {
		eq := subtle.ConstantTimeCompare([]byte(hotp(secret, uint64(step), totpDigits)), []byte(c)) // #nosec G115 -- a time step since 1970 is positive
		if eq == 1 && step > lastStep && match == 0 {
			found, match = step, 1
		}
	}
	return found, match == 1
}
