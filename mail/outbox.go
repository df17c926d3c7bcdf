package mail

import (
	"context"
	"crypto/rand"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	mathrand "math/rand/v2"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
)

// Config configures an Outbox. A zero duration or count takes the default named beside it.
type Config struct {
	DB        *sqlx.DB       // the runtime connection (role secondopinion_runtime)
	Sender    Sender         // how mails leave: NewMailer(SO_SMTP_URL)
	Key       []byte         // KeySize bytes sealing the params of queued mails
	PublicURL string         // when set, every Link must point under it (SO_PUBLIC_URL)
	Location  *time.Location // the centre's time zone, for dates in mails; UTC

	Batch       int           // mails tried by one Deliver; 20
	MaxAttempts int           // sends tried before a mail is given up; 20 (about two days)
	MinBackoff  time.Duration // wait after the first failure, doubled after each; 30 s
	MaxBackoff  time.Duration // longest wait between two attempts; 4 h
	SendTimeout time.Duration // one SMTP exchange; 1 min

	Now    func() time.Time // time.Now
	Logger *slog.Logger     // discarded when nil
}

func (c *Config) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.MinBackoff, 30*time.Second)
	def(&c.MaxBackoff, 4*time.Hour)
	def(&c.SendTimeout, time.Minute)
	if c.Batch <= 0 {
		c.Batch = 20
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = 20
	}
	if c.Location == nil {
		c.Location = time.UTC
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
}

// errRender is a mail the catalogue cannot write (a template this version does not know, during
// a rolling deployment): retried, since another instance may know it.
var errRender = errors.New("mail: cannot render")

// recordTimeout bounds writing the outcome of a send, which happens even when Deliver's
// context has ended: a mail that went out must be recorded as sent.
const recordTimeout = 10 * time.Second

// Outbox queues mails in the database and sends them. It is safe for concurrent use, and any
// number of instances may share one table.
type Outbox struct {
	cfg    Config
	seal   *sealer
	cat    *Catalogue
	public *url.URL
}

// New checks cfg and builds the outbox.
func New(cfg Config) (*Outbox, error) {
	cfg.defaults()
	if cfg.DB == nil || cfg.Sender == nil {
		return nil, errors.New("mail: Config needs DB and Sender")
	}
	s, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	cat, err := NewCatalogue()
	if err != nil {
		return nil, err
	}
	o := &Outbox{cfg: cfg, seal: s, cat: cat}
	if cfg.PublicURL != "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, fmt.Errorf("mail: PublicURL must be an absolute http(s) URL: %w", ErrInvalid)
		}
		o.public = u
	}
	return o, nil
}

// Render validates m and writes it as its recipient will read it, without queuing it: for
// previews. Enqueue renders the same way, at send time.
func (o *Outbox) Render(m Message) (Email, error) {
	m, err := o.check(m)
	if err != nil {
		return Email{}, err
	}
	return o.render("", m)
}

func (o *Outbox) check(m Message) (Message, error) {
	m.To = strings.TrimSpace(m.To)
	m.Language = normLang(m.Language)
	if err := m.validate(o.public); err != nil {
		return m, fmt.Errorf("mail: %w", err)
	}
	return m, nil
}

func (o *Outbox) render(id string, m Message) (Email, error) {
	subject, body, err := o.cat.render(m, o.cfg.Location)
	if err != nil {
		return Email{}, fmt.Errorf("%w: %w", errRender, err)
	}
	return Email{ID: id, To: m.To, Subject: subject, Body: body, Language: m.Language}, nil
}

// Enqueue queues m in tx, the caller's transaction: the mail exists if and only if tx commits,
// and is sent by a later Deliver. m is validated (an error wrapping ErrInvalid names what is
// wrong) and rendered once, so that a mail that cannot be written fails here, in the request,
// and not later in the background.
func (o *Outbox) Enqueue(ctx context.Context, tx sqlx.ExecerContext, m Message) error {
	m, err := o.check(m)
	if err != nil {
		return err
	}
	if _, err := o.render("", m); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	id := newID()
	sealed, err := o.seal.seal(id, m)
	if err != nil {
		return err
	}
	now := o.cfg.Now()
	if _, err := tx.ExecContext(ctx, `INSERT INTO mail_outbox (id, recipient, template, language, params, created_at, next_attempt_at)
		VALUES ($1, $2, $3, $4, $5, $6, $6)`, id, m.To, string(m.Template), m.Language, sealed, now); err != nil {
		return fmt.Errorf("mail: enqueue: %w", err)
	}
	return nil
}

// row is a claimed outbox row.
type row struct {
	ID        string `db:"id"`
	Recipient string `db:"recipient"`
	Template  string `db:"template"`
	Language  string `db:"language"`
	Params    []byte `db:"params"`
	Attempts  int    `db:"attempts"`
}

// Deliver sends the mails that are due, at most Config.Batch of them, oldest due first, and
// returns how many were sent. Each is claimed in its own transaction with FOR UPDATE SKIP
// LOCKED, held while it is sent: instances calling Deliver at once never send one row twice,
// and a row whose sender crashed is due again at once. A failed send is recorded (attempts,
// error class) and retried after a backoff that doubles from MinBackoff to MaxBackoff, ±20 %;
// after MaxAttempts sends, or at once when the server refuses the recipient or the message for
// good, the mail is given up (dead). A sent or dead mail keeps no recipient nor params.
//
// The error is about the database, or ctx's: failed sends are not errors of Deliver. A send,
// once begun, ends only with its own SendTimeout, not with ctx, and its outcome is recorded;
// Deliver claims no new mail within a second of ctx's deadline, or after ctx ended.
func (o *Outbox) Deliver(ctx context.Context) (sent int, err error) {
	for range o.cfg.Batch {
		// Within a second of ctx's deadline no mail is claimed: the next run sends it. A send
		// once begun is not cut by the deadline (only by SendTimeout), so that a mail the
		// server accepted is recorded as sent, not sent again.
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < claimMargin {
			break
		}
		found, ok, err := o.deliverOne(ctx)
		if err != nil {
			return sent, err
		}
		if !found {
			break
		}
		if ok {
			sent++
		}
	}
	return sent, nil
}

// claimMargin is how close to its deadline Deliver stops claiming mails.
const claimMargin = time.Second

func (o *Outbox) deliverOne(ctx context.Context) (found, sent bool, err error) {
	// The transaction does not end with ctx: a mail that went out is recorded as sent.
	tx, err := o.cfg.DB.BeginTxx(context.WithoutCancel(ctx), nil)
	if err != nil {
		return false, false, fmt.Errorf("mail: deliver: %w", err)
	}
	defer tx.Rollback()
	var r row
	err = tx.GetContext(ctx, &r, `SELECT id, recipient, template, language, params, attempts FROM mail_outbox
		WHERE sent_at IS NULL AND dead_at IS NULL AND next_attempt_at <= $1
		ORDER BY next_attempt_at LIMIT 1 FOR UPDATE SKIP LOCKED`, o.cfg.Now())
	if errors.Is(err, sql.ErrNoRows) {
		return false, false, nil
	}
	if err != nil {
		return false, false, fmt.Errorf("mail: claim: %w", err)
	}

	m := Message{To: r.Recipient, Template: Template(r.Template), Language: r.Language}
	var e Email
	if err = o.seal.open(r.ID, &m, r.Params); err == nil {
		e, err = o.render(r.ID, m)
	}
	if err == nil {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.cfg.SendTimeout)
		err = o.cfg.Sender.Send(sctx, e)
		cancel()
	}

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	now := o.cfg.Now()
	attempt := r.Attempts + 1
	log := o.cfg.Logger.With(slog.String("outbox_id", r.ID), slog.String("template", r.Template), slog.Int("attempt", attempt))
	var class string
	var retryAt time.Time
	switch {
	case err == nil:
		_, err = tx.ExecContext(rctx, `UPDATE mail_outbox SET sent_at = $2, attempts = $3, recipient = NULL, params = NULL
			WHERE id = $1`, r.ID, now, attempt)
	case permanent(err) || attempt >= o.cfg.MaxAttempts:
		class = errorClass(err)
		_, err = tx.ExecContext(rctx, `UPDATE mail_outbox SET dead_at = $2, attempts = $3, last_error_class = $4,
			recipient = NULL, params = NULL WHERE id = $1`, r.ID, now, attempt, class)
	default:
		class = errorClass(err)
		retryAt = now.Add(o.backoff(attempt))
		_, err = tx.ExecContext(rctx, `UPDATE mail_outbox SET next_attempt_at = $2, attempts = $3, last_error_class = $4
			WHERE id = $1`, r.ID, retryAt, attempt, class)
	}
	if err == nil {
		err = tx.Commit()
	}
	if err != nil {
		// Sent but not recorded: it will be sent again (at least once, never lost).
		return true, false, fmt.Errorf("mail: record outcome of %s: %w", r.ID, err)
	}
	switch {
	case class == "":
		log.InfoContext(ctx, "mail sent")
		return true, true, nil
	case retryAt.IsZero():
		log.ErrorContext(ctx, "mail given up", slog.String("error_class", class))
	default:
		log.WarnContext(ctx, "mail not sent; will retry", slog.String("error_class", class), slog.Time("retry_at", retryAt))
	}
	return true, false, nil
}

// backoff is the wait after the attempt-th failed send: MinBackoff doubled per earlier
// failure, at most MaxBackoff, then ±20 % so that mails that failed together spread out.
func (o *Outbox) backoff(attempt int) time.Duration {
	d := o.cfg.MinBackoff
	for i := 1; i < attempt && d < o.cfg.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, o.cfg.MaxBackoff)
	return d - d/5 + mathrand.N(2*d/5+1) // #nosec G404 -- jitter of a retry delay, not a secret
}

// Pending counts the mails not yet sent nor given up: a gauge for the metrics.
func (o *Outbox) Pending(ctx context.Context) (int, error) {
	var n int
	if err := o.cfg.DB.GetContext(ctx, &n, `SELECT count(*) FROM mail_outbox WHERE sent_at IS NULL AND dead_at IS NULL`); err != nil {
		return 0, fmt.Errorf("mail: pending: %w", err)
	}
	return n, nil
}

// Purge deletes the rows of mails sent or given up more than olderThan ago and returns how
// many. Pending mails are never purged. Run it daily (the retention job).
func (o *Outbox) Purge(ctx context.Context, olderThan time.Duration) (int64, error) {
	r, err := o.cfg.DB.ExecContext(ctx, `DELETE FROM mail_outbox WHERE coalesce(sent_at, dead_at) < $1`,
		o.cfg.Now().Add(-olderThan))
	if err != nil {
		return 0, fmt.Errorf("mail: purge: %w", err)
	}
	n, _ := r.RowsAffected()
	return n, nil
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
