package vault

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"filippo.io/age"
	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/internal/prepared"
)

// ErrNotFound is returned when a document has no key: it never had one, or it was shredded.
var ErrNotFound = errors.New("vault: document key not found")

// Keys stores one age identity per document in PostgreSQL (table document_keys), each
// wrapped (age-encrypted) to the newest KEK of a Keyring.
type Keys struct {
	db *sqlx.DB
	kr *Keyring
	// RewrapBatch is how many keys Rewrap re-wraps per transaction. Default 100.
	RewrapBatch int

	// CacheSize is how many documents' unwrapped keys the key cache of opens holds (see
	// keyCache): DefaultKeyCacheSize when 0, none when negative. CacheTTL is how long an
	// entry lives after its key was unwrapped: DefaultKeyCacheTTL when 0, none when
	// negative. Now is the cache's clock (time.Now when nil). Set them before first use.
	CacheSize int
	CacheTTL  time.Duration
	// CacheBytes is how many bytes of small documents' objects (ciphertext) the entries of the
	// key cache keep: DefaultKeyCacheBytes when 0, none when negative.
	CacheBytes int64
	Now        func() time.Time

	cacheOnce sync.Once
	cache     *keyCache
	stmts     prepared.Statements
}

// NewKeys returns the document keys stored in db, wrapped with kr.
func NewKeys(db *sqlx.DB, kr *Keyring) *Keys {
	return &Keys{db: db, kr: kr, RewrapBatch: 100}
}

// Create generates the identity of a new document and stores it wrapped.
func (k *Keys) Create(ctx context.Context, docID string) (*age.HybridIdentity, error) {
	return k.CreateWith(ctx, k.db, docID)
}

// CreateWith is Create inside the caller's transaction (or any executor).
func (k *Keys) CreateWith(ctx context.Context, ex sqlx.ExecerContext, docID string) (*age.HybridIdentity, error) {
	id, err := age.GenerateHybridIdentity()
	if err != nil {
		return nil, fmt.Errorf("vault: generate document identity: %w", err)
	}
	wrapped, fp, err := k.kr.wrap(id.String())
	if err != nil {
		return nil, err
	}
	_, err = ex.ExecContext(ctx,
		`INSERT INTO document_keys (document_id, wrapped, kek_fingerprint) VALUES ($1, $2, $3)`,
		docID, wrapped, fp)
	if err != nil {
		return nil, fmt.Errorf("vault: store document key: %w", err)
	}
	return id, nil
}

// Identity returns the unwrapped identity of a document.
func (k *Keys) Identity(ctx context.Context, docID string) (*age.HybridIdentity, error) {
	wrapped, err := k.wrapped(ctx, docID)
	if err != nil {
		return nil, err
	}
	return k.parse(wrapped)
}

// openIdentity returns the identity that opens the document's object, for one open. The
// wrapped key is read from PostgreSQL every time (ErrNotFound once shredded); unwrapping it,
// and opening the object's header with it, are remembered by the key cache for the same
// wrapped bytes (see keyCache).
func (k *Keys) openIdentity(ctx context.Context, docID string) (cachingIdentity, error) {
	c := k.keyCache()
	wrapped, err := k.wrapped(ctx, docID)
	if errors.Is(err, ErrNotFound) {
		c.forget(docID) // shredded, maybe by another process: drop what this one remembers
	}
	if err != nil {
		return cachingIdentity{}, err
	}
	sum := sha256.Sum256(wrapped)
	if e := c.get(docID, sum); e != nil {
		return cachingIdentity{e}, nil
	}
	id, err := k.parse(wrapped)
	if err != nil {
		return cachingIdentity{}, err
	}
	return cachingIdentity{c.put(docID, sum, id)}, nil
}

func (k *Keys) keyCache() *keyCache {
	k.cacheOnce.Do(func() { k.cache = newKeyCache(k.CacheSize, k.CacheTTL, k.CacheBytes, k.Now) })
	return k.cache
}

// wrapped reads a document's wrapped key.
func (k *Keys) wrapped(ctx context.Context, docID string) ([]byte, error) {
	var wrapped []byte
	err := k.stmts.Get(ctx, k.db, nil, &wrapped, `SELECT wrapped FROM document_keys WHERE document_id = $1`, docID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("vault: load document key: %w", err)
	}
	return wrapped, nil
}

// parse unwraps a wrapped key into the document's identity.
func (k *Keys) parse(wrapped []byte) (*age.HybridIdentity, error) {
	s, err := k.unwrap(wrapped)
	if err != nil {
		return nil, err
	}
	id, err := age.ParseHybridIdentity(s)
	if err != nil {
		return nil, fmt.Errorf("vault: document key is not an age hybrid identity")
	}
	return id, nil
}

// IdentityString returns the document identity as an AGE-SECRET-KEY-PQ-1… line, for
// escrow: `age -d -i` with it decrypts the document's object. Handle with care.
func (k *Keys) IdentityString(ctx context.Context, docID string) (string, error) {
	wrapped, err := k.wrapped(ctx, docID)
	if err != nil {
		return "", err
	}
	return k.unwrap(wrapped)
}

// unwrap unwraps a wrapped key into its identity line.
func (k *Keys) unwrap(wrapped []byte) (string, error) {
	s, err := k.kr.unwrap(wrapped)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(s), nil
}

// Shred deletes a document's key: its object can no longer be decrypted by anyone
// (crypto-shredding). It returns ErrNotFound when there is no key.
func (k *Keys) Shred(ctx context.Context, docID string) error {
	return k.ShredWith(ctx, k.db, docID)
}

// ShredWith is Shred inside the caller's transaction (or any executor).
// The key cache forgets the document before and after the DELETE; an open that read the key
// row just before it may still leave an entry, which the next open of the document or the
// cache's sweep (within about CacheTTL) drops.
func (k *Keys) ShredWith(ctx context.Context, ex sqlx.ExecerContext, docID string) error {
	c := k.keyCache()
	c.forget(docID)
	res, err := ex.ExecContext(ctx, `DELETE FROM document_keys WHERE document_id = $1`, docID)
	c.forget(docID)
	if err != nil {
		return fmt.Errorf("vault: shred document key: %w", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("vault: shred document key: %w", err)
	}
	if n == 0 {
		return ErrNotFound
	}
	return nil
}

// Rewrap re-wraps to the newest KEK every key wrapped by another one, a batch per
// transaction, and returns how many it re-wrapped. It touches rows only, never objects.
// Once it returns without error, older KEKs may be retired. A key that no KEK of the
// keyring opens stops it with an error naming the document.
func (k *Keys) Rewrap(ctx context.Context) (int, error) {
	total := 0
	for {
		n, err := k.rewrapBatch(ctx)
		total += n
		if err != nil || n == 0 {
			return total, err
		}
	}
}

func (k *Keys) rewrapBatch(ctx context.Context) (int, error) {
	batch := k.RewrapBatch
	if batch <= 0 {
		batch = 100
	}
	newest := k.kr.newest().fingerprint
	tx, err := k.db.BeginTxx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("vault: rewrap: %w", err)
	}
	defer tx.Rollback()
	var rows []struct {
		DocumentID string `db:"document_id"`
		Wrapped    []byte `db:"wrapped"`
	}
	err = tx.SelectContext(ctx, &rows, `
		SELECT document_id, wrapped FROM document_keys
		WHERE kek_fingerprint <> $1
		ORDER BY document_id LIMIT $2
		FOR UPDATE SKIP LOCKED`, newest, batch)
	if err != nil {
		return 0, fmt.Errorf("vault: rewrap: %w", err)
	}
	for _, r := range rows {
		secret, err := k.kr.unwrap(r.Wrapped)
		if err != nil {
			return 0, fmt.Errorf("vault: rewrap document %s: %w", r.DocumentID, err)
		}
		wrapped, fp, err := k.kr.wrap(secret)
		if err != nil {
			return 0, err
		}
		_, err = tx.ExecContext(ctx,
			`UPDATE document_keys SET wrapped = $2, kek_fingerprint = $3, rewrapped_at = now() WHERE document_id = $1`,
			r.DocumentID, wrapped, fp)
		if err != nil {
			return 0, fmt.Errorf("vault: rewrap: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("vault: rewrap: %w", err)
	}
	return len(rows), nil
}

// CountByKEK returns how many document keys each key-encryption key wraps, by fingerprint.
func (k *Keys) CountByKEK(ctx context.Context) (map[string]int, error) {
	var rows []struct {
		FP string `db:"kek_fingerprint"`
		N  int    `db:"n"`
	}
	if err := k.db.SelectContext(ctx, &rows, `SELECT kek_fingerprint, count(*) AS n FROM document_keys GROUP BY 1`); err != nil {
		return nil, fmt.Errorf("vault: count keys: %w", err)
	}
	out := make(map[string]int, len(rows))
	for _, r := range rows {
		out[r.FP] = r.N
	}
	return out, nil
}
