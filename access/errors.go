package access

import (
	"errors"
	"fmt"
	"time"
)

// Errors returned by this package. The web layer maps them to HTTP statuses in one place:
//
//	ErrUnauthenticated     401  no valid session or token
//	ErrInvalidCredentials  401  login, link or invitation refused (one answer for every reason)
//	ErrTOTPRequired        403  a staff subject without a passed second factor
//	ErrForbidden           403  visible case or document, action not allowed
//	ErrNotFound            404  missing, or invisible to the caller: indistinguishable on purpose
//	ErrExists              409  an account with this email exists
//	ErrInvalid             400  malformed input (email, role, password policy, TOTP code)
var (
	ErrUnauthenticated    = errors.New("access: unauthenticated")
	ErrInvalidCredentials = errors.New("access: invalid credentials")
	ErrTOTPRequired       = errors.New("access: second factor required")
	ErrForbidden          = errors.New("access: forbidden")
	ErrNotFound           = errors.New("access: not found")
	ErrExists             = errors.New("access: already exists")
	ErrInvalid            = errors.New("access: invalid input")
)

// ThrottledError is returned by Login (and by sign-in link requests) while the account or the
// client address has failed too often. It matches ErrInvalidCredentials with errors.Is, so a
// handler that renders ErrInvalidCredentials answers a throttled attempt with the same body;
// the handler may add a Retry-After header from RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("access: too many attempts, retry after %s", e.RetryAfter.Round(time.Second))
}

// Is makes a ThrottledError match ErrInvalidCredentials.
func (e *ThrottledError) Is(target error) bool { return target == ErrInvalidCredentials }
