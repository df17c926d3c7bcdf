package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
)

// Documents is the document registry (*cases.Cases).
type Documents interface {
	// StoredDocument is the registry row with its storage facts and its case's facts.
	StoredDocument(ctx context.Context, id string) (cases.DocumentRecord, error)
	Forget(ctx context.Context, id string) error
}

// Vault opens and erases stored documents (*vault.Documents).
type Vault interface {
	Open(ctx context.Context, docID, objectKey string, encryptedSize int64) (io.ReaderAt, int64, error)
	Erase(ctx context.Context, docID, objectKey string) error
}

// ConsentGate answers whether a role may read a kind of document of a case now (*consent.Gate).
type ConsentGate interface {
	Check(ctx context.Context, caseID string, role so.Role, kind so.DocumentKind) error
}

// Policy is the authorization policy (*access.Policy).
type Policy interface {
	Authorize(ctx context.Context, s access.Subject, a access.Action, caseID string) error
	AuthorizeUpload(ctx context.Context, s access.Subject, caseID string, kind so.DocumentKind) error
	AuthorizeDocumentFacts(ctx context.Context, s access.Subject, a access.Action, d access.DocumentFacts) error
}

var mediaTypes = map[string]string{
	"pdf": "application/pdf", "dicom": "application/dicom", "zip": "application/zip",
	"jpeg": "image/jpeg", "png": "image/png", "tiff": "image/tiff",
}

// documentContent streams a decrypted document. The order is the promise made to patients: the
// policy (invisible → 404), then the consent gate (→ 403, nothing read from storage), then the
// object is opened, then the access is committed to the audit log (→ 503 if it cannot be), and
// only then does content flow. Range, If-Range, If-None-Match and ETag are honoured.
func (s *Server) documentContent(c *gin.Context) {
	doc, stored, content, size, ok := s.openDocument(c)
	if !ok {
		return
	}
	h := c.Writer.Header()
	ct, ok := mediaTypes[stored.SniffedType]
	if !ok {
		ct = "application/octet-stream"
	}
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition("attachment", downloadName(doc.Filename, stored.SniffedType), "document"))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	if doc.SHA256 != "" {
		h.Set("ETag", `"`+doc.SHA256+`"`)
	}
	var modified time.Time
	if doc.UploadedAt != nil {
		modified = *doc.UploadedAt
	}
	body := &documentBody{ra: content, size: size, c: c}
	defer body.Close()
	http.ServeContent(bodyWriter{c.Writer}, c.Request, "", modified, body)
}

// bodyCopy is the size of the writes of a document's body to the connection.
const bodyCopy = 1 << 20

var bodyBuffers = sync.Pool{New: func() any { b := make([]byte, bodyCopy); return &b }}

// bodyWriter gives http.ServeContent's copy of a body a buffer larger than io.Copy's 32 KiB:
// fewer, larger writes to the connection. The buffer holds plaintext; it is cleared before
// it goes back to the pool.
type bodyWriter struct{ http.ResponseWriter }

// ReadFrom implements io.ReaderFrom.
func (w bodyWriter) ReadFrom(r io.Reader) (int64, error) {
	bp := bodyBuffers.Get().(*[]byte)
	buf, used := *bp, 0
	defer func() {
		p := recover()
		if p != nil { // an aborted read (documentBody.abort) may have filled more than used
			used = len(buf)
		}
		clear(buf[:used])
		bodyBuffers.Put(bp)
		if p != nil {
			panic(p)
		}
	}()
	var total int64
	for {
		n, rerr := io.ReadFull(r, buf)
		used = max(used, n)
		if n > 0 {
			m, werr := w.ResponseWriter.Write(buf[:n])
			total += int64(m)
			if werr != nil {
				return total, werr
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, rerr
		}
	}
}

// streamer is what a document opened for reading offers besides random access: the whole
// plaintext through one sequential stream (vault.Documents.Open).
type streamer interface {
	Stream() (io.ReadCloser, error)
}

// documentBody is the io.ReadSeeker http.ServeContent reads. A read of the whole document
// from its first byte (a plain GET) goes through the sequential stream, where fetching and
// decrypting overlap; ranges and other reads use random access. When decryption fails
// mid-body (a damaged object) the response is cut off, so a client never takes a partial
// body for a complete one.
type documentBody struct {
	ra        io.ReaderAt
	size, pos int64
	c         *gin.Context

	stream    io.ReadCloser
	streamPos int64
	noStream  bool
}

func (b *documentBody) Seek(offset int64, whence int) (int64, error) {
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += b.pos
	case io.SeekEnd:
		offset += b.size
	}
	if offset < 0 {
		return 0, errors.New("negative position")
	}
	b.pos = offset
	return offset, nil
}

func (b *documentBody) Read(p []byte) (int, error) {
	if b.pos >= b.size {
		return 0, io.EOF
	}
	if b.stream == nil && b.pos == 0 && !b.noStream {
		b.noStream = true
		if s, ok := b.ra.(streamer); ok {
			if rc, err := s.Stream(); err == nil {
				b.stream, b.streamPos = rc, 0
			}
		}
	}
	if b.stream != nil && b.streamPos == b.pos {
		n, err := b.stream.Read(p)
		b.pos += int64(n)
		b.streamPos = b.pos
		if err == io.EOF && b.pos == b.size {
			return n, nil
		}
		if err != nil {
			b.abort(err)
		}
		return n, nil
	}
	if max := b.size - b.pos; int64(len(p)) > max {
		p = p[:max]
	}
	n, err := b.ra.ReadAt(p, b.pos)
	b.pos += int64(n)
	switch {
	case err == io.EOF && n > 0:
		err = nil
	case err != nil && err != io.EOF:
		b.abort(err)
	}
	return n, err
}

// abort cuts the response off after a failed read.
func (b *documentBody) abort(err error) {
	loggerOf(b.c).Error("document read failed mid-body", "err", err)
	panic(http.ErrAbortHandler)
}

// Close releases the stream, if one was opened.
func (b *documentBody) Close() error {
	if b.stream != nil {
		return b.stream.Close()
	}
	return nil
}

// authorizedDocument asks the policy whether the caller may do a on the document of the
// route's id, auditing a refusal as auditAction, and returns the document's registry entry
// and its storage facts (nil unless available). The registry row is read once, with its case's
// facts, and the policy decides on those facts (a missing row is the zero facts: the same 404
// as an invisible one).
// On false the answer has been sent.
func (s *Server) authorizedDocument(c *gin.Context, a access.Action, auditAction string) (cases.Document, *cases.Stored, bool) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	rec, err := s.cfg.Documents.StoredDocument(ctx, id)
	if err != nil && !errors.Is(err, so.ErrNotFound) {
		s.fail(c, err)
		return cases.Document{}, nil, false
	}
	var facts access.DocumentFacts
	if err == nil {
		facts = rec.Facts()
	}
	if err := s.cfg.Policy.AuthorizeDocumentFacts(ctx, subj, a, facts); err != nil {
		if reason := denialReason(err); reason != "" {
			// With the document's case when there is one: its applicant learns of the attempt.
			s.deny(c, auditAction, "document", id, facts.CaseID, reason, err)
		} else {
			s.fail(c, err)
		}
		return cases.Document{}, nil, false
	}
	return rec.Document, rec.Stored, true
}

var errConsentRequired = &codedError{status: http.StatusForbidden, code: "consent_required",
	msg: "there is no active countersigned consent for this case"}

// codedError is an error answered with its own status and code.
type codedError struct {
	status    int
	code, msg string
}

func (e *codedError) Error() string     { return e.msg }
func (e *codedError) HTTPStatus() int   { return e.status }
func (e *codedError) ErrorCode() string { return e.code }

// deleteDocument erases a document: its key is shredded, its object deleted, its registry row
// removed. The erasure is recorded in the case history and the audit log before it is done;
// an applicant may erase only while the case is open for documents (cases.PrepareDeletion).
func (s *Server) deleteDocument(c *gin.Context) {
	ctx := c.Request.Context()
	id := c.Param("id")
	const action = audit.ActionDocumentErase
	doc, stored, ok := s.authorizedDocument(c, access.ActionDocumentDelete, action)
	if !ok {
		return
	}
	if stored == nil {
		s.fail(c, so.ErrNotFound)
		return
	}
	if err := s.cfg.Cases.PrepareDeletion(ctx, actor(c), id); err != nil { // audited with the history row
		s.failStep(c, action, "document", id, doc.CaseID, err)
		return
	}
	if err := s.cfg.Vault.Erase(ctx, id, stored.ObjectKey); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cfg.Documents.Forget(ctx, id); err != nil && !errors.Is(err, so.ErrNotFound) {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// openDocument is the promise of documentContent up to the first byte: the policy (invisible
// → 404), the consent gate (→ 403, nothing read from storage), the object opened, the access
// committed to the audit log (→ 503 if it cannot be). It answers the refusal itself.
func (s *Server) openDocument(c *gin.Context) (cases.Document, *cases.Stored, io.ReaderAt, int64, bool) {
	ctx := c.Request.Context()
	subj, id := subjectOf(c), c.Param("id")
	const action = audit.ActionDocumentOpen
	doc, stored, ok := s.authorizedDocument(c, access.ActionDocumentRead, action)
	if !ok {
		return cases.Document{}, nil, nil, 0, false
	}
	if err := s.cfg.Consent.Check(ctx, doc.CaseID, subj.Role, doc.Kind); err != nil {
		switch {
		case errors.Is(err, consent.ErrNoConsent):
			s.deny(c, action, "document", id, doc.CaseID, audit.ReasonConsent, errConsentRequired)
		case errors.Is(err, consent.ErrRoleNotAllowed):
			s.deny(c, action, "document", id, doc.CaseID, audit.ReasonRole, so.ErrForbidden)
		default:
			s.fail(c, errors.Join(so.ErrUnavailable, err)) // the gate cannot answer: fail closed
		}
		return cases.Document{}, nil, nil, 0, false
	}
	if stored == nil { // not available (yet)
		s.fail(c, so.ErrNotFound)
		return cases.Document{}, nil, nil, 0, false
	}
	content, size, err := s.cfg.Vault.Open(ctx, id, stored.ObjectKey, stored.EncryptedSize)
	if err != nil {
		e := entryFor(c, action, "document", id, doc.CaseID, audit.ReasonStorage)
		e.Outcome = audit.OutcomeSeriousFailure
		if aerr := s.record(c, e); aerr != nil {
			err = aerr
		}
		s.fail(c, errors.Join(so.ErrUnavailable, err))
		return cases.Document{}, nil, nil, 0, false
	}
	if doc.Size != nil && *doc.Size != size {
		s.fail(c, errors.New("stored size differs from the registry"))
		return cases.Document{}, nil, nil, 0, false
	}
	if err := s.record(c, entryFor(c, action, "document", id, doc.CaseID)); err != nil {
		s.fail(c, err)
		return cases.Document{}, nil, nil, 0, false
	}
	return doc, stored, content, size, true
}

// sniffedExtensions is the file extension of each content type the upload checks recognise.
var sniffedExtensions = map[string]string{"pdf": ".pdf", "dicom": ".dcm", "zip": ".zip", "jpeg": ".jpg", "png": ".png",
	"tiff": ".tif"}

// downloadName is the name a document is downloaded under: the uploader's name with the
// extension of what the file really is, so that a PDF named "x.exe" is saved as "x.pdf" and
// opened as what it is (security review, finding 10). A matching extension is kept (".jpeg",
// ".tiff", ".dicom" too); a type with none known keeps the name as it is.
func downloadName(name, sniffed string) string {
	ext, ok := sniffedExtensions[sniffed]
	if !ok {
		return name
	}
	cur := strings.ToLower(path.Ext(name))
	same := map[string][]string{".jpg": {".jpg", ".jpeg"}, ".tif": {".tif", ".tiff"}, ".dcm": {".dcm", ".dicom"}}
	if cur == ext || slices.Contains(same[ext], cur) {
		return name
	}
	stem := strings.TrimSuffix(name, path.Ext(name))
	if stem == "" {
		stem = "document"
	}
	return stem + ext
}
