package access

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/internal/prepared"
)

// Config configures the service. A zero duration or limit takes the default named beside it.
type Config struct {
	DB        *sqlx.DB  // the runtime connection (role secondopinion_runtime)
	Directory Directory // what the policy reads about cases and documents: *cases.Cases
	Outbox    Outbox    // queues sign-in and invitation mails: *mail.Outbox
	PublicURL string    // base of links in mails, e.g. "https://so.example.org" (SO_PUBLIC_URL)
	TOTPKey   []byte    // TOTPKeyLen bytes sealing TOTP secrets at rest (see ParseTOTPKey)
	Issuer    string    // name in authenticator apps; "secondopinion"

	// CaseLanguage answers a case's language (en, it, es), in which its invitation mails are
	// written; English when nil.
	CaseLanguage func(ctx context.Context, caseID string) (string, error)

	IdleTimeout     time.Duration // session idle timeout; 30 min
	AbsoluteTimeout time.Duration // session lifetime from login; 12 h
	SignInLinkTTL   time.Duration // email sign-in link; 15 min
	InvitationTTL   time.Duration // invitation link and the physician's access; 7 days
	TokenTTL        time.Duration // API token when Issue is given no ttl; 90 days
	MaxTokenTTL     time.Duration // longest API token; 366 days
	// TokenRoles are the roles whose accounts may hold API tokens, which stand in for the
	// second factor: those that need automation. DefaultTokenRoles when nil.
	TokenRoles []so.Role

	AccountFailures int           // failed logins per account in ThrottleWindow; 5
	IPFailures      int           // failed logins per client address in ThrottleWindow; 20
	LinkRequests    int           // sign-in link mails per account in ThrottleWindow; 3
	ThrottleWindow  time.Duration // 15 min

	Argon2 Argon2Params     // new password hashes; DefaultArgon2
	Now    func() time.Time // time.Now
	Logger *slog.Logger     // discarded when nil
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.IdleTimeout, 30*time.Minute)
	def(&c.AbsoluteTimeout, 12*time.Hour)
	def(&c.SignInLinkTTL, 15*time.Minute)
	def(&c.InvitationTTL, 7*24*time.Hour)
	def(&c.TokenTTL, 90*24*time.Hour)
	def(&c.MaxTokenTTL, 366*24*time.Hour)
	def(&c.ThrottleWindow, 15*time.Minute)
	if c.TokenRoles == nil {
		c.TokenRoles = DefaultTokenRoles
	}
	for _, n := range []struct {
		p *int
		v int
	}{{&c.AccountFailures, 5}, {&c.IPFailures, 20}, {&c.LinkRequests, 3}} {
		if *n.p == 0 {
			*n.p = n.v
		}
	}
	if c.Argon2 == (Argon2Params{}) {
		c.Argon2 = DefaultArgon2
	}
	if c.Issuer == "" {
		c.Issuer = "secondopinion"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// Service is the access domain, one value per process. Its parts share one configuration.
type Service struct {
	Accounts    *Accounts
	Sessions    *Sessions
	SignInLinks *SignInLinks
	Passwords   *PasswordLinks
	Tokens      *Tokens
	Invitations *Invitations
	Policy      *Policy
}

// env is what every part shares.
type env struct {
	Config
	db        *sqlx.DB
	seal      *sealer
	dummyHash string
	public    *url.URL
	stmts     prepared.Statements
}

// New checks cfg and builds the service.
func New(cfg Config) (*Service, error) {
	cfg.defaults()
	if cfg.DB == nil || cfg.Directory == nil || cfg.Outbox == nil {
		return nil, errors.New("access: Config needs DB, Directory and Outbox")
	}
	u, err := url.Parse(cfg.PublicURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return nil, fmt.Errorf("access: PublicURL %q must be an absolute http(s) URL without query: %w", cfg.PublicURL, so.ErrInvalid)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	s, err := newSealer(cfg.TOTPKey)
	if err != nil {
		return nil, fmt.Errorf("access: %w", err)
	}
	e := &env{Config: cfg, db: cfg.DB, seal: s, public: u}
	// Unknown users are checked against this hash so that they cost what a real one costs.
	e.dummyHash = hashPassword(string(newSecret()), cfg.Argon2)
	p := &Policy{dir: cfg.Directory}
	return &Service{
		Accounts:    &Accounts{e},
		Sessions:    &Sessions{e},
		SignInLinks: &SignInLinks{e},
		Passwords:   &PasswordLinks{e},
		Tokens:      &Tokens{e},
		Invitations: &Invitations{env: e, policy: p},
		Policy:      p,
	}, nil
}

// link returns the public URL of path with the token as its only query parameter.
func (e *env) link(path, token string) string {
	u := *e.public
	u.Path += path
	u.RawQuery = url.Values{"token": {token}}.Encode()
	return u.String()
}

// PurgeExpired deletes what can no longer be used: ended sessions, spent or expired sign-in
// links and throttling events older than the window. It returns the number of rows deleted.
// Run it periodically (the retention job does).
func (s *Service) PurgeExpired(ctx context.Context) (int64, error) {
	e := s.Sessions.env
	now := e.Now()
	var total int64
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`DELETE FROM sessions WHERE revoked_at IS NOT NULL OR expires_at <= $1 OR last_seen_at <= $2`,
			[]any{now, now.Add(-e.IdleTimeout)}},
		{`DELETE FROM signin_links WHERE used_at IS NOT NULL OR expires_at <= $1`, []any{now}},
		{`DELETE FROM throttle_events WHERE at <= $1`, []any{now.Add(-e.ThrottleWindow)}},
	} {
		r, err := e.db.ExecContext(ctx, q.sql, q.args...)
		if err != nil {
			return total, fmt.Errorf("purge expired credentials: %w", err)
		}
		n, _ := r.RowsAffected()
		total += n
	}
	return total, nil
}
