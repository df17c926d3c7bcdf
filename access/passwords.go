package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/mail"
)

// PasswordLinkPath is where password set-up links point, under Config.PublicURL, with the token
// in "token". As with sign-in links, the page spends the token only on POST.
const PasswordLinkPath = "/password"

// passwordLinkTTL is how long a set-up link works.
const passwordLinkTTL = 48 * time.Hour

// PasswordLinks are one-time links, mailed to a person, to choose their own password: the
// admin never types or sees it. Single use, stored only as hashes.
type PasswordLinks struct{ *env }

// Send mails a set-up link to the enabled account id, in language. It answers the link's
// expiry; so.ErrNotFound for no such enabled account.
func (l *PasswordLinks) Send(ctx context.Context, id, language string) (time.Time, error) {
	if !so.ValidID(id) {
		return time.Time{}, so.ErrNotFound
	}
	r, err := l.loadAccountByID(ctx, l.db, id)
	if err != nil {
		return time.Time{}, err
	}
	if r.DisabledAt.Valid {
		return time.Time{}, so.ErrNotFound
	}
	now := l.Now()
	secret, expires := newSecret(), now.Add(passwordLinkTTL)
	tx, err := l.db.BeginTxx(ctx, nil)
	if err != nil {
		return time.Time{}, fmt.Errorf("password link: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `INSERT INTO password_links (account_id, token_hash, expires_at, created_at)
		VALUES ($1, $2, $3, $4)`, r.ID, hashSecret(secret), expires, now); err != nil {
		return time.Time{}, fmt.Errorf("password link: %w", err)
	}
	if err := l.Outbox.Enqueue(ctx, tx, mail.Message{To: r.Email, Template: mail.TemplatePasswordSetup, Language: language,
		Params: mail.Params{Link: l.link(PasswordLinkPath, encodeSecret(passwordPrefix, secret)), ExpiresAt: expires}}); err != nil {
		return time.Time{}, fmt.Errorf("password link: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return time.Time{}, fmt.Errorf("password link: %w", err)
	}
	return expires, nil
}

// Redeem spends a set-up link and sets its account's password (the password policy applies:
// an invalid password leaves the link unspent). Every session of the account ends. A
// malformed, unknown, used or expired link, or a disabled account, is so.ErrInvalidCredentials.
func (l *PasswordLinks) Redeem(ctx context.Context, token, password string) error {
	secret, err := parseSecret(passwordPrefix, token, secretLen)
	if err != nil {
		return so.ErrInvalidCredentials
	}
	if err := checkPasswordPolicy(password); err != nil {
		return err
	}
	now := l.Now()
	tx, err := l.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("password link: %w", err)
	}
	defer tx.Rollback()
	var id string
	err = tx.GetContext(ctx, &id, `UPDATE password_links SET used_at = $2
		WHERE token_hash = $1 AND used_at IS NULL AND expires_at > $2
		AND account_id IN (SELECT id FROM accounts WHERE disabled_at IS NULL) RETURNING account_id`, hashSecret(secret), now)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrInvalidCredentials
	}
	if err != nil {
		return fmt.Errorf("password link: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, id,
		hashPassword(password, l.Argon2)); err != nil {
		return fmt.Errorf("password link: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`, id, now); err != nil {
		return fmt.Errorf("password link: revoke sessions: %w", err)
	}
	return tx.Commit()
}
