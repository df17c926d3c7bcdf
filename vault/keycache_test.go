package vault

import (
	"bytes"
	"crypto/sha256"
	"testing"
	"time"

	"filippo.io/age"
)

// countingIdentity counts the unwraps it does.
type countingIdentity struct {
	age.Identity
	n int
}

func (c *countingIdentity) Unwrap(s []*age.Stanza) ([]byte, error) {
	c.n++
	return c.Identity.Unwrap(s)
}

func TestKeyCache(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	clock := func() time.Time { return now }
	sum := func(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }
	id := newIdentity(t)

	tests := []struct {
		name string
		run  func(t *testing.T, c *keyCache)
	}{
		{"hit for the same wrapped key", func(t *testing.T, c *keyCache) {
			e := c.put("a", sum("w1"), id)
			if c.get("a", sum("w1")) != e {
				t.Fatal("no hit")
			}
		}},
		{"miss for other wrapped bytes, which drops the entry", func(t *testing.T, c *keyCache) {
			c.put("a", sum("w1"), id)
			if c.get("a", sum("w2")) != nil {
				t.Fatal("hit for a re-wrapped key")
			}
			if c.get("a", sum("w1")) != nil || c.len() != 0 {
				t.Fatal("the stale entry stayed")
			}
		}},
		{"miss for another document", func(t *testing.T, c *keyCache) {
			c.put("a", sum("w1"), id)
			if c.get("b", sum("w1")) != nil {
				t.Fatal("hit for another document")
			}
		}},
		{"expires after the TTL", func(t *testing.T, c *keyCache) {
			c.put("a", sum("w1"), id)
			now = now.Add(time.Minute - time.Nanosecond)
			if c.get("a", sum("w1")) == nil {
				t.Fatal("expired early")
			}
			now = now.Add(time.Nanosecond)
			if c.get("a", sum("w1")) != nil {
				t.Fatal("served after the TTL")
			}
		}},
		{"forget", func(t *testing.T, c *keyCache) {
			c.put("a", sum("w1"), id)
			c.forget("a")
			if c.get("a", sum("w1")) != nil {
				t.Fatal("served after forget")
			}
		}},
		{"bounded: expired entries go first", func(t *testing.T, c *keyCache) {
			c.put("old", sum("w"), id)
			now = now.Add(30 * time.Second)
			c.put("b", sum("w"), id)
			c.put("c", sum("w"), id)
			now = now.Add(31 * time.Second) // "old" expired, "b" and "c" live
			c.put("d", sum("w"), id)
			if c.len() != 3 || c.get("b", sum("w")) == nil || c.get("c", sum("w")) == nil || c.get("d", sum("w")) == nil {
				t.Fatalf("len %d, want b, c, d", c.len())
			}
		}},
		{"bounded: live entries are evicted when needed", func(t *testing.T, c *keyCache) {
			for _, d := range []string{"a", "b", "c", "d", "e"} {
				c.put(d, sum("w"), id)
				if c.len() > 3 {
					t.Fatalf("len %d > 3", c.len())
				}
			}
			if c.get("e", sum("w")) == nil {
				t.Fatal("the newest entry was evicted")
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, newKeyCache(3, time.Minute, clock))
		})
	}

	t.Run("disabled", func(t *testing.T) {
		c := newKeyCache(-1, 0, clock)
		c.put("a", sum("w1"), id)
		if c.get("a", sum("w1")) != nil || c.len() != 0 {
			t.Fatal("a disabled cache held an entry")
		}
	})
}

// TestCachingIdentity: the file key of a header is unwrapped once and remembered for
// exactly that header's stanzas; another file gets its own unwrap.
func TestCachingIdentity(t *testing.T) {
	id := newIdentity(t)
	inner := &countingIdentity{Identity: id}
	c := newKeyCache(0, 0, nil)
	ci := cachingIdentity{c.put("doc", sha256.Sum256(nil), inner)}
	fileA, fileB := sealAll(t, id, []byte("a")), sealAll(t, id, []byte("b"))
	for i, f := range [][]byte{fileA, fileA, fileA, fileB, fileB, fileA} {
		r, err := age.Decrypt(bytes.NewReader(f), ci)
		if err != nil {
			t.Fatalf("decrypt %d: %v", i, err)
		}
		if _, err := r.Read(make([]byte, 1)); err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
	}
	if inner.n != 3 { // A, B, then A again (one file key is remembered)
		t.Fatalf("%d unwraps, want 3", inner.n)
	}
	if _, err := age.Decrypt(bytes.NewReader(sealAll(t, newIdentity(t), []byte("c"))), ci); err == nil {
		t.Fatal("a file of another identity decrypted")
	}
	// A header whose stanzas match but whose MAC does not is still refused.
	bad := bytes.Clone(fileA)
	hdr, _ := age.ExtractHeader(bytes.NewReader(bad))
	bad[len(hdr)-2] ^= 1 // in the MAC
	if _, err := age.Decrypt(bytes.NewReader(bad), ci); err == nil {
		t.Fatal("a header with a bad MAC decrypted with a remembered file key")
	}
}
