package access_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
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
	m, ok := f.mail.Last("ann@example.org")
	if !ok {
		t.Fatal("no mail")
	}
	if !strings.Contains(m.Body, "https://so.test/app/signin/link?token=sl_") {
		t.Errorf("mail body %q", m.Body)
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
	m, _ = f.mail.Last("ann@example.org")
	f.clock.Advance(15 * time.Minute)
	if _, _, err := f.svc.SignInLinks.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("expired link: %v", err)
	}

	// Unknown, staff and disabled accounts: the same answer, and no mail.
	sent := len(f.mail.Messages())
	for _, email := range []string{"nobody@example.org", "cm@example.org"} {
		if err := f.svc.SignInLinks.Request(f.ctx, email, "192.0.2.1"); err != nil {
			t.Errorf("%s: %v", email, err)
		}
	}
	if n := len(f.mail.Messages()); n != sent {
		t.Errorf("%d mails sent to unknown or staff accounts", n-sent)
	}

	// At most three links per account in the window; the fourth request sends nothing.
	f.clock.Advance(time.Hour)
	for range 4 {
		if err := f.svc.SignInLinks.Request(f.ctx, "ann@example.org", "192.0.2.2"); err != nil {
			t.Fatal(err)
		}
	}
	if n := len(f.mail.Messages()); n != sent+3 {
		t.Errorf("%d mails for 4 requests, want 3", n-sent)
	}

	// A link requested before the account is disabled does not work after.
	f.clock.Advance(time.Hour)
	f.svc.SignInLinks.Request(f.ctx, "ann@example.org", "")
	m, _ = f.mail.Last("ann@example.org")
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
