package web

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
)

// adminPage is the admin desk's data.
type adminPage struct {
	Accounts []accountView
	Tokens   []access.TokenInfo
	Keys     []KEKInfo
	Roles    []so.Role
	Issued   string // a token just issued, shown once
}

// GET /staff/admin: accounts, API tokens and keys, each read through its API route (and so
// audited as the admin's reads).
func (s *Server) staffAdmin(c *gin.Context) { s.renderAdmin(c, nil, "") }

func (s *Server) renderAdmin(c *gin.Context, refused *apiAnswer, issued string) {
	p := s.newPage(c, "page.admin.title", "")
	ap := adminPage{Roles: so.AccountRoles, Issued: issued}
	for _, part := range []struct {
		h    gin.HandlerFunc
		into any
	}{
		{s.listAccounts, &struct {
			Accounts *[]accountView `json:"accounts"`
		}{&ap.Accounts}},
		{s.listTokens, &struct {
			Tokens *[]access.TokenInfo `json:"tokens"`
		}{&ap.Tokens}},
		{s.listKeys, &struct {
			Keys *[]KEKInfo `json:"keys"`
		}{&ap.Keys}},
	} {
		a := s.callAPI(c, part.h, nil)
		if !a.OK() {
			s.pageError(c, errFromAnswer(a))
			return
		}
		if err := json.Unmarshal(a.Body, part.into); err != nil {
			s.pageError(c, err)
			return
		}
	}
	status := http.StatusOK
	if refused != nil {
		p.refused(*refused)
		status = refused.Status
	}
	p.Data = ap
	c.Header("Cache-Control", "no-store")
	s.render(c, status, "staff-admin", p)
}

// adminForm posts an admin form through its API handler, then shows the desk again.
func (s *Server) adminForm(c *gin.Context, h gin.HandlerFunc, body any, notice string) {
	a := s.callAPI(c, h, body)
	if a.OK() {
		setNotice(c, notice)
		seeOther(c, "/staff/admin")
		return
	}
	s.renderAdmin(c, &a, "")
}

// POST /staff/admin/accounts {email, name, role}
func (s *Server) staffAddAccount(c *gin.Context) {
	s.adminForm(c, s.addAccount, map[string]string{"email": c.PostForm("email"), "name": c.PostForm("name"),
		"role": c.PostForm("role")}, "page.admin.added")
}

// POST /staff/admin/accounts/:id/{disable,totp-reset}
func (s *Server) staffAccountAction(action, notice string) gin.HandlerFunc {
	return func(c *gin.Context) { s.adminForm(c, s.accountAction(action), nil, notice) }
}

// POST /staff/admin/tokens {email, ttl}: the token is shown on the answer, once, never stored.
func (s *Server) staffIssueToken(c *gin.Context) {
	a := s.callAPI(c, s.issueToken, map[string]string{"email": c.PostForm("email"), "ttl": c.PostForm("ttl")})
	if !a.OK() {
		s.renderAdmin(c, &a, "")
		return
	}
	var t struct {
		Token string `json:"token"`
	}
	if err := json.Unmarshal(a.Body, &t); err != nil || t.Token == "" {
		s.pageError(c, fmt.Errorf("issue token: the API's answer has no token: %v", err))
		return
	}
	s.renderAdmin(c, nil, t.Token)
}

// POST /staff/admin/tokens/:id/revoke
func (s *Server) staffRevokeToken(c *gin.Context) {
	s.adminForm(c, s.revokeToken, nil, "page.admin.revoked")
}

// POST /staff/admin/accounts/:id/password-link: mails the person a link to choose their password.
func (s *Server) staffPasswordLink(c *gin.Context) {
	s.adminForm(c, s.sendPasswordLink, map[string]string{"language": c.PostForm("language")}, "page.admin.link_sent")
}

// POST /password {token, password, again}: a person chooses their password from a mailed link.
func (s *Server) pagePasswordSet(c *gin.Context) {
	p := s.newPage(c, "page.password.title", "")
	p.Form = map[string]string{"token": c.PostForm("token")}
	if c.PostForm("password") != c.PostForm("again") {
		p.Error = p.L.T("page.password.mismatch")
		p.Fields = map[string]string{"again": p.Error}
		s.render(c, http.StatusBadRequest, "password", p)
		return
	}
	a := s.callAPI(c, s.redeemPasswordLink, map[string]string{"token": c.PostForm("token"), "password": c.PostForm("password")})
	if a.OK() {
		setNotice(c, "page.password.done")
		seeOther(c, "/signin")
		return
	}
	p.refused(a)
	if a.Status == http.StatusUnauthorized {
		p.Error = p.L.T("page.password.expired")
	}
	s.render(c, a.Status, "password", p)
}
