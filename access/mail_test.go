package access

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"math/big"
	"mime/quotedprintable"
	"net"
	"net/smtp"
	"net/textproto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
)

func TestComposeRejectsInjection(t *testing.T) {
	for _, m := range []Message{
		{To: "a@example.org\r\nBcc: b@example.org", Subject: "s", Body: "b"},
		{To: "Eve <a@example.org>", Subject: "s", Body: "b"},
		{To: "a@example.org", Subject: "s\r\nBcc: b@example.org", Body: "b"},
		{To: "a@example.org", Subject: "s\nX: y", Body: "b"},
		{To: "", Subject: "s", Body: "b"},
	} {
		if _, err := compose("from@example.org", m, time.Unix(0, 0)); err == nil {
			t.Errorf("compose accepted %q / %q", m.To, m.Subject)
		}
	}
	b, err := compose("from@example.org", Message{To: "a@example.org", Subject: "Grüße", Body: "line 1\nline 2 " + strings.Repeat("x", 100)}, time.Unix(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := strings.Cut(string(b), "\r\n\r\n")
	if !ok || !strings.Contains(head, "Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=") || !strings.Contains(head, "To: a@example.org\r\n") {
		t.Errorf("headers:\n%s", head)
	}
	for _, line := range strings.Split(body, "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d characters", len(line))
		}
	}
}

func TestNewMailer(t *testing.T) {
	m, err := NewMailer("smtp://user:pw@mail.example.org?from=so@example.org")
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*SMTPMailer)
	if s.Addr != "mail.example.org:587" || s.From != "so@example.org" || s.Auth == nil || s.ImplicitTLS {
		t.Errorf("smtp URL: %+v", s)
	}
	m, err = NewMailer("smtps://mail.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s := m.(*SMTPMailer); s.Addr != "mail.example.org:465" || !s.ImplicitTLS || s.Auth != nil {
		t.Errorf("smtps URL: %+v", s)
	}
	if d, err := NewMailer("file:///tmp/so-mail"); err != nil || d.(*DirMailer).Dir != "/tmp/so-mail" {
		t.Errorf("file URL: %v %v", d, err)
	}
	for _, bad := range []string{"http://x", "smtp://", "file://", "smtp://h?from=Eve%20%3Ce@x%3E", "::"} {
		if _, err := NewMailer(bad); !errors.Is(err, so.ErrInvalid) {
			t.Errorf("NewMailer(%q) = %v, want so.ErrInvalid", bad, err)
		}
	}
}

func TestDirMailer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d := &DirMailer{Dir: dir, From: "so@example.org"}
	if err := d.Send(context.Background(), Message{To: "a@example.org", Subject: "Hi", Body: "https://so.test/x?token=abc"}); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d files", len(files))
	}
	st, _ := os.Stat(files[0])
	if st.Mode().Perm() != 0o600 {
		t.Errorf("mode %v", st.Mode())
	}
	b, _ := os.ReadFile(files[0])
	if !strings.Contains(string(b), "https://so.test/x?token=3Dabc") {
		t.Errorf("mail file:\n%s", b)
	}
}

// smtpServer is a minimal SMTP server for one session: it may offer STARTTLS and AUTH PLAIN and
// records what it receives.
type smtpServer struct {
	addr     string
	tls      *tls.Config // offer STARTTLS when set
	got      chan smtpSession
	listener net.Listener
}

type smtpSession struct {
	from, to, auth string
	data           string
	tlsAtMail      bool
	err            error
}

func startSMTP(t *testing.T, tlsConf *tls.Config) *smtpServer {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpServer{addr: l.Addr().String(), tls: tlsConf, got: make(chan smtpSession, 1), listener: l}
	t.Cleanup(func() { l.Close() })
	go func() {
		c, err := l.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		s.got <- s.serve(c)
	}()
	return s
}

func (s *smtpServer) serve(c net.Conn) (sess smtpSession) {
	tp := textproto.NewConn(c)
	inTLS := false
	tp.PrintfLine("220 test ESMTP")
	for {
		line, err := tp.ReadLine()
		if err != nil {
			sess.err = err
			return
		}
		verb, arg, _ := strings.Cut(line, " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			ext := []string{"250-test", "250-AUTH PLAIN"}
			if s.tls != nil && !inTLS {
				ext = append(ext, "250-STARTTLS")
			}
			tp.PrintfLine("%s\r\n250 8BITMIME", strings.Join(ext, "\r\n"))
		case "STARTTLS":
			tp.PrintfLine("220 go ahead")
			tc := tls.Server(c, s.tls)
			if err := tc.Handshake(); err != nil {
				sess.err = err
				return
			}
			c, inTLS = tc, true
			tp = textproto.NewConn(tc)
		case "AUTH":
			sess.auth = arg
			tp.PrintfLine("235 ok")
		case "MAIL":
			sess.from, sess.tlsAtMail = arg, inTLS
			tp.PrintfLine("250 ok")
		case "RCPT":
			sess.to = arg
			tp.PrintfLine("250 ok")
		case "DATA":
			tp.PrintfLine("354 go")
			b, err := tp.ReadDotBytes()
			if err != nil {
				sess.err = err
				return
			}
			sess.data = string(b)
			tp.PrintfLine("250 queued")
		case "QUIT":
			tp.PrintfLine("221 bye")
			return
		default:
			tp.PrintfLine("502 what")
		}
	}
}

func selfSigned(t *testing.T) (*tls.Config, *x509.CertPool) {
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

func TestSMTPMailer(t *testing.T) {
	msg := Message{To: "doctor@example.org", Subject: "Invitation", Body: "https://so.test/invitation?token=inv_x"}
	check := func(t *testing.T, got smtpSession, wantTLS bool) {
		t.Helper()
		if got.err != nil {
			t.Fatalf("server: %v", got.err)
		}
		if !strings.HasPrefix(got.from, "FROM:<so@example.org>") || !strings.HasPrefix(got.to, "TO:<doctor@example.org>") {
			t.Errorf("envelope %q -> %q", got.from, got.to)
		}
		if got.tlsAtMail != wantTLS {
			t.Errorf("TLS at MAIL FROM = %v, want %v", got.tlsAtMail, wantTLS)
		}
		plain, _ := base64.StdEncoding.DecodeString(strings.TrimPrefix(got.auth, "PLAIN "))
		if string(plain) != "\x00user\x00secret" {
			t.Errorf("AUTH %q", got.auth)
		}
		_, body, _ := strings.Cut(got.data, "\n\n") // ReadDotBytes turns CRLF into LF
		dec, _ := readAllQP(body)
		if !strings.Contains(dec, msg.Body) {
			t.Errorf("body %q", body)
		}
	}

	t.Run("plain", func(t *testing.T) {
		srv := startSMTP(t, nil)
		m := &SMTPMailer{Addr: srv.addr, From: "so@example.org", Auth: smtp.PlainAuth("", "user", "secret", "127.0.0.1")}
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		check(t, <-srv.got, false)
	})
	t.Run("STARTTLS when offered", func(t *testing.T) {
		serverTLS, pool := selfSigned(t)
		srv := startSMTP(t, serverTLS)
		m := &SMTPMailer{Addr: srv.addr, From: "so@example.org", Auth: smtp.PlainAuth("", "user", "secret", "127.0.0.1"),
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		if err := m.Send(context.Background(), msg); err != nil {
			t.Fatal(err)
		}
		check(t, <-srv.got, true)
	})
	t.Run("context ends", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never greets
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		m := &SMTPMailer{Addr: l.Addr().String(), From: "so@example.org"}
		if err := m.Send(ctx, msg); err == nil {
			t.Fatal("Send to a silent server succeeded")
		}
	})
}

func readAllQP(s string) (string, error) {
	var b strings.Builder
	_, err := bufio.NewReader(quotedprintable.NewReader(strings.NewReader(s))).WriteTo(&b)
	return b.String(), err
}
