package access

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"net/smtp"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// Mailer sends one message. Messages of this package carry a link and an expiry, never
// health data: no patient names, no case details.
type Mailer interface {
	Send(ctx context.Context, m Message) error
}

// Message is a plain-text mail to one recipient.
type Message struct {
	To      string
	Subject string
	Body    string
}

// NewMailer builds a Mailer from a URL (SO_SMTP_URL):
//
//	smtp://user:password@host:587?from=no-reply@example.org   STARTTLS whenever the server offers it
//	smtps://user:password@host:465?from=...                    TLS from the first byte
//	file:///path/to/dir?from=...                               writes each mail as a .eml file (development)
//
// The user is optional; credentials are only sent over TLS or to a loopback server (net/smtp's
// rule). from defaults to "secondopinion@localhost".
func NewMailer(rawURL string) (Mailer, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail URL: %w", so.ErrInvalid)
	}
	from := u.Query().Get("from")
	if from == "" {
		from = "secondopinion@localhost"
	}
	if _, err := checkEmail(from); err != nil {
		return nil, fmt.Errorf("mail URL from=: %w", err)
	}
	switch u.Scheme {
	case "smtp", "smtps":
		host := u.Hostname()
		port := u.Port()
		if host == "" {
			return nil, fmt.Errorf("mail URL needs a host: %w", so.ErrInvalid)
		}
		if port == "" {
			port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
		}
		m := &SMTPMailer{Addr: net.JoinHostPort(host, port), From: from, ImplicitTLS: u.Scheme == "smtps"}
		if u.User != nil {
			pw, _ := u.User.Password()
			m.Auth = smtp.PlainAuth("", u.User.Username(), pw, host)
		}
		return m, nil
	case "file":
		if u.Path == "" {
			return nil, fmt.Errorf("mail URL file:// needs a directory: %w", so.ErrInvalid)
		}
		return &DirMailer{Dir: u.Path, From: from}, nil
	}
	return nil, fmt.Errorf("mail URL scheme %q: want smtp, smtps or file: %w", u.Scheme, so.ErrInvalid)
}

// SMTPMailer delivers through an SMTP submission server.
type SMTPMailer struct {
	Addr        string    // host:port
	From        string    // envelope and header sender
	Auth        smtp.Auth // nil: no authentication
	ImplicitTLS bool      // smtps: TLS before the greeting
	TLSConfig   *tls.Config
	// Now stamps the Date header; time.Now when nil.
	Now func() time.Time
}

// Send delivers m, giving up when ctx ends (or after one minute without a deadline).
func (s *SMTPMailer) Send(ctx context.Context, m Message) error {
	data, err := compose(s.From, m, s.now())
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return fmt.Errorf("smtp address %q: %w", s.Addr, err)
	}
	tc := s.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return fmt.Errorf("smtp dial: %w", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	if s.ImplicitTLS {
		conn = tls.Client(conn, tc)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return fmt.Errorf("smtp greeting: %w", err)
	}
	defer c.Close()
	if !s.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tc); err != nil {
				return fmt.Errorf("smtp starttls: %w", err)
			}
		}
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return fmt.Errorf("smtp auth: %w", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return fmt.Errorf("smtp MAIL FROM: %w", err)
	}
	if err := c.Rcpt(m.To); err != nil {
		return fmt.Errorf("smtp RCPT TO: %w", err)
	}
	w, err := c.Data()
	if err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if _, err := w.Write(data); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := w.Close(); err != nil {
		return fmt.Errorf("smtp DATA: %w", err)
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("smtp QUIT: %w", err)
	}
	return nil
}

func (s *SMTPMailer) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// DirMailer writes each message as an RFC 5322 file <unix-nanos>-<random>.eml in Dir (mode 0600):
// the mail catcher of `make run`. The directory is created when missing.
type DirMailer struct {
	Dir  string
	From string           // a bare address, as for SMTPMailer
	Now  func() time.Time // time.Now when nil
}

// Send writes m to a new file.
func (d *DirMailer) Send(_ context.Context, m Message) error {
	now := time.Now()
	if d.Now != nil {
		now = d.Now()
	}
	data, err := compose(d.From, m, now)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("mail directory: %w", err)
	}
	name := filepath.Join(d.Dir, fmt.Sprintf("%d-%x.eml", now.UnixNano(), newSecret()[:4]))
	if err := os.WriteFile(name, data, 0o600); err != nil {
		return fmt.Errorf("write mail: %w", err)
	}
	return nil
}

// MemoryMailer keeps messages in memory, for tests of this and other packages.
type MemoryMailer struct {
	mu   sync.Mutex
	msgs []Message
}

// Send records m after the same checks as the real mailers.
func (mm *MemoryMailer) Send(_ context.Context, m Message) error {
	if _, err := compose("secondopinion@localhost", m, time.Unix(0, 0)); err != nil {
		return err
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.msgs = append(mm.msgs, m)
	return nil
}

// Messages returns every message sent so far, oldest first.
func (mm *MemoryMailer) Messages() []Message {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return append([]Message(nil), mm.msgs...)
}

// Last returns the newest message sent to address, and whether there is one.
func (mm *MemoryMailer) Last(address string) (Message, bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for i := len(mm.msgs) - 1; i >= 0; i-- {
		if strings.EqualFold(mm.msgs[i].To, address) {
			return mm.msgs[i], true
		}
	}
	return Message{}, false
}

var errHeader = errors.New("mail header contains a line break")

// compose renders m as a MIME message: UTF-8 plain text, quoted-printable, encoded subject.
// Addresses are validated and no header value may carry a line break (header injection).
func compose(from string, m Message, now time.Time) ([]byte, error) {
	if _, err := checkEmail(from); err != nil {
		return nil, fmt.Errorf("mail sender: %w", err)
	}
	to, err := checkEmail(m.To)
	if err != nil {
		return nil, fmt.Errorf("mail recipient: %w", err)
	}
	if strings.ContainsAny(m.Subject, "\r\n") {
		return nil, errHeader
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", m.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", now.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%x@secondopinion>\r\n", newSecret()[:16])
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	q := quotedprintable.NewWriter(&b)
	q.Write([]byte(m.Body)) // text mode: every line break becomes CRLF
	q.Close()
	return b.Bytes(), nil
}

// checkEmail accepts a bare address (no display name) of at most 254 bytes and returns it
// without surrounding space.
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 254 {
		return "", fmt.Errorf("email address: %w", so.ErrInvalid)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("email address: %w", so.ErrInvalid)
	}
	return s, nil
}
