package access

import (
	"context"
	"fmt"
	netmail "net/mail"
	"strings"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/mail"
)

// Outbox queues a mail in the caller's transaction, for a background job to send: *mail.Outbox.
// Mails of this package carry a link and its expiry, never health data.
type Outbox interface {
	Enqueue(ctx context.Context, tx sqlx.ExecerContext, m mail.Message) error
}

// checkEmail accepts a bare address (no display name) of at most 254 bytes and returns it
// without surrounding space.
func checkEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 254 {
		return "", fmt.Errorf("email address: %w", so.ErrInvalid)
	}
	a, err := netmail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("email address: %w", so.ErrInvalid)
	}
	return s, nil
}
