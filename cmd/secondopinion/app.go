package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/cmd/schema"
	"github.com/secondopinion/secondopinion/web"
)

// Main is the running service: it owns the connections and the HTTP server. Tests boot it
// with SO_LISTEN_ADDR=127.0.0.1:0 and read Addr once Run has returned.
type Main struct {
	Config Config
	Logger *slog.Logger
	Addr   string // the address the server listens on, set by Run

	db     *sqlx.DB
	minio  *minio.Client
	cases  *cases.Cases
	access *access.Service
	srv    *http.Server
	done   chan error

	wrap func(http.Handler) http.Handler // tests may wrap the handler

	// tuneAccess lets tests change the access configuration (the clock, the password hash cost)
	// before the service is built; the cases store shares the clock.
	tuneAccess func(*access.Config)
}

// NewMain returns a Main for cfg.
func NewMain(cfg Config, logger *slog.Logger) *Main {
	return &Main{Config: cfg, Logger: logger}
}

// Run connects to PostgreSQL and MinIO, checks the schema and starts serving. It returns once
// the server listens; the server runs until Close.
func (m *Main) Run(ctx context.Context) (err error) {
	defer func() {
		if err != nil {
			m.closeConns()
		}
	}()
	cfg := m.Config
	if err := cfg.requireServe(); err != nil {
		return err
	}
	if m.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("database (SO_DATABASE_URL): %w", err)
	}
	if cfg.AutoMigrate {
		if err := migrate(ctx, cfg, m.Logger); err != nil {
			return err
		}
	}
	pending, err := schema.Pending(ctx, m.db.DB)
	if err != nil {
		return fmt.Errorf("check schema: %w", err)
	}
	if len(pending) > 0 {
		return fmt.Errorf("the database schema is outdated (%d migrations pending, first %s): run `secondopinion migrate` or set SO_AUTO_MIGRATE=true", len(pending), pending[0])
	}
	if m.minio, err = openMinIO(cfg); err != nil {
		return fmt.Errorf("minio (SO_MINIO_ENDPOINT): %w", err)
	}
	if err := ensureBucket(ctx, m.minio, cfg.MinIOBucket); err != nil {
		m.Logger.Warn("object storage not usable at start; /readyz will say when it is", "err", err)
	}

	if err := m.buildDomain(); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var h http.Handler = web.New(web.Config{
		Logger:   m.Logger,
		Registry: reg,
		Ready: []web.Check{
			{Name: "postgres", Fn: func(ctx context.Context) error { return m.db.PingContext(ctx) }},
			{Name: "schema", Fn: m.schemaCurrent},
			{Name: "minio", Fn: m.bucketPresent},
		},
		Tokens:   m.access.Tokens,
		Sessions: m.access.Sessions,

		SignIn:      m.access.Sessions,
		TOTP:        m.access.Accounts,
		SignInLinks: m.access.SignInLinks,
		Invitations: m.access.Invitations,
		Policy:      m.access.Policy,
		Cases:       m.cases,
		Now:         m.cases.Now,
	})
	if m.wrap != nil {
		h = m.wrap(h)
	}

	ln, err := net.Listen("tcp", cfg.ListenAddr)
	if err != nil {
		return fmt.Errorf("listen (SO_LISTEN_ADDR): %w", err)
	}
	m.Addr = ln.Addr().String()
	m.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 20 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(m.Logger.Handler(), slog.LevelWarn),
	}
	m.done = make(chan error, 1)
	go func() { m.done <- m.srv.Serve(ln) }()
	m.Logger.Info("serving", "addr", m.Addr)
	return nil
}

// Wait blocks until the server stops by itself (an error) or ctx ends (nil).
func (m *Main) Wait(ctx context.Context) error {
	select {
	case err := <-m.done:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	case <-ctx.Done():
		return nil
	}
}

// Close stops accepting requests, lets in-flight requests finish within the shutdown
// timeout, and closes the connections.
func (m *Main) Close() error {
	var err error
	if m.srv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		defer cancel()
		if err = m.srv.Shutdown(ctx); err != nil {
			err = fmt.Errorf("shutdown: %w", err)
		}
	}
	m.closeConns()
	return err
}

func (m *Main) closeConns() {
	if m.db != nil {
		m.db.Close()
	}
}

// buildDomain constructs the domain services over the open connections.
func (m *Main) buildDomain() error {
	cfg := m.Config
	keyText, err := os.ReadFile(cfg.TOTPKeyFile)
	if err != nil {
		return &ConfigError{Var: "SO_TOTP_KEY_FILE", Reason: fmt.Sprintf("cannot read the file it names: %v", errors.Unwrap(err))}
	}
	totpKey, err := access.ParseTOTPKey(strings.TrimSpace(string(keyText)))
	if err != nil {
		return &ConfigError{Var: "SO_TOTP_KEY_FILE", Reason: "the file does not hold 64 hex characters"}
	}
	mailer, err := access.NewMailer(cfg.SMTPURL)
	if err != nil {
		return &ConfigError{Var: "SO_SMTP_URL", Reason: err.Error()}
	}
	m.cases = cases.New(m.db)
	acfg := access.Config{
		DB: m.db, Directory: m.cases, Mailer: mailer, PublicURL: cfg.PublicURL, TOTPKey: totpKey,
		Logger: m.Logger,
	}
	if m.tuneAccess != nil {
		m.tuneAccess(&acfg)
		if acfg.Now != nil {
			m.cases.Now = acfg.Now
		}
	}
	m.access, err = access.New(acfg)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	return nil
}

func (m *Main) schemaCurrent(ctx context.Context) error {
	p, err := schema.Pending(ctx, m.db.DB)
	if err != nil {
		return err
	}
	if len(p) > 0 {
		return fmt.Errorf("%d migrations pending", len(p))
	}
	return nil
}

func (m *Main) bucketPresent(ctx context.Context) error {
	ok, err := m.minio.BucketExists(ctx, m.Config.MinIOBucket)
	if err != nil {
		return err
	}
	if !ok {
		return errors.New("bucket missing")
	}
	return nil
}

func openDB(ctx context.Context, url string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return db, nil
}

func openMinIO(cfg Config) (*minio.Client, error) {
	return minio.New(cfg.MinIOEndpoint, &minio.Options{
		Creds:  credentials.NewStaticV4(cfg.MinIOAccessKey, cfg.MinIOSecretKey, ""),
		Secure: cfg.MinIOSecure,
	})
}

func ensureBucket(ctx context.Context, c *minio.Client, bucket string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, bucket)
	if err != nil {
		return err
	}
	if ok {
		return nil
	}
	return c.MakeBucket(ctx, bucket, minio.MakeBucketOptions{})
}

// migrate applies pending migrations as the owner.
func migrate(ctx context.Context, cfg Config, log *slog.Logger) error {
	if cfg.DatabaseOwnerURL == "" {
		return &ConfigError{Var: "SO_DATABASE_OWNER_URL", Reason: "is required to migrate"}
	}
	db, err := openDB(ctx, cfg.DatabaseOwnerURL)
	if err != nil {
		return fmt.Errorf("database (SO_DATABASE_OWNER_URL): %w", err)
	}
	defer db.Close()
	applied, err := schema.Apply(ctx, db.DB)
	for _, v := range applied {
		log.Info("migration applied", "version", v)
	}
	return err
}
