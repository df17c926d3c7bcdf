package access

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	so "github.com/secondopinion/secondopinion"
)

// TOTP secrets are stored sealed with AES-256-GCM under the service's TOTP key, with the
// account id as associated data: a database dump alone yields no second factors, and a sealed
// secret copied to another account's row does not open. Layout: 12-byte nonce, ciphertext+tag.

// TOTPKeyLen is the length of the key that seals TOTP secrets.
const TOTPKeyLen = 32

// ParseTOTPKey decodes the TOTP key from its file form: 64 hexadecimal characters, surrounding
// white space ignored. Generate one with `head -c 32 /dev/urandom | xxd -p -c 64`.
func ParseTOTPKey(text string) ([]byte, error) {
	k, err := hex.DecodeString(strings.TrimSpace(text))
	if err != nil || len(k) != TOTPKeyLen {
		return nil, fmt.Errorf("TOTP key must be %d hexadecimal characters: %w", 2*TOTPKeyLen, so.ErrInvalid)
	}
	return k, nil
}

type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != TOTPKeyLen {
		return nil, fmt.Errorf("TOTP key has %d bytes, want %d: %w", len(key), TOTPKeyLen, so.ErrInvalid)
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("TOTP key: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("TOTP key: %w", err)
	}
	return &sealer{aead: g}, nil
}

func (s *sealer) seal(plain []byte, accountID string) []byte {
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(accountID))
}

func (s *sealer) open(sealed []byte, accountID string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n+s.aead.Overhead() {
		return nil, errors.New("sealed TOTP secret too short")
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(accountID))
	if err != nil {
		return nil, fmt.Errorf("open TOTP secret: %w", err)
	}
	return p, nil
}
