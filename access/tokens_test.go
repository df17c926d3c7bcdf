package access_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
)

func TestTokens(t *testing.T) {
	f := newFixture(t)
	f.staff("dpo@example.org", so.RoleDPO)

	id, raw, err := f.svc.Tokens.Issue(f.ctx, "DPO@example.org", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(raw, "so_") || strings.Contains(raw, id) {
		t.Errorf("token %q for id %s", raw, id)
	}
	s, err := f.svc.Tokens.Authenticate(f.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}
	if s.Role != so.RoleDPO || s.TokenID != id || !s.TOTPSatisfied || s.SessionID != "" {
		t.Errorf("subject %+v", s)
	}
	if err := f.svc.Policy.Authorize(f.ctx, s, access.ActionAuditRead, ""); err != nil {
		t.Errorf("DPO token reading the audit log: %v", err)
	}

	// Only the hash is stored.
	var stored []byte
	if err := f.db.Owner.GetContext(f.ctx, &stored, `SELECT secret_hash FROM api_tokens WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if len(stored) != 32 || strings.Contains(raw, string(stored)) {
		t.Errorf("stored %d bytes", len(stored))
	}

	bad := func(raw, why string) {
		t.Helper()
		if _, err := f.svc.Tokens.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
			t.Errorf("%s: %v, want ErrUnauthenticated", why, err)
		}
	}
	flip := []byte(raw)
	flip[len(flip)-5] ^= 'A' ^ 'B'
	if flip[len(flip)-5] == raw[len(raw)-5] {
		flip[len(flip)-5] = 'C'
	}
	bad(string(flip), "a changed secret")
	bad(raw[:len(raw)-1], "a truncated token")
	bad("Bearer "+raw, "with the scheme")
	bad("", "empty")

	// Expiry.
	_, short, err := f.svc.Tokens.Issue(f.ctx, "dpo@example.org", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	f.clock.Advance(time.Hour - time.Second)
	if _, err := f.svc.Tokens.Authenticate(f.ctx, short); err != nil {
		t.Errorf("a second before expiry: %v", err)
	}
	f.clock.Advance(time.Second)
	bad(short, "expired")

	// Revocation.
	if err := f.svc.Tokens.Revoke(f.ctx, id); err != nil {
		t.Fatal(err)
	}
	bad(raw, "revoked")
	if err := f.svc.Tokens.Revoke(f.ctx, id); err != nil {
		t.Errorf("revoke twice: %v", err)
	}
	for _, missing := range []string{"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77", "not-an-id"} {
		if err := f.svc.Tokens.Revoke(f.ctx, missing); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("revoke %q: %v", missing, err)
		}
	}

	// Issue refuses unknown and disabled accounts and silly lifetimes.
	if _, _, err := f.svc.Tokens.Issue(f.ctx, "nobody@example.org", 0); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	for _, ttl := range []time.Duration{-time.Hour, time.Second, 400 * 24 * time.Hour} {
		if _, _, err := f.svc.Tokens.Issue(f.ctx, "dpo@example.org", ttl); !errors.Is(err, so.ErrInvalid) {
			t.Errorf("ttl %v: %v", ttl, err)
		}
	}
	id2, raw2, err := f.svc.Tokens.Issue(f.ctx, "dpo@example.org", 0)
	if err != nil {
		t.Fatal(err)
	}
	var exp time.Time
	f.db.Owner.GetContext(f.ctx, &exp, `SELECT expires_at FROM api_tokens WHERE id = $1`, id2)
	if !exp.Equal(f.clock.Now().Add(90 * 24 * time.Hour)) {
		t.Errorf("default expiry %v", exp)
	}
	if err := f.svc.Accounts.Disable(f.ctx, "dpo@example.org"); err != nil {
		t.Fatal(err)
	}
	bad(raw2, "account disabled")
	if _, _, err := f.svc.Tokens.Issue(f.ctx, "dpo@example.org", 0); !errors.Is(err, so.ErrForbidden) {
		t.Errorf("issue for a disabled account: %v", err)
	}
}

// A staff member's token stands in for their second factor: it lives at most 90 days, and
// only the roles that need automation hold tokens (security review, finding 8): by default
// case managers, DPOs and admins; an applicant's token, where the centre allows them, may live
// as long as the configured maximum. A token of a role no longer allowed counts for nothing.
func TestTokensOnlyForAutomationRoles(t *testing.T) {
	f := newFixture(t)
	f.staff("cm@example.org", so.RoleCaseManager)
	f.staff("rita@example.org", so.RoleReviewer)
	f.account("ann@example.org", so.RoleApplicant)
	if _, _, err := f.svc.Tokens.Issue(f.ctx, "cm@example.org", 91*24*time.Hour); !errors.Is(err, so.ErrInvalid) {
		t.Errorf("a 91-day staff token: %v, want invalid", err)
	}
	_, cm, err := f.svc.Tokens.Issue(f.ctx, "cm@example.org", 90*24*time.Hour)
	if err != nil {
		t.Errorf("a 90-day staff token: %v", err)
	}
	for _, email := range []string{"rita@example.org", "ann@example.org"} {
		if _, _, err := f.svc.Tokens.Issue(f.ctx, email, time.Hour); !errors.Is(err, so.ErrForbidden) {
			t.Errorf("a token for %s by default: %v, want forbidden", email, err)
		}
	}
	f.svc.Tokens.TokenRoles = []so.Role{so.RoleApplicant, so.RoleCaseManager}
	if _, _, err := f.svc.Tokens.Issue(f.ctx, "ann@example.org", 300*24*time.Hour); err != nil {
		t.Errorf("a 300-day applicant token where the centre allows them: %v", err)
	}
	if _, err := f.svc.Tokens.Authenticate(f.ctx, cm); err != nil {
		t.Fatalf("the case manager's token: %v", err)
	}
	f.svc.Tokens.TokenRoles = []so.Role{so.RoleApplicant}
	if _, err := f.svc.Tokens.Authenticate(f.ctx, cm); !errors.Is(err, so.ErrUnauthenticated) {
		t.Errorf("a case manager's token once their role may hold none: %v, want unauthenticated", err)
	}
}
