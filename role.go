package secondopinion

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
	// RoleSystem is the service itself acting on its own schedule (the retention job): it
	// names the actor of what no person did, in the case history and the audit log. It is
	// never an account's role and never authenticated.
	RoleSystem Role = "system"
)

// Roles lists every role; AccountRoles those an account can have.
var (
	Roles        = []Role{RoleApplicant, RolePhysician, RoleCaseManager, RoleReviewer, RoleDPO, RoleAdmin}
	AccountRoles = []Role{RoleApplicant, RoleCaseManager, RoleReviewer, RoleDPO, RoleAdmin}
)

// ParseRole parses an account role, as given to `users add --role`. RolePhysician is refused:
// physicians have no account, only invitations.
func ParseRole(s string) (Role, error) {
	switch r := Role(s); r {
	case RoleApplicant, RoleCaseManager, RoleReviewer, RoleDPO, RoleAdmin:
		return r, nil
	}
	return "", Errorf(EInvalid, "role %q: want applicant, case_manager, reviewer, dpo or admin", s)
}

// Staff reports whether the role is a staff role, which must pass TOTP.
func (r Role) Staff() bool {
	return r == RoleCaseManager || r == RoleReviewer || r == RoleDPO || r == RoleAdmin
}
