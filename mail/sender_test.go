package mail_test

import (
	"context"
	"crypto/tls"
	"errors"
	"net"
	"net/smtp"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondopinion/secondopinion/mail"
)

func TestComposeRejectsInjection(t *testing.T) {
	mm := &mail.MemoryMailer{}
	for _, e := range []mail.Email{
		{To: "a@example.org\r\nBcc: b@example.org", Subject: "s", Body: "b"},
		{To: "Eve <a@example.org>", Subject: "s", Body: "b"},
		{To: "a@example.org", Subject: "s\r\nBcc: b@example.org", Body: "b"},
		{To: "a@example.org", Subject: "s\nX: y", Body: "b"},
		{To: "a@example.org", Subject: "s", Body: "b", ID: "x\r\nBcc: b@example.org"},
		{To: "a@example.org", Subject: "s", Body: "b", ID: "x@evil"},
		{To: "a@example.org", Subject: "s", Body: "b", Language: "en\nBcc: b@example.org"},
		{To: "", Subject: "s", Body: "b"},
	} {
		if err := mm.Send(context.Background(), e); !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("accepted %q / %q / %q: %v", e.To, e.Subject, e.ID, err)
		}
	}
	if n := len(mm.Messages()); n != 0 {
		t.Errorf("%d kept", n)
	}
}

func TestNewMailer(t *testing.T) {
	m, err := mail.NewMailer("smtp://user:pw@mail.example.org?from=so@example.org")
	if err != nil {
		t.Fatal(err)
	}
	s := m.(*mail.SMTPMailer)
	if s.Addr != "mail.example.org:587" || s.From != "so@example.org" || s.Auth == nil || s.ImplicitTLS || !s.RequireTLS {
		t.Errorf("smtp URL: %+v", s)
	}
	for raw, want := range map[string]bool{"smtp://127.0.0.1:25": false, "smtp://localhost:25": false,
		"smtp://mail.example.org?starttls=optional": false, "smtp://mail.example.org?starttls=required": true,
		"smtp://127.0.0.1:25?starttls=required": true, "smtp://LOCALHOST.:25": false} {
		m, err := mail.NewMailer(raw)
		if err != nil || m.(*mail.SMTPMailer).RequireTLS != want {
			t.Errorf("%s: RequireTLS %v, %v; want %v", raw, m, err, want)
		}
	}
	m, err = mail.NewMailer("smtps://mail.example.org")
	if err != nil {
		t.Fatal(err)
	}
	if s := m.(*mail.SMTPMailer); s.Addr != "mail.example.org:465" || !s.ImplicitTLS || s.Auth != nil || s.From != "secondopinion@localhost" {
		t.Errorf("smtps URL: %+v", s)
	}
	if d, err := mail.NewMailer("file:///tmp/so-mail"); err != nil || d.(*mail.DirMailer).Dir != "/tmp/so-mail" {
		t.Errorf("file URL: %v %v", d, err)
	}
	for _, bad := range []string{"http://x", "smtp://", "file://", "smtp://h?from=Eve%20%3Ce@x%3E", "::", "smtp://u:secretpw@h:bad", "smtp://h?starttls=maybe"} {
		_, err := mail.NewMailer(bad)
		if !errors.Is(err, mail.ErrInvalid) {
			t.Errorf("NewMailer(%q) = %v, want ErrInvalid", bad, err)
		}
		if err != nil && strings.Contains(err.Error(), "secretpw") {
			t.Errorf("error shows the password: %v", err)
		}
	}
}

func TestDirMailer(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "mail")
	d := &mail.DirMailer{Dir: dir, From: "so@example.org"}
	if err := d.Send(context.Background(), mail.Email{ID: "0b8e3a0c", To: "a@example.org", Subject: "Grüße", Language: "it",
		Body: "line 1\nhttps://so.test/x?token=abc " + strings.Repeat("x", 100)}); err != nil {
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
	head, body, _ := strings.Cut(string(b), "\r\n\r\n")
	for _, h := range []string{"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?=\r\n", "To: a@example.org\r\n", "Message-ID: <0b8e3a0c@example.org>\r\n",
		"Auto-Submitted: auto-generated\r\n", "Content-Language: it\r\n"} {
		if !strings.Contains(head+"\r\n", h) {
			t.Errorf("no %q in headers:\n%s", h, head)
		}
	}
	if !strings.Contains(body, "https://so.test/x?token=3Dabc") {
		t.Errorf("body:\n%s", body)
	}
	for _, line := range strings.Split(body, "\r\n") {
		if len(line) > 76 {
			t.Errorf("body line of %d characters", len(line))
		}
	}
}

func TestSMTPMailer(t *testing.T) {
	e := mail.Email{ID: "4d1f", To: "doctor@example.org", Subject: "Invito", Body: "https://so.test/invitation?token=inv_x", Language: "it"}
	check := func(t *testing.T, srv *catcher, wantTLS bool) {
		t.Helper()
		got := srv.received()
		if len(got) != 1 {
			t.Fatalf("%d messages received", len(got))
		}
		r := got[0]
		if r.From != "so@example.org" || r.To != "doctor@example.org" || r.TLS != wantTLS {
			t.Errorf("envelope %s -> %s, TLS %v (want %v)", r.From, r.To, r.TLS, wantTLS)
		}
		if !strings.Contains(r.Body, e.Body) || r.Header.Get("Message-ID") != "<4d1f@example.org>" || r.Header.Get("Subject") != "Invito" {
			t.Errorf("message %v\n%s", r.Header, r.Body)
		}
	}
	auth := smtp.PlainAuth("", "user", "secret", "127.0.0.1")

	t.Run("plain with AUTH", func(t *testing.T) {
		srv := &catcher{user: "user", pass: "secret"}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, nil, false), From: "so@example.org", Auth: auth}
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		check(t, srv, false)
	})
	t.Run("no STARTTLS offered when it is required", func(t *testing.T) {
		srv := &catcher{}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, nil, false), From: "so@example.org", RequireTLS: true}
		var se *mail.SendError
		if err := m.Send(context.Background(), e); !errors.As(err, &se) || se.Stage != "starttls" || se.Permanent() {
			t.Fatalf("send without STARTTLS: %v, want a retryable starttls failure", err)
		}
		if len(srv.received()) != 0 {
			t.Fatal("the message went out in clear")
		}
	})
	t.Run("STARTTLS when offered", func(t *testing.T) {
		serverTLS, pool := selfSigned(t)
		srv := &catcher{user: "user", pass: "secret"}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, serverTLS, false), From: "so@example.org", Auth: auth,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		check(t, srv, true)
	})
	t.Run("implicit TLS", func(t *testing.T) {
		serverTLS, pool := selfSigned(t)
		srv := &catcher{}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, serverTLS, true), From: "so@example.org", ImplicitTLS: true,
			TLSConfig: &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"}}
		if err := m.Send(context.Background(), e); err != nil {
			t.Fatal(err)
		}
		check(t, srv, true)
	})
	t.Run("untrusted certificate", func(t *testing.T) {
		serverTLS, _ := selfSigned(t)
		srv := &catcher{}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, serverTLS, false), From: "so@example.org"}
		var se *mail.SendError
		if err := m.Send(context.Background(), e); !errors.As(err, &se) || se.Stage != "starttls" || se.Permanent() {
			t.Errorf("Send = %v, want a starttls SendError", err)
		}
		if len(srv.received()) != 0 {
			t.Error("sent over an untrusted connection")
		}
	})
	t.Run("wrong password", func(t *testing.T) {
		srv := &catcher{user: "user", pass: "other"}
		m := &mail.SMTPMailer{Addr: startSMTP(t, srv, nil, false), From: "so@example.org", Auth: auth}
		var se *mail.SendError
		if err := m.Send(context.Background(), e); !errors.As(err, &se) || se.Stage != "auth" || se.Code != 535 || se.Permanent() {
			t.Errorf("Send = %v, want a retryable auth SendError 535", err)
		}
	})
	t.Run("context ends", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0") // accepts, never greets
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		defer cancel()
		m := &mail.SMTPMailer{Addr: l.Addr().String(), From: "so@example.org"}
		start := time.Now()
		if err := m.Send(ctx, e); err == nil {
			t.Fatal("Send to a silent server succeeded")
		}
		if time.Since(start) > 5*time.Second {
			t.Errorf("Send took %v after its context ended", time.Since(start))
		}
	})
}
