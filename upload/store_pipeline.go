package upload

// The part pipeline of a PATCH: sealing a part, recording it, storing it in the background
// while the next part is read, and taking the outcomes in order.

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/secondopinion/secondopinion/vault"
)

// storeInFlight is how many parts of one request may be in flight to MinIO at once while
// the next is read: MinIO stores two parts side by side faster than one after the other.
const storeInFlight = 3

// Deadlines of the work a part does in the background. A part in flight holds the request,
// and so the upload's lock and a database connection: a stalled MinIO or database must not
// hold them for ever. A part that times out has failed; the uploader resends its bytes.
const (
	storePartTimeout   = 2 * time.Minute
	storeRecordTimeout = 10 * time.Second
)

// flush seals the part in place and starts storing it as the next part of the multipart
// upload; it returns an empty buffer for the part after it. With storeInFlight parts in
// flight, it first waits for the oldest.
//
// Each chunk counter is sealed with one plaintext only. Before a part's ciphertext leaves the
// service, a record of it (sealRecord) is stored under its number; a part sealed again (the
// uploader resending after a failed PATCH, a crash or a lost lock: its earlier ciphertext may
// have reached MinIO, or the wire, or not) is sent only if it is the same: same plaintext under
// the same counters, same ciphertext. Other bytes would reuse the nonces: that upload is refused
// and erased, and the ciphertext sealed for the check never leaves the process. A part stored
// while an earlier one failed stays in MinIO outside the upload (an orphan, see load) until it
// is stored again.
func (u *storeUpload) flush(ctx context.Context, stream *vault.Sealer, p *partBuffer, final bool) (*partBuffer, error) {
	// The running digest takes this part's plaintext before sealing overwrites it, while the
	// parts before are still being stored; it is recorded once this part is stored.
	var next hash.Hash
	if base := u.runningDigest(); base != nil {
		state, _ := base.(encoding.BinaryMarshaler).MarshalBinary()
		next = sha256From(state) // a copy: base is the digest of the parts before
		p.hashPlaintext(next)
	}
	if len(u.inflight) == storeInFlight {
		if err := u.settleFirst(); err != nil {
			return p, err
		}
	}
	if u.failed {
		return p, errors.New("upload: a part failed to store")
	}
	num := len(u.parts) + len(u.inflight) + 1
	if num > storeMaxParts {
		return p, handler.ErrMaxSizeExceeded
	}
	// Only the holder of the upload's lock may seal; it checks that it still holds it right
	// before doing so, and stops the parts in flight when it does not.
	// A zero-length upload is finished by tusd inside the POST that creates it, without a
	// lock: nobody else can know its id yet, and its one empty chunk has no plaintext.
	empty := u.row.Size.Valid && u.row.Size.Int64 == 0
	if check := u.s.cfg.LockCheck; check != nil && !empty {
		if err := check(ctx, u.row.ID); err != nil {
			u.cancelInflight()
			return p, fmt.Errorf("upload: lock lost before part %d: %w", num, err)
		}
	}
	plain := int64(p.n)
	rec := sealRecord{plain: runningFingerprint(num, plain, final, next)}
	before := u.sealedBefore(num)
	if before.plainKnown() && rec.plainKnown() && !before.same(rec) {
		return p, u.diverged(ctx, num) // known before sealing: the plaintext differs
	}
	sealed, err := p.seal(stream, uint64(num-1)*uint64(u.row.ChunksPerPart), final) // #nosec G115 -- part numbers start at 1
	if err != nil {
		return p, err
	}
	rec.tags = p.tagsFingerprint(num, final)
	if before.known() && !before.same(rec) {
		return p, u.diverged(ctx, num) // the ciphertext differs; it is dropped here
	}
	if err := u.recordSealed(ctx, num, rec); err != nil {
		if errors.Is(err, errStoreDiverged) {
			return p, u.diverged(ctx, num)
		}
		return p, err
	}
	pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storePartTimeout)
	f := &storePending{done: make(chan struct{}), cancel: cancel, num: num, plain: plain, size: int64(len(sealed)), buf: p, next: next}
	if len(u.inflight) > 0 {
		f.prev = u.inflight[len(u.inflight)-1]
	}
	u.inflight = append(u.inflight, f)
	go f.store(pctx, u.s, u.row, sealed)
	u.s.log.DebugContext(ctx, "part sealed", "upload", u.row.ID, "part", num, "final", final)
	return u.s.part(u), nil
}

// sealRecord is what is recorded of a sealed part (uploads.sealed_parts), 64 bytes: a
// fingerprint of its plaintext through the upload's running SHA-256 (zero when that digest was
// not known), then one of its Poly1305 tags. Both bind the part's number, length and last-chunk
// flag. Two different plaintexts sealed under the same counters have different tags but with a
// negligible chance, which nobody without the document key can steer.
type sealRecord struct {
	plain, tags []byte // 32 bytes each; plain nil when not known
}

func (r sealRecord) plainKnown() bool { return len(r.plain) == sha256.Size }
func (r sealRecord) known() bool      { return len(r.tags) == sha256.Size }

// same reports whether r and o record one ciphertext: by their plaintext fingerprints when both
// have one, by their tags otherwise.
func (r sealRecord) same(o sealRecord) bool {
	if r.plainKnown() && o.plainKnown() {
		return bytes.Equal(r.plain, o.plain)
	}
	return bytes.Equal(r.tags, o.tags)
}

func (r sealRecord) bytes() []byte {
	b := make([]byte, 2*sha256.Size)
	copy(b, r.plain)
	copy(b[sha256.Size:], r.tags)
	return b
}

func parseSealRecord(b []byte) sealRecord {
	if len(b) != 2*sha256.Size {
		return sealRecord{}
	}
	r := sealRecord{tags: b[sha256.Size:]}
	if !bytes.Equal(b[:sha256.Size], make([]byte, sha256.Size)) {
		r.plain = b[:sha256.Size]
	}
	return r
}

// sealedBefore returns the record of part num made by an earlier request, if any.
func (u *storeUpload) sealedBefore(num int) sealRecord {
	if num <= len(u.row.SealedParts) {
		return parseSealRecord(u.row.SealedParts[num-1])
	}
	return sealRecord{}
}

// runningFingerprint binds the running digest through part num (nil: unknown) to the part.
func runningFingerprint(num int, plain int64, final bool, running hash.Hash) []byte {
	if running == nil {
		return nil
	}
	h := sha256.New()
	fmt.Fprintf(h, "secondopinion sealed part plaintext\x00%d\x00%d\x00%t\x00", num, plain, final)
	h.Write(running.Sum(nil))
	return h.Sum(nil)
}

// recordSealed records rec as part num's, or checks it is the one recorded meanwhile:
// errStoreDiverged when it is not. The part may be sent only once this returns nil.
func (u *storeUpload) recordSealed(ctx context.Context, num int, rec sealRecord) error {
	ctx, cancel := context.WithTimeout(ctx, storeRecordTimeout)
	defer cancel()
	var recorded []byte
	err := u.s.cfg.DB.GetContext(ctx, &recorded, `
		UPDATE uploads SET sealed_parts[$2] = coalesce(sealed_parts[$2], $3)
		WHERE id = $1 RETURNING sealed_parts[$2]`, u.row.ID, num, rec.bytes())
	switch {
	case err != nil:
		return fmt.Errorf("upload: record part %d: %w", num, err)
	case !parseSealRecord(recorded).same(rec):
		return errStoreDiverged
	}
	return nil
}

// diverged erases an upload whose part num was resent with other bytes.
func (u *storeUpload) diverged(ctx context.Context, num int) error {
	u.settleAll() // #nosec G104 -- best effort on the error path; the error returned is the first one
	u.s.log.WarnContext(ctx, "upload resent other bytes for a part already sealed", "upload", u.row.ID, "part", num)
	u.eraseAfter(ctx)
	return errStoreDiverged
}

// cancelInflight stops the parts in flight (settleFirst then sees them fail).
func (u *storeUpload) cancelInflight() {
	for _, f := range u.inflight {
		f.cancel()
	}
}

// errStoreDiverged answers bytes sent again that differ from those first received for a
// part that was sealed (see flush); the upload is erased.
var errStoreDiverged = handler.NewError("ERR_UPLOAD_DIVERGED",
	"the bytes sent again differ from those received before; the upload was erased, start a new one", http.StatusConflict)

// storePending is a part being stored in the background while the request reads the next.
type storePending struct {
	done        chan struct{}
	cancel      context.CancelFunc
	prev        *storePending // the part before, when also in flight
	num         int
	plain, size int64
	buf         *partBuffer
	next        hash.Hash // the running digest including this part; nil when not kept

	// set by store before done is closed
	etag     string
	err      error
	inOrder  bool   // this part and every part before it in flight are stored
	recorded []byte // the digest state recorded with the part; nil when not recorded
}

// store sends the sealed part, with a CRC32C checksum MinIO verifies (a part not received
// intact is refused), and, once the part before is stored and recorded, records the running
// digest with the part's ETag. It does not touch the upload: settleFirst applies the outcome.
// It runs detached from the request's cancellation, so that a part is either stored or failed
// before the request ends, within storePartTimeout. The body it sends is disabled before done
// is closed: nothing reads the buffer once it is handed back.
func (f *storePending) store(ctx context.Context, s *Store, row storeRow, sealed []byte) {
	defer close(f.done)
	defer f.cancel()
	var sum [4]byte
	binary.BigEndian.PutUint32(sum[:], crc32.Checksum(sealed, storeCastagnoli))
	body := guardReadSeeker(bytes.NewReader(sealed))
	part, err := s.core.PutObjectPart(ctx, s.cfg.Bucket, row.ObjectKey, row.MultipartID, f.num,
		body, int64(len(sealed)), minio.PutObjectPartOptions{
			DisableContentSha256: true,
			CustomHeader:         http.Header{"X-Amz-Checksum-Crc32c": {base64.StdEncoding.EncodeToString(sum[:])}},
		})
	body.disable()
	if err != nil {
		f.err = fmt.Errorf("upload: store part %d: %w", f.num, err)
	} else {
		f.etag = strings.Trim(part.ETag, `"`)
	}
	if f.prev != nil {
		<-f.prev.done
	}
	f.inOrder = f.err == nil && (f.prev == nil || f.prev.inOrder)
	// The recorded digest and ETags cover parts 1…num only when every one of them is recorded.
	if !f.inOrder || f.next == nil || (f.prev != nil && f.prev.recorded == nil) {
		return
	}
	state, err := f.next.(encoding.BinaryMarshaler).MarshalBinary()
	if err == nil {
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeRecordTimeout) // not stopped with the part
		_, err = s.cfg.DB.ExecContext(rctx, `UPDATE uploads SET hash_state = $2, hash_parts = $3,
			part_etags = part_etags || ARRAY[$4::text] WHERE id = $1`, row.ID, state, f.num, f.etag)
		cancel()
	}
	if err != nil {
		s.log.WarnContext(ctx, "record upload digest", "upload", row.ID, "error", err)
		return
	}
	f.recorded = state
}

// guardedReader is a body for the HTTP client: once disabled, it reads nothing, so a request
// body read late (net/http allows it) never touches a buffer handed back.
type guardedReader struct {
	mu  sync.Mutex
	r   io.Reader
	off bool
}

func (g *guardedReader) Read(p []byte) (int, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off {
		return 0, io.ErrClosedPipe
	}
	return g.r.Read(p)
}

// guardedReadSeeker is a guardedReader over an io.ReadSeeker (minio-go retries by seeking).
type guardedReadSeeker struct{ *guardedReader }

func guardReadSeeker(r io.ReadSeeker) guardedReadSeeker {
	return guardedReadSeeker{&guardedReader{r: r}}
}

func (g guardedReadSeeker) Seek(offset int64, whence int) (int64, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.off {
		return 0, io.ErrClosedPipe
	}
	return g.r.(io.Seeker).Seek(offset, whence)
}

func (g *guardedReader) disable() {
	g.mu.Lock()
	g.off = true
	g.mu.Unlock()
}

var storeCastagnoli = crc32.MakeTable(crc32.Castagnoli)

// runningDigest returns the digest of the plaintext up to the end of the last part in
// flight, or of the stored parts when none is; nil when it is not kept.
func (u *storeUpload) runningDigest() hash.Hash {
	if n := len(u.inflight); n > 0 {
		return u.inflight[n-1].next
	}
	return u.digest
}

// pendingPlain returns the plaintext bytes of the parts in flight.
func (u *storeUpload) pendingPlain() int64 {
	var n int64
	for _, f := range u.inflight {
		n += f.plain
	}
	return n
}

// settleFirst waits for the oldest part in flight and takes its outcome into the upload: a
// part stored after every part before it is added to the parts, with the running digest;
// one stored after a part that failed is an orphan (see load). It returns the part's own failure.
func (u *storeUpload) settleFirst() error {
	f := u.inflight[0]
	<-f.done
	u.inflight = u.inflight[1:]
	u.s.release(f.buf)
	if f.err != nil {
		u.failed = true
		return f.err
	}
	if u.failed {
		return nil // stored after a part that failed: an orphan, outside the upload
	}
	u.parts = append(u.parts, minio.ObjectPart{PartNumber: f.num, ETag: f.etag, Size: f.size})
	u.digest = f.next
	if f.recorded != nil {
		u.row.HashState, u.row.HashParts = f.recorded, sql.NullInt64{Int64: int64(f.num), Valid: true}
		u.row.PartETags = append(u.row.PartETags, f.etag)
	}
	return nil
}

// settleAll waits for every part in flight and returns the first failure.
func (u *storeUpload) settleAll() error {
	var first error
	for len(u.inflight) > 0 {
		if err := u.settleFirst(); err != nil && first == nil {
			first = err
		}
	}
	return first
}
