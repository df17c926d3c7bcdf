package access

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	so "github.com/secondopinion/secondopinion"

	"golang.org/x/crypto/argon2"
)

// Argon2Params are the argon2id cost parameters for new password hashes. Stored hashes carry
// their own parameters, so raising these rehashes each password at its next successful login.
type Argon2Params struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultArgon2 follows RFC 9106 §4's second recommendation (64 MiB), with 2 lanes.
var DefaultArgon2 = Argon2Params{Memory: 64 * 1024, Time: 3, Threads: 2}

const (
	saltLen = 16
	keyLen  = 32

	// MinPasswordLen and MaxPasswordLen bound a new password, in characters.
	MinPasswordLen = 12
	MaxPasswordLen = 256
)

var errBadHash = errors.New("malformed password hash")

// hashPassword returns the PHC string of password:
// $argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<key>, salt and key unpadded base64.
func hashPassword(password string, p Argon2Params) string {
	salt := make([]byte, saltLen)
	rand.Read(salt)
	key := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, keyLen)
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, p.Memory, p.Time, p.Threads,
		base64.RawStdEncoding.EncodeToString(salt), base64.RawStdEncoding.EncodeToString(key))
}

// verifyPassword reports whether password matches the PHC string, comparing in constant time,
// and the parameters the hash was made with.
func verifyPassword(encoded, password string) (bool, Argon2Params, error) {
	p, salt, key, err := decodeHash(encoded)
	if err != nil {
		return false, p, err
	}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(key))) // #nosec G115 -- the key length is 32
	return subtle.ConstantTimeCompare(got, key) == 1, p, nil
}

// decodeHash parses a PHC argon2id string strictly, bounding the costs so that a corrupted row
// cannot make one login allocate gigabytes.
func decodeHash(s string) (Argon2Params, []byte, []byte, error) {
	var p Argon2Params
	f := strings.Split(s, "$")
	if len(f) != 6 || f[0] != "" || f[1] != "argon2id" || f[2] != "v="+strconv.Itoa(argon2.Version) {
		return p, nil, nil, errBadHash
	}
	kv := strings.Split(f[3], ",")
	if len(kv) != 3 {
		return p, nil, nil, errBadHash
	}
	vals := [3]uint64{}
	for i, name := range []string{"m=", "t=", "p="} {
		v, ok := strings.CutPrefix(kv[i], name)
		if !ok {
			return p, nil, nil, errBadHash
		}
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || strconv.FormatUint(n, 10) != v {
			return p, nil, nil, errBadHash
		}
		vals[i] = n
	}
	p = Argon2Params{Memory: uint32(vals[0]), Time: uint32(vals[1]), Threads: uint8(vals[2])} // #nosec G115 -- each value was parsed with bitSize 32 and is range-checked on the next line
	if vals[2] < 1 || vals[2] > 16 || p.Time < 1 || p.Time > 16 || p.Memory < 8*uint32(p.Threads) || p.Memory > 1<<20 {
		return p, nil, nil, errBadHash
	}
	raw := base64.RawStdEncoding.Strict()
	salt, err := raw.DecodeString(f[4])
	if err != nil || len(salt) < 8 || len(salt) > 64 {
		return p, nil, nil, errBadHash
	}
	key, err := raw.DecodeString(f[5])
	if err != nil || len(key) < 16 || len(key) > 64 {
		return p, nil, nil, errBadHash
	}
	return p, salt, key, nil
}

// checkPasswordPolicy enforces the length bounds (NIST SP 800-63B: length, not composition).
func checkPasswordPolicy(password string) error {
	if !utf8.ValidString(password) {
		return fmt.Errorf("password is not valid UTF-8: %w", so.ErrInvalid)
	}
	n := utf8.RuneCountInString(password)
	if n < MinPasswordLen || n > MaxPasswordLen {
		return fmt.Errorf("password must have %d to %d characters: %w", MinPasswordLen, MaxPasswordLen, so.ErrInvalid)
	}
	return nil
}
