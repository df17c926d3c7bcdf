package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"
)

// Accounts manages the people who sign in with a password: applicants and staff.
type Accounts struct{ *env }

// Account is an account as the rest of the service sees it; secrets stay in the database.
type Account struct {
	ID          string
	Email       string
	Name        string
	Role        so.Role
	TOTPEnabled bool
	Disabled    bool
	CreatedAt   time.Time
}

type accountRow struct {
	ID            string         `db:"id"`
	Email         string         `db:"email"`
	Name          string         `db:"name"`
	Role          string         `db:"role"`
	PasswordHash  sql.NullString `db:"password_hash"`
	DisabledAt    sql.NullTime   `db:"disabled_at"`
	TOTPSecret    []byte         `db:"totp_secret"`
	TOTPEnabledAt sql.NullTime   `db:"totp_enabled_at"`
	TOTPLastStep  sql.NullInt64  `db:"totp_last_step"`
	CreatedAt     time.Time      `db:"created_at"`
}

const accountColumns = `id, email, name, role, password_hash, disabled_at, totp_secret, totp_enabled_at, totp_last_step, created_at`

func (r accountRow) account() Account {
	return Account{ID: r.ID, Email: r.Email, Name: r.Name, Role: so.Role(r.Role), TOTPEnabled: r.TOTPEnabledAt.Valid,
		Disabled: r.DisabledAt.Valid, CreatedAt: r.CreatedAt}
}

// lastStep is the last accepted TOTP step, or -1.
func (r accountRow) lastStep() int64 {
	if r.TOTPLastStep.Valid {
		return r.TOTPLastStep.Int64
	}
	return -1
}

// loadAccount finds an account by email (case-insensitively); so.ErrNotFound when there is none.
func (e *env) loadAccount(ctx context.Context, q sqlx.QueryerContext, email string) (accountRow, error) {
	var r accountRow
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+accountColumns+` FROM accounts WHERE lower(email) = lower($1)`, email)
	if errors.Is(err, sql.ErrNoRows) {
		return r, so.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("load account: %w", err)
	}
	return r, nil
}

func (e *env) loadAccountByID(ctx context.Context, q sqlx.QueryerContext, id string) (accountRow, error) {
	var r accountRow
	if !so.ValidID(id) {
		return r, so.ErrNotFound
	}
	err := sqlx.GetContext(ctx, q, &r, `SELECT `+accountColumns+` FROM accounts WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return r, so.ErrNotFound
	}
	if err != nil {
		return r, fmt.Errorf("load account: %w", err)
	}
	return r, nil
}

// Add creates an account without a password (set one with SetPassword, or let an applicant
// use email sign-in links) and returns its id. The email is unique regardless of case.
func (a *Accounts) Add(ctx context.Context, email string, role so.Role, name string) (string, error) {
	email, err := checkEmail(email)
	if err != nil {
		return "", err
	}
	if _, err := so.ParseRole(string(role)); err != nil {
		return "", err
	}
	name = strings.TrimSpace(name)
	if len(name) > 200 || strings.IndexFunc(name, unicode.IsControl) >= 0 {
		return "", fmt.Errorf("name: at most 200 bytes, no control characters: %w", so.ErrInvalid)
	}
	var id string
	err = a.db.GetContext(ctx, &id, `INSERT INTO accounts (email, role, name, created_at) VALUES ($1, $2, $3, $4) RETURNING id`,
		email, string(role), name, a.Now())
	var pqErr *pq.Error
	if errors.As(err, &pqErr) && pqErr.Code == "23505" {
		return "", fmt.Errorf("account %s: %w", email, so.ErrExists)
	}
	if err != nil {
		return "", fmt.Errorf("add account: %w", err)
	}
	return id, nil
}

// SetPassword sets the account's password (MinPasswordLen to MaxPasswordLen characters) and
// ends its sessions: a changed credential starts from a fresh login.
func (a *Accounts) SetPassword(ctx context.Context, email, password string) error {
	if err := checkPasswordPolicy(password); err != nil {
		return err
	}
	h := hashPassword(password, a.Argon2)
	tx, err := a.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	defer tx.Rollback()
	var id string
	err = tx.GetContext(ctx, &id, `UPDATE accounts SET password_hash = $2 WHERE lower(email) = lower($1) RETURNING id`, email, h)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`, id, a.Now()); err != nil {
		return fmt.Errorf("set password: revoke sessions: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("set password: %w", err)
	}
	return nil
}

// Disable disables the account and, in the same transaction, revokes its sessions, API tokens
// and unused sign-in links. Disabling a disabled account is not an error.
func (a *Accounts) Disable(ctx context.Context, email string) error {
	now := a.Now()
	tx, err := a.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("disable account: %w", err)
	}
	defer tx.Rollback()
	var id string
	err = tx.GetContext(ctx, &id, `UPDATE accounts SET disabled_at = coalesce(disabled_at, $2) WHERE lower(email) = lower($1) RETURNING id`, email, now)
	if errors.Is(err, sql.ErrNoRows) {
		return so.ErrNotFound
	}
	if err != nil {
		return fmt.Errorf("disable account: %w", err)
	}
	for _, q := range []string{
		`UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`,
		`UPDATE api_tokens SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL`,
		`UPDATE signin_links SET used_at = $2 WHERE account_id = $1 AND used_at IS NULL`,
	} {
		if _, err := tx.ExecContext(ctx, q, id, now); err != nil {
			return fmt.Errorf("disable account: revoke credentials: %w", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("disable account: %w", err)
	}
	return nil
}

// ByEmail returns the account with this email (any case); so.ErrNotFound when there is none.
func (a *Accounts) ByEmail(ctx context.Context, email string) (Account, error) {
	r, err := a.loadAccount(ctx, a.db, email)
	if err != nil {
		return Account{}, err
	}
	return r.account(), nil
}

// ByID returns the account with this id; so.ErrNotFound when there is none.
func (a *Accounts) ByID(ctx context.Context, id string) (Account, error) {
	r, err := a.loadAccountByID(ctx, a.db, id)
	if err != nil {
		return Account{}, err
	}
	return r.account(), nil
}

// BeginTOTP starts TOTP enrolment for a staff subject whose account has none yet (a session
// with NeedsTOTPEnrolment): it stores a new sealed secret, replacing any earlier unconfirmed
// one, and returns what the authenticator app needs. Sessions.ConfirmTOTP completes it.
// An account with TOTP already enabled gets so.ErrExists; a non-staff subject so.ErrForbidden.
func (a *Accounts) BeginTOTP(ctx context.Context, s Subject) (TOTPEnrolment, error) {
	if !s.Authenticated() || s.AccountID == "" {
		return TOTPEnrolment{}, so.ErrUnauthenticated
	}
	if !s.Role.Staff() {
		return TOTPEnrolment{}, so.ErrForbidden
	}
	secret := make([]byte, totpSecretLen)
	copy(secret, newSecret())
	var email string
	err := a.db.GetContext(ctx, &email, `UPDATE accounts SET totp_secret = $2 WHERE id = $1 AND totp_enabled_at IS NULL AND disabled_at IS NULL RETURNING email`,
		s.AccountID, a.seal.seal(secret, s.AccountID))
	if errors.Is(err, sql.ErrNoRows) {
		return TOTPEnrolment{}, fmt.Errorf("TOTP enrolment: %w", so.ErrExists)
	}
	if err != nil {
		return TOTPEnrolment{}, fmt.Errorf("TOTP enrolment: %w", err)
	}
	return TOTPEnrolment{Secret: b32.EncodeToString(secret), URI: totpURI(a.Issuer, email, secret)}, nil
}

// AccountName is how an account is shown to staff: its email and display name.
type AccountName struct {
	Email string `db:"email"`
	Name  string `db:"name"`
}

// EnabledAccount returns the id of the enabled account with this email (any case) and role;
// so.ErrNotFound when there is none.
func (a *Accounts) EnabledAccount(ctx context.Context, email string, role so.Role) (string, error) {
	var id string
	err := a.db.GetContext(ctx, &id, `SELECT id FROM accounts WHERE lower(email) = lower($1) AND role = $2
		AND disabled_at IS NULL`, email, string(role))
	if errors.Is(err, sql.ErrNoRows) {
		return "", so.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("find account: %w", err)
	}
	return id, nil
}

// AccountNames returns the email and name of each of the accounts that exists.
func (a *Accounts) AccountNames(ctx context.Context, ids []string) (map[string]AccountName, error) {
	var rows []struct {
		ID string `db:"id"`
		AccountName
	}
	if err := a.db.SelectContext(ctx, &rows, `SELECT id, email, name FROM accounts WHERE id = ANY($1::uuid[])`,
		pq.StringArray(ids)); err != nil {
		return nil, fmt.Errorf("account names: %w", err)
	}
	out := make(map[string]AccountName, len(rows))
	for _, r := range rows {
		out[r.ID] = r.AccountName
	}
	return out, nil
}

// EnabledEmails returns the addresses of the enabled accounts with the role, for staff mails.
func (a *Accounts) EnabledEmails(ctx context.Context, role so.Role) ([]string, error) {
	var out []string
	if err := a.db.SelectContext(ctx, &out, `SELECT email FROM accounts WHERE role = $1 AND disabled_at IS NULL
		ORDER BY email`, string(role)); err != nil {
		return nil, fmt.Errorf("account emails: %w", err)
	}
	return out, nil
}

// EmailIn returns the address of the account, read through q (the caller's transaction, so
// that a mail queued in it needs no second connection); so.ErrNotFound when there is none.
func (a *Accounts) EmailIn(ctx context.Context, q sqlx.QueryerContext, id string) (string, error) {
	if !so.ValidID(id) {
		return "", so.ErrNotFound
	}
	var email string
	err := sqlx.GetContext(ctx, q, &email, `SELECT email FROM accounts WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", so.ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("account email: %w", err)
	}
	return email, nil
}
