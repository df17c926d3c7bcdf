// Package web is the HTTP face of secondopinion: the gin router, its middleware (request ids,
// structured logs, panic recovery, security headers, metrics), the JSON API handlers and the pages.
//
// It holds no SQL and no crypto: every handler calls a domain package through an interface
// declared here, and cmd/secondopinion wires the concrete types. All routes are in one table,
// in routes.go.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

// Check is one readiness probe: nil when the dependency it names is usable.
type Check struct {
	Name string
	Fn   func(ctx context.Context) error
}

// Config is what the server needs. Zero values are not valid unless said.
type Config struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry // metrics are registered here and served at /metrics
	Ready    []Check              // checked by /readyz, each within ReadyTimeout
	// ReadyTimeout bounds each readiness check (default 2s).
	ReadyTimeout time.Duration
	// RequestTimeout bounds reading a JSON route's request (its answer: twice as long); 30s
	// when zero. Uploads, document content and audit exports are not bounded by it.
	RequestTimeout time.Duration

	Tokens   Authenticator // API bearer tokens
	Sessions Authenticator // session cookies

	Policy    Policy
	Audit     Auditor
	Consent   ConsentGate
	Documents Documents
	Vault     Vault
	Tus       TusHandler // nil: no upload routes
	Uploads   Uploads
	// Unfinished lists a caller's uploads to resume (*upload.Store); nil: no listing route.
	Unfinished UnfinishedUploads

	// Sign-in, cases and invitations: the JSON API of accounts and per-case access.
	SignIn      SignIn           // *access.Sessions
	TOTP        TOTPEnroller     // *access.Accounts
	SignInLinks SignInLinks      // *access.SignInLinks
	Invitations Invitations      // *access.Invitations
	Cases       CaseStore        // *cases.Cases
	Holds       Holds            // *cases.Cases: legal holds and tombstones
	Eraser      Eraser           // *retention.Eraser: erasure on request
	Now         func() time.Time // the clock (validating birth dates); time.Now when nil

	// Consent and the DPO's face of the audit log.
	Consents    ConsentStore  // *consent.Store
	AuditLog    AuditLog      // *audit.Reader
	AuditVerify AuditVerifier // audit.Verify over the database and the checkpoint sink

	// The subject-access export (GDPR Art. 15) and the "who opened my files" page; nil: none.
	People   People        // *access.Accounts: whose data, and the names of staff who read it
	Accesses AccessHistory // *audit.Reader: the audit entries about a person

	// Administration (admin only): accounts, API tokens, key-encryption keys.
	Accounts  AccountAdmin // *access.Accounts
	APITokens TokenAdmin   // *access.Tokens
	Keys      KeyReport
	// PasswordLinks: one-time links to choose a password (*access.PasswordLinks).
	PasswordLinks PasswordLinks

	// The pages.
	Catalogue Catalogue      // *mail.Catalogue: the pages' messages (required)
	Reviewers Directory      // *access.Accounts: the reviewers a case manager may assign
	Zone      *time.Location // the centre's time zone, for dates on pages (UTC when nil)
	PublicURL string         // SO_PUBLIC_URL: HSTS when https, upload URLs
	// TrustedProxies are the reverse proxies (addresses or CIDRs, SO_TRUSTED_PROXIES) whose
	// X-Forwarded-For names the client: for throttling, audit entries and consent signatures.
	// None: the client is the TCP peer.
	TrustedProxies []string
}

// Server is the HTTP handler of the service.
type Server struct {
	cfg     Config
	log     *slog.Logger
	engine  *gin.Engine
	handler http.Handler
	m       *metrics
	pages   *pages
	bundle  bool // the browser bundles are embedded
}

// New builds the server and its route table.
func New(cfg Config) *Server {
	if cfg.ReadyTimeout == 0 {
		cfg.ReadyTimeout = 2 * time.Second
	}
	if cfg.Registry == nil {
		cfg.Registry = prometheus.NewRegistry()
	}
	gin.SetMode(gin.ReleaseMode)
	p, err := parsePages()
	if err != nil {
		panic(err) // the templates are embedded: a parse error is a bug caught by every test
	}
	s := &Server{cfg: cfg, log: cfg.Logger, engine: gin.New(), m: newMetrics(cfg.Registry), pages: p,
		bundle: bundleBuilt()}
	s.engine.ContextWithFallback = true
	s.engine.HandleMethodNotAllowed = true
	// The client address (throttles, audit entries, consent signatures) is the TCP peer's,
	// unless the peer is a configured proxy: then the X-Forwarded-For it appended (security
	// review, finding 2).
	s.engine.RemoteIPHeaders = []string{"X-Forwarded-For"}
	if err := s.engine.SetTrustedProxies(cfg.TrustedProxies); err != nil || len(cfg.TrustedProxies) == 0 {
		s.engine.SetTrustedProxies(nil) // #nosec G104 -- nil cannot fail to parse
	}
	s.routes()
	// CSRF: browsers' state-changing cross-origin requests are refused (Sec-Fetch-Site / Origin);
	// API clients, which send neither, are unaffected.
	csrf := http.NewCrossOriginProtection()
	csrf.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"error":"cross_origin","message":"cross-origin request refused","request_id":""}`)) // #nosec G104 -- the answer to a client that may be gone
	}))
	s.handler = csrf.Handler(s.engine)
	return s
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
