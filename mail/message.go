package mail

import (
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strings"
	"time"
)

// ErrInvalid is wrapped by every error about a Message, an address or a mail URL that can never
// be right, whatever is retried.
var ErrInvalid = errors.New("mail: invalid")

// Template is the kind of a transactional mail. Each has a subject and a body in every
// language of the catalogue (mail.<template>.subject and .body) and needs exactly the Params
// its constant names.
type Template string

// The templates. The recipient is named first, then the params the template needs.
const (
	TemplateSubmitted          Template = "submitted"           // applicant; Link to the request
	TemplateDocumentsRequested Template = "documents_requested" // applicant; Link to the request
	TemplateAccepted           Template = "accepted"            // applicant; Link, Amount and Currency due
	TemplateExtraProposed      Template = "extra_proposed"      // applicant; Link, Amount and Currency of the extra
	TemplateReportReleased     Template = "report_released"     // applicant; Link to the request
	TemplateInvitation         Template = "invitation"          // referring physician; Link with its token, ExpiresAt
	TemplateSignInLink         Template = "signin_link"         // applicant; Link with its token, ExpiresAt
	TemplateSLAReminder        Template = "sla_reminder"        // case manager; Link to the staff queue
	TemplateExtraDecided       Template = "extra_decided"       // reviewer who proposed an extra; Link to the case
	TemplatePasswordSetup      Template = "password_setup"      // any account; Link with its token, ExpiresAt
)

// Templates lists every template.
func Templates() []Template {
	return []Template{TemplateSubmitted, TemplateDocumentsRequested, TemplateAccepted, TemplateExtraProposed,
		TemplateReportReleased, TemplateInvitation, TemplateSignInLink, TemplateSLAReminder, TemplateExtraDecided,
		TemplatePasswordSetup}
}

// needs says which Params a template shows. Every template shows a Link.
type needs struct{ expiry, amount bool }

func (t Template) needs() (needs, bool) {
	switch t {
	case TemplateSubmitted, TemplateDocumentsRequested, TemplateReportReleased, TemplateSLAReminder, TemplateExtraDecided:
		return needs{}, true
	case TemplateAccepted, TemplateExtraProposed:
		return needs{amount: true}, true
	case TemplateInvitation, TemplateSignInLink, TemplatePasswordSetup:
		return needs{expiry: true}, true
	}
	return needs{}, false
}

// Languages are the languages of the catalogue; the first is the fallback.
func Languages() []string { return []string{"en", "it", "es"} }

// normLang returns lang when the catalogue has it, else "en".
func normLang(lang string) string {
	switch lang {
	case "it", "es":
		return lang
	}
	return "en"
}

// Message is a mail to queue. It carries no text of its own: the template and the language
// choose the words, and Params fill in what varies, none of which can hold free text.
type Message struct {
	To       string   // a bare address, e.g. "ann@example.org"
	Template Template // what the mail says
	Language string   // "en", "it" or "es" (the case's language); anything else is English
	Params   Params
}

// Params are what varies between two mails of one template. A template needs exactly the
// fields its constant names; a field it does not show must be zero, so that nothing is stored
// that is not sent.
type Params struct {
	// Link is the page the mail points to: an absolute http(s) URL of the service (under
	// Config.PublicURL when set), at most 2,048 bytes of printable ASCII, as url.URL.String
	// writes it. It may carry a secret token: the outbox keeps it sealed.
	Link string
	// ExpiresAt is when the Link stops working, shown in the centre's time zone.
	ExpiresAt time.Time
	// Amount is a sum of money as a decimal string with two decimals, e.g. "500.00", and
	// Currency its ISO 4217 code, e.g. "EUR". Shown per locale: "EUR 500.00", "500,00 EUR".
	Amount   string
	Currency string
}

const maxLink = 2048

// validate checks m as Enqueue stores it, with public as the base links must start with
// (nil: any absolute http(s) URL).
func (m Message) validate(public *url.URL) error {
	if _, err := checkAddress(m.To); err != nil {
		return fmt.Errorf("recipient: %w", err)
	}
	n, ok := m.Template.needs()
	if !ok {
		return fmt.Errorf("template %q: %w", m.Template, ErrInvalid)
	}
	p := m.Params
	if err := checkLink(p.Link, public); err != nil {
		return err
	}
	if n.expiry != !p.ExpiresAt.IsZero() {
		return fmt.Errorf("template %s: ExpiresAt %s: %w", m.Template, presence(n.expiry), ErrInvalid)
	}
	if n.amount {
		if !validAmount(p.Amount) || !validCurrency(p.Currency) {
			return fmt.Errorf("template %s: amount must look like \"500.00\" and currency like \"EUR\": %w", m.Template, ErrInvalid)
		}
	} else if p.Amount != "" || p.Currency != "" {
		return fmt.Errorf("template %s: Amount and Currency must be empty: %w", m.Template, ErrInvalid)
	}
	return nil
}

func presence(needed bool) string {
	if needed {
		return "is required"
	}
	return "must be zero"
}

// checkLink accepts an absolute http(s) URL in canonical form, without user information, of
// printable ASCII only (so no spaces: no sentence fits in it unencoded), under public if set.
func checkLink(link string, public *url.URL) error {
	bad := func(why string) error { return fmt.Errorf("link %s: %w", why, ErrInvalid) }
	if link == "" || len(link) > maxLink {
		return bad("must have 1 to 2048 bytes")
	}
	for i := 0; i < len(link); i++ {
		if link[i] <= ' ' || link[i] >= 0x7f {
			return bad("must be printable ASCII without spaces")
		}
	}
	u, err := url.Parse(link)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Opaque != "" || u.User != nil {
		return bad("must be an absolute http(s) URL without user information")
	}
	if u.String() != link {
		return bad("must be in canonical form (url.URL.String)")
	}
	if public != nil {
		base := strings.TrimSuffix(public.Path, "/")
		if u.Scheme != public.Scheme || !strings.EqualFold(u.Host, public.Host) ||
			(u.Path != base && !strings.HasPrefix(u.Path, base+"/")) {
			return bad("must point under the service's public URL")
		}
	}
	return nil
}

// validAmount accepts "0.00" to "999999999.99": digits, no leading zero, a point, two digits.
func validAmount(s string) bool {
	i, f, ok := strings.Cut(s, ".")
	if !ok || len(f) != 2 || len(i) == 0 || len(i) > 9 || (len(i) > 1 && i[0] == '0') {
		return false
	}
	return allBetween(i+f, '0', '9')
}

func validCurrency(s string) bool { return len(s) == 3 && allBetween(s, 'A', 'Z') }

func allBetween(s string, lo, hi byte) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < lo || s[i] > hi {
			return false
		}
	}
	return true
}

// checkAddress accepts a bare address (no display name) of at most 254 bytes and returns it
// without surrounding space.
func checkAddress(s string) (string, error) {
	s = strings.TrimSpace(s)
	if len(s) == 0 || len(s) > 254 {
		return "", fmt.Errorf("email address: %w", ErrInvalid)
	}
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return "", fmt.Errorf("email address: %w", ErrInvalid)
	}
	return s, nil
}
