package mail

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Sender delivers one rendered mail. An error means it may not have been delivered; Deliver
// then tries again later, unless the error is a *SendError that is Permanent.
type Sender interface {
	Send(ctx context.Context, e Email) error
}

// Email is a rendered mail: plain text in UTF-8, to one recipient.
type Email struct {
	ID       string // the outbox id; the Message-ID is <ID@sender's domain>, so a resent mail has the same one. Random when empty.
	To       string // a bare address
	Subject  string
	Body     string
	Language string // Content-Language; none when empty
}

// NewMailer builds a Sender from a URL (SO_SMTP_URL):
//
//	smtp://user:password@host:587?from=no-reply@example.org   STARTTLS, required (except on loopback)
//	smtp://host:25?starttls=optional&from=...                  STARTTLS when the server offers it
//	smtps://user:password@host:465?from=...                    TLS from the first byte
//	file:///path/to/dir?from=...                               writes each mail as a .eml file (development)
//
// The user is optional; credentials are only sent over TLS or to a loopback server (net/smtp's
// rule). from defaults to "secondopinion@localhost". Errors wrap ErrInvalid and never repeat
// the URL (it holds a password).
func NewMailer(rawURL string) (Sender, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("mail URL does not parse: %w", ErrInvalid)
	}
	from := u.Query().Get("from")
	if from == "" {
		from = "secondopinion@localhost"
	}
	if _, err := checkAddress(from); err != nil {
		return nil, fmt.Errorf("mail URL from=: %w", err)
	}
	switch u.Scheme {
	case "smtp", "smtps":
		host := u.Hostname()
		port := u.Port()
		if host == "" {
			return nil, fmt.Errorf("mail URL needs a host: %w", ErrInvalid)
		}
		if port == "" {
			port = map[string]string{"smtp": "587", "smtps": "465"}[u.Scheme]
		}
		m := &SMTPMailer{Addr: net.JoinHostPort(host, port), From: from, ImplicitTLS: u.Scheme == "smtps"}
		switch u.Query().Get("starttls") {
		case "":
			m.RequireTLS = u.Scheme == "smtp" && !loopback(host)
		case "required":
			m.RequireTLS = u.Scheme == "smtp"
		case "optional":
		default:
			return nil, fmt.Errorf("mail URL starttls= must be required or optional: %w", ErrInvalid)
		}
		if u.User != nil {
			pw, _ := u.User.Password()
			m.Auth = smtp.PlainAuth("", u.User.Username(), pw, host)
		}
		return m, nil
	case "file":
		if u.Path == "" {
			return nil, fmt.Errorf("mail URL file:// needs a directory: %w", ErrInvalid)
		}
		return &DirMailer{Dir: u.Path, From: from}, nil
	}
	return nil, fmt.Errorf("mail URL scheme %q: want smtp, smtps or file: %w", u.Scheme, ErrInvalid)
}

// SendError is a failed SMTP exchange: the step that failed and the server's reply code.
type SendError struct {
	Stage string // dial, greeting, starttls, auth, mail, rcpt, data
	Code  int    // the SMTP reply code (e.g. 451, 550); 0 when the server sent none
	Err   error
}

func (e *SendError) Error() string { return "smtp " + e.Stage + ": " + e.Err.Error() }
func (e *SendError) Unwrap() error { return e.Err }

// Permanent reports whether sending the same mail again cannot succeed: the server refused
// the recipient or the message with a 5xx reply. A refused sender address or login is a
// configuration error that an operator can fix, and is retried.
func (e *SendError) Permanent() bool {
	return e.Code >= 500 && e.Code < 600 && (e.Stage == "rcpt" || e.Stage == "data")
}

func sendError(stage string, err error) error {
	se := &SendError{Stage: stage, Err: err}
	var te *textproto.Error
	if errors.As(err, &te) {
		se.Code = te.Code
	}
	return se
}

// SMTPMailer delivers through an SMTP submission server, one connection per mail.
type SMTPMailer struct {
	Addr        string    // host:port
	From        string    // envelope and header sender
	Auth        smtp.Auth // nil: no authentication
	ImplicitTLS bool      // smtps: TLS before the greeting
	// RequireTLS refuses to send over a connection the server does not offer to secure with
	// STARTTLS: links in mails are credentials, and a stripped STARTTLS would expose them.
	RequireTLS bool
	TLSConfig  *tls.Config
	// Now stamps the Date header; time.Now when nil.
	Now func() time.Time
}

// Send delivers e, giving up when ctx ends (or after one minute without a deadline). Failures
// are *SendError. Once the server has accepted the message, a failure to say goodbye is not
// one: the mail is delivered, and reporting an error would send it twice.
func (s *SMTPMailer) Send(ctx context.Context, e Email) error {
	data, err := compose(s.From, e, now(s.Now))
	if err != nil {
		return err
	}
	host, _, err := net.SplitHostPort(s.Addr)
	if err != nil {
		return sendError("dial", err)
	}
	tc := s.TLSConfig
	if tc == nil {
		tc = &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", s.Addr)
	if err != nil {
		return sendError("dial", err)
	}
	defer conn.Close()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(time.Minute)
	}
	conn.SetDeadline(deadline)                              // #nosec G104 -- a failure shows in the next read or write
	stop := context.AfterFunc(ctx, func() { conn.Close() }) // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
	defer stop()
	if s.ImplicitTLS {
		conn = tls.Client(conn, tc)
	}
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return sendError("greeting", err)
	}
	defer c.Close()
	if !s.ImplicitTLS {
		if ok, _ := c.Extension("STARTTLS"); ok {
			if err := c.StartTLS(tc); err != nil {
				return sendError("starttls", err)
			}
		} else if s.RequireTLS {
			return sendError("starttls", errors.New("the server does not offer STARTTLS"))
		}
	}
	if s.Auth != nil {
		if err := c.Auth(s.Auth); err != nil {
			return sendError("auth", err)
		}
	}
	if err := c.Mail(s.From); err != nil {
		return sendError("mail", err)
	}
	if err := c.Rcpt(e.To); err != nil {
		return sendError("rcpt", err)
	}
	w, err := c.Data()
	if err != nil {
		return sendError("data", err)
	}
	if _, err := w.Write(data); err != nil {
		return sendError("data", err)
	}
	if err := w.Close(); err != nil { // the server's answer to the whole message
		return sendError("data", err)
	}
	c.Quit() // #nosec G104 -- the mail was accepted at DATA; QUIT only ends the session. delivered whatever QUIT answers
	return nil
}

// DirMailer writes each mail as an RFC 5322 file <unix-nanos>-<random>.eml in Dir (mode 0600):
// the mail catcher of `make run`. The directory is created when missing.
type DirMailer struct {
	Dir  string
	From string           // a bare address, as for SMTPMailer
	Now  func() time.Time // time.Now when nil
}

// Send writes e to a new file.
func (d *DirMailer) Send(_ context.Context, e Email) error {
	t := now(d.Now)
	data, err := compose(d.From, e, t)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(d.Dir, 0o700); err != nil {
		return fmt.Errorf("mail directory: %w", err)
	}
	name := filepath.Join(d.Dir, fmt.Sprintf("%d-%s.eml", t.UnixNano(), strings.ToLower(rand.Text()[:8])))
	if err := os.WriteFile(name, data, 0o600); err != nil {
		return fmt.Errorf("write mail: %w", err)
	}
	return nil
}

// MemoryMailer keeps mails in memory, for tests of this and other packages.
type MemoryMailer struct {
	mu   sync.Mutex
	msgs []Email
}

// Send records e after the same checks as the real mailers.
func (mm *MemoryMailer) Send(_ context.Context, e Email) error {
	if _, err := compose("secondopinion@localhost", e, time.Unix(0, 0)); err != nil {
		return err
	}
	mm.mu.Lock()
	defer mm.mu.Unlock()
	mm.msgs = append(mm.msgs, e)
	return nil
}

// Messages returns every mail sent so far, oldest first.
func (mm *MemoryMailer) Messages() []Email {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	return append([]Email(nil), mm.msgs...)
}

// Last returns the newest mail sent to address, and whether there is one.
func (mm *MemoryMailer) Last(address string) (Email, bool) {
	mm.mu.Lock()
	defer mm.mu.Unlock()
	for i := len(mm.msgs) - 1; i >= 0; i-- {
		if strings.EqualFold(mm.msgs[i].To, address) {
			return mm.msgs[i], true
		}
	}
	return Email{}, false
}

func now(f func() time.Time) time.Time {
	if f != nil {
		return f()
	}
	return time.Now()
}

// compose renders e as a MIME message: UTF-8 plain text, quoted-printable, encoded subject.
// Addresses are validated and no header value may carry a line break (header injection).
func compose(from string, e Email, t time.Time) ([]byte, error) {
	if _, err := checkAddress(from); err != nil {
		// A configuration error, not the mail's: not ErrInvalid, so that it is retried.
		return nil, errors.New("mail sender is not a bare address")
	}
	to, err := checkAddress(e.To)
	if err != nil {
		return nil, fmt.Errorf("mail recipient: %w", err)
	}
	for _, h := range []string{e.Subject, e.ID, e.Language} {
		if strings.ContainsAny(h, "\r\n") {
			return nil, fmt.Errorf("mail header contains a line break: %w", ErrInvalid)
		}
	}
	if strings.ContainsAny(e.ID+e.Language, " <>@") {
		return nil, fmt.Errorf("mail id or language: %w", ErrInvalid)
	}
	id := e.ID
	if id == "" {
		id = strings.ToLower(rand.Text())
	}
	_, domain, _ := strings.Cut(from, "@")
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\r\n", from)
	fmt.Fprintf(&b, "To: %s\r\n", to)
	fmt.Fprintf(&b, "Subject: %s\r\n", mime.QEncoding.Encode("utf-8", e.Subject))
	fmt.Fprintf(&b, "Date: %s\r\n", t.UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Message-ID: <%s@%s>\r\n", id, domain)
	b.WriteString("Auto-Submitted: auto-generated\r\n") // RFC 3834: no vacation replies
	if e.Language != "" {
		fmt.Fprintf(&b, "Content-Language: %s\r\n", e.Language)
	}
	b.WriteString("MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
	q := quotedprintable.NewWriter(&b)
	q.Write([]byte(e.Body)) // #nosec G104 -- writes to a bytes.Buffer, which cannot fail. text mode: every line break becomes CRLF
	q.Close()               // #nosec G104 -- writes to a bytes.Buffer, which cannot fail
	return b.Bytes(), nil
}

// errorClass names what went wrong in a few lowercase words for the outbox row and the logs:
// the SMTP step and reply code, never the server's text (which may quote the address).
func errorClass(err error) string {
	var se *SendError
	switch {
	case errors.As(err, &se):
		c := "smtp_" + se.Stage
		if se.Code != 0 {
			return c + "_" + strconv.Itoa(se.Code)
		}
		if isTimeout(se.Err) {
			return c + "_timeout"
		}
		return c
	case errors.Is(err, errUnsealable):
		return "unsealable"
	case errors.Is(err, errRender):
		return "render"
	case errors.Is(err, ErrInvalid):
		return "invalid"
	case isTimeout(err):
		return "timeout"
	}
	return "send"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

// permanent reports whether err rules out any retry.
func permanent(err error) bool {
	var se *SendError
	return (errors.As(err, &se) && se.Permanent()) || errors.Is(err, ErrInvalid)
}

// loopback reports whether host names this machine: mail to a local relay needs no TLS.
func loopback(host string) bool {
	if strings.EqualFold(strings.TrimSuffix(host, "."), "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
