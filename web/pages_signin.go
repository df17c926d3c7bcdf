package web

import (
	"net/http"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
)

// GET /: where a visitor starts. Signed in, each goes to their own page.
func (s *Server) pageHome(c *gin.Context) {
	subj := subjectOf(c)
	switch {
	case subj.Role == so.RoleApplicant:
		seeOther(c, "/cases")
	case subj.Role == so.RolePhysician:
		seeOther(c, "/physician")
	case subj.Role.Staff():
		seeOther(c, "/staff")
	default:
		s.render(c, http.StatusOK, "home", s.newPage(c, "page.home.title", ""))
	}
}

// GET /signin: email and password, or a link by mail.
func (s *Server) pageSignIn(c *gin.Context) {
	s.render(c, http.StatusOK, "signin", s.newPage(c, "page.signin.title", ""))
}

// POST /signin {email, password, totp}: password sign-in through the API's own handler.
func (s *Server) pageSignInPost(c *gin.Context) {
	a := s.callAPI(c, s.login, map[string]string{"email": c.PostForm("email"), "password": c.PostForm("password"),
		"totp": c.PostForm("totp")})
	if a.OK() {
		seeOther(c, "/")
		return
	}
	p := s.newPage(c, "page.signin.title", "")
	p.refused(a)
	if a.Err.Error == string(so.EInvalidCredentials) || a.Err.Error == string(so.ETOTPRequired) {
		p.Error = p.L.T("page.signin.refused")
		if a.Err.Error == string(so.ETOTPRequired) {
			p.Error = p.L.T("page.signin.totp")
		}
	}
	p.Form = map[string]string{"email": c.PostForm("email")}
	s.render(c, a.Status, "signin", p)
}

// POST /signin/link-request {email}: mails an applicant a sign-in link. The answer is the same
// whether or not the address has an account.
func (s *Server) pageLinkRequest(c *gin.Context) {
	a := s.callAPI(c, s.requestSignInLink, map[string]string{"email": c.PostForm("email")})
	p := s.newPage(c, "page.signin.title", "")
	if a.OK() {
		p.Notice = "page.signin.link_sent"
		s.render(c, http.StatusOK, "signin", p)
		return
	}
	p.refused(a)
	if a.Status == http.StatusUnauthorized {
		p.Error = p.L.T("page.signin.slow_down")
	}
	p.Form = map[string]string{"link_email": c.PostForm("email")}
	p.Fields = map[string]string{"link_email": p.Fields["email"]}
	s.render(c, a.Status, "signin", p)
}

// tokenLanding is the page a mailed link opens (/signin/link, /invitation): it only shows a
// button. The token is spent by the POST, so that a mail scanner following the link does not
// use it up.
func (s *Server) tokenLanding(name, title string) gin.HandlerFunc {
	return func(c *gin.Context) {
		p := s.newPage(c, title, "")
		p.Path = c.Request.URL.RequestURI() // the switch keeps the token
		p.Form = map[string]string{"token": c.Query("token")}
		s.render(c, http.StatusOK, name, p)
	}
}

// tokenRedeem posts the landing's token to the API's redeem handler h, then goes to next, or
// shows the landing again saying the link no longer works.
func (s *Server) tokenRedeem(h gin.HandlerFunc, name, title, expired, next string) gin.HandlerFunc {
	return func(c *gin.Context) {
		a := s.callAPI(c, h, map[string]string{"token": c.PostForm("token")})
		if a.OK() {
			seeOther(c, next)
			return
		}
		p := s.newPage(c, title, "")
		p.refused(a)
		if a.Status == http.StatusUnauthorized || a.Status == http.StatusBadRequest {
			p.Error = p.L.T(expired)
		}
		s.render(c, a.Status, name, p)
	}
}

// POST /signout
func (s *Server) pageSignOut(c *gin.Context) {
	a := s.callAPI(c, s.logout, nil)
	if !a.OK() {
		p := s.newPage(c, "page.error.title", "")
		p.refused(a)
		s.render(c, a.Status, "error", p)
		return
	}
	setNotice(c, "page.signin.signed_out")
	seeOther(c, "/signin")
}
