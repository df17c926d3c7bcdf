package mail_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/nicksnyder/go-i18n/v2/i18n"

	"github.com/secondopinion/secondopinion/mail"
)

// Every template renders in every language: a subject and a body in that language, with the
// link and the formatted values, and nothing left of the template.
func TestEveryTemplateInEveryLanguage(t *testing.T) {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		t.Fatal(err)
	}
	cat, err := mail.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	expires := time.Date(2026, 12, 7, 14, 4, 0, 0, time.UTC) // 15:04 in Rome
	words := map[string]struct{ greeting, footer, date, money string }{
		"en": {"Hello,", "This is an automatic message", "7 December 2026, 15:04 CET", "EUR 1,500.00"},
		"it": {"Buongiorno,", "Questo è un messaggio automatico", "7 dicembre 2026, ore 15:04 CET", "1.500,00 EUR"},
		"es": {"Hola:", "Este es un mensaje automático", "7 de diciembre de 2026, 15:04 CET", "1500,00 EUR"},
	}
	subjects := map[string]string{}
	for _, tmpl := range mail.Templates() {
		for _, lang := range mail.Languages() {
			t.Run(fmt.Sprintf("%s/%s", tmpl, lang), func(t *testing.T) {
				m := mail.Message{To: "ann@example.org", Template: tmpl, Language: lang,
					Params: mail.Params{Link: "https://so.test/app/cases/4d1f?token=inv_T0KEN"}}
				switch tmpl {
				case mail.TemplateInvitation, mail.TemplateSignInLink:
					m.Params.ExpiresAt = expires
				case mail.TemplateAccepted, mail.TemplateExtraProposed:
					m.Params.Amount, m.Params.Currency = "1500.00", "EUR"
				}
				subject, body, err := mail.RenderWith(cat, m, rome)
				if err != nil {
					t.Fatal(err)
				}
				w := words[lang]
				if strings.TrimSpace(subject) == "" || strings.ContainsAny(subject, "\r\n") || len(subject) > 78 {
					t.Errorf("subject %q", subject)
				}
				if !strings.Contains(body, "\n"+m.Params.Link+"\n") {
					t.Errorf("the link is not on a line of its own:\n%s", body)
				}
				if !strings.HasPrefix(body, w.greeting) || !strings.Contains(body, w.footer) {
					t.Errorf("not in %s:\n%s", lang, body)
				}
				if !m.Params.ExpiresAt.IsZero() && !strings.Contains(body, w.date) {
					t.Errorf("no %q in\n%s", w.date, body)
				}
				if m.Params.Amount != "" && !strings.Contains(body, w.money) {
					t.Errorf("no %q in\n%s", w.money, body)
				}
				noPlaceholder(t, "subject", subject)
				noPlaceholder(t, "body", body)
				if other, ok := subjects[string(tmpl)+subject]; ok {
					t.Errorf("%s has the subject of %s: %q", lang, other, subject)
				}
				subjects[string(tmpl)+subject] = lang
			})
		}
	}
}

// Each language's file has exactly the messages of the English one.
func TestCataloguesHaveTheSameMessages(t *testing.T) {
	ids := map[string][]string{}
	for _, lang := range mail.Languages() {
		path := filepath.Join("locales", lang+".toml")
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		f, err := i18n.ParseMessageFileBytes(b, path, map[string]i18n.UnmarshalFunc{"toml": toml.Unmarshal})
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range f.Messages {
			ids[lang] = append(ids[lang], m.ID)
		}
		slices.Sort(ids[lang])
	}
	for _, tmpl := range mail.Templates() {
		for _, part := range []string{"subject", "body"} {
			if _, found := slices.BinarySearch(ids["en"], "mail."+string(tmpl)+"."+part); !found {
				t.Errorf("en.toml has no mail.%s.%s", tmpl, part)
			}
		}
	}
	for _, lang := range mail.Languages()[1:] {
		if !slices.Equal(ids[lang], ids["en"]) {
			t.Errorf("%s.toml has %v,\nen.toml has %v", lang, ids[lang], ids["en"])
		}
	}
}

func TestLanguageFallback(t *testing.T) {
	cat, err := mail.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	m := mail.Message{To: "a@example.org", Template: mail.TemplateSubmitted, Params: mail.Params{Link: "https://so.test/x"}}
	en, _, _ := mail.RenderWith(cat, m, nil)
	for _, lang := range []string{"", "fr", "EN", "it-IT"} {
		m.Language = lang
		if s, _, err := mail.RenderWith(cat, m, nil); err != nil || s != en {
			t.Errorf("language %q: %q, %v; want English", lang, s, err)
		}
	}
	if _, err := cat.Localize("it", "mail.no_such_message", nil); err == nil {
		t.Error("a missing message is not an error")
	}
}

func TestFormatTime(t *testing.T) {
	rome, _ := time.LoadLocation("Europe/Rome")
	summer := time.Date(2026, 7, 1, 8, 5, 0, 0, time.UTC)
	for _, c := range []struct {
		lang string
		loc  *time.Location
		want string
	}{
		{"en", rome, "1 July 2026, 10:05 CEST"},
		{"it", rome, "1 luglio 2026, ore 10:05 CEST"},
		{"es", rome, "1 de julio de 2026, 10:05 CEST"},
		{"es", nil, "1 de julio de 2026, 08:05 UTC"},
		{"de", nil, "1 July 2026, 08:05 UTC"},
	} {
		if got := mail.FormatTime(c.lang, summer, c.loc); got != c.want {
			t.Errorf("FormatTime(%s, %v) = %q, want %q", c.lang, c.loc, got, c.want)
		}
	}
}

func TestFormatMoney(t *testing.T) {
	for _, c := range []struct{ lang, amount, want string }{
		{"en", "0.50", "EUR 0.50"},
		{"en", "500.00", "EUR 500.00"},
		{"en", "1234567.89", "EUR 1,234,567.89"},
		{"it", "500.00", "500,00 EUR"},
		{"it", "1500.00", "1.500,00 EUR"},
		{"es", "1500.00", "1500,00 EUR"},
		{"es", "12500.00", "12.500,00 EUR"},
		{"es", "1234567.89", "1.234.567,89 EUR"},
	} {
		if got := mail.FormatMoney(c.lang, c.amount, "EUR"); got != c.want {
			t.Errorf("FormatMoney(%s, %s) = %q, want %q", c.lang, c.amount, got, c.want)
		}
	}
}

func ExampleFormatMoney() {
	for _, lang := range mail.Languages() {
		fmt.Println(mail.FormatMoney(lang, "2350.00", "EUR"))
	}
	// Output:
	// EUR 2,350.00
	// 2.350,00 EUR
	// 2350,00 EUR
}

func ExampleFormatTime() {
	rome, _ := time.LoadLocation("Europe/Rome")
	t := time.Date(2026, 12, 7, 14, 4, 0, 0, time.UTC)
	for _, lang := range mail.Languages() {
		fmt.Println(mail.FormatTime(lang, t, rome))
	}
	// Output:
	// 7 December 2026, 15:04 CET
	// 7 dicembre 2026, ore 15:04 CET
	// 7 de diciembre de 2026, 15:04 CET
}
