package main

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"github.com/jmoiron/sqlx"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/mail"
)

// caseMails turns the case store's notices into queued mails: the recipient's address from
// the account directory, the template of the event, a link to the case's page and nothing
// else (no patient, no question, no file names).
type caseMails struct {
	outbox    *mail.Outbox
	accounts  *access.Accounts
	publicURL string
	staffLang so.Language // SO_STAFF_LANGUAGE
}

var noticeTemplates = map[cases.NoticeEvent]mail.Template{
	cases.NoticeSubmitted:          mail.TemplateSubmitted,
	cases.NoticeDocumentsRequested: mail.TemplateDocumentsRequested,
	cases.NoticeAccepted:           mail.TemplateAccepted,
	cases.NoticeExtraProposed:      mail.TemplateExtraProposed,
	cases.NoticeReportReleased:     mail.TemplateReportReleased,
	cases.NoticeExtraDecided:       mail.TemplateExtraDecided,
}

// staffNotices go to staff, in the staff language rather than the case's.
var staffNotices = map[cases.NoticeEvent]bool{cases.NoticeExtraDecided: true}

// Notify implements cases.Notifier: the mail is queued in the event's transaction.
func (n *caseMails) Notify(ctx context.Context, tx *sqlx.Tx, x cases.Notice) error {
	tmpl, ok := noticeTemplates[x.Event]
	if !ok {
		return fmt.Errorf("no mail template for %q", x.Event)
	}
	to, err := n.accounts.EmailIn(ctx, tx, x.RecipientID)
	if err != nil {
		return fmt.Errorf("mail: recipient: %w", err)
	}
	p := mail.Params{Link: caseLink(n.publicURL, x.CaseID)}
	if x.Amount != nil {
		p.Amount, p.Currency = x.Amount.String(), x.Amount.Currency
	}
	lang := x.Language
	if staffNotices[x.Event] {
		lang = n.staffLang
	}
	return n.outbox.Enqueue(ctx, tx, mail.Message{To: to, Template: tmpl, Language: string(lang), Params: p})
}

// caseLink is the page of a case under the public URL.
func caseLink(publicURL, caseID string) string {
	u, _ := url.Parse(strings.TrimSuffix(publicURL, "/"))
	return u.JoinPath("cases", caseID).String() // #nosec G125 -- the element is a case id, a validated UUID
}
