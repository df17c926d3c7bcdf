package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"
)

// SessionCookie is the name of the browser session cookie. The web layer sets it with
// Path=/, Secure, HttpOnly, SameSite=Lax and no Domain (the __Host- prefix makes browsers
// enforce the first two and the last), without Max-Age so that it ends with the browser;
// the server-side timeouts apply either way. Its value is the raw token from Login, a
// sign-in link, an invitation or Rotate, and nothing else.
const SessionCookie = "__Host-so_session"

// Sessions are server-side: the cookie holds 32 random bytes, the database only their SHA-256.
// A session ends at logout, after Config.IdleTimeout without a request, at Config.AbsoluteTimeout
// after login (for a physician, at the invitation's expiry if sooner), when its account is
// disabled or its password set, and when its invitation is revoked. Activity is recorded at
// most once a minute, so the idle timeout is exact to within a minute.
type Sessions struct{ *env }

// Session is a signed-in session.
type Session struct {
	ID        string
	Subject   Subject
	CreatedAt time.Time // this session id's creation (login or latest rotation)
	ExpiresAt time.Time // the absolute end, whatever the activity
}

type sessionRow struct {
	ID            string         `db:"id"`
	AccountID     sql.NullString `db:"account_id"`
	InvitationID  sql.NullString `db:"invitation_id"`
	TOTPSatisfied bool           `db:"totp_satisfied"`
	CreatedAt     time.Time      `db:"created_at"`
	LastSeenAt    time.Time      `db:"last_seen_at"`
	ExpiresAt     time.Time      `db:"expires_at"`
	Email         sql.NullString `db:"email"`
	Role          sql.NullString `db:"role"`
	DisabledAt    sql.NullTime   `db:"disabled_at"`
	TOTPEnabledAt sql.NullTime   `db:"totp_enabled_at"`
	CaseID        sql.NullString `db:"case_id"`
	InviteEmail   sql.NullString `db:"invite_email"`
	InviteRevoked sql.NullTime   `db:"invite_revoked_at"`
}

const selectSession = `SELECT s.id, s.account_id, s.invitation_id, s.totp_satisfied, s.created_at, s.last_seen_at, s.expires_at,
	a.email, a.role, a.disabled_at, a.totp_enabled_at,
	i.case_id, i.email AS invite_email, i.revoked_at AS invite_revoked_at
FROM sessions s
LEFT JOIN accounts a ON a.id = s.account_id
LEFT JOIN invitations i ON i.id = s.invitation_id
WHERE s.token_hash = $1 AND s.revoked_at IS NULL`

func (r sessionRow) subject() Subject {
	if r.InvitationID.Valid {
		return Subject{Role: so.RolePhysician, Email: r.InviteEmail.String, InvitationID: r.InvitationID.String,
			ScopeCaseID: r.CaseID.String, SessionID: r.ID}
	}
	role := so.Role(r.Role.String)
	return Subject{Role: role, AccountID: r.AccountID.String, Email: r.Email.String, SessionID: r.ID,
		TOTPSatisfied:      r.TOTPSatisfied,
		NeedsTOTPEnrolment: role.Staff() && !r.TOTPSatisfied && !r.TOTPEnabledAt.Valid}
}

func (r sessionRow) session() *Session {
	return &Session{ID: r.ID, Subject: r.subject(), CreatedAt: r.CreatedAt, ExpiresAt: r.ExpiresAt}
}

// alive reports whether the session may still be used at now.
func (e *env) alive(r sessionRow, now time.Time) bool {
	switch {
	case !now.Before(r.ExpiresAt), now.Sub(r.LastSeenAt) >= e.IdleTimeout:
		return false
	case r.AccountID.Valid && r.DisabledAt.Valid:
		return false
	case r.InvitationID.Valid && r.InviteRevoked.Valid:
		return false
	}
	return true
}

// newSession inserts a session and returns it with its raw token.
func (e *env) newSession(ctx context.Context, q sqlx.QueryerContext, accountID, invitationID string, totp bool, now, expires time.Time) (*Session, string, error) {
	secret := newSecret()
	var id string
	err := sqlx.GetContext(ctx, q, &id, `INSERT INTO sessions (token_hash, account_id, invitation_id, totp_satisfied, created_at, last_seen_at, expires_at)
		VALUES ($1, nullif($2, '')::uuid, nullif($3, '')::uuid, $4, $5, $5, $6) RETURNING id`,
		hashSecret(secret), accountID, invitationID, totp, now, expires)
	if err != nil {
		return nil, "", fmt.Errorf("create session: %w", err)
	}
	raw := encodeSecret("", secret)
	var r sessionRow
	if err := sqlx.GetContext(ctx, q, &r, selectSession, hashSecret(secret)); err != nil {
		return nil, "", fmt.Errorf("create session: %w", err)
	}
	return r.session(), raw, nil
}

// Login checks an email, a password and (for an account with TOTP) a current TOTP code, and
// opens a new session: every login gets a new session id, whatever cookie the browser sent.
//
// Every refusal is so.ErrInvalidCredentials: unknown email, no password set, wrong password,
// disabled account, missing, wrong or reused TOTP code. Unknown emails are checked against a
// dummy hash so they take as long as real ones. While the account or the client address ip
// has failed too often (Config.AccountFailures, Config.IPFailures in Config.ThrottleWindow) the
// answer is a *ThrottledError, which also matches so.ErrInvalidCredentials, without checking the
// password. A successful login clears the account's failures; the address's only age out.
//
// A staff account without TOTP gets a session whose Subject has NeedsTOTPEnrolment: the policy
// refuses it everything until Sessions.ConfirmTOTP.
func (s *Sessions) Login(ctx context.Context, email, password, totpCode, ip string) (*Session, string, error) {
	now := s.Now()
	acctKey, addrKey := throttleKey("login-account", email), ipKey("login-ip", ip)
	// Every attempt is counted before its hash; a successful one is forgotten again below.
	if err := s.reserve(ctx, now, throttleCheck{acctKey, s.AccountFailures}, throttleCheck{addrKey, s.IPFailures}); err != nil {
		return nil, "", err
	}
	fail := func() error { return so.ErrInvalidCredentials }

	type verdict struct {
		ok     bool
		params Argon2Params
		err    error
	}
	r, err := s.loadAccount(ctx, s.db, email)
	if errors.Is(err, so.ErrNotFound) || (err == nil && !r.PasswordHash.Valid) {
		if _, err := withHashSlot(ctx, func() verdict { verifyPassword(s.dummyHash, password); return verdict{} }); err != nil { // #nosec G104 -- the dummy hash only spends the time a real one would
			return nil, "", err
		}
		return nil, "", fail()
	}
	if err != nil {
		return nil, "", err
	}
	v, err := withHashSlot(ctx, func() verdict {
		ok, params, err := verifyPassword(r.PasswordHash.String, password)
		return verdict{ok, params, err}
	})
	if err != nil {
		return nil, "", err
	}
	ok, params, err := v.ok, v.params, v.err
	if err != nil {
		return nil, "", fmt.Errorf("login: account %s: %w", r.ID, err)
	}
	if !ok || r.DisabledAt.Valid {
		return nil, "", fail()
	}
	totp := r.TOTPEnabledAt.Valid
	if totp {
		ok, err := s.checkTOTP(ctx, r, totpCode, now)
		if err != nil {
			return nil, "", err
		}
		if !ok {
			return nil, "", fail()
		}
	}
	if err := s.clearEvents(ctx, acctKey); err != nil {
		return nil, "", err
	}
	if err := s.release(ctx, addrKey, now); err != nil {
		return nil, "", err
	}
	if params != s.Argon2 {
		if _, err := s.db.ExecContext(ctx, `UPDATE accounts SET password_hash = $2 WHERE id = $1`, r.ID, hashPassword(password, s.Argon2)); err != nil {
			return nil, "", fmt.Errorf("login: rehash: %w", err)
		}
	}
	return s.newSession(ctx, s.db, r.ID, "", totp, now, now.Add(s.AbsoluteTimeout))
}

// checkTOTP verifies code against the account's secret and records its step, so that the same
// code (or an older one) is never accepted again, even by a concurrent login.
func (e *env) checkTOTP(ctx context.Context, r accountRow, code string, now time.Time) (bool, error) {
	if r.TOTPSecret == nil {
		return false, nil
	}
	secret, err := e.seal.open(r.TOTPSecret, r.ID)
	if err != nil {
		return false, fmt.Errorf("account %s: %w", r.ID, err)
	}
	step, ok := verifyTOTP(secret, code, now, r.lastStep())
	if !ok {
		return false, nil
	}
	res, err := e.db.ExecContext(ctx, `UPDATE accounts SET totp_last_step = $2 WHERE id = $1 AND (totp_last_step IS NULL OR totp_last_step < $2)`, r.ID, step)
	if err != nil {
		return false, fmt.Errorf("record TOTP step: %w", err)
	}
	n, _ := res.RowsAffected()
	return n == 1, nil
}

// Authenticate returns the subject of a session cookie value and records the activity.
// Anything but a live session (malformed, unknown, logged out, idle, expired, disabled
// account, revoked invitation) is so.ErrUnauthenticated.
func (s *Sessions) Authenticate(ctx context.Context, raw string) (Subject, error) {
	now := s.Now()
	r, err := s.live(ctx, s.db, raw, now)
	if err != nil {
		return Subject{}, err
	}
	if now.Sub(r.LastSeenAt) >= time.Minute {
		if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $2 WHERE id = $1 AND last_seen_at < $2`, r.ID, now); err != nil {
			return Subject{}, fmt.Errorf("session activity: %w", err)
		}
	}
	return r.subject(), nil
}

// live loads the session of raw if it is alive; a session found dead is revoked on the way.
func (e *env) live(ctx context.Context, q sqlx.ExtContext, raw string, now time.Time) (sessionRow, error) {
	var r sessionRow
	secret, err := parseSessionToken(raw)
	if err != nil {
		return r, so.ErrUnauthenticated
	}
	err = sqlx.GetContext(ctx, q, &r, selectSession, hashSecret(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return r, so.ErrUnauthenticated
	}
	if err != nil {
		return r, fmt.Errorf("load session: %w", err)
	}
	if !e.alive(r, now) {
		if _, err := q.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, r.ID, now); err != nil {
			return r, fmt.Errorf("end session: %w", err)
		}
		return r, so.ErrUnauthenticated
	}
	return r, nil
}

// Rotate replaces a live session by a new one with a new id and token, keeping its subject and
// its absolute expiry; the old token stops working at once. Call it when the subject's
// privileges change; ConfirmTOTP does so itself.
func (s *Sessions) Rotate(ctx context.Context, raw string) (*Session, string, error) {
	return s.rotate(ctx, raw, nil)
}

// rotate replaces the session, after running change (in the same transaction) when given.
// change returns the new session's totp_satisfied.
func (s *Sessions) rotate(ctx context.Context, raw string, change func(tx *sqlx.Tx, r sessionRow) (bool, error)) (*Session, string, error) {
	now := s.Now()
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("rotate session: %w", err)
	}
	defer tx.Rollback()
	r, err := s.live(ctx, tx, raw, now)
	if err != nil {
		if errors.Is(err, so.ErrUnauthenticated) {
			tx.Commit() // #nosec G104 -- the revocation of a dead session is best effort; the session is refused anyway. keep the revocation of a dead session
		}
		return nil, "", err
	}
	res, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL`, r.ID, now)
	if err != nil {
		return nil, "", fmt.Errorf("rotate session: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return nil, "", so.ErrUnauthenticated // a concurrent logout or rotation won
	}
	totp := r.TOTPSatisfied
	if change != nil {
		if totp, err = change(tx, r); err != nil {
			return nil, "", err
		}
	}
	sess, newRaw, err := s.newSession(ctx, tx, r.AccountID.String, r.InvitationID.String, totp, now, r.ExpiresAt)
	if err != nil {
		return nil, "", err
	}
	if err := tx.Commit(); err != nil {
		return nil, "", fmt.Errorf("rotate session: %w", err)
	}
	return sess, newRaw, nil
}

// ConfirmTOTP completes TOTP enrolment (see Accounts.BeginTOTP) with a code from the app: it
// enables TOTP on the account, ends the account's other sessions that lack the second factor,
// and rotates this session into one that has it. A wrong code is so.ErrInvalidCredentials and
// counts as a failed login of the account.
func (s *Sessions) ConfirmTOTP(ctx context.Context, raw, code string) (*Session, string, error) {
	now := s.Now()
	return s.rotate(ctx, raw, func(tx *sqlx.Tx, r sessionRow) (bool, error) {
		subj := r.subject()
		if !subj.NeedsTOTPEnrolment {
			return false, fmt.Errorf("confirm TOTP: %w", so.ErrForbidden)
		}
		acct, err := s.loadAccountByID(ctx, tx, subj.AccountID)
		if err != nil {
			return false, err
		}
		key := throttleKey("login-account", acct.Email)
		if err := s.gate(ctx, now, throttleCheck{key, s.AccountFailures}); err != nil {
			return false, err
		}
		var secret []byte
		if acct.TOTPSecret != nil {
			if secret, err = s.seal.open(acct.TOTPSecret, acct.ID); err != nil {
				return false, fmt.Errorf("account %s: %w", acct.ID, err)
			}
		}
		step, ok := verifyTOTP(secret, code, now, -1)
		if secret == nil || !ok {
			// Recorded outside tx: the failure must count even though tx rolls back.
			if err := s.recordEvent(ctx, key, now); err != nil {
				return false, err
			}
			return false, so.ErrInvalidCredentials
		}
		if _, err := tx.ExecContext(ctx, `UPDATE accounts SET totp_enabled_at = $2, totp_last_step = $3 WHERE id = $1 AND totp_enabled_at IS NULL`,
			acct.ID, now, step); err != nil {
			return false, fmt.Errorf("confirm TOTP: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE account_id = $1 AND revoked_at IS NULL AND NOT totp_satisfied`,
			acct.ID, now); err != nil {
			return false, fmt.Errorf("confirm TOTP: %w", err)
		}
		return true, nil
	})
}

// Logout ends the session of raw. It is idempotent: an unknown or dead token is not an error.
func (s *Sessions) Logout(ctx context.Context, raw string) error {
	secret, err := parseSessionToken(raw)
	if err != nil {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE token_hash = $1 AND revoked_at IS NULL`,
		hashSecret(secret), s.Now()); err != nil {
		return fmt.Errorf("logout: %w", err)
	}
	return nil
}
