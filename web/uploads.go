package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"path"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"
	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/secondopinion/secondopinion/upload"
)

const uploadsPath = "/api/v1/uploads"

// TusHandler is the tus protocol engine (*handler.UnroutedHandler).
type TusHandler interface {
	Middleware(http.Handler) http.Handler
	PostFile(http.ResponseWriter, *http.Request)
	HeadFile(http.ResponseWriter, *http.Request)
	PatchFile(http.ResponseWriter, *http.Request)
	DelFile(http.ResponseWriter, *http.Request)
}

// Uploads is what the upload routes need besides the tus engine (*upload.Store).
type Uploads interface {
	Info(ctx context.Context, id string) (upload.UploadInfo, error)
}

// mountUploads routes tus under /api/v1/uploads/. tusd reads the upload id from the path, so
// the prefix is stripped before it sees the request. Every request on an existing upload is
// allowed only to its uploader, while they may still upload that kind to that case.
func (s *Server) mountUploads(api *gin.RouterGroup) {
	tus := s.cfg.Tus
	if tus == nil {
		return
	}
	wrap := func(f http.HandlerFunc) gin.HandlerFunc {
		// The expiration writer wraps tusd's middleware, which keeps the writer it is given
		// for the handlers' responses.
		return gin.WrapH(http.StripPrefix(uploadsPath, s.withExpiration(tus.Middleware(f))))
	}
	options := wrap(func(w http.ResponseWriter, r *http.Request) {}) // tus.Middleware answers OPTIONS
	g := api.Group("/uploads")
	g.OPTIONS("", options)
	g.OPTIONS("/", options)
	g.OPTIONS("/:id", options)
	g.POST("", s.requireSubject, wrap(tus.PostFile))
	g.POST("/", s.requireSubject, wrap(tus.PostFile))
	g.HEAD("/:id", s.requireSubject, s.guardUpload, wrap(tus.HeadFile))
	g.PATCH("/:id", s.requireSubject, s.guardUpload, wrap(tus.PatchFile))
	g.DELETE("/:id", s.requireSubject, s.guardUpload, wrap(tus.DelFile))
	// Clients behind proxies that only pass GET and POST send X-HTTP-Method-Override, which
	// tusd applies after gin routed on POST.
	g.POST("/:id", s.requireSubject, s.guardUpload, wrap(func(w http.ResponseWriter, r *http.Request) {
		switch r.Method {
		case http.MethodPatch:
			tus.PatchFile(w, r)
		case http.MethodHead:
			tus.HeadFile(w, r)
		case http.MethodDelete:
			tus.DelFile(w, r)
		default:
			w.WriteHeader(http.StatusMethodNotAllowed)
		}
	}))
}

// guardUpload answers 404 unless the caller created the upload and may still upload its kind
// to its case (a revoked invitation stops a physician's upload mid-way).
func (s *Server) guardUpload(c *gin.Context) {
	ctx := c.Request.Context()
	subj := subjectOf(c)
	info, err := s.cfg.Uploads.Info(ctx, c.Param("id"))
	if errors.Is(err, handler.ErrNotFound) {
		s.fail(c, so.ErrNotFound)
		return
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	mine := (subj.Role == so.RolePhysician && info.UploaderInvitation != "" && info.UploaderInvitation == subj.InvitationID) ||
		(subj.Role != so.RolePhysician && info.UploaderAccount != "" && info.UploaderAccount == subj.AccountID)
	if !mine {
		s.fail(c, so.ErrNotFound)
		return
	}
	if err := s.cfg.Policy.AuthorizeUpload(ctx, subj, info.CaseID, so.DocumentKind(info.Kind)); err != nil {
		s.fail(c, err)
		return
	}
	c.Request = c.Request.WithContext(context.WithValue(ctx, uploadExpiresKey{}, info.ExpiresAt))
	c.Next()
}

type uploadExpiresKey struct{}

// withExpiration adds the tus expiration extension tusd lacks: "expiration" in Tus-Extension,
// and Upload-Expires on creation, HEAD and PATCH answers.
func (s *Server) withExpiration(next http.Handler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		next.ServeHTTP(&expirationWriter{ResponseWriter: w, r: r, s: s}, r)
	}
}

// expirationWriter also keeps tusd's internal error texts from clients: a 5xx body is logged
// and replaced by a generic message carrying the request id.
type expirationWriter struct {
	http.ResponseWriter
	r        *http.Request
	s        *Server
	before   bool
	internal bool
}

func (e *expirationWriter) WriteHeader(code int) {
	if !e.before {
		e.before = true
		e.decorate(code)
		if code >= 500 && code != http.StatusServiceUnavailable {
			e.internal = true
			meta, _ := e.r.Context().Value(requestMetaKey{}).(requestMeta)
			e.Header().Set("Content-Type", "text/plain; charset=utf-8")
			e.Header().Del("Content-Length")
			e.ResponseWriter.WriteHeader(code)
			io.WriteString(e.ResponseWriter, "internal error; quote request id "+meta.ID+" to support\n") // #nosec G104 -- the answer to a client that may be gone
			return
		}
	}
	e.ResponseWriter.WriteHeader(code)
}

func (e *expirationWriter) Write(b []byte) (int, error) {
	if !e.before {
		e.WriteHeader(http.StatusOK)
	}
	if e.internal {
		meta, _ := e.r.Context().Value(requestMetaKey{}).(requestMeta)
		e.s.log.Error("upload failed", "request_id", meta.ID, "err", strings.TrimSpace(string(b)))
		return len(b), nil
	}
	return e.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController (tusd's read deadlines) reach the connection.
func (e *expirationWriter) Unwrap() http.ResponseWriter { return e.ResponseWriter }

func (e *expirationWriter) decorate(code int) {
	h := e.Header()
	if ext := h.Get("Tus-Extension"); ext != "" && !strings.Contains(ext, "expiration") {
		h.Set("Tus-Extension", ext+",expiration")
	}
	if code < 200 || code > 299 {
		return
	}
	expires, _ := e.r.Context().Value(uploadExpiresKey{}).(time.Time)
	if loc := h.Get("Location"); expires.IsZero() && loc != "" && e.s.cfg.Uploads != nil {
		if info, err := e.s.cfg.Uploads.Info(e.r.Context(), path.Base(loc)); err == nil {
			expires = info.ExpiresAt
		}
	}
	if !expires.IsZero() && e.r.Method != http.MethodDelete {
		h.Set("Upload-Expires", expires.UTC().Format(http.TimeFormat))
	}
}
