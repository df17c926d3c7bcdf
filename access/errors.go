package access

import (
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// ThrottledError is returned by Login (and by sign-in link requests) while the account or the
// client address has failed too often. It matches so.ErrInvalidCredentials with errors.Is, so a
// handler that renders so.ErrInvalidCredentials answers a throttled attempt with the same body;
// the handler may add a Retry-After header from RetryAfter.
type ThrottledError struct {
	RetryAfter time.Duration
}

func (e *ThrottledError) Error() string {
	return fmt.Sprintf("access: too many attempts, retry after %s", e.RetryAfter.Round(time.Second))
}

// Unwrap makes a ThrottledError an so.ErrInvalidCredentials to errors.Is and errors.As.
func (e *ThrottledError) Unwrap() error { return so.ErrInvalidCredentials }
