package upload

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"filippo.io/age"
	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
	"github.com/minio/minio-go/v7"
	"github.com/tus/tusd/v2/pkg/handler"
	"golang.org/x/sync/semaphore"

	"github.com/secondopinion/secondopinion/vault"
)

// Limits of S3 multipart uploads.
const (
	storeMinPartSize = 5 << 20
	storeMaxParts    = 10000
)

// StoreKeys is what the Store needs from the document keys (*vault.Keys).
type StoreKeys interface {
	CreateWith(ctx context.Context, ex sqlx.ExecerContext, docID string) (*age.HybridIdentity, error)
	Identity(ctx context.Context, docID string) (*age.HybridIdentity, error)
	Shred(ctx context.Context, docID string) error
}

// StoreConfig configures a Store. DB, MinIO, Bucket and Keys are required.
type StoreConfig struct {
	DB     *sqlx.DB      // the runtime connection
	MinIO  *minio.Client // the client of the bucket
	Bucket string
	Keys   StoreKeys

	// Logger receives upload ids, part numbers and sizes, never metadata or content.
	// Default: discard.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// Expiry is how long an upload may stay unfinished, from its creation. It must be
	// shorter than MinIO's MINIO_API_STALE_UPLOADS_EXPIRY (24 h by default). Default 12 h.
	Expiry time.Duration
	// MaxSize is the largest upload accepted, in bytes; it also sets the part size of
	// uploads whose length is deferred, so that they fit in 10,000 parts. Configure
	// tusd's handler.Config.MaxSize to the same value or less. Default 64 GiB.
	MaxSize int64
	// ObjectPrefix is prepended to the (random) object keys of documents. Default "documents/".
	ObjectPrefix string
	// TailPrefix is prepended to the keys of tail objects. Default "uploads/".
	TailPrefix string
	// OnFinish is called, within the last PATCH, once an upload is stored and verified,
	// to check its content and register the document. If it returns an error, the upload
	// is erased (key shredded, object deleted) and the error answers that PATCH: return
	// a handler.Error to tell the uploader why.
	OnFinish func(ctx context.Context, f FinishedUpload) error
	// LockCheck, when set, is asked right before each part is sealed and stored whether
	// this process still holds the upload's lock (*Locker.Held); an error stops the PATCH.
	// It narrows the window in which a lost database session could let two writers seal.
	LockCheck func(ctx context.Context, id string) error
	// ExpireLocker, when set, is the tusd locker Expire takes an upload's lock with
	// before terminating it, so that it never races a PATCH in flight.
	ExpireLocker handler.Locker
	// Registered, when set, tells whether a document with the upload's id is registered (by
	// OnFinish). An upload that is, is never erased (see storeUpload.erase), whatever happened
	// after its registration.
	Registered func(ctx context.Context, id string) (bool, error)
	// BufferMemory bounds the part buffers of all the PATCH requests in progress together, in
	// bytes: each reserves its storeInFlight+1 part buffers when it starts (20 MiB, or 32 MiB for
	// uploads of 256 MiB or more) and waits up to BufferWait for room, then answers 503 and
	// the tus client retries. Default 1 GiB.
	BufferMemory int64
	// BufferWait is how long a PATCH waits for buffer memory. Default 30 s.
	BufferWait time.Duration
}

// FinishedUpload describes an upload that is stored and verified.
type FinishedUpload struct {
	ID            string
	Bucket        string
	ObjectKey     string
	Size          int64    // plaintext bytes
	EncryptedSize int64    // bytes of the age object
	SHA256        [32]byte // of the plaintext
	MetaData      handler.MetaData
	// Content reads the plaintext with random access (see vault.OpenReaderAt), for
	// content checks; it is valid during the OnFinish call.
	Content io.ReaderAt
}

// A Store is a tusd DataStore that writes each upload as one age file, encrypted to
// the upload's own document identity, straight into a MinIO multipart upload. It keeps
// no state in memory between requests: any instance serves any request, as long as a
// shared Locker (such as the PostgreSQL one) serializes requests on one upload.
type Store struct {
	cfg    StoreConfig
	core   minio.Core
	log    *slog.Logger
	bufs   partBuffers
	budget *semaphore.Weighted // BufferMemory
}

// NewStore returns a Store. See StoreConfig for the defaults.
func NewStore(cfg StoreConfig) (*Store, error) {
	if cfg.DB == nil || cfg.MinIO == nil || cfg.Bucket == "" || cfg.Keys == nil {
		return nil, errors.New("upload: StoreConfig needs DB, MinIO, Bucket and Keys")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Expiry <= 0 {
		cfg.Expiry = 12 * time.Hour
	}
	if cfg.MaxSize <= 0 {
		cfg.MaxSize = 64 << 30
	}
	if cfg.ObjectPrefix == "" {
		cfg.ObjectPrefix = "documents/"
	}
	if cfg.TailPrefix == "" {
		cfg.TailPrefix = "uploads/"
	}
	if cfg.BufferMemory <= 0 {
		cfg.BufferMemory = 1 << 30
	}
	if cfg.BufferWait <= 0 {
		cfg.BufferWait = 30 * time.Second
	}
	return &Store{cfg: cfg, core: minio.Core{Client: cfg.MinIO}, log: cfg.Logger,
		budget: semaphore.NewWeighted(cfg.BufferMemory)}, nil
}

// UseIn registers the Store in a tusd StoreComposer as core, terminater and length
// deferrer. Concatenation is not offered: partial uploads would need chunks sealed out
// of order. The composer needs a Locker as well.
func (s *Store) UseIn(c *handler.StoreComposer) {
	c.UseCore(s)
	c.UseTerminater(s)
	c.UseLengthDeferrer(s)
}

// storeRow is a row of the uploads table.
type storeRow struct {
	ID            string         `db:"id"`
	ObjectKey     string         `db:"object_key"`
	MultipartID   string         `db:"multipart_id"`
	HeaderNonce   []byte         `db:"header_nonce"`
	Size          sql.NullInt64  `db:"size"`
	ChunksPerPart int            `db:"chunks_per_part"`
	Metadata      []byte         `db:"metadata"`
	TailKey       sql.NullString `db:"tail_key"`
	TailParts     sql.NullInt64  `db:"tail_parts"`
	TailSize      sql.NullInt64  `db:"tail_size"`
	CreatedAt     time.Time      `db:"created_at"`
	ExpiresAt     time.Time      `db:"expires_at"`
	FinishedAt    sql.NullTime   `db:"finished_at"`
	HashState     []byte         `db:"hash_state"`
	HashParts     sql.NullInt64  `db:"hash_parts"`
	PartETags     pq.StringArray `db:"part_etags"`
	SealedParts   pq.ByteaArray  `db:"sealed_parts"` // fingerprints of the parts sealed (see flush)
}

var storeIDPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,128}$`)

// storeLargeUpload is the length from which parts hold at least storeLargeChunks chunks
// (8 MiB): MinIO stores fewer, larger parts faster (make bench: a PutObject in 5 MiB parts
// takes about 1.3 times as long as in 16 MiB parts). With storeInFlight parts in flight and one
// being read, an upload holds 32 MiB of part buffers. Smaller uploads keep 5 MiB parts, so
// that tus clients sending small PATCHes rarely leave a tail.
const (
	storeLargeUpload = 256 << 20
	storeLargeChunks = 128
)

// storeChunksPerPart picks how many age chunks go in each part for an upload of at most
// size bytes, declared or (deferred) the store's maximum: parts of at least 5 MiB (8 MiB
// for a declared length from storeLargeUpload on), at most 10,000 of them.
func storeChunksPerPart(size int64, declared bool) int {
	minimum := (storeMinPartSize + vault.SealedChunkSize - 1) / vault.SealedChunkSize
	if declared && size >= storeLargeUpload {
		minimum = storeLargeChunks
	}
	chunks := max(1, (size+vault.ChunkSize-1)/vault.ChunkSize)
	return max(minimum, int((chunks+storeMaxParts-1)/storeMaxParts))
}

func storeRandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// NewUpload implements handler.DataStore. It keeps info.ID when a hook chose one
// (letters, digits, '-' and '_'), and otherwise picks a random one. It creates the
// document key, the age header and the multipart upload; the object key is random.
func (s *Store) NewUpload(ctx context.Context, info handler.FileInfo) (handler.Upload, error) {
	if info.IsPartial || info.IsFinal {
		// Concatenation is off by design (DESIGN §4: chunks are sealed in order); tus answers 501.
		return nil, handler.ErrNotImplemented
	}
	limit := info.Size
	if info.SizeIsDeferred {
		limit = s.cfg.MaxSize
	} else if info.Size < 0 || info.Size > s.cfg.MaxSize {
		return nil, handler.ErrMaxSizeExceeded
	}
	if info.ID == "" {
		info.ID = storeRandomHex(16)
	} else if !storeIDPattern.MatchString(info.ID) {
		return nil, fmt.Errorf("upload: invalid upload id")
	}
	if info.MetaData == nil {
		info.MetaData = handler.MetaData{}
	}
	meta, err := json.Marshal(info.MetaData)
	if err != nil {
		return nil, fmt.Errorf("upload: metadata: %w", err)
	}
	now := s.cfg.Now()
	row := storeRow{
		ID:            info.ID,
		ObjectKey:     s.cfg.ObjectPrefix + storeRandomHex(16),
		ChunksPerPart: storeChunksPerPart(limit, !info.SizeIsDeferred),
		Metadata:      meta,
		CreatedAt:     now,
		ExpiresAt:     now.Add(s.cfg.Expiry),
	}
	if !info.SizeIsDeferred {
		row.Size = sql.NullInt64{Int64: info.Size, Valid: true}
	}

	tx, err := s.cfg.DB.BeginTxx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("upload: begin: %w", err)
	}
	defer tx.Rollback()
	id, err := s.cfg.Keys.CreateWith(ctx, tx, row.ID)
	if err != nil {
		return nil, fmt.Errorf("upload: create document key: %w", err)
	}
	if row.HeaderNonce, err = vault.NewFileHeader(id.Recipient()); err != nil {
		return nil, err
	}
	row.MultipartID, err = s.core.NewMultipartUpload(ctx, s.cfg.Bucket, row.ObjectKey,
		minio.PutObjectOptions{ContentType: "application/octet-stream"})
	if err != nil {
		return nil, fmt.Errorf("upload: start multipart upload: %w", err)
	}
	_, err = tx.NamedExecContext(ctx, `
		INSERT INTO uploads (id, object_key, multipart_id, header_nonce, size, chunks_per_part,
			metadata, created_at, expires_at)
		VALUES (:id, :object_key, :multipart_id, :header_nonce, :size, :chunks_per_part,
			:metadata, :created_at, :expires_at)`, row)
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		s.abortMultipart(context.WithoutCancel(ctx), row)
		return nil, fmt.Errorf("upload: record upload: %w", err)
	}
	s.log.DebugContext(ctx, "upload created", "upload", row.ID, "chunks_per_part", row.ChunksPerPart)
	return &storeUpload{s: s, row: row, loaded: true}, nil
}

// GetUpload implements handler.DataStore. Expired uploads are not found.
func (s *Store) GetUpload(ctx context.Context, id string) (handler.Upload, error) {
	u, err := s.load(ctx, id)
	if err != nil {
		return nil, err
	}
	if !s.cfg.Now().Before(u.row.ExpiresAt) {
		return nil, handler.ErrNotFound
	}
	return u, nil
}

func (s *Store) load(ctx context.Context, id string) (*storeUpload, error) {
	u := &storeUpload{s: s}
	err := s.cfg.DB.GetContext(ctx, &u.row, `SELECT * FROM uploads WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, handler.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("upload: load upload: %w", err)
	}
	return u, nil
}

// AsTerminatableUpload implements handler.TerminaterDataStore.
func (s *Store) AsTerminatableUpload(u handler.Upload) handler.TerminatableUpload {
	return u.(*storeUpload)
}

// AsLengthDeclarableUpload implements handler.LengthDeferrerDataStore.
func (s *Store) AsLengthDeclarableUpload(u handler.Upload) handler.LengthDeclarableUpload {
	return u.(*storeUpload)
}

// Expire terminates up to 100 uploads whose expiry is not after now, oldest first, and
// returns how many it terminated: unfinished ones lose their parts, tail and key;
// finished ones only their upload record (the document lives on). Run it periodically.
func (s *Store) Expire(ctx context.Context, now time.Time) (int, error) {
	var ids []string
	err := s.cfg.DB.SelectContext(ctx, &ids,
		`SELECT id FROM uploads WHERE expires_at <= $1 ORDER BY expires_at LIMIT 100`, now)
	if err != nil {
		return 0, fmt.Errorf("upload: list expired uploads: %w", err)
	}
	n := 0
	var errs []error
	for _, id := range ids {
		if err := s.expire(ctx, id); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

func (s *Store) expire(ctx context.Context, id string) error {
	u, unlock, err := s.loadLocked(ctx, id)
	if u == nil || err != nil {
		return err
	}
	defer unlock()
	if err := u.Terminate(ctx); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "upload expired", "upload", id)
	return nil
}

func (s *Store) abortMultipart(ctx context.Context, row storeRow) {
	err := s.core.AbortMultipartUpload(ctx, s.cfg.Bucket, row.ObjectKey, row.MultipartID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		s.log.WarnContext(ctx, "abort multipart upload", "upload", row.ID, "error", err)
	}
}

// EraseCase erases every upload to the case (a case being erased, see cases.BeginErasure):
// unfinished ones lose their key, multipart upload, object and tails; finished ones their
// record (which holds the file's name; the document is erased through the vault). It
// returns how many it erased. Run again after a failure, it carries on.
func (s *Store) EraseCase(ctx context.Context, caseID string) (int, error) {
	var ids []string
	err := s.cfg.DB.SelectContext(ctx, &ids, `SELECT id FROM uploads WHERE metadata->>'case_id' = $1::text ORDER BY id`, caseID)
	if err != nil {
		return 0, fmt.Errorf("upload: uploads of the case: %w", err)
	}
	n := 0
	for _, id := range ids {
		if err := s.discard(ctx, id); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// discard erases one upload, under its lock, whether or not its document is registered.
func (s *Store) discard(ctx context.Context, id string) error {
	u, unlock, err := s.loadLocked(ctx, id)
	if u == nil || err != nil {
		return err
	}
	defer unlock()
	if u.row.FinishedAt.Valid {
		if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, id); err != nil {
			return fmt.Errorf("upload: delete upload: %w", err)
		}
		return nil
	}
	return u.eraseStored(ctx)
}

// lockUpload takes the upload's tusd lock (when the store has a locker), so that no request
// writes to it meanwhile; the caller calls unlock.
func (s *Store) lockUpload(ctx context.Context, id string) (unlock func(), err error) {
	if s.cfg.ExpireLocker == nil {
		return func() {}, nil
	}
	lock, err := s.cfg.ExpireLocker.NewLock(id)
	if err != nil {
		return nil, fmt.Errorf("upload: lock %s: %w", id, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	err = lock.Lock(lctx, func() {})
	cancel()
	if err != nil {
		return nil, fmt.Errorf("upload: lock %s: %w", id, err)
	}
	return func() { lock.Unlock() }, nil // #nosec G104 -- an unlock failure leaves the lock to expire
}

// loadLocked takes the upload's lock and loads it; nil and no error when it is gone. The
// caller unlocks when the upload is not nil.
func (s *Store) loadLocked(ctx context.Context, id string) (*storeUpload, func(), error) {
	unlock, err := s.lockUpload(ctx, id)
	if err != nil {
		return nil, nil, err
	}
	u, err := s.load(ctx, id)
	if err != nil || u == nil {
		unlock()
		if errors.Is(err, handler.ErrNotFound) {
			err = nil
		}
		return nil, nil, err
	}
	return u, unlock, nil
}
