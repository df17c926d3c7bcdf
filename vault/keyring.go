package vault

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"filippo.io/age"
)

// GenerateKEK writes a fresh hybrid post-quantum age identity (AGE-SECRET-KEY-PQ-1…) to a
// new file at path, readable by its owner only, and returns its public recipient
// (age1pq1…). It refuses to overwrite an existing file.
func GenerateKEK(path string) (recipient string, err error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return "", fmt.Errorf("vault: generate KEK: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- the KEK files named by the operator (SO_KEK_FILES)
	if err != nil {
		return "", fmt.Errorf("vault: create KEK file: %w", err)
	}
	recipient = id.Recipient().String()
	_, err = fmt.Fprintf(f, "# secondopinion key-encryption key\n# public key: %s\n%s\n", recipient, id)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path) // #nosec G104 -- removes a partly written file on an error already returned
		return "", fmt.Errorf("vault: write KEK file: %w", err)
	}
	return recipient, nil
}

// A Keyring holds the key-encryption keys (KEKs). The newest wraps document identities;
// every one of them unwraps.
type Keyring struct {
	keks []kek // oldest first
}

type kek struct {
	id          age.Identity
	recipient   age.Recipient
	public      string
	fingerprint string
}

// LoadKeyring reads age identity files, oldest first: the last identity of the last file
// is the newest KEK. Files hold one identity a line (hybrid AGE-SECRET-KEY-PQ-1… or
// X25519 AGE-SECRET-KEY-1…); empty lines and lines starting with "#" are ignored.
// Errors name the file and line, never its contents.
func LoadKeyring(paths []string) (*Keyring, error) {
	if len(paths) == 0 {
		return nil, errors.New("vault: no KEK files configured")
	}
	kr := &Keyring{}
	for _, p := range paths {
		b, err := os.ReadFile(p) // #nosec G304 -- the KEK files named by the operator (SO_KEK_FILES)
		if err != nil {
			return nil, fmt.Errorf("vault: read KEK file: %w", err)
		}
		keks, err := parseKEKs(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("vault: KEK file %s: %w", p, err)
		}
		kr.keks = append(kr.keks, keks...)
	}
	return kr, nil
}

// parseKEKs parses one identity file.
func parseKEKs(r io.Reader) ([]kek, error) {
	ids, err := age.ParseIdentities(r)
	if err != nil {
		return nil, err
	}
	keks := make([]kek, 0, len(ids))
	for _, id := range ids {
		var rcpt interface {
			age.Recipient
			String() string
		}
		switch id := id.(type) {
		case *age.HybridIdentity:
			rcpt = id.Recipient()
		case *age.X25519Identity:
			rcpt = id.Recipient()
		default:
			return nil, fmt.Errorf("unsupported identity type %T", id)
		}
		pub := rcpt.String()
		keks = append(keks, kek{id: id, recipient: rcpt, public: pub, fingerprint: Fingerprint(pub)})
	}
	return keks, nil
}

// Fingerprint is the short public name of a recipient: the first 16 hex digits of the
// SHA-256 of its age1… encoding. It reveals nothing secret.
func Fingerprint(recipient string) string {
	sum := sha256.Sum256([]byte(recipient))
	return hex.EncodeToString(sum[:8])
}

// Fingerprints returns the fingerprints of the KEKs, oldest first.
func (kr *Keyring) Fingerprints() []string {
	fps := make([]string, len(kr.keks))
	for i, k := range kr.keks {
		fps[i] = k.fingerprint
	}
	return fps
}

// Recipients returns the public age1… encodings of the KEKs, oldest first.
func (kr *Keyring) Recipients() []string {
	rs := make([]string, len(kr.keks))
	for i, k := range kr.keks {
		rs[i] = k.public
	}
	return rs
}

func (kr *Keyring) newest() kek { return kr.keks[len(kr.keks)-1] }

// wrap encrypts secret to the newest KEK and returns the age file and that KEK's fingerprint.
func (kr *Keyring) wrap(secret string) ([]byte, string, error) {
	k := kr.newest()
	var buf bytes.Buffer
	w, err := age.Encrypt(&buf, k.recipient)
	if err != nil {
		return nil, "", fmt.Errorf("vault: wrap: %w", err)
	}
	if _, err := io.WriteString(w, secret); err != nil {
		return nil, "", fmt.Errorf("vault: wrap: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, "", fmt.Errorf("vault: wrap: %w", err)
	}
	return buf.Bytes(), k.fingerprint, nil
}

// unwrap decrypts an age file made by wrap with any KEK.
func (kr *Keyring) unwrap(wrapped []byte) (string, error) {
	ids := make([]age.Identity, len(kr.keks))
	for i, k := range kr.keks {
		ids[len(ids)-1-i] = k.id // newest first
	}
	r, err := age.Decrypt(bytes.NewReader(wrapped), ids...)
	if err != nil {
		return "", fmt.Errorf("vault: unwrap: %w", err)
	}
	var sb strings.Builder
	if _, err := io.Copy(&sb, io.LimitReader(r, 4096)); err != nil {
		return "", fmt.Errorf("vault: unwrap: %w", err)
	}
	return sb.String(), nil
}
