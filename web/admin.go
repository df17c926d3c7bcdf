package web

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// AccountAdmin manages accounts: *access.Accounts.
type AccountAdmin interface {
	List(ctx context.Context) ([]access.Account, error)
	Add(ctx context.Context, email string, role so.Role, name string) (string, error)
	ByID(ctx context.Context, id string) (access.Account, error)
	Disable(ctx context.Context, email string) error
	ResetTOTP(ctx context.Context, id string) error
}

// TokenAdmin issues, lists and revokes API tokens: *access.Tokens.
type TokenAdmin interface {
	List(ctx context.Context) ([]access.TokenInfo, error)
	Issue(ctx context.Context, email string, ttl time.Duration) (id, raw string, err error)
	Revoke(ctx context.Context, id string) error
}

// KEKInfo is a key-encryption key as the admin sees it: its fingerprint, whether it wraps new
// document keys (the newest) or only unwraps, and how many document keys it wraps.
type KEKInfo struct {
	Fingerprint  string `json:"fingerprint"`
	Recipient    string `json:"recipient"`
	Wraps        bool   `json:"wraps"`
	DocumentKeys int64  `json:"document_keys"`
	Missing      bool   `json:"missing,omitempty"` // keys wrapped by a KEK no configured file opens
}

// KeyReport lists the key-encryption keys (wired in cmd/secondopinion over the vault).
type KeyReport interface {
	KEKs(ctx context.Context) ([]KEKInfo, error)
}

// accountView is an account as the admin API answers it.
type accountView struct {
	ID          string    `json:"id"`
	Email       string    `json:"email"`
	Name        string    `json:"name"`
	Role        so.Role   `json:"role"`
	TOTPEnabled bool      `json:"totp_enabled"`
	Disabled    bool      `json:"disabled"`
	CreatedAt   time.Time `json:"created_at"`
}

func viewOfAccount(a access.Account) accountView {
	return accountView{ID: a.ID, Email: a.Email, Name: a.Name, Role: a.Role, TOTPEnabled: a.TOTPEnabled,
		Disabled: a.Disabled, CreatedAt: a.CreatedAt}
}

// authorizeAdmin asks the policy whether the caller manages accounts (the admin).
func (s *Server) authorizeAdmin(c *gin.Context) bool {
	if err := s.cfg.Policy.Authorize(c.Request.Context(), subjectOf(c), access.ActionAccountsManage, ""); err != nil {
		s.fail(c, err)
		return false
	}
	if s.cfg.Accounts == nil || s.cfg.APITokens == nil || s.cfg.Keys == nil {
		s.fail(c, so.ErrNotFound)
		return false
	}
	return true
}

// adminRead answers an admin listing as {key: list}: authorized, audited as the admin's read
// of objectType (accounts.read), then fetched.
func (s *Server) adminRead(c *gin.Context, objectType, key string, fetch func(context.Context) (any, error)) {
	if !s.authorizeAdmin(c) {
		return
	}
	if err := s.record(c, entryFor(c, audit.ActionAccountsRead, objectType, "", "")); err != nil {
		s.fail(c, err)
		return
	}
	list, err := fetch(c.Request.Context())
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{key: list})
}

// GET /api/v1/accounts: every account (admin).
func (s *Server) listAccounts(c *gin.Context) {
	s.adminRead(c, "account", "accounts", func(ctx context.Context) (any, error) {
		list, err := s.cfg.Accounts.List(ctx)
		out := make([]accountView, len(list))
		for i, a := range list {
			out[i] = viewOfAccount(a)
		}
		return out, err
	})
}

// POST /api/v1/accounts {email, role, name}: a new account (admin). Staff then get a password
// from `users set-password` and enrol TOTP at their first sign-in; applicants sign in by link.
func (s *Server) addAccount(c *gin.Context) {
	if !s.authorizeAdmin(c) {
		return
	}
	var in struct {
		Email string  `json:"email"`
		Role  so.Role `json:"role"`
		Name  string  `json:"name"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if _, err := so.ParseRole(string(in.Role)); err != nil {
		s.fail(c, invalid("role", "must be applicant, case_manager, reviewer, dpo or admin"))
		return
	}
	var id string
	err := s.audited(c, entryFor(c, audit.ActionAccountCreate, "account", strings.ToLower(in.Email), ""), func() (err error) {
		id, err = s.cfg.Accounts.Add(c.Request.Context(), in.Email, in.Role, in.Name)
		return err
	})
	if err != nil {
		s.fail(c, fieldErr(err, "email", "is not a valid email address"))
		return
	}
	a, err := s.cfg.Accounts.ByID(c.Request.Context(), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusCreated, viewOfAccount(a))
}

// accountAction is POST /api/v1/accounts/{id}/disable and …/totp-reset (admin).
func (s *Server) accountAction(action string) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.authorizeAdmin(c) {
			return
		}
		ctx, id := c.Request.Context(), c.Param("id")
		if !so.ValidID(id) {
			s.fail(c, so.ErrNotFound)
			return
		}
		a, err := s.cfg.Accounts.ByID(ctx, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		if a.ID == subjectOf(c).AccountID {
			s.fail(c, so.Errorf(so.EConflict, "an administrator cannot do this to their own account"))
			return
		}
		if err := s.audited(c, entryFor(c, action, "account", id, ""), func() error {
			if action == audit.ActionAccountDisable {
				return s.cfg.Accounts.Disable(ctx, a.Email)
			}
			return s.cfg.Accounts.ResetTOTP(ctx, id)
		}); err != nil {
			s.fail(c, err)
			return
		}
		if a, err = s.cfg.Accounts.ByID(ctx, id); err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, viewOfAccount(a))
	}
}

// GET /api/v1/tokens: the API tokens, valid or recently ended, never their secrets (admin).
func (s *Server) listTokens(c *gin.Context) {
	s.adminRead(c, "token", "tokens", func(ctx context.Context) (any, error) { return s.cfg.APITokens.List(ctx) })
}

// POST /api/v1/tokens {email, ttl}: a token for an account, shown once (admin). ttl is a Go
// duration ("24h"); empty for the default.
func (s *Server) issueToken(c *gin.Context) {
	if !s.authorizeAdmin(c) {
		return
	}
	var in struct {
		Email string `json:"email"`
		TTL   string `json:"ttl"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	var ttl time.Duration
	if in.TTL != "" {
		var err error
		if ttl, err = time.ParseDuration(in.TTL); err != nil {
			s.fail(c, invalid("ttl", "must be a duration such as 24h or 720h"))
			return
		}
	}
	var id, raw string
	err := s.audited(c, entryFor(c, audit.ActionTokenIssue, "token", strings.ToLower(in.Email), ""), func() (err error) {
		id, raw, err = s.cfg.APITokens.Issue(c.Request.Context(), in.Email, ttl)
		return err
	})
	if err != nil {
		s.fail(c, fieldErr(err, "ttl", "must be between one minute and the configured maximum"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, gin.H{"id": id, "token": raw})
}

// DELETE /api/v1/tokens/{id} (admin).
func (s *Server) revokeToken(c *gin.Context) {
	if !s.authorizeAdmin(c) {
		return
	}
	if err := s.audited(c, entryFor(c, audit.ActionTokenRevoke, "token", c.Param("id"), ""), func() error {
		return s.cfg.APITokens.Revoke(c.Request.Context(), c.Param("id"))
	}); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// GET /api/v1/keys: the key-encryption keys, which one wraps, how many document keys each
// wraps (admin); never a secret.
func (s *Server) listKeys(c *gin.Context) {
	s.adminRead(c, "kek", "keys", func(ctx context.Context) (any, error) { return s.cfg.Keys.KEKs(ctx) })
}

// PasswordLinks mails one-time links to choose a password and redeems them: *access.PasswordLinks.
type PasswordLinks interface {
	Send(ctx context.Context, id, language string) (time.Time, error)
	Redeem(ctx context.Context, token, password string) error
}

// POST /api/v1/accounts/{id}/password-link {language}: mails the person a one-time link to
// choose their own password (admin); 202 {expires_at}.
func (s *Server) sendPasswordLink(c *gin.Context) {
	if !s.authorizeAdmin(c) || s.cfg.PasswordLinks == nil {
		if !c.IsAborted() {
			s.fail(c, so.ErrNotFound)
		}
		return
	}
	var in struct {
		Language so.Language `json:"language"`
	}
	if c.Request.ContentLength != 0 {
		if err := readJSON(c, &in); err != nil {
			s.fail(c, err)
			return
		}
	}
	if in.Language == "" {
		in.Language = so.LanguageEnglish
	}
	if !in.Language.Valid() {
		s.fail(c, invalid("language", "must be en, it or es"))
		return
	}
	var expires time.Time
	if err := s.audited(c, entryFor(c, audit.ActionPasswordLink, "account", c.Param("id"), ""), func() (err error) {
		expires, err = s.cfg.PasswordLinks.Send(c.Request.Context(), c.Param("id"), string(in.Language))
		return err
	}); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusAccepted, gin.H{"expires_at": expires})
}

// POST /api/v1/password-links/redeem {token, password}: the person chooses their password
// (no sign-in: the link is the credential). Their sessions end; 204.
func (s *Server) redeemPasswordLink(c *gin.Context) {
	if s.cfg.PasswordLinks == nil {
		s.fail(c, so.ErrNotFound)
		return
	}
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cfg.PasswordLinks.Redeem(c.Request.Context(), in.Token, in.Password); err != nil {
		s.fail(c, fieldErr(err, "password", "does not meet the password policy"))
		return
	}
	c.Status(http.StatusNoContent)
}
