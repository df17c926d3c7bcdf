package web

import (
	"context"
	"net/http"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// SignIn opens, confirms and ends sessions: *access.Sessions.
type SignIn interface {
	Login(ctx context.Context, email, password, totpCode, ip string) (*access.Session, string, error)
	ConfirmTOTP(ctx context.Context, raw, code string) (*access.Session, string, error)
	Logout(ctx context.Context, raw string) error
}

// TOTPEnroller starts a staff account's TOTP enrolment: *access.Accounts.
type TOTPEnroller interface {
	BeginTOTP(ctx context.Context, s access.Subject) (access.TOTPEnrolment, error)
}

// SignInLinks mails and redeems applicants' one-time sign-in links: *access.SignInLinks.
type SignInLinks interface {
	Request(ctx context.Context, email, ip string) error
	Redeem(ctx context.Context, token string) (*access.Session, string, error)
}

// sessionView is the answer of every route that opens a session, and of GET /session.
type sessionView struct {
	Role               so.Role `json:"role"`
	Email              string  `json:"email"`
	NeedsTOTPEnrolment bool    `json:"needs_totp_enrolment"`
	CaseID             string  `json:"case_id,omitempty"` // a physician's one case
}

func viewOf(s access.Subject) sessionView {
	return sessionView{Role: s.Role, Email: s.Email, NeedsTOTPEnrolment: s.NeedsTOTPEnrolment, CaseID: s.ScopeCaseID}
}

// POST /api/v1/session {email, password, totp}: password (and TOTP) sign-in.
func (s *Server) login(c *gin.Context) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
		TOTP     string `json:"totp"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	// The client: the direct peer, or what a configured proxy says (never a header of anyone
	// else's, which the client could invent to escape the throttle).
	sess, raw, err := s.cfg.SignIn.Login(c.Request.Context(), in.Email, in.Password, in.TOTP, c.ClientIP())
	s.startSession(c, sess, raw, err)
}

// POST /api/v1/signin-links/redeem {token}: an applicant's mailed link.
func (s *Server) redeemSignInLink(c *gin.Context) {
	var in struct {
		Token string `json:"token"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	sess, raw, err := s.cfg.SignInLinks.Redeem(c.Request.Context(), in.Token)
	s.startSession(c, sess, raw, err)
}

// POST /api/v1/invitations/redeem {token}: a referring physician's invitation.
func (s *Server) redeemInvitation(c *gin.Context) {
	var in struct {
		Token string `json:"token"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	sess, raw, err := s.cfg.Invitations.Redeem(c.Request.Context(), in.Token)
	s.startSession(c, sess, raw, err)
}

// startSession answers a sign-in: the new session's cookie and view, or the error. The session
// the browser came with, if any, is ended: one browser, one session.
func (s *Server) startSession(c *gin.Context, sess *access.Session, raw string, err error) {
	if aerr := s.recordSignIn(c, sess, err); aerr != nil {
		if err == nil {
			if lerr := s.cfg.SignIn.Logout(c.Request.Context(), raw); lerr != nil {
				loggerOf(c).Error("ending an unaudited session", "err", lerr)
			}
		}
		err = aerr
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	if old, cerr := c.Request.Cookie(access.SessionCookie); cerr == nil && old.Value != raw {
		if err := s.cfg.SignIn.Logout(c.Request.Context(), old.Value); err != nil {
			loggerOf(c).Warn("ending the previous session", "err", err)
		}
	}
	setSessionCookie(c, raw)
	c.JSON(http.StatusOK, viewOf(sess.Subject))
}

// DELETE /api/v1/session: logout. It ends the cookie's session, if any, and clears the cookie;
// it succeeds whatever the cookie's state.
func (s *Server) logout(c *gin.Context) {
	if ck, err := c.Request.Cookie(access.SessionCookie); err == nil {
		// The route is outside authentication (a stale cookie must not block a logout); the
		// entry names whose session ends when the cookie is still valid.
		if s.cfg.Sessions != nil {
			if subj, err := s.cfg.Sessions.Authenticate(c.Request.Context(), ck.Value); err == nil {
				c.Request = c.Request.WithContext(access.WithSubject(c.Request.Context(), subj))
			}
		}
		if err := s.audited(c, entryFor(c, audit.ActionLogout, "session", "", ""), func() error {
			return s.cfg.SignIn.Logout(c.Request.Context(), ck.Value)
		}); err != nil {
			s.fail(c, err)
			return
		}
	}
	setSessionCookie(c, "")
	c.Status(http.StatusNoContent)
}

// GET /api/v1/session: who the caller is.
func (s *Server) whoami(c *gin.Context) { c.JSON(http.StatusOK, viewOf(subjectOf(c))) }

// POST /api/v1/session/totp: begin TOTP enrolment (a staff session without a second factor).
func (s *Server) beginTOTP(c *gin.Context) {
	e, err := s.cfg.TOTP.BeginTOTP(c.Request.Context(), subjectOf(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"secret": e.Secret, "uri": e.URI})
}

// POST /api/v1/session/totp/confirm {code}: finish enrolment; the session is rotated.
func (s *Server) confirmTOTP(c *gin.Context) {
	var in struct {
		Code string `json:"code"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	var raw string
	if ck, err := c.Request.Cookie(access.SessionCookie); err == nil {
		raw = ck.Value
	}
	sess, newRaw, err := s.cfg.SignIn.ConfirmTOTP(c.Request.Context(), raw, in.Code)
	if err != nil {
		s.fail(c, err)
		return
	}
	setSessionCookie(c, newRaw)
	c.JSON(http.StatusOK, viewOf(sess.Subject))
}

// POST /api/v1/signin-links {email}: mail an applicant a sign-in link. The answer is 202 and
// the same body whether or not the address names an account; only a client address over its
// request limit is refused (401 with Retry-After).
func (s *Server) requestSignInLink(c *gin.Context) {
	var in struct {
		Email string `json:"email"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cfg.SignInLinks.Request(c.Request.Context(), in.Email, c.ClientIP()); err != nil {
		s.fail(c, fieldErr(err, "email", "is not a valid email address"))
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"message": "if the address belongs to an applicant, a sign-in link is on its way"})
}

// setSessionCookie sets the session cookie to raw, or clears it when raw is empty. The
// __Host- prefix requires exactly these attributes: Secure, Path=/, no Domain.
func setSessionCookie(c *gin.Context, raw string) {
	ck := &http.Cookie{Name: access.SessionCookie, Value: raw, Path: "/", Secure: true, HttpOnly: true,
		SameSite: http.SameSiteStrictMode} // security review, finding 10: not sent on cross-site requests at all
	if raw == "" {
		ck.MaxAge = -1
	}
	http.SetCookie(c.Writer, ck)
	c.Header("Cache-Control", "no-store")
}

// requireSecondFactor refuses a staff subject that has not passed TOTP (403 totp_required) on
// every route but the session's own: the Policy refuses it too, this covers the listings.
func (s *Server) requireSecondFactor(c *gin.Context) {
	if subj := subjectOf(c); subj.Role.Staff() && !subj.TOTPSatisfied {
		s.fail(c, so.ErrTOTPRequired)
		return
	}
	c.Next()
}
