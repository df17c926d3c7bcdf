package access

import (
	"errors"
	"strings"
	"testing"
)

var cheap = Argon2Params{Memory: 1024, Time: 1, Threads: 1}

func TestPasswordHash(t *testing.T) {
	h := hashPassword("correct horse battery staple", cheap)
	if !strings.HasPrefix(h, "$argon2id$v=19$m=1024,t=1,p=1$") {
		t.Fatalf("hash %q is not a PHC argon2id string with the given parameters", h)
	}
	if h2 := hashPassword("correct horse battery staple", cheap); h2 == h {
		t.Error("two hashes of one password are equal: the salt is not random")
	}
	ok, p, err := verifyPassword(h, "correct horse battery staple")
	if err != nil || !ok || p != cheap {
		t.Errorf("verify right password = %v, %+v, %v", ok, p, err)
	}
	ok, _, err = verifyPassword(h, "correct horse battery stapler")
	if err != nil || ok {
		t.Errorf("verify wrong password = %v, %v", ok, err)
	}
}

// A known answer, computed with the reference implementation (libargon2's argon2id_hash_raw,
// password "password", salt "somesaltsomesalt", t=1, m=1024 KiB, p=1, 32-byte key), so that a
// change of encoding or of the Go library is noticed.
func TestPasswordKnownHash(t *testing.T) {
	const h = "$argon2id$v=19$m=1024,t=1,p=1$c29tZXNhbHRzb21lc2FsdA$FiU+I6KbINfHoMBfkVDnS6qmzxgy7cg41IT8JQoCvvk"
	ok, p, err := verifyPassword(h, "password")
	if err != nil || !ok || p != cheap {
		t.Fatalf("reference hash: %v, %+v, %v", ok, p, err)
	}
	if ok, _, _ := verifyPassword(h, "Password"); ok {
		t.Fatal("reference hash matched another password")
	}
}

func TestDecodeHashRejects(t *testing.T) {
	good := hashPassword("x", cheap)
	f := strings.Split(good, "$")
	bad := map[string]string{
		"argon2i":          strings.Replace(good, "argon2id", "argon2i", 1),
		"version 16":       strings.Replace(good, "v=19", "v=16", 1),
		"parameter order":  strings.Replace(good, "m=1024,t=1,p=1", "t=1,m=1024,p=1", 1),
		"leading zero":     strings.Replace(good, "m=1024", "m=01024", 1),
		"huge memory":      strings.Replace(good, "m=1024", "m=4194304", 1),
		"zero time":        strings.Replace(good, "t=1", "t=0", 1),
		"padded salt":      "$" + strings.Join([]string{f[1], f[2], f[3], f[4] + "==", f[5]}, "$"),
		"short key":        "$" + strings.Join([]string{f[1], f[2], f[3], f[4], "AAAA"}, "$"),
		"missing field":    "$" + strings.Join(f[1:5], "$"),
		"trailing dollar":  good + "$",
		"empty":            "",
		"negative threads": strings.Replace(good, "p=1", "p=-1", 1),
	}
	for name, h := range bad {
		if _, _, _, err := decodeHash(h); !errors.Is(err, errBadHash) {
			t.Errorf("%s: decodeHash(%q) = %v, want errBadHash", name, h, err)
		}
	}
}

func TestPasswordPolicy(t *testing.T) {
	for pw, ok := range map[string]bool{
		"short":                               false,
		"elevenchars":                         false,
		"twelve chars":                        true,
		strings.Repeat("é", 12):               true,
		strings.Repeat("a", MaxPasswordLen):   true,
		strings.Repeat("a", MaxPasswordLen+1): false,
		"invalid utf8 \xff\xfe!!":             false,
	} {
		if err := checkPasswordPolicy(pw); (err == nil) != ok {
			t.Errorf("policy(%d bytes) = %v, want ok=%v", len(pw), err, ok)
		}
	}
}

func FuzzDecodeHash(f *testing.F) {
	f.Add(hashPassword("x", cheap))
	f.Add("$argon2id$v=19$m=65536,t=3,p=2$c2FsdHNhbHQ$a2V5a2V5a2V5a2V5a2V5a2V5")
	f.Fuzz(func(t *testing.T, s string) {
		p, salt, key, err := decodeHash(s)
		if err != nil {
			return
		}
		if p.Memory > 1<<20 || p.Time > 16 || p.Threads < 1 || len(salt) < 8 || len(key) < 16 {
			t.Fatalf("decodeHash(%q) accepted out-of-bounds %+v, %d-byte salt, %d-byte key", s, p, len(salt), len(key))
		}
	})
}
