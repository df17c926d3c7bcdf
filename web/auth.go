package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
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
			err = so.ErrUnauthenticated
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
		s.fail(c, so.ErrUnauthenticated)
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

// fail answers err in the one place that maps errors to statuses. Unknown errors are logged
// with the request id and answered 500 without their text.
func (s *Server) fail(c *gin.Context, err error) {
	if reason := denialReason(err); reason != "" && !c.GetBool(auditedKey) && s.cfg.Audit != nil && !subjectOf(c).Authenticated() {
		// Nobody, or a bad credential: counted, not written to the append-only log, which anyone
		// could otherwise grow at network speed (security review, finding 1).
		s.anonymousDenial(c, reason)
	} else if reason != "" && !c.GetBool(auditedKey) && s.cfg.Audit != nil {
		e := entryFor(c, "access.denied", "route:"+c.FullPath(), c.Param("id"), routeCaseID(c), reason)
		e.Outcome = audit.OutcomeMinorFailure
		if aerr := s.record(c, e); aerr != nil {
			err = aerr
		}
	}
	var se statusError
	var e *so.Error
	switch {
	case errors.Is(err, so.ErrUnavailable):
		loggerOf(c).Error("failing closed", "err", err)
		writeError(c, http.StatusServiceUnavailable, string(so.EUnavailable), so.ErrUnavailable.Message)
	case errors.As(err, &e):
		var te *access.ThrottledError
		if e.Code == so.EInvalidCredentials && errors.As(err, &te) && te.RetryAfter > 0 {
			c.Header("Retry-After", retryAfterSeconds(te))
		}
		body := errorBody{Error: string(e.Code), Message: e.Message, RequestID: requestIDOf(c), Fields: e.Fields,
			Status: e.Status}
		switch {
		case e.Code == so.EInvalid && len(e.Fields) == 0:
			// A bare so.ErrInvalid wrapped with what was wrong: the outer text says it.
			body.Message = err.Error()
		case sentinelMessage[e.Code] != "":
			body.Message = sentinelMessage[e.Code]
		}
		c.AbortWithStatusJSON(codeStatus[e.Code], body)
	case errors.As(err, &se):
		writeError(c, se.HTTPStatus(), se.ErrorCode(), se.Error())
	default:
		loggerOf(c).Error("internal error", "err", err, "route", c.FullPath())
		writeError(c, http.StatusInternalServerError, "internal", "internal error; quote the request id to support")
	}
}

// routeCaseID is the case id of a route on a case (/api/v1/cases/:id…, /cases/:id…,
// /staff/cases/:id…), "" otherwise: a refusal there is entered with its case, so that the
// case's audit trail, and its applicant's accesses page, show the refusals too.
func routeCaseID(c *gin.Context) string {
	fp := c.FullPath()
	for _, p := range []string{"/api/v1/cases/:id", "/cases/:id", "/staff/cases/:id"} {
		if strings.HasPrefix(fp, p) && so.ValidID(c.Param("id")) {
			return c.Param("id")
		}
	}
	return ""
}

// codeStatus is the one map from the domain's error codes to HTTP statuses.
var codeStatus = map[so.Code]int{
	so.EUnauthenticated:    http.StatusUnauthorized,
	so.EInvalidCredentials: http.StatusUnauthorized,
	so.ETOTPRequired:       http.StatusForbidden,
	so.EForbidden:          http.StatusForbidden,
	so.ENotFound:           http.StatusNotFound,
	so.EExists:             http.StatusConflict,
	so.EState:              http.StatusConflict,
	so.EConflict:           http.StatusConflict,
	so.EInvalid:            http.StatusBadRequest,
	so.EUnavailable:        http.StatusServiceUnavailable,
}

// sentinelMessage fixes the message of codes whose answer must not vary with the reason (a
// refused login, a missing or invisible case, a refused action).
var sentinelMessage = map[so.Code]string{
	so.EUnauthenticated:    so.ErrUnauthenticated.Message,
	so.EInvalidCredentials: so.ErrInvalidCredentials.Message,
	so.ETOTPRequired:       so.ErrTOTPRequired.Message,
	so.EForbidden:          so.ErrForbidden.Message,
	so.ENotFound:           so.ErrNotFound.Message,
	so.EExists:             so.ErrExists.Message,
}

func retryAfterSeconds(te *access.ThrottledError) string {
	sec := int(te.RetryAfter.Seconds() + 0.999)
	return strconv.Itoa(max(sec, 1))
}
