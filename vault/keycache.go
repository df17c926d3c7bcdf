package vault

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"slices"
	"sync"
	"time"

	"filippo.io/age"
)

// Defaults of the key cache of Keys (Keys.CacheSize, Keys.CacheTTL).
const (
	DefaultKeyCacheSize = 1024
	DefaultKeyCacheTTL  = 2 * time.Minute
)

// keyCache remembers, for documents opened in the last CacheTTL, the unwrapped document
// identity and the file key of the document's object, so that opening a document again does
// no post-quantum work: unwrapping the identity from its KEK (an ML-KEM-768 + X25519
// decapsulation), parsing it (an ML-KEM key expansion) and opening the object's header
// (another decapsulation) cost most of the CPU time of an open of a small document.
//
// Why this is acceptable: the entries are held in this process's memory only, never written
// anywhere, for a bounded number of documents (CacheSize) and a bounded time (CacheTTL) after
// they were last unwrapped. The process already holds the KEKs, which unwrap every document
// identity, so the cache gives nobody who can read the process's memory anything they could
// not have taken from it before.
//
// Why it cannot outlive a key: an entry is keyed by the document id AND the SHA-256 of the
// wrapped key as read from PostgreSQL, and every open still reads that row. A shredded key
// (no row: ErrNotFound) is never served from the cache, by this process or any other; a key
// re-wrapped by KEK rotation has other wrapped bytes and is unwrapped afresh. The file key is
// remembered for the exact recipient stanzas of the header it was unwrapped from, and age
// still checks the header's MAC with it.
type keyCache struct {
	size int
	ttl  time.Duration
	now  func() time.Time

	mu      sync.Mutex
	entries map[string]*cachedKey // by document id
}

// cachedKey is one document's entry.
type cachedKey struct {
	wrapped [sha256.Size]byte // SHA-256 of the wrapped key the identity was unwrapped from
	id      age.Identity
	expires time.Time

	mu      sync.Mutex
	stanzas [sha256.Size]byte // digest of the stanzas fileKey was unwrapped from
	fileKey []byte            // nil until a header was opened
}

func newKeyCache(size int, ttl time.Duration, now func() time.Time) *keyCache {
	if size == 0 {
		size = DefaultKeyCacheSize
	}
	if ttl == 0 {
		ttl = DefaultKeyCacheTTL
	}
	if now == nil {
		now = time.Now
	}
	return &keyCache{size: size, ttl: ttl, now: now, entries: make(map[string]*cachedKey)}
}

// enabled is false when the cache is switched off (a negative size or TTL).
func (c *keyCache) enabled() bool { return c.size > 0 && c.ttl > 0 }

// get returns the live entry of docID for the wrapped key whose SHA-256 is sum, if any.
func (c *keyCache) get(docID string, sum [sha256.Size]byte) *cachedKey {
	if !c.enabled() {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[docID]
	if e == nil {
		return nil
	}
	if e.wrapped != sum || !c.now().Before(e.expires) {
		delete(c.entries, docID) // stale: re-wrapped, shredded and re-created, or expired
		return nil
	}
	return e
}

// put stores the identity unwrapped from the wrapped key whose SHA-256 is sum and returns
// its entry. When the cache is full, expired entries go first, then arbitrary ones.
func (c *keyCache) put(docID string, sum [sha256.Size]byte, id age.Identity) *cachedKey {
	e := &cachedKey{wrapped: sum, id: id, expires: c.now().Add(c.ttl)}
	if !c.enabled() {
		return e
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.entries[docID]; !ok && len(c.entries) >= c.size {
		now := c.now()
		for k, old := range c.entries {
			if !now.Before(old.expires) {
				delete(c.entries, k)
			}
		}
		for k := range c.entries { // map order is random: a random eviction
			if len(c.entries) < c.size {
				break
			}
			delete(c.entries, k)
		}
	}
	c.entries[docID] = e
	return e
}

// forget drops docID's entry (its key was shredded here).
func (c *keyCache) forget(docID string) {
	c.mu.Lock()
	delete(c.entries, docID)
	c.mu.Unlock()
}

// len is the number of entries, expired or not (for tests).
func (c *keyCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// cachingIdentity is the age.Identity of one open of a document: its entry's identity,
// remembering the file key of the last header it opened.
type cachingIdentity struct{ e *cachedKey }

// Unwrap implements age.Identity.
func (i cachingIdentity) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	d := stanzaDigest(stanzas)
	e := i.e
	e.mu.Lock()
	if e.fileKey != nil && subtle.ConstantTimeCompare(e.stanzas[:], d[:]) == 1 {
		fk := slices.Clone(e.fileKey)
		e.mu.Unlock()
		return fk, nil
	}
	e.mu.Unlock()
	fk, err := e.id.Unwrap(stanzas)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.stanzas, e.fileKey = d, slices.Clone(fk)
	e.mu.Unlock()
	return fk, nil
}

// stanzaDigest is an unambiguous SHA-256 of the recipient stanzas of a header.
func stanzaDigest(stanzas []*age.Stanza) [sha256.Size]byte {
	h := sha256.New()
	num := func(n int) {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(n))
		h.Write(b[:])
	}
	field := func(b []byte) {
		num(len(b))
		h.Write(b)
	}
	num(len(stanzas))
	for _, s := range stanzas {
		field([]byte(s.Type))
		num(len(s.Args))
		for _, a := range s.Args {
			field([]byte(a))
		}
		field(s.Body)
	}
	var d [sha256.Size]byte
	h.Sum(d[:0])
	return d
}
