package access

import so "github.com/secondopinion/secondopinion"

// Subject is an authenticated caller: what Sessions.Authenticate and Tokens.Authenticate
// return, and what the Policy decides about. The zero Subject is nobody.
type Subject struct {
	Role      so.Role
	AccountID string // the account; empty for a physician
	Email     string // the account's or the invitation's email

	// A physician is scoped to one invitation and so to one case.
	InvitationID string
	ScopeCaseID  string

	// TOTPSatisfied is true when this credential passed a TOTP check at login, or is an API
	// token (issued out of band by an operator). Staff subjects without it are refused by
	// the Policy with so.ErrTOTPRequired.
	TOTPSatisfied bool
	// NeedsTOTPEnrolment is true for a staff session of an account that has no TOTP yet: it
	// may only enrol (Accounts.BeginTOTP, Sessions.ConfirmTOTP) and log out.
	NeedsTOTPEnrolment bool

	SessionID string // set when authenticated by a session cookie
	TokenID   string // set when authenticated by an API token
}

// Authenticated reports whether s is somebody.
func (s Subject) Authenticated() bool {
	switch s.Role {
	case so.RolePhysician:
		return s.InvitationID != "" && s.ScopeCaseID != ""
	case so.RoleApplicant, so.RoleCaseManager, so.RoleReviewer, so.RoleDPO, so.RoleAdmin:
		return s.AccountID != ""
	}
	return false
}

// Actor names the subject in logs and audit entries without personal data: the account id, or
// the invitation id for a physician.
func (s Subject) Actor() string {
	switch s.Role {
	case so.RolePhysician:
		return "invitation:" + s.InvitationID
	case so.RoleSystem:
		return "system"
	}
	return "account:" + s.AccountID
}
