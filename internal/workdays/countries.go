package workdays

import (
	"sort"
	"strings"

	"github.com/rickar/cal/v2"
	"github.com/rickar/cal/v2/at"
	"github.com/rickar/cal/v2/be"
	"github.com/rickar/cal/v2/bg"
	"github.com/rickar/cal/v2/ch"
	"github.com/rickar/cal/v2/cy"
	"github.com/rickar/cal/v2/cz"
	"github.com/rickar/cal/v2/de"
	"github.com/rickar/cal/v2/dk"
	"github.com/rickar/cal/v2/ee"
	"github.com/rickar/cal/v2/es"
	"github.com/rickar/cal/v2/fi"
	"github.com/rickar/cal/v2/fr"
	"github.com/rickar/cal/v2/gb"
	"github.com/rickar/cal/v2/gr"
	"github.com/rickar/cal/v2/hr"
	"github.com/rickar/cal/v2/hu"
	"github.com/rickar/cal/v2/ie"
	is "github.com/rickar/cal/v2/is"
	"github.com/rickar/cal/v2/it"
	"github.com/rickar/cal/v2/lt"
	"github.com/rickar/cal/v2/lu"
	"github.com/rickar/cal/v2/lv"
	"github.com/rickar/cal/v2/mt"
	"github.com/rickar/cal/v2/nl"
	"github.com/rickar/cal/v2/no"
	"github.com/rickar/cal/v2/pl"
	"github.com/rickar/cal/v2/pt"
	"github.com/rickar/cal/v2/ro"
	"github.com/rickar/cal/v2/se"
	"github.com/rickar/cal/v2/si"
	"github.com/rickar/cal/v2/sk"
)

// holidayLists maps each code Parse accepts to rickar/cal's list for it: the EU's 27
// members, Iceland, Norway and the United Kingdom by ISO 3166-1 code, Germany's states and
// Switzerland's cantons by ISO 3166-2 code. It is read, never written.
var holidayLists = map[string][]*cal.Holiday{
	"AT": at.Holidays,
	"BE": be.Holidays,
	"BG": bg.Holidays,
	"CY": cy.Holidays,
	"CZ": cz.Holidays,
	"DK": dk.Holidays,
	"EE": ee.Holidays,
	"ES": es.Holidays,
	"FI": fi.Holidays,
	"FR": fr.Holidays,
	"GB": gb.Holidays,
	"GR": gr.Holidays,
	"HR": hr.Holidays,
	"HU": hu.Holidays,
	"IE": ie.Holidays,
	"IS": is.Holidays,
	"IT": it.Holidays,
	"LT": lt.Holidays,
	"LU": lu.Holidays,
	"LV": lv.Holidays,
	"MT": mt.Holidays,
	"NL": nl.Holidays,
	"NO": no.Holidays,
	"PL": pl.Holidays,
	"PT": pt.Holidays,
	"RO": ro.Holidays,
	"SE": se.Holidays,
	"SI": si.Holidays,
	"SK": sk.Holidays,

	// Germany: the nine holidays every state keeps, or one state's list.
	"DE":    de.Holidays,
	"DE-BB": de.HolidaysBB,
	"DE-BE": de.HolidaysBE,
	"DE-BW": de.HolidaysBW,
	"DE-BY": de.HolidaysBY,
	"DE-HB": de.HolidaysHB,
	"DE-HE": de.HolidaysHE,
	"DE-HH": de.HolidaysHH,
	"DE-MV": de.HolidaysMV,
	"DE-NI": de.HolidaysNI,
	"DE-NW": de.HolidaysNW,
	"DE-RP": de.HolidaysRP,
	"DE-SH": de.HolidaysSH,
	"DE-SL": de.HolidaysSL,
	"DE-SN": de.HolidaysSN,
	"DE-ST": de.HolidaysST,
	"DE-TH": de.HolidaysTH,

	// Switzerland: one canton's list. Bare CH is refused (see noCountryWide).
	"CH-AG": ch.HolidaysAG,
	"CH-AI": ch.HolidaysAI,
	"CH-AR": ch.HolidaysAR,
	"CH-BE": ch.HolidaysBE,
	"CH-BL": ch.HolidaysBL,
	"CH-BS": ch.HolidaysBS,
	"CH-FR": ch.HolidaysFR,
	"CH-GE": ch.HolidaysGE,
	"CH-GL": ch.HolidaysGL,
	"CH-GR": ch.HolidaysGR,
	"CH-JU": ch.HolidaysJU,
	"CH-LU": ch.HolidaysLU,
	"CH-NE": ch.HolidaysNE,
	"CH-NW": ch.HolidaysNW,
	"CH-OW": ch.HolidaysOW,
	"CH-SG": ch.HolidaysSG,
	"CH-SH": ch.HolidaysSH,
	"CH-SO": ch.HolidaysSO,
	"CH-SZ": ch.HolidaysSZ,
	"CH-TG": ch.HolidaysTG,
	"CH-TI": ch.HolidaysTI,
	"CH-UR": ch.HolidaysUR,
	"CH-VD": ch.HolidaysVD,
	"CH-VS": ch.HolidaysVS,
	"CH-ZG": ch.HolidaysZG,
	"CH-ZH": ch.HolidaysZH,
}

// noCountryWide names the countries whose holidays are set by region only. rickar/cal's
// ch.Holidays is the union of the cantons' holidays, which no canton keeps: accepting "CH"
// would silently close offices on days they are open.
var noCountryWide = map[string]string{
	"CH": "Swiss holidays are set by each canton",
}

// dayOff reports whether a holiday from one of rickar/cal's lists closes the office.
// rickar/cal marks customary days that are not public holidays ObservanceOther (Sweden's
// Julafton and Midsommarafton, Finland's Jouluaatto, Iceland's Aðfangadagur) and feasts
// that are not days off ObservanceReligious; every other entry of a country's list is a
// public or bank holiday, including the many it leaves unmarked (all of Ireland's,
// Lithuania's All Souls' Day, Poland's Christmas Eve since 2025, the Netherlands'
// King's Day, Slovenia's Prešeren Day, Switzerland's Berchtoldstag and Josefstag).
func dayOff(h *cal.Holiday) bool {
	return h.Type != cal.ObservanceOther && h.Type != cal.ObservanceReligious
}

// codes returns the codes Parse accepts, sorted.
func codes() []string {
	codes := make([]string, 0, len(holidayLists))
	for c := range holidayLists {
		codes = append(codes, c)
	}
	sort.Strings(codes)
	return codes
}

// knownCodes is codes for an error message: countries in full, the regions of a country
// folded into one entry ("DE-xx (BB, BE, …)").
func knownCodes() string {
	var out []string
	regions := map[string][]string{}
	for _, c := range codes() {
		country, region, ok := strings.Cut(c, "-")
		if !ok {
			out = append(out, c)
			continue
		}
		if regions[country] == nil {
			out = append(out, country+"-xx")
		}
		regions[country] = append(regions[country], region)
	}
	sort.Strings(out)
	for i, c := range out {
		if country, ok := strings.CutSuffix(c, "-xx"); ok {
			out[i] = c + " (" + strings.Join(regions[country], " ") + ")"
		}
	}
	return strings.Join(out, ", ")
}
