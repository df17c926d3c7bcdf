package access_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
)

func TestLoginRotatesAndLogoutKills(t *testing.T) {
	f := newFixture(t)
	f.account("ann@example.org", so.RoleApplicant)

	s1, raw1, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", password, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	s2, raw2, err := f.svc.Sessions.Login(f.ctx, "ANN@example.org", password, "", "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if s1.ID == s2.ID || raw1 == raw2 {
		t.Fatal("two logins got the same session")
	}
	if s1.Subject.Role != so.RoleApplicant || s1.Subject.Email != "ann@example.org" || s1.Subject.SessionID != s1.ID {
		t.Errorf("subject %+v", s1.Subject)
	}
	if !s1.ExpiresAt.Equal(f.clock.Now().Add(12 * time.Hour)) {
		t.Errorf("absolute expiry %v", s1.ExpiresAt)
	}
	if err := f.svc.Sessions.Logout(f.ctx, raw1); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Sessions.Authenticate(f.ctx, raw1); !errors.Is(err, so.ErrUnauthenticated) {
		t.Errorf("after logout: %v, want ErrUnauthenticated", err)
	}
	if s := f.authenticate(raw2); s.SessionID != s2.ID {
		t.Errorf("the other session: %+v", s)
	}
	if err := f.svc.Sessions.Logout(f.ctx, raw1); err != nil {
		t.Errorf("second logout: %v", err)
	}
	if err := f.svc.Sessions.Logout(f.ctx, "garbage"); err != nil {
		t.Errorf("logout of garbage: %v", err)
	}

	// Rotation: a new id and token, the old token dead, the subject and absolute end kept.
	f.clock.Advance(10 * time.Minute)
	s3, raw3, err := f.svc.Sessions.Rotate(f.ctx, raw2)
	if err != nil {
		t.Fatal(err)
	}
	if s3.ID == s2.ID || raw3 == raw2 || !s3.ExpiresAt.Equal(s2.ExpiresAt) || s3.Subject.AccountID != s2.Subject.AccountID {
		t.Errorf("rotated %+v from %+v", s3, s2)
	}
	if _, err := f.svc.Sessions.Authenticate(f.ctx, raw2); !errors.Is(err, so.ErrUnauthenticated) {
		t.Errorf("old token after rotation: %v", err)
	}
	f.authenticate(raw3)
}

func TestSessionTimeouts(t *testing.T) {
	f := newFixture(t)
	f.account("ann@example.org", so.RoleApplicant)
	login := func() string {
		_, raw, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", password, "", "")
		if err != nil {
			t.Fatal(err)
		}
		return raw
	}
	dead := func(raw, when string) {
		t.Helper()
		if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", when, err)
		}
	}

	t.Run("idle", func(t *testing.T) {
		raw := login()
		f.clock.Advance(29 * time.Minute)
		f.authenticate(raw) // activity moves the idle deadline
		f.clock.Advance(29 * time.Minute)
		f.authenticate(raw)
		f.clock.Advance(30 * time.Minute)
		dead(raw, "30 idle minutes")
		f.clock.Advance(-20 * time.Minute)
		dead(raw, "the clock set back after expiry") // a dead session stays dead
	})
	t.Run("absolute", func(t *testing.T) {
		raw := login()
		for range 24 {
			f.clock.Advance(29*time.Minute + 59*time.Second)
			f.authenticate(raw)
		}
		// 24 × 29:59 = 11:59:36; busy or not, the session ends at 12 h.
		f.clock.Advance(30 * time.Second)
		dead(raw, "12 hours after login")
	})
	t.Run("disable", func(t *testing.T) {
		f.svc.Tokens.TokenRoles = so.AccountRoles // an applicant's token, where the centre allows them
		raw := login()
		tokID, tok, err := f.svc.Tokens.Issue(f.ctx, "ann@example.org", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Accounts.Disable(f.ctx, "Ann@Example.org"); err != nil {
			t.Fatal(err)
		}
		dead(raw, "account disabled")
		if _, err := f.svc.Tokens.Authenticate(f.ctx, tok); !errors.Is(err, so.ErrUnauthenticated) {
			t.Errorf("token %s after disable: %v", tokID, err)
		}
		if _, _, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", password, "", ""); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("login of a disabled account: %v", err)
		}
		if err := f.svc.Accounts.Disable(f.ctx, "ann@example.org"); err != nil {
			t.Errorf("disable twice: %v", err)
		}
		if err := f.svc.Accounts.Disable(f.ctx, "nobody@example.org"); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("disable unknown: %v", err)
		}
	})
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	f := newFixture(t)
	f.account("ann@example.org", so.RoleApplicant)
	_, raw, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", password, "", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Accounts.SetPassword(f.ctx, "ann@example.org", "a different long password"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
		t.Errorf("session after password change: %v", err)
	}
	if _, _, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", password, "", ""); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("old password: %v", err)
	}
	if _, _, err := f.svc.Sessions.Login(f.ctx, "ann@example.org", "a different long password", "", ""); err != nil {
		t.Errorf("new password: %v", err)
	}
	if err := f.svc.Accounts.SetPassword(f.ctx, "ann@example.org", "short"); !errors.Is(err, so.ErrInvalid) {
		t.Errorf("short password: %v", err)
	}
}

// Every refusal of a login is the same error, whatever the reason.
func TestLoginRefusalsAreIdentical(t *testing.T) {
	f := newFixture(t)
	secret, _ := f.staff("cm@example.org", so.RoleCaseManager)
	f.account("off@example.org", so.RoleApplicant)
	if err := f.svc.Accounts.Disable(f.ctx, "off@example.org"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Accounts.Add(f.ctx, "nopw@example.org", so.RoleApplicant, ""); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	code := access.TOTPCode(secret, f.clock.Now())
	wrongCode := "000000"
	if code == wrongCode {
		wrongCode = "111111"
	}
	tests := []struct{ name, email, password, code string }{
		{"unknown user", "nobody@example.org", password, ""},
		{"wrong password", "cm@example.org", "wrong password!!", code},
		{"disabled account", "off@example.org", password, ""},
		{"no password set", "nopw@example.org", password, ""},
		{"staff without code", "cm@example.org", password, ""},
		{"staff with wrong code", "cm@example.org", password, wrongCode},
	}
	var first string
	for i, tt := range tests {
		_, raw, err := f.svc.Sessions.Login(f.ctx, tt.email, tt.password, tt.code, "")
		if err != so.ErrInvalidCredentials || raw != "" {
			t.Errorf("%s: %v, want exactly ErrInvalidCredentials", tt.name, err)
			continue
		}
		if i == 0 {
			first = err.Error()
		} else if err.Error() != first {
			t.Errorf("%s: message %q differs from %q", tt.name, err, first)
		}
	}
	// The right code works once; the same code again is refused.
	if _, _, err := f.svc.Sessions.Login(f.ctx, "cm@example.org", password, code, ""); err != nil {
		t.Fatalf("right code: %v", err)
	}
	if _, _, err := f.svc.Sessions.Login(f.ctx, "cm@example.org", password, code, ""); !errors.Is(err, so.ErrInvalidCredentials) {
		t.Errorf("reused code: %v", err)
	}
}

func TestStaffWithoutTOTP(t *testing.T) {
	f := newFixture(t)
	applicant := f.applicant("ann@example.org")
	caseID := f.newCase(applicant, "Maria")
	for _, role := range []so.Role{so.RoleCaseManager, so.RoleReviewer, so.RoleDPO, so.RoleAdmin} {
		t.Run(string(role), func(t *testing.T) {
			email := string(role) + "@example.org"
			f.account(email, role)
			sess, raw, err := f.svc.Sessions.Login(f.ctx, email, password, "", "")
			if err != nil {
				t.Fatal(err)
			}
			s := f.authenticate(raw)
			if !s.NeedsTOTPEnrolment || s.TOTPSatisfied || !sess.Subject.NeedsTOTPEnrolment {
				t.Fatalf("subject %+v", s)
			}
			for _, a := range access.CaseActions {
				if err := f.svc.Policy.Authorize(f.ctx, s, a, caseID); !errors.Is(err, so.ErrTOTPRequired) {
					t.Errorf("%s: %v, want ErrTOTPRequired", a, err)
				}
			}
			for _, a := range access.GlobalActions {
				if err := f.svc.Policy.Authorize(f.ctx, s, a, ""); !errors.Is(err, so.ErrTOTPRequired) {
					t.Errorf("%s: %v, want ErrTOTPRequired", a, err)
				}
			}
			if got := access.ReadableCases(s); got != (access.CaseScope{}) {
				t.Errorf("readable cases %+v", got)
			}

			// Enrolment: a wrong code is refused and the session stays; the right one rotates it.
			enr, err := f.svc.Accounts.BeginTOTP(f.ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			if _, _, err := f.svc.Sessions.ConfirmTOTP(f.ctx, raw, "12345"); !errors.Is(err, so.ErrInvalidCredentials) {
				t.Errorf("wrong code: %v", err)
			}
			sess2, raw2, err := f.svc.Sessions.ConfirmTOTP(f.ctx, raw, access.TOTPCode(enr.Secret, f.clock.Now()))
			if err != nil {
				t.Fatal(err)
			}
			if sess2.ID == sess.ID || !sess2.Subject.TOTPSatisfied {
				t.Errorf("enrolled session %+v", sess2)
			}
			if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
				t.Errorf("pre-enrolment session after enrolment: %v", err)
			}
			if err := f.svc.Policy.Authorize(f.ctx, f.authenticate(raw2), access.ActionCaseRead, caseID); errors.Is(err, so.ErrTOTPRequired) {
				t.Errorf("after enrolment: %v", err)
			}
			if _, err := f.svc.Accounts.BeginTOTP(f.ctx, f.authenticate(raw2)); !errors.Is(err, so.ErrExists) {
				t.Errorf("second enrolment: %v", err)
			}
			acct, err := f.svc.Accounts.ByEmail(f.ctx, email)
			if err != nil || !acct.TOTPEnabled {
				t.Errorf("account %+v, %v", acct, err)
			}
		})
	}
	if _, err := f.svc.Accounts.BeginTOTP(f.ctx, applicant); !errors.Is(err, so.ErrForbidden) {
		t.Errorf("applicant enrolling TOTP: %v", err)
	}
}

func TestTOTPSecretSealed(t *testing.T) {
	f := newFixture(t)
	secret, s := f.staff("rev@example.org", so.RoleReviewer)
	var sealed []byte
	if err := f.db.Owner.GetContext(f.ctx, &sealed, `SELECT totp_secret FROM accounts WHERE id = $1`, s.AccountID); err != nil {
		t.Fatal(err)
	}
	plain, _ := b32decode(secret)
	if len(sealed) < len(plain)+28 || containsBytes(sealed, plain) {
		t.Errorf("TOTP secret stored in clear or unsealed (%d bytes)", len(sealed))
	}
	// A sealed secret copied to another account does not open there: login fails, not crashes.
	other := f.account("rev2@example.org", so.RoleReviewer)
	if _, err := f.db.Owner.ExecContext(f.ctx, `UPDATE accounts SET totp_secret = $2, totp_enabled_at = now() WHERE id = $1`, other, sealed); err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Minute)
	if _, _, err := f.svc.Sessions.Login(f.ctx, "rev2@example.org", password, access.TOTPCode(secret, f.clock.Now()), ""); err == nil {
		t.Error("a secret sealed for another account opened")
	}
}

func TestThrottling(t *testing.T) {
	f := newFixture(t)
	f.account("ann@example.org", so.RoleApplicant)
	f.account("bob@example.org", so.RoleApplicant)
	login := func(email, pw, ip string) error {
		_, _, err := f.svc.Sessions.Login(f.ctx, email, pw, "", ip)
		return err
	}

	t.Run("per account, reset by success", func(t *testing.T) {
		for range 4 {
			if err := login("ann@example.org", "wrong password!", "192.0.2.10"); err != so.ErrInvalidCredentials {
				t.Fatalf("failure: %v", err)
			}
		}
		if err := login("ann@example.org", password, "192.0.2.10"); err != nil {
			t.Fatalf("success after 4 failures: %v", err)
		}
		for range 5 { // the success cleared the count: five more failures are plain failures
			if err := login("ann@example.org", "wrong password!", "192.0.2.11"); err != so.ErrInvalidCredentials {
				t.Fatalf("failure after reset: %v", err)
			}
		}
		err := login("ann@example.org", password, "192.0.2.12") // from another address, the right password
		var te *access.ThrottledError
		if !errors.As(err, &te) || !errors.Is(err, so.ErrInvalidCredentials) {
			t.Fatalf("sixth attempt: %v, want a ThrottledError matching ErrInvalidCredentials", err)
		}
		if te.RetryAfter <= 0 || te.RetryAfter > 15*time.Minute {
			t.Errorf("Retry-After %v", te.RetryAfter)
		}
		if err := login("bob@example.org", password, "192.0.2.12"); err != nil {
			t.Errorf("another account is not throttled: %v", err)
		}
		f.clock.Advance(te.RetryAfter)
		if err := login("ann@example.org", password, "192.0.2.12"); err != nil {
			t.Errorf("after the window: %v", err)
		}
	})

	t.Run("unknown accounts throttle alike", func(t *testing.T) {
		for range 5 {
			login("ghost@example.org", "wrong password!", "")
		}
		var te *access.ThrottledError
		if err := login("ghost@example.org", "wrong password!", ""); !errors.As(err, &te) {
			t.Errorf("unknown account after 5 failures: %v", err)
		}
	})

	t.Run("per address", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		for i := range 20 {
			email := string(rune('a'+i)) + "-spray@example.org"
			if err := login(email, "wrong password!", "198.51.100.7"); err != so.ErrInvalidCredentials {
				t.Fatalf("failure %d: %v", i, err)
			}
		}
		var te *access.ThrottledError
		if err := login("bob@example.org", password, "198.51.100.7"); !errors.As(err, &te) {
			t.Errorf("21st attempt from one address: %v", err)
		}
		if err := login("bob@example.org", password, "198.51.100.8"); err != nil {
			t.Errorf("another address: %v", err)
		}
		f.clock.Advance(15 * time.Minute)
		if err := login("bob@example.org", password, "198.51.100.7"); err != nil {
			t.Errorf("after the window: %v", err)
		}
	})

	t.Run("purge", func(t *testing.T) {
		f.clock.Advance(time.Hour)
		n, err := f.svc.PurgeExpired(f.ctx)
		if err != nil || n == 0 {
			t.Fatalf("purge: %d, %v", n, err)
		}
		var left int
		f.db.Owner.GetContext(f.ctx, &left, `SELECT count(*) FROM throttle_events`)
		if left != 0 {
			t.Errorf("%d throttle events left", left)
		}
	})
}

// Parallel guesses from one address cannot all pass the throttle before any is counted: each
// attempt is counted before its hash, so exactly the limit reach the hash and the rest are
// throttled (security review, finding 2).
func TestParallelGuessesAreCountedUpFront(t *testing.T) {
	f := newFixture(t)
	f.account("ann@example.org", so.RoleApplicant)
	limit := f.svc.Sessions.IPFailures
	var wg sync.WaitGroup
	var mu sync.Mutex
	refused, throttled := 0, 0
	for i := range 3 * limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// Different accounts, one address: only the address's limit applies.
			_, _, err := f.svc.Sessions.Login(f.ctx, fmt.Sprintf("guess%d@example.org", i), "wrong password 123", "", "203.0.113.7")
			var te *access.ThrottledError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case errors.As(err, &te):
				throttled++
			case errors.Is(err, so.ErrInvalidCredentials):
				refused++
			default:
				t.Errorf("guess: %v", err)
			}
		}()
	}
	wg.Wait()
	if refused != limit || throttled != 2*limit {
		t.Errorf("%d guesses reached the hash and %d were throttled; want %d and %d", refused, throttled, limit, 2*limit)
	}
}

// An IPv6 client counts by its /64: hopping addresses inside it does not escape the limit.
func TestIPv6CountsByPrefix(t *testing.T) {
	f := newFixture(t)
	limit := f.svc.Sessions.IPFailures
	for i := range limit {
		f.svc.Sessions.Login(f.ctx, fmt.Sprintf("nobody%d@example.org", i), "wrong password 123", "", fmt.Sprintf("2001:db8:1:2::%x", i+1))
	}
	_, _, err := f.svc.Sessions.Login(f.ctx, "other@example.org", "wrong password 123", "", "2001:db8:1:2:ffff::1")
	var te *access.ThrottledError
	if !errors.As(err, &te) {
		t.Errorf("a new address in the same /64 after %d failures: %v, want throttled", limit, err)
	}
	if _, _, err := f.svc.Sessions.Login(f.ctx, "other@example.org", "wrong password 123", "", "2001:db8:1:3::1"); errors.As(err, &te) {
		t.Errorf("another /64 is throttled too: %v", err)
	}
}
