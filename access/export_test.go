package access

import "time"

// TOTPCode is the current code of a base32 secret, as an authenticator app shows it.
func TOTPCode(secretB32 string, t time.Time) string {
	s, err := b32.DecodeString(secretB32)
	if err != nil {
		panic(err)
	}
	return hotp(s, uint64(totpStep(t)), totpDigits)
}
