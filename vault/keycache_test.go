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
		{"an entry keeps its object, for its object key and size only", func(t *testing.T, c *keyCache) {
			e := c.put("a", sum("w1"), id)
			obj := []byte("ciphertext")
			c.keep("a", e, "obj-a", obj)
			if got := c.object(e, "obj-a", int64(len(obj))); !bytes.Equal(got, obj) {
				t.Fatalf("object %q", got)
			}
			if c.object(e, "obj-b", int64(len(obj))) != nil || c.object(e, "obj-a", 3) != nil {
				t.Fatal("an object served for another key or size")
			}
		}},
		{"objects go with their entries", func(t *testing.T, c *keyCache) {
			for _, drop := range []func(e *cachedKey){
				func(*cachedKey) { c.forget("a") },
				func(*cachedKey) { c.get("a", sum("re-wrapped")) },
				func(*cachedKey) { c.put("a", sum("w2"), id) },
				func(*cachedKey) { now = now.Add(time.Hour); c.get("a", sum("w1")) },
			} {
				e := c.put("a", sum("w1"), id)
				c.keep("a", e, "obj", make([]byte, 60))
				drop(e)
				if c.held != 0 || c.object(e, "obj", 60) != nil {
					t.Fatalf("%d bytes held after the entry went", c.held)
				}
			}
		}},
		{"objects within the budget, never of a dropped entry", func(t *testing.T, c *keyCache) {
			a, b := c.put("a", sum("w"), id), c.put("b", sum("w"), id)
			c.keep("a", a, "obj-a", make([]byte, 60))
			c.keep("b", b, "obj-b", make([]byte, 60)) // 120 > 100
			if c.held != 60 || c.object(b, "obj-b", 60) != nil {
				t.Fatalf("%d bytes held; budget 100", c.held)
			}
			c.forget("a")
			c.keep("a", a, "obj-a", make([]byte, 60)) // a is no entry any more
			c.keep("b", b, "obj-b", make([]byte, 60))
			if c.held != 60 || c.object(a, "obj-a", 60) != nil || c.object(b, "obj-b", 60) == nil {
				t.Fatalf("%d bytes held, want b's 60", c.held)
			}
		}},
		{"expired entries make room for objects", func(t *testing.T, c *keyCache) {
			a := c.put("a", sum("w"), id)
			c.keep("a", a, "obj-a", make([]byte, 60))
			now = now.Add(time.Hour) // a expired; nothing opened it since
			b := c.put("b", sum("w"), id)
			c.keep("b", b, "obj-b", make([]byte, 60))
			if c.held != 60 || c.object(b, "obj-b", 60) == nil || c.len() != 1 {
				t.Fatalf("%d bytes held, %d entries; want b's object alone", c.held, c.len())
			}
		}},
		{"the sweep drops expired entries and their objects", func(t *testing.T, c *keyCache) {
			a := c.put("a", sum("w"), id)
			c.keep("a", a, "obj-a", make([]byte, 60))
			if c.sweeps == nil {
				t.Fatal("no sweep scheduled while the cache holds entries")
			}
			now = now.Add(30 * time.Second)
			c.put("b", sum("w"), id)
			now = now.Add(30 * time.Second) // a expired, b live
			c.sweep()
			if c.len() != 1 || c.held != 0 || c.get("b", sum("w")) == nil {
				t.Fatalf("%d entries, %d bytes held after the sweep; want b alone", c.len(), c.held)
			}
			now = now.Add(time.Minute)
			c.sweep()
			if c.len() != 0 || c.sweeps != nil {
				t.Fatalf("%d entries after the last sweep, or a sweep still scheduled", c.len())
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
			tt.run(t, newKeyCache(3, time.Minute, 100, clock))
		})
	}

	t.Run("disabled", func(t *testing.T) {
		c := newKeyCache(-1, 0, 0, clock)
		e := c.put("a", sum("w1"), id)
		c.keep("a", e, "obj", []byte("x"))
		if c.get("a", sum("w1")) != nil || c.len() != 0 || c.held != 0 {
			t.Fatal("a disabled cache held an entry")
		}
	})
	t.Run("no objects", func(t *testing.T) {
		c := newKeyCache(0, 0, -1, clock)
		e := c.put("a", sum("w1"), id)
		c.keep("a", e, "obj", []byte("x"))
		if c.get("a", sum("w1")) == nil || c.held != 0 {
			t.Fatal("want the key without its object")
		}
	})
}

// TestCachingIdentity: the file key of a header is unwrapped once and remembered for
// exactly that header's stanzas; another file gets its own unwrap.
func TestCachingIdentity(t *testing.T) {
	id := newIdentity(t)
	inner := &countingIdentity{Identity: id}
	c := newKeyCache(0, 0, 0, nil)
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
