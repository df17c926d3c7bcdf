package mail

import (
	"crypto/cipher"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
)

// KeySize is the length of Config.Key.
const KeySize = chacha20poly1305.KeySize

// sealVersion is the first byte of a sealed params value: version, 24-byte nonce, ciphertext.
const sealVersion = 1

var errUnsealable = errors.New("mail: sealed params do not open under the outbox key")

// sealer seals a row's params with XChaCha20-Poly1305 (random 24-byte nonces: no counter to
// keep across instances). The associated data binds them to the row's id, recipient, template
// and language: params moved to another row, or a row whose recipient was changed, do not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("mail: Key must have %d bytes, not %d", KeySize, len(key))
	}
	a, err := chacha20poly1305.NewX(key)
	if err != nil {
		return nil, fmt.Errorf("mail: %w", err)
	}
	return &sealer{aead: a}, nil
}

// sealedParams is the plaintext: JSON, so that fields can be added later.
type sealedParams struct {
	Link      string    `json:"link"`
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	Amount    string    `json:"amount,omitempty"`
	Currency  string    `json:"currency,omitempty"`
}

func associatedData(id, recipient string, t Template, lang string) []byte {
	return fmt.Appendf(nil, "secondopinion mail_outbox v1\x00%s\x00%s\x00%s\x00%s", id, recipient, t, lang)
}

func (s *sealer) seal(id string, m Message) ([]byte, error) {
	plain, err := json.Marshal(sealedParams{Link: m.Params.Link, ExpiresAt: m.Params.ExpiresAt.UTC(),
		Amount: m.Params.Amount, Currency: m.Params.Currency})
	if err != nil {
		return nil, fmt.Errorf("mail: seal params: %w", err)
	}
	out := make([]byte, 1+chacha20poly1305.NonceSizeX, 1+chacha20poly1305.NonceSizeX+len(plain)+s.aead.Overhead())
	out[0] = sealVersion
	rand.Read(out[1:]) // crypto/rand.Read never fails (Go 1.24+)
	return s.aead.Seal(out, out[1:], plain, associatedData(id, m.To, m.Template, m.Language)), nil
}

// open reverses seal for the row's id and message (whose Params it fills).
func (s *sealer) open(id string, m *Message, sealed []byte) error {
	if len(sealed) < 1+chacha20poly1305.NonceSizeX || sealed[0] != sealVersion {
		return errUnsealable
	}
	nonce, ct := sealed[1:1+chacha20poly1305.NonceSizeX], sealed[1+chacha20poly1305.NonceSizeX:]
	plain, err := s.aead.Open(nil, nonce, ct, associatedData(id, m.To, m.Template, m.Language))
	if err != nil {
		return errUnsealable
	}
	var p sealedParams
	if err := json.Unmarshal(plain, &p); err != nil {
		return fmt.Errorf("mail: sealed params: %w", err)
	}
	m.Params = Params(p)
	return nil
}
