package access_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
)

// A reset forgets the authenticator and ends the sessions: the next sign-in with the password
// must enrol again, and the old secret's codes no longer open anything.
func TestResetTOTP(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.staff("cm@example.org", so.RoleCaseManager)
	cm, err := f.svc.Accounts.ByEmail(f.ctx, "cm@example.org")
	if err != nil || !cm.TOTPEnabled {
		t.Fatalf("before: %+v, %v", cm, err)
	}
	f.clock.Advance(time.Minute) // the enrolment used this step's code
	_, raw, err := f.svc.Sessions.Login(f.ctx, "cm@example.org", password, access.TOTPCode(secret, f.clock.Now()), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Accounts.ResetTOTP(f.ctx, cm.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); err == nil {
		t.Error("a session outlived the reset")
	}
	f.clock.Advance(time.Minute)
	_, raw, err = f.svc.Sessions.Login(f.ctx, "cm@example.org", password, access.TOTPCode(secret, f.clock.Now()), "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	s, err := f.svc.Sessions.Authenticate(f.ctx, raw)
	if err != nil || !s.NeedsTOTPEnrolment || s.TOTPSatisfied {
		t.Errorf("after the reset a sign-in with the old code gives %+v, %v; want an enrolment-only session", s, err)
	}
	ann := f.account("ann@example.org", so.RoleApplicant)
	for _, c := range []struct {
		id   string
		want error
	}{{ann, so.ErrInvalid}, {"0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", so.ErrNotFound}, {"not-an-id", so.ErrNotFound}} {
		if err := f.svc.Accounts.ResetTOTP(f.ctx, c.id); !errors.Is(err, c.want) {
			t.Errorf("reset %s: %v, want %v", c.id, err, c.want)
		}
	}
	list, err := f.svc.Accounts.List(f.ctx)
	if err != nil || len(list) != 2 || list[0].Role != so.RoleCaseManager || list[1].Role != so.RoleApplicant {
		t.Errorf("list: %+v, %v", list, err)
	}
}

// A password set-up link sets the password once; a refused password leaves it unspent; a
// used or expired one is refused; the sessions end.
func TestPasswordLinks(t *testing.T) {
	f := newFixture(t)
	id, err := f.svc.Accounts.Add(f.ctx, "rita@example.org", so.RoleReviewer, "Rita")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Passwords.Send(f.ctx, id, "it"); err != nil {
		t.Fatal(err)
	}
	m, ok := f.lastMail("rita@example.org")
	if !ok || m.Language != "it" || !strings.Contains(m.Body, "https://so.test/app/password?token=pw_") {
		t.Fatalf("mail %+v", m)
	}
	token := tokenFromMail(t, m)
	if err := f.svc.Passwords.Redeem(f.ctx, token, "short"); !errors.Is(err, so.ErrInvalid) {
		t.Errorf("a short password: %v", err)
	}
	if err := f.svc.Passwords.Redeem(f.ctx, token, "a long enough password"); err != nil {
		t.Fatalf("redeem: %v", err)
	}
	if _, _, err := f.svc.Sessions.Login(f.ctx, "rita@example.org", "a long enough password", "", "192.0.2.1"); err != nil {
		t.Errorf("sign in with the chosen password: %v", err)
	}
	if err := f.svc.Passwords.Redeem(f.ctx, token, "another long password"); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("second use: %v", err)
	}
	f.svc.Passwords.Send(f.ctx, id, "en")
	m, _ = f.lastMail("rita@example.org")
	f.clock.Advance(49 * time.Hour)
	if err := f.svc.Passwords.Redeem(f.ctx, tokenFromMail(t, m), "another long password"); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("expired link: %v", err)
	}
	if err := f.svc.Passwords.Redeem(f.ctx, "pw_nonsense", "another long password"); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("malformed link: %v", err)
	}
	if _, err := f.svc.Passwords.Send(f.ctx, "0b5e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", "en"); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
}
