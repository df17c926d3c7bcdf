package vault

import (
	"bytes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"

	"filippo.io/age"
	"golang.org/x/crypto/chacha20poly1305"
)

// Sizes of the age v1 payload (age-encryption.org/v1, "Payload").
const (
	// ChunkSize is the plaintext size of every chunk but the last.
	ChunkSize = 64 << 10
	// SealedChunkSize is the ciphertext size of a full chunk: plaintext and Poly1305 tag.
	SealedChunkSize = ChunkSize + chacha20poly1305.Overhead
	// NonceSize is the size of the payload nonce that follows the header.
	NonceSize = 16
)

// ErrBadChunk is returned by Seal for a chunk the age format does not allow at that place.
var ErrBadChunk = errors.New("vault: chunk not allowed by the age format")

// NewFileHeader starts an age file encrypted to r and returns its first bytes: the header
// followed by the 16-byte payload nonce. The file key stays inside the header; a Sealer
// recovers it with the matching identity.
func NewFileHeader(r age.Recipient) ([]byte, error) {
	var buf bytes.Buffer
	// age.Encrypt writes the header and the nonce before returning. Its writer is
	// dropped unused: it is never written to nor closed, so no payload is produced here.
	if _, err := age.Encrypt(&buf, r); err != nil {
		return nil, fmt.Errorf("vault: write age header: %w", err)
	}
	return buf.Bytes(), nil
}

// A Sealer seals the payload chunks of one age file whose header and nonce were made by
// NewFileHeader. It lets a file be written in pieces, by different processes, in order.
//
// Each chunk index must be sealed with one plaintext only: sealing two plaintexts under one
// index reuses a ChaCha20-Poly1305 nonce. Callers guarantee it (the upload store seals under
// the upload's lock, and records a fingerprint of every part before its ciphertext leaves the
// service: a part sealed again must be the same).
type Sealer struct {
	aead cipher.AEAD
}

// NewSealer recovers the file key of the age file that starts with headerAndNonce,
// using id, and derives the payload key (HKDF-SHA-256, salt = nonce, info "payload").
func NewSealer(headerAndNonce []byte, id age.Identity) (*Sealer, error) {
	if len(headerAndNonce) <= NonceSize {
		return nil, errors.New("vault: age header too short")
	}
	split := len(headerAndNonce) - NonceSize
	fileKey, err := age.DecryptHeader(headerAndNonce[:split], id)
	if err != nil {
		return nil, fmt.Errorf("vault: open age header: %w", err)
	}
	key, err := hkdf.Key(sha256.New, fileKey, headerAndNonce[split:], "payload", chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("vault: derive payload key: %w", err)
	}
	aead, err := chacha20poly1305.New(key)
	if err != nil {
		return nil, fmt.Errorf("vault: payload cipher: %w", err)
	}
	return &Sealer{aead: aead}, nil
}

// Seal appends to dst the sealed chunk number index of the payload and returns the
// result. A chunk that is not the last must hold exactly ChunkSize bytes; the last holds
// 1 to ChunkSize bytes, or none when it is also the first (the empty file). To seal in
// place, pass chunk[:0] as dst, with room for the 16-byte tag after chunk.
func (s *Sealer) Seal(dst []byte, index uint64, chunk []byte, last bool) ([]byte, error) {
	switch {
	case len(chunk) > ChunkSize:
		return nil, fmt.Errorf("%w: %d bytes is more than a chunk", ErrBadChunk, len(chunk))
	case !last && len(chunk) != ChunkSize:
		return nil, fmt.Errorf("%w: a chunk other than the last must be full", ErrBadChunk)
	case last && len(chunk) == 0 && index != 0:
		return nil, fmt.Errorf("%w: only the first chunk may be empty", ErrBadChunk)
	}
	// STREAM nonce: 11-byte big-endian chunk counter, then 1 on the last chunk.
	var nonce [chacha20poly1305.NonceSize]byte
	binary.BigEndian.PutUint64(nonce[3:11], index)
	if last {
		nonce[11] = 1
	}
	return s.aead.Seal(dst, nonce[:], chunk, nil), nil // #nosec G407 -- the age STREAM nonce: chunk counter and last-chunk flag, as the age spec requires; the key is fresh per file
}
