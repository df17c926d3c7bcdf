package mail

import (
	"fmt"
	"strings"
	"time"
)

// FormatTime writes t in loc (the centre's time zone; UTC when nil) as people of lang write a
// date and time, with the zone's abbreviation so that a reader elsewhere is not misled:
//
//	en  7 December 2026, 15:04 CET
//	it  7 dicembre 2026, ore 15:04 CET
//	es  7 de diciembre de 2026, 15:04 CET
//
// Other languages are written as English.
func FormatTime(lang string, t time.Time, loc *time.Location) string {
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	zone, _ := t.Zone()
	month := monthName(lang, t.Month())
	switch normLang(lang) {
	case "it":
		return fmt.Sprintf("%d %s %d, ore %02d:%02d %s", t.Day(), month, t.Year(), t.Hour(), t.Minute(), zone)
	case "es":
		return fmt.Sprintf("%d de %s de %d, %02d:%02d %s", t.Day(), month, t.Year(), t.Hour(), t.Minute(), zone)
	}
	return fmt.Sprintf("%d %s %d, %02d:%02d %s", t.Day(), month, t.Year(), t.Hour(), t.Minute(), zone)
}

func monthName(lang string, m time.Month) string {
	var names [12]string
	switch normLang(lang) {
	case "it":
		names = [12]string{"gennaio", "febbraio", "marzo", "aprile", "maggio", "giugno", "luglio", "agosto",
			"settembre", "ottobre", "novembre", "dicembre"}
	case "es":
		names = [12]string{"enero", "febrero", "marzo", "abril", "mayo", "junio", "julio", "agosto",
			"septiembre", "octubre", "noviembre", "diciembre"}
	default:
		return m.String()
	}
	return names[m-1]
}

// FormatMoney writes an amount ("1500.00", as Params.Amount) in currency (an ISO 4217 code) as
// people of lang write it, with the CLDR's separators; Spanish groups thousands only from five
// digits on:
//
//	en  EUR 1,500.00
//	it  1.500,00 EUR
//	es  1500,00 EUR, 12.500,00 EUR
//
// Other languages are written as English. An amount that is not a decimal with a point is
// written as it is.
func FormatMoney(lang, amount, currency string) string {
	whole, frac, ok := strings.Cut(amount, ".")
	if !ok || !allBetween(whole+frac, '0', '9') {
		return currency + " " + amount
	}
	switch normLang(lang) {
	case "it":
		return group(whole, ".", 4) + "," + frac + " " + currency
	case "es":
		return group(whole, ".", 5) + "," + frac + " " + currency
	}
	return currency + " " + group(whole, ",", 4) + "." + frac
}

// group separates the thousands of the digits s with sep when s has at least minDigits digits.
func group(s, sep string, minDigits int) string {
	if len(s) < minDigits {
		return s
	}
	var b strings.Builder
	for i := range len(s) {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString(sep)
		}
		b.WriteByte(s[i])
	}
	return b.String()
}
