package upload

import (
	"bytes"
	"context"
	"crypto/md5" // #nosec G501 -- MD5 only for MinIO's multipart part check (see its use)
	"crypto/sha256"
	"database/sql"
	"encoding"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"filippo.io/age"
	"github.com/minio/minio-go/v7"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/secondopinion/secondopinion/vault"
)

// storeUpload is one upload during one request. Its state comes from its row and from
// the parts MinIO lists; the request holds the upload's lock.
type storeUpload struct {
	s        *Store
	row      storeRow
	loaded   bool
	parts    []minio.ObjectPart // stored parts, numbered 1…
	digest   hash.Hash          // SHA-256 of the plaintext in parts; nil when not known
	inflight []*storePending    // parts being stored, in order (see flush)
	failed   bool               // a part failed in this request: no more are stored
	// completed: the multipart upload is completed into the object, but the upload is not
	// finished (verifying or OnFinish failed for a reason that may pass); see FinishUpload.
	completed bool
	objETag   string              // the completed object's ETag
	id        *age.HybridIdentity // the document's identity, once read (see identity)
}

// identity returns the document's identity, read from the key store once per request.
func (u *storeUpload) identity(ctx context.Context) (*age.HybridIdentity, error) {
	if u.id == nil {
		id, err := u.s.cfg.Keys.Identity(ctx, u.row.ID)
		if err != nil {
			return nil, fmt.Errorf("upload: document key: %w", err)
		}
		u.id = id
	}
	return u.id, nil
}

// errStoreUnfinishable answers a length that would end the file on a chunk already
// sealed as not the last one (after a failed request of a deferred-length upload).
var errStoreUnfinishable = handler.NewError("ERR_UPLOAD_UNFINISHABLE",
	"the upload cannot end at this length; start a new upload", http.StatusConflict)

// errStoreCorrupt answers an upload whose stored object failed verification; it is erased.
var errStoreCorrupt = handler.NewError("ERR_UPLOAD_CORRUPT",
	"the stored upload failed verification and was erased; upload the file again", http.StatusInternalServerError)

func (u *storeUpload) full(part int) int64 {
	n := int64(u.row.ChunksPerPart) * vault.SealedChunkSize
	if part == 1 {
		n += int64(len(u.row.HeaderNonce))
	}
	return n
}

// load lists the stored parts and checks them: every part but the last is full, and
// the last is short only if it ends the file.
func (u *storeUpload) load(ctx context.Context) error {
	if u.loaded || u.row.FinishedAt.Valid {
		u.loaded = true
		return nil
	}
	var parts []minio.ObjectPart
	marker := 0
	for {
		res, err := u.s.core.ListObjectParts(ctx, u.s.cfg.Bucket, u.row.ObjectKey, u.row.MultipartID, marker, 1000)
		if err != nil && minio.ToErrorResponse(err).Code == "NoSuchUpload" && u.sizeKnown() {
			return u.loadCompleted(ctx)
		}
		if err != nil {
			return fmt.Errorf("upload: list parts: %w", err)
		}
		parts = append(parts, res.ObjectParts...)
		if !res.IsTruncated {
			break
		}
		marker = res.NextPartNumberMarker
	}
	for i, p := range parts {
		if p.PartNumber != i+1 {
			// Parts after a gap were stored while a part before them failed (orphans). They are
			// not the upload's; when their bytes are resent they are sealed again, checked against
			// the recorded fingerprints (see flush), and stored over the orphans.
			parts = parts[:i]
			break
		}
	}
	for i, p := range parts {
		num := i + 1
		switch {
		case p.Size > u.full(num), p.Size < u.full(num) && num != len(parts):
			return fmt.Errorf("upload %s: part %d has %d bytes", u.row.ID, num, p.Size)
		}
	}
	u.parts, u.loaded = parts, true
	u.digest = u.restoreDigest()
	shortLast := len(parts) > 0 && parts[len(parts)-1].Size < u.full(len(parts))
	if u.sizeKnown() && u.stored() > u.row.Size.Int64 || shortLast && !u.complete() {
		return fmt.Errorf("upload %s: stored parts do not match the length", u.row.ID)
	}
	if u.row.TailParts.Valid && u.row.TailParts.Int64 > int64(len(parts)) {
		return fmt.Errorf("upload %s: tail written after parts that are missing", u.row.ID)
	}
	return nil
}

// loadCompleted loads an upload whose multipart upload is gone: completed by a FinishUpload
// that failed afterwards. Its object must be there with the size the length gives.
func (u *storeUpload) loadCompleted(ctx context.Context) error {
	info, err := u.s.cfg.MinIO.StatObject(ctx, u.s.cfg.Bucket, u.row.ObjectKey, minio.StatObjectOptions{})
	if err != nil {
		return fmt.Errorf("upload %s: multipart upload gone, object not found: %w", u.row.ID, err)
	}
	if want := u.encryptedSize(); info.Size != want {
		return fmt.Errorf("upload %s: completed object has %d bytes, want %d", u.row.ID, info.Size, want)
	}
	u.completed, u.objETag, u.loaded = true, strings.Trim(info.ETag, `"`), true
	u.digest = nil
	return nil
}

// encryptedSize is the size of the age file of the upload's length.
func (u *storeUpload) encryptedSize() int64 {
	size := u.row.Size.Int64
	chunks := max(1, (size+vault.ChunkSize-1)/vault.ChunkSize)
	return int64(len(u.row.HeaderNonce)) + size + chunks*(vault.SealedChunkSize-vault.ChunkSize)
}

func (u *storeUpload) sizeKnown() bool { return u.row.Size.Valid }

// stored returns the plaintext bytes in the stored parts.
func (u *storeUpload) stored() int64 {
	var enc int64
	for _, p := range u.parts {
		enc += p.Size
	}
	enc -= min(enc, int64(len(u.row.HeaderNonce)))
	chunks := (enc + vault.SealedChunkSize - 1) / vault.SealedChunkSize
	return enc - chunks*(vault.SealedChunkSize-vault.ChunkSize)
}

// complete reports whether the stored parts hold the whole file, final chunk included.
func (u *storeUpload) complete() bool {
	return u.row.FinishedAt.Valid || u.completed || u.sizeKnown() && len(u.parts) > 0 && u.stored() == u.row.Size.Int64
}

// tail returns the plaintext length of the current tail, 0 when there is none or it is
// stale (parts were stored after it).
func (u *storeUpload) tail() int64 {
	if u.row.TailKey.Valid && u.row.TailParts.Int64 == int64(len(u.parts)) {
		return u.row.TailSize.Int64
	}
	return 0
}

func (u *storeUpload) offset() int64 {
	if u.row.FinishedAt.Valid || u.completed {
		return u.row.Size.Int64
	}
	return u.stored() + u.tail()
}

// GetInfo implements handler.Upload.
//
// An upload that holds all its bytes but is not finished (its FinishUpload failed for a
// reason that may pass: storage or database unavailable) is finished here, under the lock
// tusd holds for HEAD and PATCH: a client that resumes sees the whole length only once the
// document is stored, verified and registered, and gets the error otherwise.
func (u *storeUpload) GetInfo(ctx context.Context) (handler.FileInfo, error) {
	if err := u.load(ctx); err != nil {
		return handler.FileInfo{}, err
	}
	whole := u.complete() || u.sizeKnown() && u.row.Size.Int64 == 0
	if whole && !u.row.FinishedAt.Valid {
		if err := u.FinishUpload(ctx); err != nil {
			return handler.FileInfo{}, err
		}
	}
	meta := handler.MetaData{}
	if err := json.Unmarshal(u.row.Metadata, &meta); err != nil {
		return handler.FileInfo{}, fmt.Errorf("upload: metadata: %w", err)
	}
	return handler.FileInfo{
		ID:             u.row.ID,
		Size:           u.row.Size.Int64,
		SizeIsDeferred: !u.sizeKnown(),
		Offset:         u.offset(),
		MetaData:       meta,
		Storage: map[string]string{
			"Type":    "age+minio",
			"Bucket":  u.s.cfg.Bucket,
			"Key":     u.row.ObjectKey,
			"Expires": u.row.ExpiresAt.UTC().Format(http.TimeFormat),
		},
	}, nil
}

// GetReader implements handler.Upload. Downloads have their own, access-controlled
// route: the tus handler must run with DisableDownload.
func (u *storeUpload) GetReader(ctx context.Context) (io.ReadCloser, error) {
	return nil, handler.ErrNotImplemented // by design: tus never serves plaintext (501)
}

// WriteChunk implements handler.Upload. The tail and src are sealed into whole parts;
// what does not fill a part becomes the new tail. A failure reading src ends the
// request, not the upload: what was read is kept and counted.
func (u *storeUpload) WriteChunk(ctx context.Context, offset int64, src io.Reader) (int64, error) {
	if err := u.load(ctx); err != nil {
		return 0, err
	}
	before := u.offset()
	if offset != before {
		return 0, handler.ErrMismatchOffset
	}
	if u.complete() {
		return 0, handler.ErrSizeExceeded
	}
	var capped *capReader
	if !u.sizeKnown() {
		// tusd bounds a known length itself; a deferred one is bounded by the upload's limit.
		capped = &capReader{r: src, left: u.maxSize() - before}
		src = capped
	}
	err := u.write(ctx, src)
	if err == nil && capped != nil && capped.exceeded {
		err = handler.ErrMaxSizeExceeded // what fitted is kept; the rest is refused
	}
	return u.offset() - before, err
}

// maxSize is the most this upload may hold: the store's maximum, or less when the pre-create
// hook recorded a smaller limit for the kind and case (metadata key max_size).
func (u *storeUpload) maxSize() int64 {
	limit := u.s.cfg.MaxSize
	var meta map[string]string
	if json.Unmarshal(u.row.Metadata, &meta) == nil {
		if n, err := strconv.ParseInt(meta[MetaMaxSize], 10, 64); err == nil && n >= 0 && n < limit {
			limit = n
		}
	}
	return limit
}

// capReader reads at most left bytes and then fails with handler.ErrMaxSizeExceeded if the
// body goes on.
type capReader struct {
	r        io.Reader
	left     int64
	exceeded bool
}

func (c *capReader) Read(p []byte) (int, error) {
	if c.left <= 0 {
		var one [1]byte
		if n, _ := c.r.Read(one[:]); n > 0 {
			c.exceeded = true
			return 0, handler.ErrMaxSizeExceeded
		}
		return 0, io.EOF
	}
	if int64(len(p)) > c.left {
		p = p[:c.left]
	}
	n, err := c.r.Read(p)
	c.left -= int64(n)
	return n, err
}

// write seals the tail followed by src into parts, the final chunk included when the
// offset reaches the length, and stores what is left as the new tail. While one part is
// being stored, the next is read from src (see flush).
func (u *storeUpload) write(ctx context.Context, src io.Reader) error {
	id, err := u.identity(ctx)
	if err != nil {
		return err
	}
	stream, err := vault.NewSealer(u.row.HeaderNonce, id)
	if err != nil {
		return err
	}
	release, err := u.s.reserve(ctx, u)
	if err != nil {
		return err
	}
	defer release()
	p := u.s.part(u)
	defer func() { u.s.release(p) }()
	defer u.settleAll() // parts still being stored when write fails; the failure is reported below
	if u.tail() > 0 {
		if err := u.readTail(ctx, id, p); err != nil {
			return err
		}
	}

	body := &storeLookahead{r: src}
	limit := func() int64 {
		held := u.stored() + u.pendingPlain() + int64(p.n)
		if u.sizeKnown() {
			return u.row.Size.Int64 - held
		}
		return u.s.cfg.MaxSize - held
	}
	srcDone := false
	ended := func(err error) {
		srcDone = true
		if err != nil && err != io.EOF {
			u.s.log.InfoContext(ctx, "upload body ended", "upload", u.row.ID, "error", err)
		}
	}
	for {
		if !p.full() && !srcDone {
			if err := p.readFrom(body, limit()); err != nil {
				ended(err)
			}
		}
		if !p.full() {
			break
		}
		// A full part is stored once its last chunk's flag is known: from the length,
		// or, while the length is deferred, from a byte following it.
		final := u.sizeKnown() && limit() == 0
		if !u.sizeKnown() {
			if !srcDone {
				if more, err := body.more(); !more {
					ended(err)
				}
			}
			if srcDone {
				break
			}
		}
		if p, err = u.flush(ctx, stream, p, final); err != nil {
			return err
		}
		if final {
			break
		}
	}
	if err := u.settleAll(); err != nil {
		return err
	}
	if !u.complete() && u.sizeKnown() && limit() == 0 {
		if p, err = u.flush(ctx, stream, p, true); err != nil {
			return err
		}
		if err := u.settleAll(); err != nil {
			return err
		}
	}
	if err := u.writeTail(ctx, id, p); err != nil {
		return err
	}
	if !u.sizeKnown() && !srcDone && limit() == 0 {
		if more, _ := body.more(); more {
			return handler.ErrMaxSizeExceeded
		}
	}
	return nil
}

// errStoreBusy answers a PATCH that found no room for its part buffers in time.
var errStoreBusy = handler.NewError("ERR_SERVER_BUSY",
	"the server is busy with other uploads; try again shortly", http.StatusServiceUnavailable)

// reserve takes room in the buffer budget for the part buffers one request of u may hold, and
// returns the function that gives it back.
func (s *Store) reserve(ctx context.Context, u *storeUpload) (func(), error) {
	need := min(int64(storeInFlight+1)*u.full(1), s.cfg.BufferMemory)
	wctx, cancel := context.WithTimeout(ctx, s.cfg.BufferWait)
	defer cancel()
	if err := s.budget.Acquire(wctx, need); err != nil {
		s.log.WarnContext(ctx, "no buffer memory for an upload request", "upload", u.row.ID)
		return nil, errStoreBusy
	}
	return func() { s.budget.Release(need) }, nil
}

// part returns an empty buffer for the next part of u.
func (s *Store) part(u *storeUpload) *partBuffer {
	need := int(u.full(1))
	p := &partBuffer{b: s.bufs.get(need), cpp: u.row.ChunksPerPart}
	if len(u.parts) == 0 && len(u.inflight) == 0 {
		p.pre = copy(p.b, u.row.HeaderNonce)
	}
	return p
}

// release hands p's buffer back, cleared unless it holds only ciphertext.
func (s *Store) release(p *partBuffer) { s.bufs.put(p.b, p.sealed) }

// restoreDigest returns the running SHA-256 of the plaintext in the stored parts, when the
// recorded state covers exactly those parts, as recorded; nil otherwise.
func (u *storeUpload) restoreDigest() hash.Hash {
	h := sha256.New()
	if len(u.parts) == 0 && !u.row.HashParts.Valid {
		return h
	}
	if !u.row.HashParts.Valid || int(u.row.HashParts.Int64) != len(u.parts) || len(u.row.PartETags) != len(u.parts) {
		return nil
	}
	for i, p := range u.parts {
		if strings.Trim(p.ETag, `"`) != u.row.PartETags[i] {
			return nil
		}
	}
	return sha256From(u.row.HashState)
}

// sha256From returns a SHA-256 in the state recorded (MarshalBinary), nil if it is not one.
func sha256From(state []byte) hash.Hash {
	h := sha256.New()
	if err := h.(encoding.BinaryUnmarshaler).UnmarshalBinary(state); err != nil {
		return nil
	}
	return h
}

// completedDigest returns the recorded digest of a completed upload's plaintext when it
// covers every part and the object's ETag is the multipart ETag of the recorded part ETags
// (MD5 of their binary MD5s, then "-" and their count); nil otherwise.
func (u *storeUpload) completedDigest() hash.Hash {
	n := len(u.row.PartETags)
	if !u.completed || !u.row.HashParts.Valid || int(u.row.HashParts.Int64) != n || n == 0 {
		return nil
	}
	m := md5.New() // #nosec G401 -- MD5 of a part for MinIO's multipart API (Content-MD5/ETag), not for security; integrity is CRC32C and the AEAD
	for _, e := range u.row.PartETags {
		b, err := hex.DecodeString(e)
		if err != nil || len(b) != md5.Size {
			return nil
		}
		m.Write(b)
	}
	if u.objETag != fmt.Sprintf("%x-%d", m.Sum(nil), n) {
		return nil
	}
	return sha256From(u.row.HashState)
}

// readTail decrypts the tail into the part buffer and checks it ends where recorded.
func (u *storeUpload) readTail(ctx context.Context, id age.Identity, p *partBuffer) error {
	rc, _, _, err := u.s.core.GetObject(ctx, u.s.cfg.Bucket, u.row.TailKey.String, minio.GetObjectOptions{})
	if err != nil {
		return fmt.Errorf("upload: read tail: %w", err)
	}
	defer rc.Close()
	r, err := age.Decrypt(rc, id)
	if err != nil {
		return fmt.Errorf("upload: open tail: %w", err)
	}
	want := u.row.TailSize.Int64
	if err := p.readFrom(r, want); err != nil && err != io.EOF {
		return fmt.Errorf("upload: read tail: %w", err)
	}
	if int64(p.n) != want {
		return fmt.Errorf("upload %s: tail holds %d bytes, not %d", u.row.ID, p.n, want)
	}
	if _, err := io.ReadFull(r, make([]byte, 1)); err != io.EOF {
		return fmt.Errorf("upload %s: tail does not end where recorded: %v", u.row.ID, err)
	}
	return nil
}

// writeTail stores what the part buffer holds as a new tail object, a separate age
// file, records it, and deletes the previous one. With nothing held, it only forgets
// the previous tail.
func (u *storeUpload) writeTail(ctx context.Context, id *age.HybridIdentity, p *partBuffer) error {
	old := u.row.TailKey
	if p.n == 0 && !old.Valid {
		return nil
	}
	next := storeRow{}
	if p.n > 0 {
		hn, err := vault.NewFileHeader(id.Recipient())
		if err != nil {
			return err
		}
		ts, err := vault.NewSealer(hn, id)
		if err != nil {
			return err
		}
		sealed, err := p.seal(ts, 0, true)
		if err != nil {
			return err
		}
		sealed = sealed[p.pre:]
		key := fmt.Sprintf("%s%s/tail-%d-%s", u.s.cfg.TailPrefix, u.row.ID, len(u.parts), storeRandomHex(8))
		body := &guardedReader{r: io.MultiReader(bytes.NewReader(hn), bytes.NewReader(sealed))}
		_, err = u.s.core.PutObject(ctx, u.s.cfg.Bucket, key, body,
			int64(len(hn)+len(sealed)), "", "", minio.PutObjectOptions{DisableContentSha256: true})
		body.disable() // the buffer goes back to the pool when write returns
		if err != nil {
			return fmt.Errorf("upload: store tail: %w", err)
		}
		next.TailKey = sql.NullString{String: key, Valid: true}
		next.TailParts = sql.NullInt64{Int64: int64(len(u.parts)), Valid: true}
		next.TailSize = sql.NullInt64{Int64: int64(p.n), Valid: true}
	}
	_, err := u.s.cfg.DB.ExecContext(ctx,
		`UPDATE uploads SET tail_key = $2, tail_parts = $3, tail_size = $4 WHERE id = $1`,
		u.row.ID, next.TailKey, next.TailParts, next.TailSize)
	if err != nil {
		if next.TailKey.Valid {
			u.s.removeObject(context.WithoutCancel(ctx), next.TailKey.String)
		}
		return fmt.Errorf("upload: record tail: %w", err)
	}
	u.row.TailKey, u.row.TailParts, u.row.TailSize = next.TailKey, next.TailParts, next.TailSize
	if old.Valid {
		u.s.removeObject(ctx, old.String)
	}
	return nil
}

func (s *Store) removeObject(ctx context.Context, key string) {
	err := s.cfg.MinIO.RemoveObject(ctx, s.cfg.Bucket, key, minio.RemoveObjectOptions{})
	if err != nil {
		s.log.WarnContext(ctx, "remove object", "key", key, "error", err)
	}
}

// removeTails deletes every tail object of the upload, recorded or orphaned.
func (u *storeUpload) removeTails(ctx context.Context) error {
	prefix := u.s.cfg.TailPrefix + u.row.ID + "/"
	for obj := range u.s.cfg.MinIO.ListObjects(ctx, u.s.cfg.Bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if obj.Err != nil {
			return fmt.Errorf("upload: list tails: %w", obj.Err)
		}
		if err := u.s.cfg.MinIO.RemoveObject(ctx, u.s.cfg.Bucket, obj.Key, minio.RemoveObjectOptions{}); err != nil {
			return fmt.Errorf("upload: remove tail: %w", err)
		}
	}
	return nil
}

// DeclareLength implements handler.LengthDeclarableUpload.
func (u *storeUpload) DeclareLength(ctx context.Context, length int64) error {
	if err := u.load(ctx); err != nil {
		return err
	}
	switch {
	case u.sizeKnown():
		return handler.ErrInvalidUploadLength
	case length > u.maxSize():
		return handler.ErrMaxSizeExceeded
	case length < u.offset():
		return handler.ErrInvalidUploadLength
	case length == u.stored() && len(u.parts) > 0:
		// Deferred-length parts are stored only when more bytes follow them, so their
		// last chunk is sealed as not the last one.
		return errStoreUnfinishable
	}
	_, err := u.s.cfg.DB.ExecContext(ctx, `UPDATE uploads SET size = $2 WHERE id = $1 AND size IS NULL`, u.row.ID, length)
	if err != nil {
		return fmt.Errorf("upload: declare length: %w", err)
	}
	u.row.Size = sql.NullInt64{Int64: length, Valid: true}
	return nil
}

// FinishUpload implements handler.Upload: it completes the multipart upload, verifies the
// object (its size, its final chunk, and the digest of its plaintext), calls
// StoreConfig.OnFinish, and then records the upload as finished. An upload whose object fails
// verification, or that OnFinish refuses (a handler.Error with a 4xx status), is erased: key,
// object and record. Any other failure (storage or database unavailable, the audit log
// unwritable) keeps the upload with all its bytes: the next HEAD or PATCH finishes it (GetInfo).
func (u *storeUpload) FinishUpload(ctx context.Context) error {
	if err := u.load(ctx); err != nil {
		return err
	}
	if u.row.FinishedAt.Valid {
		return nil
	}
	if !u.complete() {
		if err := u.write(ctx, eofReader{}); err != nil {
			return err
		}
		if !u.complete() {
			return fmt.Errorf("upload %s: finishing an incomplete upload", u.row.ID)
		}
	}
	if !u.completed {
		parts := make([]minio.CompletePart, len(u.parts))
		for i, p := range u.parts {
			parts[i] = minio.CompletePart{PartNumber: p.PartNumber, ETag: p.ETag}
		}
		res, err := u.s.core.CompleteMultipartUpload(ctx, u.s.cfg.Bucket, u.row.ObjectKey, u.row.MultipartID, parts, minio.PutObjectOptions{})
		if err != nil {
			return fmt.Errorf("upload: complete multipart upload: %w", err)
		}
		u.completed, u.objETag = true, strings.Trim(res.ETag, `"`)
	}
	id, err := u.identity(ctx)
	if err != nil {
		return err
	}
	f, err := u.verify(ctx, id)
	if err != nil {
		if !errors.Is(err, errObjectCorrupt) {
			return fmt.Errorf("upload: verify: %w", err)
		}
		u.s.log.ErrorContext(ctx, "upload failed verification", "upload", u.row.ID, "error", err)
		u.eraseAfter(ctx)
		return errStoreCorrupt
	}
	if u.s.cfg.OnFinish != nil {
		if err := u.s.cfg.OnFinish(ctx, f); err != nil {
			var refusal handler.Error
			if errors.As(err, &refusal) && refusal.HTTPResponse.StatusCode < 500 {
				u.s.log.InfoContext(ctx, "upload refused on finish", "upload", u.row.ID, "error", err)
				u.eraseAfter(ctx)
				return err
			}
			u.s.log.WarnContext(ctx, "upload not finished, kept for a retry", "upload", u.row.ID, "error", err)
			return err
		}
	}
	now := u.s.cfg.Now()
	_, err = u.s.cfg.DB.ExecContext(ctx, `
		UPDATE uploads SET finished_at = $2, tail_key = NULL, tail_parts = NULL, tail_size = NULL
		WHERE id = $1`, u.row.ID, now)
	if err != nil {
		return fmt.Errorf("upload: record finish: %w", err)
	}
	u.row.FinishedAt = sql.NullTime{Time: now, Valid: true}
	u.row.TailKey, u.row.TailParts, u.row.TailSize = sql.NullString{}, sql.NullInt64{}, sql.NullInt64{}
	if err := u.removeTails(ctx); err != nil {
		u.s.log.WarnContext(ctx, "remove tails", "upload", u.row.ID, "error", err)
	}
	u.s.log.InfoContext(ctx, "upload finished", "upload", u.row.ID, "size", f.Size)
	return nil
}

// storeTransient reports whether err is a failure to reach storage (which may pass), not a
// finding about the stored bytes.
func storeTransient(err error) bool {
	var resp minio.ErrorResponse
	var uerr *url.Error
	var nerr net.Error
	return errors.As(err, &resp) || errors.As(err, &uerr) || errors.As(err, &nerr) ||
		errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

// eraseAfter erases an upload that failed at its end, even if the request is gone.
func (u *storeUpload) eraseAfter(ctx context.Context) {
	if err := u.erase(context.WithoutCancel(ctx)); err != nil {
		u.s.log.ErrorContext(ctx, "erase upload", "upload", u.row.ID, "error", err)
	}
}

// errStoreRegistered stops the erasure of an upload whose document is registered.
var errStoreRegistered = errors.New("upload: the document is registered; not erased")

// errObjectCorrupt marks a positive finding about the stored object (its size, a chunk that
// does not authenticate, a wrong decrypted length), as opposed to a failure to read it.
var errObjectCorrupt = errors.New("stored object failed verification")

// corruptUnlessUnreachable wraps err as errObjectCorrupt unless it is a failure to reach or read
// storage: after the object's size was checked, a short read is the connection's, not the object's.
func corruptUnlessUnreachable(what string, err error) error {
	if storeTransient(err) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%s: %w", what, err)
	}
	return fmt.Errorf("%s: %w: %w", what, errObjectCorrupt, err)
}

// verify checks the completed object: its size, its final chunk (vault.OpenReaderAt),
// then every chunk while hashing the plaintext in one streaming pass. Positive findings are
// errObjectCorrupt; any other error is a failure to read that may pass.
func (u *storeUpload) verify(ctx context.Context, id age.Identity) (FinishedUpload, error) {
	size, want := u.row.Size.Int64, u.encryptedSize()
	obj := vault.MinIOObject{Client: u.s.cfg.MinIO, Bucket: u.s.cfg.Bucket, Key: u.row.ObjectKey}
	got, err := obj.Size(ctx)
	if err != nil {
		return FinishedUpload{}, err
	}
	if got != want {
		return FinishedUpload{}, fmt.Errorf("%w: object has %d bytes, want %d", errObjectCorrupt, got, want)
	}
	ra, n, err := vault.OpenReaderAt(ctx, obj, got, id, 0)
	if err != nil {
		return FinishedUpload{}, corruptUnlessUnreachable("open object", err)
	}
	if n != size {
		return FinishedUpload{}, fmt.Errorf("%w: object decrypts to %d bytes, want %d", errObjectCorrupt, n, size)
	}
	f := FinishedUpload{
		ID:            u.row.ID,
		Bucket:        u.s.cfg.Bucket,
		ObjectKey:     u.row.ObjectKey,
		Size:          size,
		EncryptedSize: got,
		Content:       ra,
	}
	if err := json.Unmarshal(u.row.Metadata, &f.MetaData); err != nil {
		return FinishedUpload{}, fmt.Errorf("metadata: %w", err)
	}
	// Every part was received intact (its CRC32C checked by MinIO) and is the one sealed (its ETag is as
	// recorded), the header and final chunk authenticate, and the digest covers every part:
	// no second read is needed.
	if u.digest != nil && u.restoreDigest() != nil {
		u.digest.Sum(f.SHA256[:0])
		return f, nil
	}
	// After a restart the parts cannot be listed any more, but the object's ETag is derived
	// from theirs: if it is the one of the recorded part ETags, the recorded digest holds.
	if d := u.completedDigest(); d != nil {
		d.Sum(f.SHA256[:0])
		return f, nil
	}
	rc, _, _, err := u.s.core.GetObject(ctx, u.s.cfg.Bucket, u.row.ObjectKey, minio.GetObjectOptions{})
	if err != nil {
		return FinishedUpload{}, fmt.Errorf("read object: %w", err)
	}
	defer rc.Close()
	r, err := age.Decrypt(rc, id)
	if err != nil {
		return FinishedUpload{}, corruptUnlessUnreachable("decrypt object", err)
	}
	h := sha256.New()
	m, err := io.Copy(h, r)
	if err != nil {
		return FinishedUpload{}, corruptUnlessUnreachable(fmt.Sprintf("decrypt object after %d bytes", m), err)
	}
	if m != size {
		return FinishedUpload{}, fmt.Errorf("%w: object decrypts to %d bytes, want %d", errObjectCorrupt, m, size)
	}
	h.Sum(f.SHA256[:0])
	return f, nil
}

// Terminate implements handler.TerminatableUpload. An unfinished upload is erased: its
// key is shredded first, then its parts, object and tails are deleted, then its record.
// A finished upload only loses its record: the document belongs to the registry.
func (u *storeUpload) Terminate(ctx context.Context) error {
	if !u.row.FinishedAt.Valid {
		if err := u.erase(ctx); !errors.Is(err, errStoreRegistered) {
			return err
		}
	}
	if _, err := u.s.cfg.DB.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, u.row.ID); err != nil {
		return fmt.Errorf("upload: delete upload: %w", err)
	}
	return nil
}

// erase shreds the upload's key, deletes its multipart upload, object and tails, then
// its record. Run again after a failure, it carries on where it stopped.
//
// An upload whose document is registered already (OnFinish succeeded, recording the finish
// did not) is not erased: it is recorded as finished instead, and its document stays.
func (u *storeUpload) erase(ctx context.Context) error {
	if registered := u.s.cfg.Registered; registered != nil {
		ok, err := registered(ctx, u.row.ID)
		if err != nil {
			return fmt.Errorf("upload: is the document registered: %w", err) // cannot tell: erase nothing
		}
		if ok {
			u.s.log.WarnContext(ctx, "upload registered but not recorded as finished; finished now", "upload", u.row.ID)
			_, err := u.s.cfg.DB.ExecContext(ctx, `UPDATE uploads SET finished_at = coalesce(finished_at, $2) WHERE id = $1`,
				u.row.ID, u.s.cfg.Now())
			if err != nil {
				return fmt.Errorf("upload: record finish: %w", err)
			}
			return errStoreRegistered
		}
	}
	return u.eraseStored(ctx)
}

// eraseStored shreds the upload's key, deletes its multipart upload, object and tails, then
// its record.
func (u *storeUpload) eraseStored(ctx context.Context) error {
	if err := u.s.cfg.Keys.Shred(ctx, u.row.ID); err != nil && !errors.Is(err, vault.ErrNotFound) {
		return fmt.Errorf("upload: shred key: %w", err)
	}
	err := u.s.core.AbortMultipartUpload(ctx, u.s.cfg.Bucket, u.row.ObjectKey, u.row.MultipartID)
	if err != nil && minio.ToErrorResponse(err).Code != "NoSuchUpload" {
		return fmt.Errorf("upload: abort multipart upload: %w", err)
	}
	err = u.s.cfg.MinIO.RemoveObject(ctx, u.s.cfg.Bucket, u.row.ObjectKey, minio.RemoveObjectOptions{})
	if err != nil {
		return fmt.Errorf("upload: remove object: %w", err)
	}
	if err := u.removeTails(ctx); err != nil {
		return err
	}
	if _, err := u.s.cfg.DB.ExecContext(ctx, `DELETE FROM uploads WHERE id = $1`, u.row.ID); err != nil {
		return fmt.Errorf("upload: delete upload: %w", err)
	}
	return nil
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }
