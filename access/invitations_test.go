package access_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
)

func TestInvitations(t *testing.T) {
	f := newFixture(t)
	ann := f.applicant("ann@example.org")
	bob := f.applicant("bob@example.org")
	_, cm := f.staff("cm@example.org", so.RoleCaseManager)
	annCase := f.newCase(ann, "Giulietta")
	bobCase := f.newCase(bob, "Romeo")

	inv, doc, raw := f.physician(ann, annCase, "dr.verdi@example.org")
	if inv.URL == "" || !inv.ExpiresAt.Equal(f.clock.Now().Add(7*24*time.Hour)) || inv.CaseID != annCase {
		t.Errorf("invitation %+v", inv)
	}
	if doc.Role != so.RolePhysician || doc.ScopeCaseID != annCase || doc.InvitationID != inv.ID || doc.AccountID != "" {
		t.Errorf("physician subject %+v", doc)
	}

	t.Run("mail carries a link, no health data", func(t *testing.T) {
		m, _ := f.lastMail("dr.verdi@example.org")
		for _, leak := range []string{"Giulietta", "Rossi", "1970", annCase, "oncolog"} {
			if strings.Contains(m.Body+m.Subject, leak) {
				t.Errorf("invitation mail contains %q", leak)
			}
		}
		if !strings.Contains(m.Body, inv.URL) || !strings.HasPrefix(inv.URL, "https://so.test/app/invitation?token=inv_") {
			t.Errorf("link %q not in mail %q", inv.URL, m.Body)
		}
		if m.Language != "it" || !strings.Contains(m.Body, "Buongiorno") || !strings.Contains(m.Body, "17 marzo 2025, ore 09:00 UTC") {
			t.Errorf("not in the case's language (it): %+v", m)
		}
	})

	t.Run("single use", func(t *testing.T) {
		m, _ := f.lastMail("dr.verdi@example.org")
		if _, _, err := f.svc.Invitations.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("second redemption: %v", err)
		}
	})

	t.Run("scoped to the case", func(t *testing.T) {
		if err := f.svc.Policy.AuthorizeUpload(f.ctx, doc, annCase, "cover_letter"); err != nil {
			t.Errorf("upload to the invited case: %v", err)
		}
		if err := f.svc.Policy.AuthorizeUpload(f.ctx, doc, bobCase, "cover_letter"); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("upload to another case: %v, want so.ErrNotFound", err)
		}
		if err := f.svc.Policy.Authorize(f.ctx, doc, access.ActionCaseRead, bobCase); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("reading another case: %v, want so.ErrNotFound", err)
		}
	})

	t.Run("only owner and case manager invite", func(t *testing.T) {
		if _, err := f.svc.Invitations.Invite(f.ctx, bob, annCase, "x@example.org"); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("another applicant inviting: %v", err)
		}
		if _, err := f.svc.Invitations.Invite(f.ctx, doc, annCase, "x@example.org"); !errors.Is(err, so.ErrForbidden) {
			t.Errorf("a physician inviting: %v", err)
		}
		if _, err := f.svc.Invitations.Invite(f.ctx, cm, annCase, "bad address"); !errors.Is(err, so.ErrInvalid) {
			t.Errorf("bad address: %v", err)
		}
		f.clock.Advance(time.Minute)
		if _, err := f.svc.Invitations.Invite(f.ctx, cm, annCase, "dr.bianchi@example.org"); err != nil {
			t.Errorf("case manager inviting: %v", err)
		}
		list, err := f.svc.Invitations.List(f.ctx, ann, annCase)
		if err != nil || len(list) != 2 || list[0].Email != "dr.bianchi@example.org" || list[1].RedeemedAt == nil || list[0].URL != "" {
			t.Errorf("list %+v, %v", list, err)
		}
		if _, err := f.svc.Invitations.List(f.ctx, bob, annCase); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("another applicant listing: %v", err)
		}
	})

	t.Run("revoke ends the physician's session", func(t *testing.T) {
		if err := f.svc.Invitations.Revoke(f.ctx, bob, inv.ID); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("another applicant revoking: %v", err)
		}
		f.authenticate(raw)
		if err := f.svc.Invitations.Revoke(f.ctx, ann, inv.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
			t.Errorf("physician session after revocation: %v", err)
		}
		if err := f.svc.Invitations.Revoke(f.ctx, ann, inv.ID); err != nil {
			t.Errorf("revoke twice: %v", err)
		}
		for _, id := range []string{"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77", "nope"} {
			if err := f.svc.Invitations.Revoke(f.ctx, ann, id); !errors.Is(err, so.ErrNotFound) {
				t.Errorf("revoke %q: %v", id, err)
			}
		}
	})

	t.Run("a revoked link does not sign in", func(t *testing.T) {
		inv, err := f.svc.Invitations.Invite(f.ctx, ann, annCase, "dr.neri@example.org")
		if err != nil {
			t.Fatal(err)
		}
		if err := f.svc.Invitations.Revoke(f.ctx, cm, inv.ID); err != nil {
			t.Fatal(err)
		}
		m, _ := f.lastMail("dr.neri@example.org")
		if _, _, err := f.svc.Invitations.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("revoked link: %v", err)
		}
	})

	t.Run("expiry", func(t *testing.T) {
		if _, err := f.svc.Invitations.Invite(f.ctx, ann, annCase, "dr.late@example.org"); err != nil {
			t.Fatal(err)
		}
		m, _ := f.lastMail("dr.late@example.org")
		f.clock.Advance(7 * 24 * time.Hour)
		if _, _, err := f.svc.Invitations.Redeem(f.ctx, tokenFromMail(t, m)); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("expired link: %v", err)
		}
	})

	t.Run("the session ends with the invitation", func(t *testing.T) {
		if _, err := f.svc.Invitations.Invite(f.ctx, ann, annCase, "dr.soon@example.org"); err != nil {
			t.Fatal(err)
		}
		m, _ := f.lastMail("dr.soon@example.org")
		f.clock.Advance(7*24*time.Hour - time.Hour) // redeemed an hour before the invitation expires
		sess, raw, err := f.svc.Invitations.Redeem(f.ctx, tokenFromMail(t, m))
		if err != nil {
			t.Fatal(err)
		}
		if !sess.ExpiresAt.Equal(f.clock.Now().Add(time.Hour)) {
			t.Errorf("session ends %v, want the invitation's expiry", sess.ExpiresAt)
		}
		for range 2 {
			f.clock.Advance(29 * time.Minute)
			f.authenticate(raw)
		}
		f.clock.Advance(2 * time.Minute)
		if _, err := f.svc.Sessions.Authenticate(f.ctx, raw); !errors.Is(err, so.ErrUnauthenticated) {
			t.Errorf("after the invitation expired: %v", err)
		}
	})

	for _, bad := range []string{"", "inv_", "sl_" + strings.Repeat("A", 43), "inv_" + strings.Repeat("A", 43)} {
		if _, _, err := f.svc.Invitations.Redeem(f.ctx, bad); !errors.Is(err, so.ErrInvalidCredentials) {
			t.Errorf("redeem %q: %v", bad, err)
		}
	}
}

// Two browsers racing with one link: exactly one gets a session.
func TestRedeemOnceUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	ann := f.applicant("ann@example.org")
	caseID := f.newCase(ann, "Giulietta")
	if _, err := f.svc.Invitations.Invite(f.ctx, ann, caseID, "dr@example.org"); err != nil {
		t.Fatal(err)
	}
	m, _ := f.lastMail("dr@example.org")
	token := tokenFromMail(t, m)
	const n = 8
	errs := make(chan error, n)
	for range n {
		go func() {
			_, _, err := f.svc.Invitations.Redeem(f.ctx, token)
			errs <- err
		}()
	}
	won := 0
	for range n {
		switch err := <-errs; {
		case err == nil:
			won++
		case !errors.Is(err, so.ErrInvalidCredentials):
			t.Errorf("redeem: %v", err)
		}
	}
	if won != 1 {
		t.Errorf("%d redemptions succeeded, want 1", won)
	}
}
