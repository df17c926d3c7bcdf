package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/mail"
)

// SignInLinkPath is where sign-in links point, under Config.PublicURL, with the token in the
// query parameter "token". The page there must not sign in on GET (mail scanners fetch links):
// it shows a button that POSTs the token to a handler calling SignInLinks.Redeem.
const SignInLinkPath = "/signin/link"

// SignInLinks are one-time sign-in links mailed to applicants: single use, valid for
// Config.SignInLinkTTL, stored only as hashes. Staff cannot use them (they must pass TOTP).
type SignInLinks struct{ *env }

// Request is RequestIn in English.
func (l *SignInLinks) Request(ctx context.Context, email, ip string) error {
	return l.RequestIn(ctx, email, ip, "en")
}

// RequestIn mails a sign-in link to email, in language (en, it, es: the page's; others are
// English), if it belongs to an enabled applicant. The answer does not tell whether it does:
// nil for unknown, staff and disabled accounts alike, and nil when the account has had
// Config.LinkRequests links in the window (no mail is sent then). Only a client address ip
// over Config.IPFailures requests gets a *ThrottledError. The mail is queued in the
// transaction that stores the link and sent later by the outbox: a known address never waits
// on SMTP, so it answers in about the time of an unknown one.
func (l *SignInLinks) RequestIn(ctx context.Context, email, ip, language string) error {
	now := l.Now()
	addrKey := ipKey("link-ip", ip)
	if err := l.gate(ctx, now, throttleCheck{addrKey, l.IPFailures}); err != nil {
		return err
	}
	if addrKey != nil {
		if err := l.recordEvent(ctx, addrKey, now); err != nil {
			return err
		}
	}
	if _, err := checkEmail(email); err != nil {
		return err
	}
	acctKey := throttleKey("link-account", email)
	if err := l.gate(ctx, now, throttleCheck{acctKey, l.LinkRequests}); err != nil {
		return nil
	}
	if err := l.recordEvent(ctx, acctKey, now); err != nil {
		return err
	}
	r, err := l.loadAccount(ctx, l.db, email)
	if errors.Is(err, so.ErrNotFound) || (err == nil && (so.Role(r.Role) != so.RoleApplicant || r.DisabledAt.Valid)) {
		return nil
	}
	if err != nil {
		return err
	}
	secret := newSecret()
	expires := now.Add(l.SignInLinkTTL)
	tx, err := l.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sign-in link: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO signin_links (account_id, token_hash, expires_at, created_at) VALUES ($1, $2, $3, $4)`,
		r.ID, hashSecret(secret), expires, now); err != nil {
		return fmt.Errorf("sign-in link: %w", err)
	}
	if err := l.Outbox.Enqueue(ctx, tx, mail.Message{To: r.Email, Template: mail.TemplateSignInLink, Language: language,
		Params: mail.Params{Link: l.link(SignInLinkPath, encodeSecret(linkPrefix, secret)), ExpiresAt: expires}}); err != nil {
		return fmt.Errorf("sign-in link: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sign-in link: %w", err)
	}
	return nil
}

// Redeem spends a sign-in link and opens a session for its applicant. A malformed, unknown,
// used or expired link, or a disabled account, is so.ErrInvalidCredentials.
func (l *SignInLinks) Redeem(ctx context.Context, token string) (*Session, string, error) {
	now := l.Now()
	secret, err := parseLinkToken(token)
	if err != nil {
		return nil, "", so.ErrInvalidCredentials
	}
	tx, err := l.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("redeem sign-in link: %w", err)
	}
	defer tx.Rollback()
	var accountID string
	err = tx.GetContext(ctx, &accountID, `UPDATE signin_links SET used_at = $2
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
		AND account_id IN (SELECT id FROM accounts WHERE disabled_at IS NULL AND role = 'applicant')
		RETURNING account_id`, hashSecret(secret), now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", so.ErrInvalidCredentials
	}
	if err != nil {
		return nil, "", fmt.Errorf("redeem sign-in link: %w", err)
	}
	sess, raw, err := l.newSession(ctx, tx, accountID, "", false, now, now.Add(l.AbsoluteTimeout))
	if err != nil {
		return nil, "", err
	}
	if err := tx.Commit(); err != nil {
		return nil, "", fmt.Errorf("redeem sign-in link: %w", err)
	}
	return sess, raw, nil
}
