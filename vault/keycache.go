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

// Defaults of the key cache of Keys (Keys.CacheSize, Keys.CacheTTL, Keys.CacheBytes).
const (
	DefaultKeyCacheSize  = 1024
	DefaultKeyCacheTTL   = 2 * time.Minute
	DefaultKeyCacheBytes = 64 << 20
)

// MaxCachedObject is the largest object (in encrypted bytes) a key cache entry keeps.
const MaxCachedObject = 1 << 20

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
//
// An entry of a small document (up to MaxCachedObject) also keeps its object, the age file as
// stored in MinIO: ciphertext only, never plaintext. Reviewers open the same documents again
// and again (a viewer's Range requests, going back to a report), and an object fetched once
// is not fetched again while its entry lives. The object goes with its entry: the rules above
// apply to it unchanged (every open still reads the key row first, so a shredded document is
// never opened from it), and it is kept for the exact object key and size the registry names.
// All entries together keep at most `bytes` of objects; when that is used up, expired entries
// go, and objects are then fetched and not kept until more entries expire.
type keyCache struct {
	size  int
	ttl   time.Duration
	bytes int64 // budget of kept objects
	now   func() time.Time

	mu      sync.Mutex
	entries map[string]*cachedKey // by document id
	held    int64                 // bytes of objects kept by entries
	sweeps  *time.Timer           // pending sweep, while there are entries
}

// cachedKey is one document's entry.
type cachedKey struct {
	wrapped [sha256.Size]byte // SHA-256 of the wrapped key the identity was unwrapped from
	id      age.Identity
	expires time.Time

	mu      sync.Mutex
	stanzas [sha256.Size]byte // digest of the stanzas fileKey was unwrapped from
	fileKey []byte            // nil until a header was opened

	// guarded by keyCache.mu
	objectKey string
	object    []byte // the whole object of objectKey, when kept
}

func newKeyCache(size int, ttl time.Duration, bytes int64, now func() time.Time) *keyCache {
	if size == 0 {
		size = DefaultKeyCacheSize
	}
	if ttl == 0 {
		ttl = DefaultKeyCacheTTL
	}
	if bytes == 0 {
		bytes = DefaultKeyCacheBytes
	}
	if now == nil {
		now = time.Now
	}
	return &keyCache{size: size, ttl: ttl, bytes: bytes, now: now, entries: make(map[string]*cachedKey)}
}

// sweep drops expired entries. It runs on a timer, every quarter of the TTL while the cache
// holds entries, so that an identity, a file key or an object is not kept in memory for
// much longer than the TTL, even for documents that are never opened again.
func (c *keyCache) sweep() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sweeps = nil
	c.dropExpired()
	c.scheduleSweep()
}

// scheduleSweep starts the sweep timer if entries need it. c.mu is held.
func (c *keyCache) scheduleSweep() {
	if c.sweeps == nil && len(c.entries) > 0 {
		c.sweeps = time.AfterFunc(max(c.ttl/4, time.Second), c.sweep)
	}
}

// dropExpired drops the expired entries. c.mu is held.
func (c *keyCache) dropExpired() {
	now := c.now()
	for k, e := range c.entries {
		if !now.Before(e.expires) {
			c.drop(k)
		}
	}
}

// drop removes docID's entry and releases its object. c.mu is held.
func (c *keyCache) drop(docID string) {
	if e := c.entries[docID]; e != nil {
		c.held -= int64(len(e.object))
		e.object, e.objectKey = nil, ""
		delete(c.entries, docID)
	}
}

// object returns the object e keeps for objectKey if it has size bytes, else nil.
func (c *keyCache) object(e *cachedKey, objectKey string, size int64) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e.objectKey != objectKey || int64(len(e.object)) != size {
		return nil
	}
	return e.object
}

// keep lets e, the live entry of docID, keep object (whose bytes must not change after)
// as objectKey's, if it is small enough and the budget allows.
func (c *keyCache) keep(docID string, e *cachedKey, objectKey string, object []byte) {
	n := int64(len(object))
	if n > MaxCachedObject || c.bytes <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.held+n > c.bytes {
		c.dropExpired() // their objects count until they go
	}
	if c.entries[docID] != e || e.object != nil || c.held+n > c.bytes {
		return
	}
	e.objectKey, e.object = objectKey, object
	c.held += n
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
		c.drop(docID) // stale: re-wrapped, shredded and re-created, or expired
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
		c.dropExpired()
		for k := range c.entries { // map order is random: a random eviction
			if len(c.entries) < c.size {
				break
			}
			c.drop(k)
		}
	}
	c.drop(docID)
	c.entries[docID] = e
	c.scheduleSweep()
	return e
}

// forget drops docID's entry (its key was shredded here).
func (c *keyCache) forget(docID string) {
	c.mu.Lock()
	c.drop(docID)
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
		binary.BigEndian.PutUint64(b[:], uint64(n)) // #nosec G115 -- a byte count, never negative
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
