package access_test

import (
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/mail"
)

func TestSignInLinks(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Accounts.Add(f.ctx, "ann@example.org", so.RoleApplicant, "Ann"); err != nil {
		t.Fatal(err)
	}
	f.staff("cm@example.org", so.RoleCaseManager)

	if err := f.svc.SignInLinks.Request(f.ctx, "Ann@example.org", "192.0.2.1"); err != nil {
		t.Fatal(err)
	}
	m, ok := f.lastMail("ann@example.org")
	if !ok {
		t.Fatal("no mail")
	}
	if !strings.Contains(m.Body, "https://so.test/app/signin/link?token=sl_") || m.Language != "en" ||
		!strings.Contains(m.Body, "10 March 2025, 09:15 UTC") {
		t.Errorf("mail %+v", m)
	}
	token := tokenFromMail(t, m)
	sess, raw, err := f.svc.SignInLinks.Redeem(f.ctx, token)
	if err != nil {
		t.Fatal(err)
	}
	if sess.Subject.Role != so.RoleApplicant || f.authenticate(raw).Email != "ann@example.org" {
		t.Errorf("subject %+v", sess.Subject)
	}
	if _, _, err := f.svc.SignInLinks.Redeem(f.ctx, token); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("second use: %v", err)
	}

	// Expiry after 15 minutes.
	f.clock.Advance(time.Minute)
	f.svc.SignInLinks.Request(f.ctx, "ann@example.org", "192.0.2.1")
	m, _ = f.lastMail("ann@example.org")
	f.clock.Advance(15 * time.Minute)
	if _, _, err := f.svc.SignInLinks.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("expired link: %v", err)
	}

	// Unknown, staff and disabled accounts: the same answer, and no mail.
	sent := len(f.sent())
	for _, email := range []string{"nobody@example.org", "cm@example.org"} {
		if err := f.svc.SignInLinks.Request(f.ctx, email, "192.0.2.1"); err != nil {
			t.Errorf("%s: %v", email, err)
		}
	}
	if n := len(f.sent()); n != sent {
		t.Errorf("%d mails sent to unknown or staff accounts", n-sent)
	}

	// At most three links per account in the window; the fourth request sends nothing.
	f.clock.Advance(time.Hour)
	for range 4 {
		if err := f.svc.SignInLinks.Request(f.ctx, "ann@example.org", "192.0.2.2"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.sent()); n != sent+3 {
		t.Errorf("%d mails for 4 requests, want 3", n-sent)
	}

	// A link requested before the account is disabled does not work after.
	f.clock.Advance(time.Hour)
	f.svc.SignInLinks.Request(f.ctx, "ann@example.org", "")
	m, _ = f.lastMail("ann@example.org")
	if err := f.svc.Accounts.Disable(f.ctx, "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.svc.SignInLinks.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("link of a disabled account: %v", err)
	}
	for _, bad := range []string{"", "sl_", "inv_" + strings.Repeat("A", 43), strings.Repeat("A", 46)} {
		if _, _, err := f.svc.SignInLinks.Redeem(f.ctx, bad); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("redeem %q: %v", bad, err)
		}
	}
	if err := f.svc.SignInLinks.Request(f.ctx, "not an address", ""); !errors.Is(err, so.ErrInvalid) {
		t.Errorf("malformed email: %v", err)
	}
}

// The mail is written in the language the request names; another language is English.
func TestSignInLinkLanguage(t *testing.T) {
	f := newFixture(t)
	if _, err := f.svc.Accounts.Add(f.ctx, "ann@example.org", so.RoleApplicant, ""); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ lang, want, word string }{{"es", "es", "Hola"}, {"it", "it", "Buongiorno"}, {"fr", "en", "Hello"}} {
		if err := f.svc.SignInLinks.RequestIn(f.ctx, "ann@example.org", "", c.lang); err != nil {
			t.Fatal(err)
		}
		m, _ := f.lastMail("ann@example.org")
		if m.Language != c.want || !strings.Contains(m.Body, c.word) {
			t.Errorf("asked in %s: %+v", c.lang, m)
		}
	}
}

// Asking for a sign-in link never waits on SMTP, for a known address (the mail is queued) as
// for an unknown one, even when the SMTP server hangs.
func TestSignInLinkRequestDoesNotWaitOnSMTP(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0") // accepts connections, never greets
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	f := newFixtureWith(t, &mail.SMTPMailer{Addr: l.Addr().String(), From: "so@example.org"})
	if _, err := f.svc.Accounts.Add(f.ctx, "ann@example.org", so.RoleApplicant, ""); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"ann@example.org", "nobody@example.org"} {
		start := time.Now()
		if err := f.svc.SignInLinks.Request(f.ctx, email, "192.0.2.1"); err != nil {
			t.Fatalf("%s: %v", email, err)
		}
		if took := time.Since(start); took > 5*time.Second {
			t.Errorf("%s: Request took %v", email, took)
		}
	}
	if n, err := f.outbox.Pending(f.ctx); err != nil || n != 1 {
		t.Errorf("Pending = %d, %v; want the known address's mail only", n, err)
	}
}
