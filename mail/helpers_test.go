package mail_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"math/big"
	"mime/quotedprintable"
	"net"
	netmail "net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/mail"
)

// clock is the injectable clock of the tests: it moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *clock { return &clock{t: time.Date(2026, 12, 7, 14, 4, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

var testKey = bytes.Repeat([]byte{7}, mail.KeySize)

const publicURL = "https://so.test/app/"

// newOutbox builds an outbox over db with the test key and clock; tweak may change the rest.
func newOutbox(t *testing.T, db *sqlx.DB, s mail.Sender, c *clock, tweak ...func(*mail.Config)) *mail.Outbox {
	t.Helper()
	cfg := mail.Config{DB: db, Sender: s, Key: testKey, PublicURL: publicURL, Now: c.Now}
	for _, f := range tweak {
		f(&cfg)
	}
	o, err := mail.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// signIn is a sign-in link mail to address.
func signIn(address string, c *clock) mail.Message {
	return mail.Message{To: address, Template: mail.TemplateSignInLink, Language: "it",
		Params: mail.Params{Link: "https://so.test/app/signin/link?token=sl_SECRETTOKEN", ExpiresAt: c.Now().Add(15 * time.Minute)}}
}

// enqueue queues m in a transaction of its own on db.
func enqueue(t *testing.T, db *sqlx.DB, o *mail.Outbox, m mail.Message) {
	t.Helper()
	tx, err := db.BeginTxx(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	if err := o.Enqueue(context.Background(), tx, m); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
}

// catcher is an SMTP server (github.com/emersion/go-smtp) in the test process, on a loopback
// port, that records every message it accepts.
type catcher struct {
	mu   sync.Mutex
	got  []received
	rcpt func(to string) error // when set, its error refuses the recipient
	data time.Duration         // how long accepting a message takes
	user string                // when set, AUTH PLAIN with user and pass is required
	pass string
}

type received struct {
	From, To string
	TLS      bool // TLS was on when MAIL FROM came
	Header   netmail.Header
	Body     string // decoded
}

func (c *catcher) NewSession(conn *smtp.Conn) (smtp.Session, error) {
	return &session{c: c, conn: conn}, nil
}

func (c *catcher) received() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got...)
}

// count returns how many messages each recipient got.
func (c *catcher) count() map[string]int {
	n := map[string]int{}
	for _, r := range c.received() {
		n[r.To]++
	}
	return n
}

type session struct {
	c      *catcher
	conn   *smtp.Conn
	authed bool
	cur    received
}

func (s *session) AuthMechanisms() []string { return []string{sasl.Plain} }

func (s *session) Auth(string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(_, user, pass string) error {
		if user != s.c.user || pass != s.c.pass {
			return &smtp.SMTPError{Code: 535, EnhancedCode: smtp.EnhancedCode{5, 7, 8}, Message: "bad credentials"}
		}
		s.authed = true
		return nil
	}), nil
}

func (s *session) Mail(from string, _ *smtp.MailOptions) error {
	if s.c.user != "" && !s.authed {
		return &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "authentication required"}
	}
	_, tlsOn := s.conn.TLSConnectionState()
	s.cur = received{From: from, TLS: tlsOn}
	return nil
}

func (s *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if s.c.rcpt != nil {
		if err := s.c.rcpt(to); err != nil {
			return err
		}
	}
	s.cur.To = to
	return nil
}

func (s *session) Data(r io.Reader) error {
	msg, err := netmail.ReadMessage(r)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
	if err != nil {
		return err
	}
	time.Sleep(s.c.data)
	s.cur.Header, s.cur.Body = msg.Header, string(body)
	s.c.mu.Lock()
	s.c.got = append(s.c.got, s.cur)
	s.c.mu.Unlock()
	return nil
}

func (s *session) Reset()        { s.cur = received{} }
func (s *session) Logout() error { return nil }

// serve runs an SMTP server for c on l until the test ends. With tlsConf it offers STARTTLS;
// with implicit it speaks TLS from the first byte.
func serve(t *testing.T, c *catcher, l net.Listener, tlsConf *tls.Config, implicit bool) {
	t.Helper()
	srv := smtp.NewServer(c)
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true // the loopback tests without TLS
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.TLSConfig = tlsConf
	if implicit {
		l = tls.NewListener(l, tlsConf)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(l); err != nil && !errors.Is(err, smtp.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
			t.Errorf("smtp server: %v", err)
		}
	}()
	t.Cleanup(func() {
		srv.Close()
		<-done
	})
}

// startSMTP serves c on a fresh loopback port and returns its address.
func startSMTP(t *testing.T, c *catcher, tlsConf *tls.Config, implicit bool) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serve(t, c, l, tlsConf, implicit)
	return l.Addr().String()
}

// freeAddr returns a loopback address where nothing listens (yet).
func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// selfSigned returns a server TLS configuration for 127.0.0.1 and a pool trusting it.
func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "127.0.0.1"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, pool
}

// logBuffer is a slog handler's output, safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// noPlaceholder fails when s still holds template syntax or a formatting error.
func noPlaceholder(t *testing.T, what, s string) {
	t.Helper()
	for _, bad := range []string{"{{", "}}", "<no value>", "%!", "mail."} {
		if strings.Contains(s, bad) {
			t.Errorf("%s contains %q:\n%s", what, bad, s)
		}
	}
}
