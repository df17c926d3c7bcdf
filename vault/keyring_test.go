package vault

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"filippo.io/age"
)

var fingerprintRE = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestGenerateKEK(t *testing.T) {
	path := filepath.Join(t.TempDir(), "kek.txt")
	rcpt, err := GenerateKEK(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(rcpt, "age1pq1") {
		t.Fatalf("recipient %q is not a hybrid recipient", rcpt[:10])
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("KEK file mode %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	before, _ := os.ReadFile(path)
	if !strings.Contains(string(before), "\nAGE-SECRET-KEY-PQ-1") {
		t.Fatal("KEK file holds no hybrid identity line")
	}
	if _, err := GenerateKEK(path); err == nil {
		t.Fatal("GenerateKEK overwrote an existing file")
	}
	after, _ := os.ReadFile(path)
	if string(after) != string(before) {
		t.Fatal("a refused GenerateKEK changed the file")
	}
	kr, err := LoadKeyring([]string{path})
	if err != nil {
		t.Fatal(err)
	}
	if got := kr.Recipients(); len(got) != 1 || got[0] != rcpt {
		t.Fatalf("Recipients() = %v", got)
	}
	fp := kr.Fingerprints()
	if len(fp) != 1 || !fingerprintRE.MatchString(fp[0]) || fp[0] != Fingerprint(rcpt) {
		t.Fatalf("Fingerprints() = %v", fp)
	}
}

func TestLoadKeyring(t *testing.T) {
	dir := t.TempDir()
	x, _ := age.GenerateX25519Identity()
	h1, _ := age.GenerateHybridIdentity()
	h2, _ := age.GenerateHybridIdentity()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	old := write("old.txt", "# an old KEK\n\n"+x.String()+"\n")
	mid := write("mid.txt", h1.String()+"\n# comment\n")
	newest := write("new.txt", "# created by keys rotate\n"+h2.String())
	secretish := "AGE-SECRET-KEY-PQ-1NOTAKEYATALLBUTLOOKSSECRET"
	bad := write("bad.txt", "# fine\n"+secretish+"\n")
	empty := write("empty.txt", "# nothing here\n\n")

	tests := []struct {
		name    string
		paths   []string
		newest  string
		wantErr bool
	}{
		{"one hybrid", []string{mid}, h1.Recipient().String(), false},
		{"x25519 accepted", []string{old}, x.Recipient().String(), false},
		{"last path is newest", []string{old, mid, newest}, h2.Recipient().String(), false},
		{"order matters", []string{newest, mid}, h1.Recipient().String(), false},
		{"no paths", nil, "", true},
		{"missing file", []string{filepath.Join(dir, "absent")}, "", true},
		{"no identity", []string{empty}, "", true},
		{"malformed identity", []string{mid, bad}, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kr, err := LoadKeyring(tt.paths)
			if tt.wantErr {
				if err == nil {
					t.Fatal("LoadKeyring succeeded")
				}
				if strings.Contains(err.Error(), "NOTAKEY") {
					t.Fatalf("error reveals the file's contents: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			rs := kr.Recipients()
			if rs[len(rs)-1] != tt.newest {
				t.Fatalf("newest = %s, want %s", rs[len(rs)-1], tt.newest)
			}
			for _, fp := range kr.Fingerprints() {
				if !fingerprintRE.MatchString(fp) {
					t.Fatalf("fingerprint %q", fp)
				}
			}
		})
	}
}

func TestWrapUsesNewestAndUnwrapsWithAny(t *testing.T) {
	a, _ := age.GenerateHybridIdentity()
	b, _ := age.GenerateHybridIdentity()
	ring := func(ids ...*age.HybridIdentity) *Keyring {
		var s strings.Builder
		for _, id := range ids {
			s.WriteString(id.String() + "\n")
		}
		keks, err := parseKEKs(strings.NewReader(s.String()))
		if err != nil {
			t.Fatal(err)
		}
		return &Keyring{keks: keks}
	}
	wrapped, fp, err := ring(a, b).wrap("secret")
	if err != nil || fp != Fingerprint(b.Recipient().String()) {
		t.Fatalf("wrap: %s, %v", fp, err)
	}
	if got, err := ring(b).unwrap(wrapped); err != nil || got != "secret" {
		t.Fatalf("unwrap with the newest: %q, %v", got, err)
	}
	if got, err := ring(b, a).unwrap(wrapped); err != nil || got != "secret" {
		t.Fatalf("unwrap with both: %q, %v", got, err)
	}
	if _, err := ring(a).unwrap(wrapped); err == nil {
		t.Fatal("unwrap with an older KEK only succeeded")
	}
}

// FuzzParseKEKs feeds arbitrary identity files to the KEK parser: it must not panic,
// and what it accepts must have a public recipient and a fingerprint.
func FuzzParseKEKs(f *testing.F) {
	h, _ := age.GenerateHybridIdentity()
	x, _ := age.GenerateX25519Identity()
	f.Add("# comment\n" + h.String() + "\n")
	f.Add(x.String() + "\r\n")
	f.Add("\n\n#\nAGE-SECRET-KEY-1\n")
	f.Add("AGE-SECRET-KEY-PQ-1" + strings.Repeat("Q", 100))
	f.Fuzz(func(t *testing.T, s string) {
		keks, err := parseKEKs(strings.NewReader(s))
		if err != nil {
			return
		}
		if len(keks) == 0 {
			t.Fatal("no error and no identities")
		}
		for _, k := range keks {
			if !strings.HasPrefix(k.public, "age1") || !fingerprintRE.MatchString(k.fingerprint) {
				t.Fatalf("accepted a KEK with recipient %q", k.public)
			}
		}
	})
}
