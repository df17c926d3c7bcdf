package cases

import so "github.com/secondopinion/secondopinion"

// NoticeEvent is what a mail is about.
type NoticeEvent string

// The events that mail the applicant (DESIGN §8); the mails carry a link to the case, never
// health data.
const (
	NoticeSubmitted          NoticeEvent = "submitted"
	NoticeDocumentsRequested NoticeEvent = "documents_requested"
	NoticeAccepted           NoticeEvent = "accepted" // with the amount due
	NoticeExtraProposed      NoticeEvent = "extra_proposed"
	NoticeReportReleased     NoticeEvent = "report_released"
	NoticeExtraDecided       NoticeEvent = "extra_decided" // to the reviewer who proposed it, in the staff language
)

// Notice is a mail to queue: the event, the case (for the link), the recipient's account,
// the case's language and, for acceptance and extras, the amount.
type Notice struct {
	Event       NoticeEvent
	CaseID      string
	RecipientID string      // the applicant's account
	Language    so.Language // the case's; staff mails use the configured staff language
	Amount      *Money
}
