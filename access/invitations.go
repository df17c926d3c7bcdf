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

// InvitationPath is where invitation links point, under Config.PublicURL, with the token in the
// query parameter "token". As with SignInLinkPath, the page must redeem only on POST.
const InvitationPath = "/invitation"

// Invitations let an applicant or a case manager invite a referring physician to one case.
// The mailed link signs the physician in once (single use), until Config.InvitationTTL; the
// session it opens is a physician Subject scoped to that case, may upload the cover letter and
// clinical documents and see only what it uploaded, and ends at the invitation's expiry or
// when the invitation is revoked.
type Invitations struct {
	*env
	policy *Policy
}

// Invitation is an invitation as its inviters see it. URL is set only by Invite: the token is
// not stored, so it cannot be shown again.
type Invitation struct {
	ID         string     `json:"id"`
	CaseID     string     `json:"case_id"`
	Email      string     `json:"email"`
	URL        string     `json:"-"` // mailed to the physician only: never in an answer
	ExpiresAt  time.Time  `json:"expires_at"`
	RedeemedAt *time.Time `json:"redeemed_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

// Invite invites the physician at email to the case, if the policy lets inviter (ActionInvite)
// and the case still takes documents (so.CaseStatus.OpenForDocuments; so.StateError otherwise),
// and mails the link in the case's language (Config.CaseLanguage): the mail is queued in the
// transaction that stores the invitation. It names no patient: it carries the link and its
// expiry only.
func (v *Invitations) Invite(ctx context.Context, inviter Subject, caseID, email string) (Invitation, error) {
	if err := v.policy.Authorize(ctx, inviter, ActionInvite, caseID); err != nil {
		return Invitation{}, err
	}
	// A physician is invited to upload: only while the case takes their documents.
	facts, err := v.policy.dir.CaseFacts(ctx, caseID)
	if err != nil {
		return Invitation{}, lookupErr(err)
	}
	if !facts.Status.OpenForDocuments() {
		return Invitation{}, so.StateError(facts.Status)
	}
	email, err = checkEmail(email)
	if err != nil {
		return Invitation{}, err
	}
	lang := "en"
	if v.CaseLanguage != nil {
		if lang, err = v.CaseLanguage(ctx, caseID); err != nil {
			return Invitation{}, fmt.Errorf("invite: case language: %w", err)
		}
	}
	now := v.Now()
	secret := newSecret()
	inv := Invitation{CaseID: caseID, Email: email, ExpiresAt: now.Add(v.InvitationTTL), CreatedAt: now,
		URL: v.link(InvitationPath, encodeSecret(invitePrefix, secret))}
	tx, err := v.db.BeginTxx(ctx, nil)
	if err != nil {
		return Invitation{}, fmt.Errorf("invite: %w", err)
	}
	defer tx.Rollback()
	if err := tx.GetContext(ctx, &inv.ID, `INSERT INTO invitations (case_id, email, token_hash, invited_by, expires_at, created_at)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`, caseID, email, hashSecret(secret), inviter.AccountID, inv.ExpiresAt, now); err != nil {
		return Invitation{}, fmt.Errorf("invite: %w", err)
	}
	if err := v.Outbox.Enqueue(ctx, tx, mail.Message{To: email, Template: mail.TemplateInvitation, Language: lang,
		Params: mail.Params{Link: inv.URL, ExpiresAt: inv.ExpiresAt}}); err != nil {
		return Invitation{}, fmt.Errorf("invite: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return Invitation{}, fmt.Errorf("invite: %w", err)
	}
	return inv, nil
}

// Redeem spends an invitation link and opens the physician's session. A malformed, unknown,
// spent, expired or revoked link is so.ErrInvalidCredentials.
func (v *Invitations) Redeem(ctx context.Context, token string) (*Session, string, error) {
	now := v.Now()
	secret, err := parseInvitationToken(token)
	if err != nil {
		return nil, "", so.ErrInvalidCredentials
	}
	tx, err := v.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, "", fmt.Errorf("redeem invitation: %w", err)
	}
	defer tx.Rollback()
	var r struct {
		ID        string    `db:"id"`
		ExpiresAt time.Time `db:"expires_at"`
	}
	err = tx.GetContext(ctx, &r, `UPDATE invitations SET redeemed_at = $2
		WHERE token_hash = $1 AND redeemed_at IS NULL AND revoked_at IS NULL AND expires_at > $2
		RETURNING id, expires_at`, hashSecret(secret), now)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, "", so.ErrInvalidCredentials
	}
	if err != nil {
		return nil, "", fmt.Errorf("redeem invitation: %w", err)
	}
	end := now.Add(v.AbsoluteTimeout)
	if r.ExpiresAt.Before(end) {
		end = r.ExpiresAt
	}
	sess, raw, err := v.newSession(ctx, tx, "", r.ID, false, now, end)
	if err != nil {
		return nil, "", err
	}
	if err := tx.Commit(); err != nil {
		return nil, "", fmt.Errorf("redeem invitation: %w", err)
	}
	return sess, raw, nil
}

// AuthorizeRevoke asks the policy whether s may revoke the invitation (ActionInvite on its
// case) and returns its case's id; a missing invitation is so.ErrNotFound, as an invisible one.
func (v *Invitations) AuthorizeRevoke(ctx context.Context, s Subject, invitationID string) (string, error) {
	var caseID string
	if so.ValidID(invitationID) {
		err := v.db.GetContext(ctx, &caseID, `SELECT case_id FROM invitations WHERE id = $1`, invitationID)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return "", fmt.Errorf("revoke invitation: %w", err)
		}
	}
	if caseID == "" {
		if err := precheck(s); err != nil {
			return "", err
		}
		return "", so.ErrNotFound
	}
	if err := v.policy.Authorize(ctx, s, ActionInvite, caseID); err != nil {
		return "", err
	}
	return caseID, nil
}

// Revoke revokes an invitation, if the policy lets s invite on its case, and ends the sessions
// it opened. An invitation on a case s cannot see is so.ErrNotFound. Revoking twice is not an error.
func (v *Invitations) Revoke(ctx context.Context, s Subject, invitationID string) error {
	if _, err := v.AuthorizeRevoke(ctx, s, invitationID); err != nil {
		return err
	}
	now := v.Now()
	tx, err := v.db.BeginTxx(ctx, nil)
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `UPDATE invitations SET revoked_at = coalesce(revoked_at, $2) WHERE id = $1`, invitationID, now); err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $2 WHERE invitation_id = $1 AND revoked_at IS NULL`, invitationID, now); err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	return nil
}

// List returns the case's invitations, newest first, if the policy lets s invite on it.
func (v *Invitations) List(ctx context.Context, s Subject, caseID string) ([]Invitation, error) {
	if err := v.policy.Authorize(ctx, s, ActionInvite, caseID); err != nil {
		return nil, err
	}
	var rows []struct {
		ID         string       `db:"id"`
		CaseID     string       `db:"case_id"`
		Email      string       `db:"email"`
		ExpiresAt  time.Time    `db:"expires_at"`
		RedeemedAt sql.NullTime `db:"redeemed_at"`
		RevokedAt  sql.NullTime `db:"revoked_at"`
		CreatedAt  time.Time    `db:"created_at"`
	}
	if err := v.db.SelectContext(ctx, &rows, `SELECT id, case_id, email, expires_at, redeemed_at, revoked_at, created_at
		FROM invitations WHERE case_id = $1 ORDER BY created_at DESC, id`, caseID); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	out := make([]Invitation, len(rows))
	for i, r := range rows {
		out[i] = Invitation{ID: r.ID, CaseID: r.CaseID, Email: r.Email, ExpiresAt: r.ExpiresAt, CreatedAt: r.CreatedAt,
			RedeemedAt: nullTime(r.RedeemedAt), RevokedAt: nullTime(r.RevokedAt)}
	}
	return out, nil
}

func nullTime(t sql.NullTime) *time.Time {
	if !t.Valid {
		return nil
	}
	return &t.Time
}
