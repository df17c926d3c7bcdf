package mail

import (
	"embed"
	"fmt"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"
	"golang.org/x/text/language"
)

// locales holds one go-i18n message file per language, named by its BCP 47 tag.
//
//go:embed locales/*.toml
var locales embed.FS

// Catalogue is the messages of every language, parsed once. Message ids are dotted paths of
// the TOML tables (mail.invitation.subject); a message is a text/template over the data
// Localize is given ({{.Link}}), and may have CLDR plural forms (one, other) as go-i18n
// defines them. The pages are meant to share it: their messages go in the same files under
// their own table (page.…).
type Catalogue struct {
	localizers map[string]*i18n.Localizer
}

// NewCatalogue parses the embedded message files.
func NewCatalogue() (*Catalogue, error) {
	b := i18n.NewBundle(language.English)
	b.RegisterUnmarshalFunc("toml", toml.Unmarshal)
	c := &Catalogue{localizers: map[string]*i18n.Localizer{}}
	for _, lang := range Languages() {
		if _, err := b.LoadMessageFileFS(locales, "locales/"+lang+".toml"); err != nil {
			return nil, fmt.Errorf("mail catalogue %s: %w", lang, err)
		}
		c.localizers[lang] = i18n.NewLocalizer(b, lang)
	}
	return c, nil
}

// Localize returns message id in lang (any other language: English), with data in its
// placeholders. A message that lang's file lacks is an error, never English in disguise, and
// so is a placeholder that data does not fill (data is a struct: a missing field fails).
func (c *Catalogue) Localize(lang, id string, data any) (string, error) {
	s, err := c.localizers[normLang(lang)].Localize(&i18n.LocalizeConfig{MessageID: id, TemplateData: data})
	if err != nil {
		return "", fmt.Errorf("mail catalogue %s %s: %w", normLang(lang), id, err)
	}
	return s, nil
}

// templateData is what mail templates may show: already formatted for the mail's language.
type templateData struct {
	Link      string
	ExpiresAt string
	Amount    string
}

// render writes m in its language, times in loc. It does not validate m (Enqueue did).
func (c *Catalogue) render(m Message, loc *time.Location) (subject, body string, err error) {
	lang := normLang(m.Language)
	d := templateData{Link: m.Params.Link}
	if !m.Params.ExpiresAt.IsZero() {
		d.ExpiresAt = FormatTime(lang, m.Params.ExpiresAt, loc)
	}
	if m.Params.Amount != "" {
		d.Amount = FormatMoney(lang, m.Params.Amount, m.Params.Currency)
	}
	prefix := "mail." + string(m.Template) + "."
	if subject, err = c.Localize(lang, prefix+"subject", d); err != nil {
		return "", "", err
	}
	if body, err = c.Localize(lang, prefix+"body", d); err != nil {
		return "", "", err
	}
	footer, err := c.Localize(lang, "mail.footer", nil)
	if err != nil {
		return "", "", err
	}
	subject = strings.TrimSpace(subject)
	body = strings.TrimSpace(body) + "\n\n-- \n" + strings.TrimSpace(footer) + "\n"
	return subject, body, nil
}
