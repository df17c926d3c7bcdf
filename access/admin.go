package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// List returns every account, staff first by role then by email. It does not authorize: the
// caller has been allowed ActionAccountsManage.
func (a *Accounts) List(ctx context.Context) ([]Account, error) {
	var rows []accountRow
	if err := a.db.SelectContext(ctx, &rows, `SELECT `+accountColumns+` FROM accounts
		ORDER BY role = 'applicant', role, lower(email)`); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	out := make([]Account, len(rows))
	for i, r := range rows {
		out[i] = r.account()
	}
	return out, nil
}

// ResetTOTP forgets a staff account's authenticator (a lost phone): its secret, whether it was
// confirmed and its last accepted step; its sessions and unfinished enrolment end with it. At
// the next sign-in with the password the person must enrol again. so.ErrNotFound for no such
// account, so.ErrInvalid for an account that is not staff.
func (a *Accounts) ResetTOTP(ctx context.Context, id string) error {
	if !so.ValidID(id) {
		return so.ErrNotFound
	}
	tx, err := a.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("reset TOTP: %w", err)
	}
	defer tx.Rollback()
	var role string
	err = tx.GetContext(ctx, &role, `UPDATE accounts SET totp_secret = NULL, totp_enabled_at = NULL, totp_last_step = NULL
		WHERE id = $1 RETURNING role`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("reset TOTP: %w", err)
	}
	if !so.Role(role).Staff() {
		return fmt.Errorf("reset TOTP: only staff accounts have one: %w", so.ErrInvalid)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`,
		id, a.Now()); err != nil {
		return fmt.Errorf("reset TOTP: revoke sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("reset TOTP: %w", err)
	}
	return nil
}

// TokenInfo is an API token as the admin sees it: never its secret.
type TokenInfo struct {
	ID        string     `db:"id" json:"id"`
	Email     string     `db:"email" json:"email"`
	Role      so.Role    `db:"role" json:"role"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt time.Time  `db:"expires_at" json:"expires_at"`
	RevokedAt *time.Time `db:"revoked_at" json:"revoked_at,omitempty"`
	Expired   bool       `db:"expired" json:"expired"` // past its expiry, as of the listing
}

// List returns the API tokens that are still valid or ended in the last 30 days, newest first.
func (t *Tokens) List(ctx context.Context) ([]TokenInfo, error) {
	out := []TokenInfo{}
	now := t.Now()
	err := t.db.SelectContext(ctx, &out, `SELECT t.id, a.email, a.role, t.created_at, t.expires_at, t.revoked_at,
		t.expires_at <= $2 AS expired
		FROM api_tokens t JOIN accounts a ON a.id = t.account_id
		WHERE coalesce(t.revoked_at, t.expires_at) > $1 ORDER BY t.created_at DESC, t.id LIMIT 1000`,
		now.Add(-30*24*time.Hour), now)
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	return out, nil
}
