package main

import (
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tus/tusd/v2/pkg/handler"
	xslog "golang.org/x/exp/slog"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
	"github.com/secondopinion/secondopinion/internal/jobs"
	"github.com/secondopinion/secondopinion/internal/schema"
	"github.com/secondopinion/secondopinion/mail"
	"github.com/secondopinion/secondopinion/retention"
	"github.com/secondopinion/secondopinion/upload"
	"github.com/secondopinion/secondopinion/vault"
	"github.com/secondopinion/secondopinion/web"
)

// Main is the running service: it owns the connections and the HTTP server. Tests boot it
// with SO_LISTEN_ADDR=127.0.0.1:0 and read Addr once Run has returned.
type Main struct {
	Config Config
	Logger *slog.Logger
	Addr   string // the address the server listens on, set by Run

	db          *sqlx.DB
	minio       *minio.Client
	cases       *cases.Cases
	access      *access.Service
	consentGate *consent.Gate
	outbox      *mail.Outbox
	jobs        *jobs.Runner

	keys         *vault.Keys
	keyring      *vault.Keyring
	audit        *audit.Writer
	checkpointer *audit.Checkpointer
	auditCheck   logVerifier
	locker       *upload.Locker
	store        *upload.Store
	documents    *vault.Documents
	eraser       *retention.Eraser
	tus          *handler.UnroutedHandler
	bgCancel     context.CancelFunc
	bg           sync.WaitGroup
	srv          *http.Server
	done         chan error

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
	lockCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := m.checkpointsLocked(lockCtx); err != nil {
		m.Logger.Warn("the audit checkpoints' bucket (SO_MINIO_CHECKPOINT_BUCKET) is not usable; /readyz will say when it is", "err", err)
	}

	if err := m.buildDomain(); err != nil {
		return err
	}
	if err := m.buildStorage(ctx); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "secondopinion_cases_overdue",
		Help: "Cases whose running working-day clock (triage or report) is past due.",
	}, m.overdueCases))
	catalogue, err := mail.NewCatalogue()
	if err != nil {
		return err
	}
	auditLog := audit.NewReader(m.db)
	var h http.Handler = web.New(web.Config{
		Logger:   m.Logger,
		Registry: reg,
		Ready: []web.Check{
			{Name: "postgres", Fn: func(ctx context.Context) error { return m.db.PingContext(ctx) }},
			{Name: "schema", Fn: m.schemaCurrent},
			{Name: "minio", Fn: m.bucketPresent},
			{Name: "checkpoints", Fn: m.checkpointsLocked},
		},
		Tokens:    m.access.Tokens,
		Sessions:  m.access.Sessions,
		Policy:    m.access.Policy,
		Audit:     m.audit,
		Consent:   m.consentGate,
		Documents: m.cases,
		Vault:     m.documents,
		Tus:       m.tus,
		Uploads:   m.store,

		SignIn:      m.access.Sessions,
		TOTP:        m.access.Accounts,
		SignInLinks: m.access.SignInLinks,
		Invitations: m.access.Invitations,
		Cases:       m.cases,
		Holds:       m.cases,
		Eraser:      m.eraser,
		Now:         m.cases.Now,

		Consents:    consent.NewStore(m.db, m.cases),
		AuditLog:    auditLog,
		AuditVerify: m.auditCheck,
		People:      m.access.Accounts,
		Accesses:    auditLog,

		Unfinished:     m.store,
		Catalogue:      catalogue,
		Reviewers:      m.access.Accounts,
		Accounts:       m.access.Accounts,
		APITokens:      m.access.Tokens,
		PasswordLinks:  m.access.Passwords,
		Keys:           &kekReport{keyring: m.keyring, keys: m.keys},
		Zone:           cfg.TimeZone,
		PublicURL:      cfg.PublicURL,
		TrustedProxies: cfg.TrustedProxies,
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
	if err := m.startBackground(ctx); err != nil {
		m.srv.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		return err
	}
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
	if m.jobs != nil {
		ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout)
		if err := m.jobs.Stop(ctx); err != nil {
			m.Logger.Warn("stopping background jobs", "err", err)
		}
		cancel()
	}
	if m.bgCancel != nil {
		m.bgCancel()
		m.bg.Wait()
	}
	if m.audit != nil {
		m.audit.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
	}
	if m.locker != nil {
		m.locker.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
	}
	if m.db != nil {
		m.db.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
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
	mailer, err := mail.NewMailer(cfg.SMTPURL)
	if err != nil {
		return &ConfigError{Var: "SO_SMTP_URL", Reason: err.Error()}
	}
	mailKey, err := hkdf.Key(sha256.New, totpKey, nil, "secondopinion mail outbox", mail.KeySize)
	if err != nil {
		return fmt.Errorf("mail outbox key: %w", err)
	}
	if m.outbox, err = mail.New(mail.Config{DB: m.db, Sender: mailer, Key: mailKey, PublicURL: cfg.PublicURL,
		Location: cfg.TimeZone, Logger: m.Logger}); err != nil {
		return fmt.Errorf("mail: %w", err)
	}
	signer, verifier, err := audit.ReadCheckpointKeyFile(cfg.CheckpointKey)
	if err != nil {
		return &ConfigError{Var: "SO_CHECKPOINT_KEY_FILE", Reason: err.Error()}
	}
	sink := checkpointSink(m.minio, cfg.MinIOCheckpoints)
	m.auditCheck = logVerifier{db: m.db, v: verifier, src: sink}
	m.checkpointer = audit.NewCheckpointer(m.db, audit.CheckpointConfig{
		Signer: signer, Sink: sink,
		Every: 1000, Interval: -1, Logger: m.Logger, // on schedule: the audit_checkpoint job
	})
	m.audit = audit.NewWriter(m.db, audit.WriterConfig{Committed: m.checkpointer.Committed, Logger: m.Logger})
	m.consentGate = consent.NewGate(m.db)
	notices := &caseMails{outbox: m.outbox, publicURL: cfg.PublicURL, staffLang: cfg.StaffLanguage}
	ccfg := cases.Config{DB: m.db, Calendar: cfg.Calendar, Prices: cfg.Prices, Audit: m.audit,
		Consent: m.consentGate, Notifier: notices, Logger: m.Logger}
	acfg := access.Config{
		DB: m.db, Outbox: m.outbox, PublicURL: cfg.PublicURL, TOTPKey: totpKey, TokenRoles: cfg.TokenRoles,
		CaseLanguage: func(ctx context.Context, id string) (string, error) {
			c, err := m.cases.Get(ctx, id)
			return string(c.Language), err
		},
		Logger: m.Logger,
	}
	if m.tuneAccess != nil {
		m.tuneAccess(&acfg)
		ccfg.Now = acfg.Now
	}
	m.cases = cases.New(ccfg)
	acfg.Directory = m.cases
	m.access, err = access.New(acfg)
	if err != nil {
		return fmt.Errorf("access: %w", err)
	}
	m.cases.SetAccounts(m.access.Accounts)
	notices.accounts = m.access.Accounts
	return nil
}

// buildStorage constructs the vault, the audit log and the upload path.
func (m *Main) buildStorage(ctx context.Context) error {
	cfg := m.Config
	var err error
	m.keyring, err = vault.LoadKeyring(cfg.KEKFiles)
	if err != nil {
		return &ConfigError{Var: "SO_KEK_FILES", Reason: err.Error()}
	}
	m.keys = vault.NewKeys(m.db, m.keyring)
	m.keys.CacheBytes = int64(cfg.DocumentCacheMiB) << 20
	if cfg.DocumentCacheMiB == 0 {
		m.keys.CacheBytes = -1
	}

	if m.locker, err = upload.NewLocker(ctx, m.db.DB, cfg.DatabaseURL, m.Logger); err != nil {
		return fmt.Errorf("upload locker: %w", err)
	}
	limits := upload.DefaultLimits()
	hooks := &upload.Hooks{Policy: m.access.Policy, Registry: m.cases, Recorder: web.UploadRecorder{Audit: m.audit},
		Limits: limits, Logger: m.Logger}
	m.store, err = upload.NewStore(upload.StoreConfig{
		DB: m.db, MinIO: m.minio, Bucket: cfg.MinIOBucket, Keys: m.keys, Logger: m.Logger,
		Expiry: cfg.UploadExpiry, MaxSize: upload.DefaultImagingStudyMaxSize, OnFinish: hooks.Finish, ExpireLocker: m.locker,
		LockCheck: m.locker.Held, BufferMemory: int64(cfg.UploadMemoryMiB) << 20,
		Registered: func(ctx context.Context, id string) (bool, error) {
			_, err := m.cases.StoredObject(ctx, id)
			if errors.Is(err, so.ErrNotFound) {
				return false, nil
			}
			return err == nil, err
		},
	})
	if err != nil {
		return err
	}
	hooks.Pending = m.store
	m.documents = &vault.Documents{Keys: m.keys, Client: m.minio, Bucket: cfg.MinIOBucket}
	m.eraser = retention.New(retention.Config{Rules: cfg.Retention, Cases: m.cases, Vault: m.documents,
		Uploads: m.store, Audit: m.audit, Logger: m.Logger})
	composer := handler.NewStoreComposer()
	m.store.UseIn(composer)
	m.locker.UseIn(composer)
	m.tus, err = handler.NewUnroutedHandler(handler.Config{
		// An absolute base: the Location of a new upload is under the public URL, so that a
		// browser behind a TLS-terminating proxy is not sent to http:// (mixed content).
		BasePath:                strings.TrimSuffix(m.Config.PublicURL, "/") + "/api/v1/uploads/",
		StoreComposer:           composer,
		MaxSize:                 upload.DefaultImagingStudyMaxSize,
		DisableDownload:         true, // documents are read through /api/v1/documents/{id}/content
		DisableConcatenation:    true, // chunks are sealed in order
		Cors:                    &handler.CorsConfig{Disable: true},
		PreUploadCreateCallback: hooks.PreCreate,
		// tusd's own request logs would repeat ours; ours never carry metadata.
		Logger: xslog.New(xslog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		return fmt.Errorf("tus handler: %w", err)
	}
	return nil
}

// startBackground starts the background work until Close: the periodic tasks on the job
// engine, which runs each once per period across all instances (DESIGN §16), and the
// checkpointer's answer to every Every entries this instance commits.
func (m *Main) startBackground(ctx context.Context) error {
	var err error
	m.jobs, err = jobs.New(jobs.Config{DB: m.db.DB, Logger: m.Logger, Tasks: m.tasks()})
	if err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	if err := m.jobs.Start(ctx); err != nil {
		return fmt.Errorf("jobs: %w", err)
	}
	bg, cancel := context.WithCancel(context.Background())
	m.bgCancel = cancel
	m.bg.Add(1)
	go func() {
		defer m.bg.Done()
		if err := m.checkpointer.Run(bg); err != nil && bg.Err() == nil {
			m.Logger.Error("audit checkpoints stopped", "err", err)
		}
	}()
	return nil
}

// tasks are the periodic tasks of the service.
func (m *Main) tasks() []jobs.Task {
	return []jobs.Task{
		// Each run sends what is due for up to its period (a send once begun is finished);
		// the outbox retries failed sends on its own backoff.
		{Name: "mail_deliver", Every: 5 * time.Second, Run: func(ctx context.Context) error {
			_, err := m.outbox.Deliver(ctx)
			return err
		}},
		{Name: "mail_purge", Every: 24 * time.Hour, Run: func(ctx context.Context) error {
			_, err := m.outbox.Purge(ctx, 30*24*time.Hour)
			return err
		}},
		{Name: "audit_checkpoint", Every: time.Minute, Run: func(ctx context.Context) error {
			_, err := m.checkpointer.Checkpoint(ctx)
			if errors.Is(err, audit.ErrEmptyLog) {
				return nil
			}
			return err
		}},
		{Name: "upload_expiry", Every: 5 * time.Minute, Run: func(ctx context.Context) error {
			n, err := m.store.Expire(ctx, time.Now())
			if n > 0 {
				m.Logger.Info("expired uploads", "count", n)
			}
			return err
		}},
		{Name: "credentials_purge", Every: time.Hour, Run: func(ctx context.Context) error {
			_, err := m.access.PurgeExpired(ctx)
			return err
		}},
		{Name: "sla_reminder", Every: time.Hour, Run: m.slaReminder},
		// Erases what the retention rules say has expired, daily (a run left unfinished is
		// carried on by the next one).
		{Name: "retention", Every: 24 * time.Hour, Timeout: time.Hour, Run: func(ctx context.Context) error {
			r, err := m.eraser.Run(ctx, retention.RunOptions{Now: m.cases.Now()})
			if r.Erased > 0 || r.Removed > 0 || err != nil {
				m.Logger.Info("retention run", "cases_erased", r.Erased, "rejected_documents_erased", r.Removed,
					"failures", len(r.Failures))
			}
			return err
		}},
	}
}

// slaReminder mails every enabled case manager, once a day at 08:00 in the centre's time
// zone, a link to the overdue cases when there are any. The mail says only that cases are
// overdue.
func (m *Main) slaReminder(ctx context.Context) error {
	period, _ := jobs.Period(ctx)
	if period.In(m.Config.TimeZone).Hour() != 8 {
		return nil
	}
	n, err := m.cases.OverdueCount(ctx)
	if err != nil || n == 0 {
		return err
	}
	emails, err := m.access.Accounts.EnabledEmails(ctx, so.RoleCaseManager)
	if err != nil {
		return err
	}
	tx, err := m.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	link := strings.TrimSuffix(m.Config.PublicURL, "/") + "/staff/cases?overdue=true"
	for _, to := range emails {
		if err := m.outbox.Enqueue(ctx, tx, mail.Message{To: to, Template: mail.TemplateSLAReminder,
			Language: string(m.Config.StaffLanguage), Params: mail.Params{Link: link}}); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// overdueCases is the gauge's value; -1 when the database cannot answer in time.
func (m *Main) overdueCases() float64 {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n, err := m.cases.OverdueCount(ctx)
	if err != nil {
		m.Logger.Warn("counting overdue cases", "err", err)
		return -1
	}
	return float64(n)
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

// checkpointsLocked checks that the checkpoints' bucket exists and locks what is put there
// (`storage setup` makes it so): a copy the service could overwrite or delete would prove nothing.
func (m *Main) checkpointsLocked(ctx context.Context) error {
	lock, mode, _, _, err := m.minio.GetObjectLockConfig(ctx, m.Config.MinIOCheckpoints)
	if err != nil {
		return err
	}
	if lock != "Enabled" || mode == nil {
		return errors.New("the bucket has no object locking with a default retention: run `secondopinion storage setup`")
	}
	return nil
}

func openDB(ctx context.Context, url string) (*sqlx.DB, error) {
	db, err := sqlx.Open("postgres", url)
	if err != nil {
		return nil, err
	}
	db.SetMaxOpenConns(32)
	db.SetMaxIdleConns(32) // as many as may be open: under load, closing idle ones makes PostgreSQL start new backends
	db.SetConnMaxIdleTime(5 * time.Minute)
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
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

// kekReport answers the admin's key list from the keyring and the document keys (what
// `keys list` prints).
type kekReport struct {
	keyring *vault.Keyring
	keys    *vault.Keys
}

func (r *kekReport) KEKs(ctx context.Context) ([]web.KEKInfo, error) {
	counts, err := r.keys.CountByKEK(ctx)
	if err != nil {
		return nil, fmt.Errorf("keys: %w", err)
	}
	fps, recips := r.keyring.Fingerprints(), r.keyring.Recipients()
	out := make([]web.KEKInfo, 0, len(fps))
	for i := range fps {
		out = append(out, web.KEKInfo{Fingerprint: fps[i], Recipient: recips[i], Wraps: i == len(fps)-1,
			DocumentKeys: int64(counts[fps[i]])})
		delete(counts, fps[i])
	}
	for fp, n := range counts {
		out = append(out, web.KEKInfo{Fingerprint: fp, DocumentKeys: int64(n), Missing: true})
	}
	return out, nil
}
