package access

import (
	"context"
	"crypto/subtle"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// Tokens are API bearer tokens for automation, issued by `tokens issue` for an account. The
// token is "so_" and 64 base64url characters encoding a 16-byte id and a 32-byte secret; the
// id is the api_tokens row (printed by the CLI, used to revoke), only the SHA-256 of the secret
// is stored. A token carries its account's role and counts as a passed second factor: it is
// issued out of band by an operator, is long and random, and expires.
type Tokens struct{ *env }

// DefaultTokenRoles are the roles that need automation (security review, finding 8): case
// managers (intake from a referral system), DPOs (the audit log into a SIEM) and admins
// (provisioning). Reviewers open documents and applicants use the pages; neither holds a
// token unless the centre says so (SO_TOKEN_ROLES).
var DefaultTokenRoles = []so.Role{so.RoleCaseManager, so.RoleDPO, so.RoleAdmin}

// MaxStaffTokenTTL is the longest life of a staff member's API token: it stands in for their
// second factor.
const MaxStaffTokenTTL = 90 * 24 * time.Hour

// Issue creates a token for the enabled account with this email, valid for ttl (0: the
// configured default; more than Config.MaxTokenTTL is refused), and returns its id and the raw
// token, which is shown once and never stored.
func (t *Tokens) Issue(ctx context.Context, email string, ttl time.Duration) (id, raw string, err error) {
	if ttl == 0 {
		ttl = t.TokenTTL
	}
	if ttl < time.Minute || ttl > t.MaxTokenTTL {
		return "", "", fmt.Errorf("token lifetime must be between 1m and %s: %w", t.MaxTokenTTL, so.ErrInvalid)
	}
	r, err := t.loadAccount(ctx, t.db, email)
	if err != nil {
		return "", "", err
	}
	if r.DisabledAt.Valid {
		return "", "", fmt.Errorf("account is disabled: %w", so.ErrForbidden)
	}
	if !slices.Contains(t.TokenRoles, so.Role(r.Role)) {
		return "", "", fmt.Errorf("the %s role may not hold API tokens (SO_TOKEN_ROLES): %w", r.Role, so.ErrForbidden)
	}
	// A token passes for TOTP: a staff member's lives at most MaxStaffTokenTTL (security
	// review, finding 8).
	if so.Role(r.Role).Staff() && ttl > MaxStaffTokenTTL {
		return "", "", fmt.Errorf("a staff member's token lives at most %s: %w", MaxStaffTokenTTL, so.ErrInvalid)
	}
	now := t.Now()
	uid, secret := newUUID(), newSecret()
	id = formatUUID(uid[:])
	if _, err := t.db.ExecContext(ctx, `INSERT INTO api_tokens (id, account_id, secret_hash, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)`,
		id, r.ID, hashSecret(secret), now.Add(ttl), now); err != nil {
		return "", "", fmt.Errorf("issue token: %w", err)
	}
	return id, formatAPIToken(uid, secret), nil
}

// Authenticate returns the subject of a bearer token. Anything but a well-formed, known,
// unexpired, unrevoked token of an enabled account is so.ErrUnauthenticated.
func (t *Tokens) Authenticate(ctx context.Context, raw string) (Subject, error) {
	id, secret, err := parseAPIToken(raw)
	if err != nil {
		return Subject{}, so.ErrUnauthenticated
	}
	var r struct {
		AccountID  string       `db:"account_id"`
		Hash       []byte       `db:"secret_hash"`
		ExpiresAt  time.Time    `db:"expires_at"`
		RevokedAt  sql.NullTime `db:"revoked_at"`
		Email      string       `db:"email"`
		Role       string       `db:"role"`
		DisabledAt sql.NullTime `db:"disabled_at"`
	}
	err = t.stmts.Get(ctx, t.db, nil, &r, `SELECT t.account_id, t.secret_hash, t.expires_at, t.revoked_at, a.email, a.role, a.disabled_at
		FROM api_tokens t JOIN accounts a ON a.id = t.account_id WHERE t.id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Subject{}, so.ErrUnauthenticated
	}
	if err != nil {
		return Subject{}, fmt.Errorf("authenticate token: %w", err)
	}
	// A token of a role no longer allowed tokens (the setting was narrowed) counts for nothing.
	if subtle.ConstantTimeCompare(hashSecret(secret), r.Hash) != 1 || r.RevokedAt.Valid || r.DisabledAt.Valid ||
		!t.Now().Before(r.ExpiresAt) || !slices.Contains(t.TokenRoles, so.Role(r.Role)) {
		return Subject{}, so.ErrUnauthenticated
	}
	return Subject{Role: so.Role(r.Role), AccountID: r.AccountID, Email: r.Email, TOTPSatisfied: true, TokenID: id}, nil
}

// Revoke revokes the token with this id; so.ErrNotFound when there is none. Revoking a revoked
// token is not an error.
func (t *Tokens) Revoke(ctx context.Context, id string) error {
	if !so.ValidID(id) {
		return so.ErrNotFound
	}
	res, err := t.db.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, id, t.Now())
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return so.ErrNotFound
	}
	return nil
}
