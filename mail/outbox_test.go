package mail_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/mail"
)

// outboxRow is a raw row, read as the owner.
type outboxRow struct {
	Recipient  sql.NullString `db:"recipient"`
	Params     []byte         `db:"params"`
	Attempts   int            `db:"attempts"`
	Next       time.Time      `db:"next_attempt_at"`
	SentAt     sql.NullTime   `db:"sent_at"`
	DeadAt     sql.NullTime   `db:"dead_at"`
	ErrorClass sql.NullString `db:"last_error_class"`
}

func rows(t *testing.T, db *testenv.DB) []outboxRow {
	t.Helper()
	var rs []outboxRow
	if err := db.Owner.Select(&rs, `SELECT recipient, params, attempts, next_attempt_at, sent_at, dead_at, last_error_class
		FROM mail_outbox ORDER BY created_at, id`); err != nil {
		t.Fatal(err)
	}
	return rs
}

func onlyRow(t *testing.T, db *testenv.DB) outboxRow {
	t.Helper()
	rs := rows(t, db)
	if len(rs) != 1 {
		t.Fatalf("%d outbox rows, want 1", len(rs))
	}
	return rs[0]
}

func deliver(t *testing.T, o *mail.Outbox, want int) {
	t.Helper()
	n, err := o.Deliver(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n != want {
		t.Fatalf("Deliver sent %d, want %d", n, want)
	}
}

// A mail exists if and only if the transaction that queued it commits, and is sent once.
func TestEnqueueFollowsTheTransaction(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	mm := &mail.MemoryMailer{}
	o := newOutbox(t, db.Runtime, mm, c)
	ctx := context.Background()

	tx, err := db.Runtime.BeginTxx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := o.Enqueue(ctx, tx, signIn("rolled-back@example.org", c)); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	enqueue(t, db.Runtime, o, signIn("committed@example.org", c))
	if n, err := o.Pending(ctx); err != nil || n != 1 {
		t.Fatalf("Pending = %d, %v; want 1", n, err)
	}

	deliver(t, o, 1)
	deliver(t, o, 0)
	c.Advance(72 * time.Hour)
	deliver(t, o, 0)
	got := mm.Messages()
	if len(got) != 1 || got[0].To != "committed@example.org" {
		t.Fatalf("sent %+v", got)
	}
	if n, _ := o.Pending(ctx); n != 0 {
		t.Errorf("Pending = %d after delivery", n)
	}
	if !strings.Contains(got[0].Body, "https://so.test/app/signin/link?token=sl_SECRETTOKEN") ||
		!strings.Contains(got[0].Body, "7 dicembre 2026, ore 14:19 UTC") || got[0].Language != "it" || got[0].ID == "" {
		t.Errorf("sent mail %+v", got[0])
	}
}

// The link (and its token) is sealed at rest, bound to its row and recipient, and wiped with the
// recipient once sent.
func TestParamsSealedAtRest(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	mm := &mail.MemoryMailer{}
	o := newOutbox(t, db.Runtime, mm, c)
	enqueue(t, db.Runtime, o, signIn("ann@example.org", c))

	r := onlyRow(t, db)
	for _, leak := range []string{"SECRETTOKEN", "so.test", "signin", "https"} {
		if bytes.Contains(r.Params, []byte(leak)) {
			t.Errorf("sealed params contain %q: %q", leak, r.Params)
		}
	}
	if r.Recipient.String != "ann@example.org" || len(r.Params) < 40 {
		t.Errorf("row %+v", r)
	}

	deliver(t, o, 1)
	r = onlyRow(t, db)
	if r.Recipient.Valid || r.Params != nil || !r.SentAt.Valid || r.Attempts != 1 {
		t.Errorf("sent row keeps %+v", r)
	}
}

// Params that do not open (another key, a recipient changed behind the service's back) are never
// sent: they are retried (the key may come back) under the class "unsealable".
func TestUnsealableParams(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	mm := &mail.MemoryMailer{}
	enqueue(t, db.Runtime, newOutbox(t, db.Runtime, mm, c), signIn("ann@example.org", c))
	if _, err := db.Owner.Exec(`UPDATE mail_outbox SET recipient = 'eve@example.org'`); err != nil {
		t.Fatal(err)
	}
	deliver(t, newOutbox(t, db.Runtime, mm, c), 0)
	if r := onlyRow(t, db); r.ErrorClass.String != "unsealable" || r.Attempts != 1 || r.DeadAt.Valid {
		t.Errorf("row %+v", r)
	}

	other := bytes.Repeat([]byte{8}, mail.KeySize)
	db2 := testenv.NewDB(t)
	enqueue(t, db2.Runtime, newOutbox(t, db2.Runtime, mm, c), signIn("ann@example.org", c))
	deliver(t, newOutbox(t, db2.Runtime, mm, c, func(cfg *mail.Config) { cfg.Key = other }), 0)
	if r := onlyRow(t, db2); r.ErrorClass.String != "unsealable" {
		t.Errorf("row under another key %+v", r)
	}
	if n := len(mm.Messages()); n != 0 {
		t.Errorf("%d mails sent", n)
	}
}

// Free text cannot reach a mail: every Params field has a form, and a field the template does
// not show must be empty. Nothing is stored for a rejected message.
func TestEnqueueRejectsWhatIsNotAParam(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	o := newOutbox(t, db.Runtime, &mail.MemoryMailer{}, c)
	exp := c.Now().Add(time.Hour)
	ok := mail.Params{Link: "https://so.test/app/cases/1"}
	for name, m := range map[string]mail.Message{
		"no link":              {Template: mail.TemplateSubmitted},
		"text for a link":      {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "Maria Rossi, stage III"}},
		"text in a link":       {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://so.test/app/Maria Rossi"}},
		"non-ASCII in a link":  {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://so.test/app/carcinoma-è"}},
		"relative link":        {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "/app/cases/1"}},
		"javascript link":      {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "javascript:alert(1)"}},
		"ftp link":             {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "ftp://so.test/app/x"}},
		"link with user":       {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://maria@so.test/app/x"}},
		"link elsewhere":       {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://evil.example/app/x"}},
		"link outside the app": {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://so.test/other"}},
		"link over http":       {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "http://so.test/app/x"}},
		"non-canonical link":   {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "HTTPS://so.test/app/x"}},
		"long link":            {Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://so.test/app/" + strings.Repeat("a", 2048)}},
		"amount as text":       {Template: mail.TemplateAccepted, Params: mail.Params{Link: ok.Link, Amount: "five hundred", Currency: "EUR"}},
		"amount without cents": {Template: mail.TemplateAccepted, Params: mail.Params{Link: ok.Link, Amount: "500", Currency: "EUR"}},
		"negative amount":      {Template: mail.TemplateAccepted, Params: mail.Params{Link: ok.Link, Amount: "-5.00", Currency: "EUR"}},
		"leading zero":         {Template: mail.TemplateAccepted, Params: mail.Params{Link: ok.Link, Amount: "0500.00", Currency: "EUR"}},
		"currency as text":     {Template: mail.TemplateAccepted, Params: mail.Params{Link: ok.Link, Amount: "500.00", Currency: "euro"}},
		"no amount":            {Template: mail.TemplateExtraProposed, Params: ok},
		"amount not shown":     {Template: mail.TemplateSubmitted, Params: mail.Params{Link: ok.Link, Amount: "500.00", Currency: "EUR"}},
		"expiry not shown":     {Template: mail.TemplateReportReleased, Params: mail.Params{Link: ok.Link, ExpiresAt: exp}},
		"no expiry":            {Template: mail.TemplateInvitation, Params: ok},
		"unknown template":     {Template: "clinical_note", Params: ok},
		"display name":         {To: "Maria Rossi <maria@example.org>", Template: mail.TemplateSubmitted, Params: ok},
		"header injection":     {To: "a@example.org\r\nBcc: b@example.org", Template: mail.TemplateSubmitted, Params: ok},
	} {
		if m.To == "" {
			m.To = "ann@example.org"
		}
		tx, err := db.Runtime.Beginx()
		if err != nil {
			t.Fatal(err)
		}
		if err := o.Enqueue(context.Background(), tx, m); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%s: Enqueue = %v, want ErrInvalid", name, err)
		}
		if _, err := o.Render(m); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("%s: Render = %v, want ErrInvalid", name, err)
		}
		tx.Commit()
	}
	if rs := rows(t, db); len(rs) != 0 {
		t.Errorf("%d rows stored for rejected messages", len(rs))
	}
}

// SMTP down: the failure is recorded and retried later; once the server is back, the mail
// arrives exactly once.
func TestSMTPOutage(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	addr := freeAddr(t)
	var logs logBuffer
	o := newOutbox(t, db.Runtime, &mail.SMTPMailer{Addr: addr, From: "so@example.org"}, c, func(cfg *mail.Config) {
		cfg.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	enqueue(t, db.Runtime, o, signIn("ann@example.org", c))

	deliver(t, o, 0)
	r := onlyRow(t, db)
	if r.Attempts != 1 || r.ErrorClass.String != "smtp_dial" || !r.Next.After(c.Now()) || r.SentAt.Valid || r.DeadAt.Valid {
		t.Fatalf("after a failed attempt: %+v", r)
	}
	if wait := r.Next.Sub(c.Now()); wait < 24*time.Second || wait > 36*time.Second {
		t.Errorf("first retry in %v, want 30 s ± 20 %%", wait)
	}
	deliver(t, o, 0) // not due yet
	if r := onlyRow(t, db); r.Attempts != 1 {
		t.Errorf("retried before it was due: %+v", r)
	}

	c.Advance(37 * time.Second)
	deliver(t, o, 0)
	r = onlyRow(t, db)
	if wait := r.Next.Sub(c.Now()); r.Attempts != 2 || wait < 48*time.Second || wait > 72*time.Second {
		t.Errorf("second failure: %+v, next in %v, want 60 s ± 20 %%", r, wait)
	}

	l := listenOn(t, addr)
	srv := &catcher{}
	serve(t, srv, l, nil, false)
	c.Advance(73 * time.Second)
	deliver(t, o, 1)
	c.Advance(48 * time.Hour)
	deliver(t, o, 0)
	if got := srv.count(); len(got) != 1 || got["ann@example.org"] != 1 {
		t.Errorf("received %v, want one mail", got)
	}
	r = onlyRow(t, db)
	if r.Attempts != 3 || !r.SentAt.Valid || r.Recipient.Valid {
		t.Errorf("sent row %+v", r)
	}
	for _, leak := range []string{"ann@", "example.org", "https://", "SECRETTOKEN"} {
		if strings.Contains(logs.String(), leak) {
			t.Errorf("logs contain %q:\n%s", leak, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"error_class":"smtp_dial"`) || !strings.Contains(logs.String(), "mail sent") {
		t.Errorf("logs:\n%s", logs.String())
	}
}

// listenOn listens on addr again (a port freeAddr gave back).
func listenOn(t *testing.T, addr string) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on %s again: %v", addr, err)
	}
	return l
}

// A refusal of the recipient: 4xx is retried, 5xx gives the mail up at once, wiping it.
func TestRecipientRefused(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	srv := &catcher{rcpt: func(to string) error {
		if strings.HasPrefix(to, "full@") {
			return &smtp.SMTPError{Code: 452, EnhancedCode: smtp.EnhancedCode{4, 2, 2}, Message: "mailbox full: full@example.org"}
		}
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user: " + to}
	}}
	o := newOutbox(t, db.Runtime, &mail.SMTPMailer{Addr: startSMTP(t, srv, nil, false), From: "so@example.org"}, c)
	enqueue(t, db.Runtime, o, signIn("full@example.org", c))
	c.Advance(time.Second)
	enqueue(t, db.Runtime, o, signIn("nobody@example.org", c))
	deliver(t, o, 0)
	rs := rows(t, db)
	if r := rs[0]; r.ErrorClass.String != "smtp_rcpt_452" || r.DeadAt.Valid || !r.Recipient.Valid {
		t.Errorf("temporary refusal: %+v", r)
	}
	if r := rs[1]; r.ErrorClass.String != "smtp_rcpt_550" || !r.DeadAt.Valid || r.Recipient.Valid || r.Params != nil || r.Attempts != 1 {
		t.Errorf("permanent refusal: %+v", r)
	}
	if n, _ := o.Pending(context.Background()); n != 1 {
		t.Errorf("Pending = %d, want 1", n)
	}
}

// After MaxAttempts failed sends the mail is given up; the whole schedule takes about two days
// with the defaults.
func TestGivenUpAfterMaxAttempts(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	var logs logBuffer
	o := newOutbox(t, db.Runtime, failing{}, c, func(cfg *mail.Config) {
		cfg.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	})
	enqueue(t, db.Runtime, o, signIn("ann@example.org", c))
	start := c.Now()
	for i := 1; i <= 20; i++ {
		deliver(t, o, 0)
		r := onlyRow(t, db)
		if r.Attempts != i || r.DeadAt.Valid != (i == 20) {
			t.Fatalf("after attempt %d: %+v", i, r)
		}
		if i < 20 {
			c.Advance(r.Next.Sub(c.Now()))
		}
	}
	if took := c.Now().Sub(start); took < 36*time.Hour || took > 54*time.Hour {
		t.Errorf("20 attempts took %v, want about two days", took)
	}
	r := onlyRow(t, db)
	if r.ErrorClass.String != "send" || r.Recipient.Valid || r.Params != nil {
		t.Errorf("dead row %+v", r)
	}
	if !strings.Contains(logs.String(), "mail given up") || strings.Contains(logs.String(), "ann@") {
		t.Errorf("logs:\n%s", logs.String())
	}
	c.Advance(30 * 24 * time.Hour)
	deliver(t, o, 0)
}

type failing struct{}

func (failing) Send(context.Context, mail.Email) error {
	return errors.New("451 try again later, ann@example.org")
}

// Two instances delivering at once, each with its own connections, never send a row twice.
func TestConcurrentDeliverySendsEachMailOnce(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	srv := &catcher{data: 2 * time.Millisecond}
	addr := startSMTP(t, srv, nil, false)
	second, err := sqlx.Open("postgres", db.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	const mails = 40
	instances := []*mail.Outbox{
		newOutbox(t, db.Runtime, &mail.SMTPMailer{Addr: addr, From: "so@example.org"}, c, func(cfg *mail.Config) { cfg.Batch = 3 }),
		newOutbox(t, second, &mail.SMTPMailer{Addr: addr, From: "so@example.org"}, c, func(cfg *mail.Config) { cfg.Batch = 3 }),
	}
	for i := range mails {
		enqueue(t, db.Runtime, instances[0], signIn(fmt.Sprintf("user%d@example.org", i), c))
	}
	var wg sync.WaitGroup
	sent := make([]int, len(instances))
	for i, o := range instances {
		wg.Go(func() {
			for range 100 {
				n, err := o.Deliver(context.Background())
				if err != nil {
					t.Error(err)
					return
				}
				sent[i] += n
				if p, _ := o.Pending(context.Background()); p == 0 {
					return
				}
			}
		})
	}
	wg.Wait()
	got := srv.count()
	for i := range mails {
		if n := got[fmt.Sprintf("user%d@example.org", i)]; n != 1 {
			t.Errorf("user%d received %d mails", i, n)
		}
	}
	if sent[0]+sent[1] != mails || len(srv.received()) != mails {
		t.Errorf("instances sent %v, server received %d, want %d in all", sent, len(srv.received()), mails)
	}
	if sent[0] == 0 || sent[1] == 0 {
		t.Logf("one instance sent everything: %v", sent) // allowed, but then the test proved little
	}
}

// Pending counts what is left to send; Purge deletes finished rows past the retention only.
func TestPendingAndPurge(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	o := newOutbox(t, db.Runtime, &mail.MemoryMailer{}, c, func(cfg *mail.Config) { cfg.Batch = 2 })
	for i := range 3 {
		enqueue(t, db.Runtime, o, signIn(fmt.Sprintf("u%d@example.org", i), c))
	}
	deliver(t, o, 2)
	ctx := context.Background()
	if n, err := o.Pending(ctx); err != nil || n != 1 {
		t.Fatalf("Pending = %d, %v; want 1", n, err)
	}
	c.Advance(29 * 24 * time.Hour)
	if n, err := o.Purge(ctx, 30*24*time.Hour); err != nil || n != 0 {
		t.Errorf("Purge before the retention = %d, %v", n, err)
	}
	c.Advance(48 * time.Hour)
	if n, err := o.Purge(ctx, 30*24*time.Hour); err != nil || n != 2 {
		t.Errorf("Purge = %d, %v; want 2", n, err)
	}
	if n, _ := o.Pending(ctx); n != 1 || len(rows(t, db)) != 1 {
		t.Errorf("the pending mail was purged")
	}
}

// The runtime role may queue, record and purge, but not rewrite a mail nor reopen a sent one.
func TestRuntimeGrants(t *testing.T) {
	db := testenv.NewDB(t)
	c := newClock()
	o := newOutbox(t, db.Runtime, &mail.MemoryMailer{}, c)
	enqueue(t, db.Runtime, o, signIn("ann@example.org", c))
	for _, q := range []string{
		`UPDATE mail_outbox SET template = 'submitted'`,
		`UPDATE mail_outbox SET language = 'en'`,
		`INSERT INTO mail_outbox (id, recipient, template, language, params, created_at, next_attempt_at, sent_at)
			VALUES (gen_random_uuid(), 'a@example.org', 'submitted', 'en', '\x00', now(), now(), now())`,
		`TRUNCATE mail_outbox`,
	} {
		if _, err := db.Runtime.Exec(q); err == nil || !strings.Contains(err.Error(), "permission denied") {
			t.Errorf("runtime: %s: %v, want permission denied", q, err)
		}
	}
	deliver(t, o, 1)
	for _, q := range []string{
		`UPDATE mail_outbox SET sent_at = NULL, recipient = 'ann@example.org', params = '\x01'`,
		`UPDATE mail_outbox SET next_attempt_at = next_attempt_at`,
	} {
		if _, err := db.Runtime.Exec(q); err == nil {
			t.Errorf("runtime reopened a sent mail: %s", q)
		}
	}
	if _, err := db.Runtime.Exec(`UPDATE mail_outbox SET dead_at = now()`); err == nil {
		t.Error("a sent mail became dead")
	}
}
