package vault

import (
	"bytes"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

func newKeyring(t *testing.T, n int) []string {
	t.Helper()
	var paths []string
	for i := range n {
		p := filepath.Join(t.TempDir(), "kek"+string(rune('a'+i)))
		if _, err := GenerateKEK(p); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func loadKeyring(t *testing.T, paths ...string) *Keyring {
	t.Helper()
	kr, err := LoadKeyring(paths)
	if err != nil {
		t.Fatal(err)
	}
	return kr
}

func TestKeysLifecycle(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := t.Context()
	keks := newKeyring(t, 1)
	keys := NewKeys(db.Runtime, loadKeyring(t, keks...))

	id, err := keys.Create(ctx, "doc-1")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Create(ctx, "doc-1"); err == nil {
		t.Fatal("a second key for one document was created")
	}
	got, err := keys.Identity(ctx, "doc-1")
	if err != nil || got.String() != id.String() {
		t.Fatalf("Identity: %v", err)
	}
	s, err := keys.IdentityString(ctx, "doc-1")
	if err != nil || s != id.String() || !strings.HasPrefix(s, "AGE-SECRET-KEY-PQ-1") {
		t.Fatalf("IdentityString: %v", err)
	}

	var wrapped []byte
	var fp string
	if err := db.Owner.QueryRowContext(ctx, `SELECT wrapped, kek_fingerprint FROM document_keys WHERE document_id = 'doc-1'`).Scan(&wrapped, &fp); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(wrapped, []byte("AGE-SECRET-KEY")) || !bytes.HasPrefix(wrapped, []byte("age-encryption.org/v1\n")) {
		t.Fatal("the stored key is not an age file")
	}
	if fp != loadKeyring(t, keks...).Fingerprints()[0] {
		t.Fatalf("kek_fingerprint %s", fp)
	}

	if err := keys.Shred(ctx, "doc-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := keys.Identity(ctx, "doc-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Identity after Shred: %v, want ErrNotFound", err)
	}
	if err := keys.Shred(ctx, "doc-1"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Shred: %v, want ErrNotFound", err)
	}
	if _, err := keys.IdentityString(ctx, "never"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("IdentityString of an unknown document: %v", err)
	}
}

// TestRewrap rotates the KEK: every identity stays usable, with the new KEK alone.
func TestRewrap(t *testing.T) {
	db := testenv.NewDB(t)
	ctx := t.Context()
	keks := newKeyring(t, 2)
	oldKeys := NewKeys(db.Runtime, loadKeyring(t, keks[0]))
	want := map[string]string{}
	for i := range 25 {
		docID := "doc-" + string(rune('A'+i))
		id, err := oldKeys.Create(ctx, docID)
		if err != nil {
			t.Fatal(err)
		}
		want[docID] = id.String()
	}

	rotated := NewKeys(db.Runtime, loadKeyring(t, keks...))
	rotated.RewrapBatch = 7
	n, err := rotated.Rewrap(ctx)
	if err != nil || n != len(want) {
		t.Fatalf("Rewrap = %d, %v; want %d", n, err, len(want))
	}
	if n, err := rotated.Rewrap(ctx); err != nil || n != 0 {
		t.Fatalf("second Rewrap = %d, %v; want 0", n, err)
	}

	newOnly := NewKeys(db.Runtime, loadKeyring(t, keks[1]))
	for docID, s := range want {
		got, err := newOnly.IdentityString(ctx, docID)
		if err != nil || got != s {
			t.Fatalf("%s after rotation: %v", docID, err)
		}
		if _, err := oldKeys.Identity(ctx, docID); err == nil {
			t.Fatalf("%s still opens with the retired KEK", docID)
		}
	}

	// A key wrapped by a KEK the keyring does not hold stops the rotation with an error.
	if _, err := NewKeys(db.Runtime, loadKeyring(t, newKeyring(t, 1)...)).Create(ctx, "stranger"); err != nil {
		t.Fatal(err)
	}
	if _, err := rotated.Rewrap(ctx); err == nil {
		t.Fatal("Rewrap succeeded over a key no KEK opens")
	}
}
