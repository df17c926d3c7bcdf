package access

import "fmt"

// Role is what a subject is to the service. Every account has one of the five account roles;
// RolePhysician exists only for subjects signed in through an invitation.
type Role string

// The roles of DESIGN §7.
const (
	RoleApplicant   Role = "applicant"
	RolePhysician   Role = "physician"
	RoleCaseManager Role = "case_manager"
	RoleReviewer    Role = "reviewer"
	RoleDPO         Role = "dpo"
	RoleAdmin       Role = "admin"
)

// ParseRole parses an account role, as given to `users add --role`. RolePhysician is refused:
// physicians have no account, only invitations.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleApplicant, RoleCaseManager, RoleReviewer, RoleDPO, RoleAdmin:
		return r, nil
	}
	return "", fmt.Errorf("role %q: want applicant, case_manager, reviewer, dpo or admin: %w", s, ErrInvalid)
}

// Staff reports whether the role is a staff role, which must pass TOTP.
func (r Role) Staff() bool {
	return r == RoleCaseManager || r == RoleReviewer || r == RoleDPO || r == RoleAdmin
}

// Subject is an authenticated caller: what Sessions.Authenticate and Tokens.Authenticate
// return, and what the Policy decides about. The zero Subject is nobody.
type Subject struct {
	Role      Role
	AccountID string // the account; empty for a physician
	Email     string // the account's or the invitation's email

	// A physician is scoped to one invitation and so to one case.
	InvitationID string
	ScopeCaseID  string

	// TOTPSatisfied is true when this credential passed a TOTP check at login, or is an API
	// token (issued out of band by an operator). Staff subjects without it are refused by
	// the Policy with ErrTOTPRequired.
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
	case RolePhysician:
		return s.InvitationID != "" && s.ScopeCaseID != ""
	case RoleApplicant, RoleCaseManager, RoleReviewer, RoleDPO, RoleAdmin:
		return s.AccountID != ""
	}
	return false
}

// Actor names the subject in logs and audit entries without personal data: the account id, or
// the invitation id for a physician.
func (s Subject) Actor() string {
	if s.Role == RolePhysician {
		return "invitation:" + s.InvitationID
	}
	return "account:" + s.AccountID
}
