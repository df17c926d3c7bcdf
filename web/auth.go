package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// Authenticator turns a raw credential (an API token, a session cookie value) into a subject.
type Authenticator interface {
	Authenticate(ctx context.Context, raw string) (access.Subject, error)
}

// authenticate resolves the caller from `Authorization: Bearer` or the session cookie and puts
// the subject in the request context. A request without credentials goes on as nobody; one with
// a bad credential is refused (401) at once.
func (s *Server) authenticate(c *gin.Context) {
	var (
		subj access.Subject
		err  error
	)
	switch h := c.GetHeader("Authorization"); {
	case h != "":
		raw, ok := strings.CutPrefix(h, "Bearer ")
		if !ok || s.cfg.Tokens == nil {
			err = access.ErrUnauthenticated
			break
		}
		subj, err = s.cfg.Tokens.Authenticate(c.Request.Context(), strings.TrimSpace(raw))
	default:
		if ck, cerr := c.Request.Cookie(access.SessionCookie); cerr == nil && s.cfg.Sessions != nil {
			subj, err = s.cfg.Sessions.Authenticate(c.Request.Context(), ck.Value)
		}
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Request = c.Request.WithContext(access.WithSubject(c.Request.Context(), subj))
	c.Next()
}

// requireSubject refuses nobody with 401.
func (s *Server) requireSubject(c *gin.Context) {
	if !subjectOf(c).Authenticated() {
		s.fail(c, access.ErrUnauthenticated)
		return
	}
	c.Next()
}

// subjectOf is the authenticated caller of the request (the zero Subject when nobody).
func subjectOf(c *gin.Context) access.Subject { return access.SubjectFrom(c.Request.Context()) }

// statusError is an error that knows its HTTP status and code (e.g. upload rejections).
type statusError interface {
	error
	HTTPStatus() int
	ErrorCode() string
}

// ErrUnavailable is what a dependency the answer must not go without (the audit log, the
// consent gate) returns when it cannot answer: the request fails closed with 503.
var ErrUnavailable = errors.New("a required service is unavailable")

// fail answers err in the one place that maps errors to statuses. Unknown errors are logged
// with the request id and answered 500 without their text.
func (s *Server) fail(c *gin.Context, err error) {
	if reason := denialReason(err); reason != "" && !c.GetBool(auditedKey) && s.cfg.Audit != nil {
		e := entryFor(c, "access.denied", "route:"+c.FullPath(), c.Param("id"), "", reason)
		e.Outcome = audit.OutcomeMinorFailure
		if aerr := s.record(c, e); aerr != nil {
			err = aerr
		}
	}
	var se statusError
	var ve *cases.ValidationError
	switch {
	case errors.Is(err, access.ErrUnauthenticated):
		writeError(c, http.StatusUnauthorized, "unauthenticated", "sign in first")
	case errors.Is(err, access.ErrInvalidCredentials):
		var te *access.ThrottledError
		if errors.As(err, &te) && te.RetryAfter > 0 {
			c.Header("Retry-After", retryAfterSeconds(te))
		}
		writeError(c, http.StatusUnauthorized, "invalid_credentials", "the credentials are not valid")
	case errors.Is(err, access.ErrTOTPRequired):
		writeError(c, http.StatusForbidden, "totp_required", "enrol and pass the second factor first")
	case errors.Is(err, access.ErrForbidden):
		writeError(c, http.StatusForbidden, "forbidden", "you may not do this")
	case errors.Is(err, access.ErrNotFound):
		writeError(c, http.StatusNotFound, "not_found", "no such resource")
	case errors.Is(err, access.ErrExists):
		writeError(c, http.StatusConflict, "exists", "it exists already")
	case errors.Is(err, ErrUnavailable):
		loggerOf(c).Error("failing closed", "err", err)
		writeError(c, http.StatusServiceUnavailable, "unavailable", "temporarily unavailable; nothing was sent")
	case errors.As(err, &ve):
		c.AbortWithStatusJSON(http.StatusBadRequest, errorBody{Error: "invalid", Message: "the request is not valid; see fields",
			RequestID: requestIDOf(c), Fields: ve.Fields})
	case errors.As(err, &se):
		writeError(c, se.HTTPStatus(), se.ErrorCode(), se.Error())
	case errors.Is(err, access.ErrInvalid):
		writeError(c, http.StatusBadRequest, "invalid", strings.TrimPrefix(err.Error(), "access: "))
	default:
		loggerOf(c).Error("internal error", "err", err, "route", c.FullPath())
		writeError(c, http.StatusInternalServerError, "internal", "internal error; quote the request id to support")
	}
}

func retryAfterSeconds(te *access.ThrottledError) string {
	sec := int(te.RetryAfter.Seconds() + 0.999)
	return strconv.Itoa(max(sec, 1))
}
