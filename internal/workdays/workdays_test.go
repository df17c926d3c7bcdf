package workdays_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // the tests name zones; do not depend on the machine's zoneinfo

	"github.com/secondopinion/secondopinion/internal/workdays"
)

func location(t testing.TB, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

func parse(t testing.TB, spec string, loc *time.Location) *workdays.Calendar {
	t.Helper()
	c, err := workdays.Parse(spec, loc)
	if err != nil {
		t.Fatalf("Parse(%q): %v", spec, err)
	}
	return c
}

// at reads "2006-01-02 15:04" in loc.
func at(t testing.TB, s string, loc *time.Location) time.Time {
	t.Helper()
	tm, err := time.ParseInLocation("2006-01-02 15:04", s, loc)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}

func TestParseCanonical(t *testing.T) {
	rome := location(t, "Europe/Rome")
	tests := []struct{ spec, want string }{
		{"", ""},
		{"   ", ""},
		{" , ,", ""},
		{"it", "IT"},
		{" It , 12-07 ", "IT,12-07"},
		{"2026-12-24, 12-07, IT, 12-07, 01-31", "IT,01-31,12-07,2026-12-24"},
		{"12-07,2027-01-02,2026-12-24", "12-07,2026-12-24,2027-01-02"},
		{"de-by", "DE-BY"},
		{"CH-zh", "CH-ZH"},
		{"2024-02-29", "2024-02-29"},
		{"\tGB\n", "GB"},
	}
	for _, tt := range tests {
		if got := parse(t, tt.spec, rome).String(); got != tt.want {
			t.Errorf("Parse(%q).String() = %q, want %q", tt.spec, got, tt.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	rome := location(t, "Europe/Rome")
	tests := []struct {
		spec, item, reason string // reason: a fragment of the SpecError's
	}{
		{"XX", "XX", "unknown country code; known: AT, BE, BG, CH-xx (AG AI "},
		{"IT, Italia", "Italia", "unknown country code"},
		{"DE-XX", "DE-XX", "unknown country code"},
		{"RU", "RU", "unknown country code"},
		{"IT,ES", "ES", "a second country code after IT"},
		{"it, IT", "IT", "a second country code after IT"},
		{"CH", "CH", "set by each canton; use one of CH-AG, CH-AI,"},
		{"IT;ES", "IT;ES", "neither a country code nor a date"},
		{"ıt", "ıt", "neither a country code nor a date"}, // dotless i upper-cases to I
		{"+12-07", "+12-07", "neither a country code nor a date"},
		{"12-7", "12-7", "not a date"},
		{"2026/12/24", "2026/12/24", "not a date"},
		{"24-12-2026", "24-12-2026", "not a date"},
		{"2026-12-24T00:00", "2026-12-24T00:00", "not a date"},
		{"IT, 2026-13-01", "2026-13-01", "no such month"},
		{"00-10", "00-10", "no such month"},
		{"2026-02-30", "2026-02-30", "no such day"},
		{"2025-02-29", "2025-02-29", "no such day"},
		{"04-31", "04-31", "no such day"},
		{"12-00", "12-00", "no such day"},
		{"02-29", "02-29", "not a day of every year"},
		{"0000-01-01", "0000-01-01", "year 0000"},
		{strings.Repeat("01-01,", workdays.MaxDates) + " 2026-01-02", "2026-01-02", "more than 100 dates"},
	}
	for _, tt := range tests {
		_, err := workdays.Parse(tt.spec, rome)
		var se *workdays.SpecError
		if !errors.As(err, &se) {
			t.Errorf("Parse(%q) = %v, want a *SpecError", tt.spec, err)
			continue
		}
		if se.Item != tt.item || !strings.Contains(se.Reason, tt.reason) {
			t.Errorf("Parse(%q): item %q, reason %q; want item %q, reason containing %q", tt.spec, se.Item, se.Reason, tt.item, tt.reason)
		}
		if !strings.Contains(err.Error(), fmt.Sprintf("%q", tt.item)) {
			t.Errorf("Parse(%q): %q does not quote the item", tt.spec, err)
		}
	}
	if _, err := workdays.Parse("IT", nil); err == nil {
		t.Error("Parse with a nil location succeeded")
	}
}

func TestIsWorkingDay(t *testing.T) {
	rome := location(t, "Europe/Rome")
	tests := []struct {
		spec, day string
		want      bool
		why       string
	}{
		{"IT", "2025-12-24", true, "Christmas Eve is a working day"},
		{"IT", "2025-12-25", false, "Natale"},
		{"IT", "2025-12-26", false, "Santo Stefano"},
		{"IT", "2025-12-31", true, "New Year's Eve is a working day"},
		{"IT", "2026-01-01", false, "Capodanno"},
		{"IT", "2026-01-02", true, "a Friday"},
		{"IT", "2026-01-06", false, "Epifania"},
		{"IT", "2026-04-03", true, "Good Friday is a working day in Italy"},
		{"IT", "2026-04-06", false, "Pasquetta"},
		{"IT", "2026-06-02", false, "Festa della Repubblica"},
		{"IT", "2027-10-04", false, "San Francesco, a holiday again from 2026"},
		{"IT", "2026-12-26", false, "a Saturday"},
		{"IT", "2026-12-27", false, "a Sunday"},
		{"ES", "2025-12-24", true, "Nochebuena is a working day"},
		{"ES", "2025-12-25", false, "Navidad"},
		{"ES", "2025-12-26", true, "no Boxing Day in Spain"},
		{"ES", "2026-01-01", false, "Año Nuevo"},
		{"ES", "2026-01-06", false, "Reyes"},
		{"ES", "2026-04-03", false, "Viernes Santo"},
		{"ES", "2026-04-06", true, "Easter Monday is regional only"},
		{"ES", "2026-12-08", false, "Inmaculada"},
		{"", "2025-12-25", true, "weekends only"},
		{"", "2025-12-27", false, "weekends only: a Saturday"},
		{"SE", "2025-12-24", true, "Julafton is marked ObservanceOther"},
		{"FI", "2025-12-24", true, "Jouluaatto is marked ObservanceOther"},
		{"IE", "2026-03-17", false, "St Patrick's Day, Type left unset"},
		{"IE", "2026-02-02", false, "St Brigid's Day"},
		{"PL", "2025-12-24", false, "Wigilia, a holiday from 2025"},
		{"PL", "2024-12-24", true, "Wigilia, before 2025"},
		{"NL", "2026-04-27", false, "Koningsdag"},
		{"GB", "2026-12-28", false, "Boxing Day, a Saturday, moved to Monday"},
		{"GB", "2027-12-27", false, "Christmas Day, a Saturday, moved to Monday"},
		{"GB", "2027-12-28", false, "Boxing Day, a Sunday, moved to Tuesday"},
		{"DE", "2026-06-04", true, "Fronleichnam is not a national holiday"},
		{"de-by", "2026-06-04", false, "Fronleichnam in Bavaria"},
		{"CH-ZH", "2026-06-04", true, "no Fronleichnam in Zurich"},
		{"CH-LU", "2026-06-04", false, "Fronleichnam in Lucerne"},
		{"CH-BE", "2026-01-02", false, "Berchtoldstag in Bern"},
		{"IT, 12-07", "2026-12-07", false, "Sant'Ambrogio in Milan"},
		{"IT, 12-07", "2027-12-07", false, "every year"},
		{"IT, 2026-12-24", "2026-12-24", false, "a one-off closing day"},
		{"IT, 2026-12-24", "2027-12-24", true, "only in 2026"},
		{"2024-02-29", "2024-02-29", false, "a leap day"},
	}
	for _, tt := range tests {
		c := parse(t, tt.spec, rome)
		if got := c.IsWorkingDay(at(t, tt.day+" 12:00", rome)); got != tt.want {
			t.Errorf("%q: IsWorkingDay(%s) = %v, want %v (%s)", tt.spec, tt.day, got, tt.want, tt.why)
		}
	}
}

// Every code Parse knows gives a calendar with holidays, all of them on weekdays or
// weekends of a plausible year.
func TestEveryCode(t *testing.T) {
	rome := location(t, "Europe/Rome")
	_, err := workdays.Parse("XX", rome)
	var se *workdays.SpecError
	if !errors.As(err, &se) {
		t.Fatal(err)
	}
	known := strings.TrimPrefix(se.Reason, "unknown country code; known: ")
	n := 0
	for entry := range strings.SplitSeq(known, ", ") {
		country, regions, ok := strings.Cut(entry, "-xx (")
		codes := []string{country}
		if ok {
			codes = nil
			for r := range strings.SplitSeq(strings.TrimSuffix(regions, ")"), " ") {
				codes = append(codes, country+"-"+r)
			}
		}
		for _, code := range codes {
			n++
			c := parse(t, code, rome)
			closed := 0
			for d := at(t, "2026-01-01 12:00", rome); d.Year() == 2026; d = d.AddDate(0, 0, 1) {
				if wd := d.Weekday(); wd != time.Saturday && wd != time.Sunday && !c.IsWorkingDay(d) {
					closed++
				}
			}
			if closed < 4 || closed > 20 {
				t.Errorf("%s: %d weekdays closed in 2026", code, closed)
			}
		}
	}
	if n != 29+17+26 {
		t.Errorf("%d codes, want 29 countries, DE and its 16 states, 26 cantons", n)
	}
}

func TestIsWorkingDayInLocation(t *testing.T) {
	rome := location(t, "Europe/Rome")
	late := time.Date(2025, 12, 24, 23, 30, 0, 0, time.UTC) // 00:30 on Christmas Day in Rome
	if parse(t, "IT", rome).IsWorkingDay(late) {
		t.Error("Rome: 2025-12-24T23:30Z is on Christmas Day")
	}
	if !parse(t, "IT", time.UTC).IsWorkingDay(late) {
		t.Error("UTC: 2025-12-24T23:30Z is on Christmas Eve")
	}
}

func TestAddWorkingDays(t *testing.T) {
	rome := location(t, "Europe/Rome")
	madrid := location(t, "Europe/Madrid")
	tests := []struct {
		spec string
		loc  *time.Location
		from string
		n    int
		due  string // local midnight in loc that ends the last day
		why  string
	}{
		{"IT", rome, "2026-04-03 15:00", 2, "2026-04-09 00:00", "Friday before Easter Monday: Tue, Wed"},
		{"IT", rome, "2026-05-29 10:00", 2, "2026-06-04 00:00", "Friday before Festa della Repubblica: Mon, Wed"},
		{"IT", rome, "2026-05-30 11:00", 1, "2026-06-02 00:00", "Saturday: Monday is day 1"},
		{"IT", rome, "2026-05-31 23:59", 1, "2026-06-02 00:00", "Sunday night: Monday is day 1"},
		{"IT", rome, "2026-06-01 00:00", 1, "2026-06-04 00:00", "Monday's first instant: Wednesday is day 1"},
		{"IT", rome, "2026-06-01 10:00", 0, "2026-06-02 00:00", "n = 0 on a working day: its end"},
		{"IT", rome, "2026-06-02 10:00", 0, "2026-06-04 00:00", "n = 0 on a holiday: the next working day's end"},
		{"IT", rome, "2026-05-30 10:00", 0, "2026-06-02 00:00", "n = 0 on a Saturday"},
		{"IT", rome, "2026-03-26 16:00", 2, "2026-03-31 00:00", "over the March DST change: Fri, Mon"},
		{"IT", rome, "2026-03-27 23:30", 2, "2026-04-01 00:00", "Friday night before the March DST change"},
		{"IT", rome, "2026-10-22 09:00", 1, "2026-10-24 00:00", "before the October DST change, +02:00"},
		{"IT", rome, "2026-10-23 09:00", 2, "2026-10-28 00:00", "over the October DST change, +01:00"},
		{"IT", rome, "2026-12-23 12:00", 2, "2026-12-29 00:00", "Christmas: Thu 24, Mon 28"},
		{"IT", rome, "2026-12-29 12:00", 5, "2027-01-08 00:00", "New Year and Epifania"},
		{"IT", rome, "2025-12-24 09:00", 2, "2025-12-31 00:00", "Natale, Santo Stefano: Mon 29, Tue 30"},
		{"ES", madrid, "2025-12-24 09:00", 2, "2025-12-30 00:00", "Navidad; 26 December works: Fri 26, Mon 29"},
		{"ES", madrid, "2025-12-30 09:00", 3, "2026-01-06 00:00", "Año Nuevo: Wed 31, Fri 2, Mon 5"},
		{"ES", madrid, "2025-12-30 09:00", 4, "2026-01-08 00:00", "and Reyes: Wed 7"},
		{"IT", rome, "2026-12-04 16:30", 2, "2026-12-10 00:00", "Rome: Mon 7, Wed 9"},
		{"IT, 12-07", rome, "2026-12-04 16:30", 2, "2026-12-11 00:00", "Milan closes on 7 December: Wed 9, Thu 10"},
		{"IT, 2026-12-24", rome, "2026-12-23 12:00", 2, "2026-12-30 00:00", "one-off closing on 24 December: Mon 28, Tue 29"},
		{"", rome, "2026-12-23 12:00", 2, "2026-12-26 00:00", "weekends only: Thu 24, Fri 25"},
		{"IT", rome, "2026-06-01 10:00", 10, "2026-06-17 00:00", "two weeks less a holiday: Wed 3 to Tue 16"},
	}
	for _, tt := range tests {
		c := parse(t, tt.spec, tt.loc)
		got := c.AddWorkingDays(at(t, tt.from, tt.loc), tt.n)
		if want := at(t, tt.due, tt.loc); !got.Equal(want) {
			t.Errorf("%q: AddWorkingDays(%s, %d) = %s, want %s (%s)", tt.spec, tt.from, tt.n, got.In(tt.loc), want, tt.why)
		}
	}
}

// The instant, not only the local reading, is right across daylight saving changes: a
// due instant is the local midnight, 23:00 UTC in winter and 22:00 UTC in summer.
func TestAddWorkingDaysDST(t *testing.T) {
	rome := location(t, "Europe/Rome")
	c := parse(t, "IT", rome)
	tests := []struct {
		from time.Time
		n    int
		want time.Time
	}{
		// 29 March 2026, clocks go forward.
		{time.Date(2026, 3, 27, 8, 0, 0, 0, time.UTC), 1, time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 3, 26, 23, 30, 0, 0, time.UTC), 1, time.Date(2026, 3, 30, 22, 0, 0, 0, time.UTC)}, // Friday 00:30 in Rome
		{time.Date(2026, 3, 26, 8, 0, 0, 0, time.UTC), 1, time.Date(2026, 3, 27, 23, 0, 0, 0, time.UTC)},
		// 25 October 2026, clocks go back.
		{time.Date(2026, 10, 23, 8, 0, 0, 0, time.UTC), 1, time.Date(2026, 10, 26, 23, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 22, 8, 0, 0, 0, time.UTC), 1, time.Date(2026, 10, 23, 22, 0, 0, 0, time.UTC)},
		{time.Date(2026, 10, 25, 1, 30, 0, 0, time.UTC), 0, time.Date(2026, 10, 26, 23, 0, 0, 0, time.UTC)}, // in the repeated hour
	}
	for _, tt := range tests {
		if got := c.AddWorkingDays(tt.from, tt.n); !got.Equal(tt.want) {
			t.Errorf("AddWorkingDays(%s, %d) = %s, want %s", tt.from, tt.n, got.UTC(), tt.want)
		}
	}
}

func TestWorkingDaysBetween(t *testing.T) {
	rome := location(t, "Europe/Rome")
	c := parse(t, "IT", rome)
	tests := []struct {
		a, b string
		want int
		why  string
	}{
		{"2026-06-01 09:00", "2026-06-01 17:00", 0, "within one day"},
		{"2026-05-29 10:00", "2026-06-01 10:00", 1, "Friday to Monday: Monday"},
		{"2026-05-29 10:00", "2026-06-03 10:00", 2, "Friday to Wednesday: Mon, Wed; Tue 2 June is a holiday"},
		{"2026-05-30 10:00", "2026-05-31 18:00", 0, "a weekend"},
		{"2026-06-01 10:00", "2026-06-02 18:00", 0, "into a holiday"},
		{"2026-06-03 10:00", "2026-06-01 10:00", 0, "b before a"},
		{"2026-12-24 10:00", "2027-01-04 10:00", 5, "Christmas to New Year: 28, 29, 30, 31 Dec, 4 Jan"},
		{"2026-03-27 10:00", "2026-03-30 10:00", 1, "over the March DST change"},
		{"2026-10-23 10:00", "2026-10-26 10:00", 1, "over the October DST change"},
	}
	for _, tt := range tests {
		if got := c.WorkingDaysBetween(at(t, tt.a, rome), at(t, tt.b, rome)); got != tt.want {
			t.Errorf("WorkingDaysBetween(%s, %s) = %d, want %d (%s)", tt.a, tt.b, got, tt.want, tt.why)
		}
	}
	// Days are Rome's: from 00:30 on Monday 1 June to noon the same day is no day in Rome,
	// one (Monday) in UTC.
	a, b := time.Date(2026, 5, 31, 22, 30, 0, 0, time.UTC), time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	if got := c.WorkingDaysBetween(a, b); got != 0 {
		t.Errorf("Rome: WorkingDaysBetween(%s, %s) = %d, want 0", a, b, got)
	}
	if got := parse(t, "IT", time.UTC).WorkingDaysBetween(a, b); got != 1 {
		t.Errorf("UTC: WorkingDaysBetween(%s, %s) = %d, want 1", a, b, got)
	}
}

// A paused clock's due instant moves by exactly the working days paused.
func TestPause(t *testing.T) {
	rome := location(t, "Europe/Rome")
	c := parse(t, "IT", rome)
	tests := []struct {
		name           string
		start          string
		n              int
		due            string
		pauses         [][2]string
		paused         int
		resumedDue     string
		workingDaysNow int // n + paused
	}{
		{
			name: "report: a pause over a weekend and Festa della Repubblica",
			// Paid Monday 25 May: Tue 26, Wed 27, Thu 28, Fri 29, Mon 1 June.
			start: "2026-05-25 10:00", n: 5, due: "2026-06-02 00:00",
			// Asked for a document on Thursday, answered on Wednesday: Fri 29, Mon 1, Wed 3.
			pauses: [][2]string{{"2026-05-28 11:00", "2026-06-03 09:00"}}, paused: 3,
			// Wed 3, Thu 4, Fri 5 added after Mon 1.
			resumedDue: "2026-06-06 00:00",
		},
		{
			name: "triage: a pause within a day, then one over Easter",
			// Submitted Thursday 2 April: Fri 3, Tue 7 (Easter Monday is a holiday).
			start: "2026-04-02 16:00", n: 2, due: "2026-04-08 00:00",
			// Fri 9:00 to 17:00: nothing; Fri 18:00 to Tue 8:00: Tuesday.
			pauses: [][2]string{{"2026-04-03 09:00", "2026-04-03 17:00"}, {"2026-04-03 18:00", "2026-04-07 08:00"}}, paused: 1,
			resumedDue: "2026-04-09 00:00",
		},
		{
			name: "a pause that outlives the deadline",
			// Submitted Monday 2 March: Tue 3, Wed 4.
			start: "2026-03-02 10:00", n: 2, due: "2026-03-05 00:00",
			// Tuesday to the next Monday: Wed 4, Thu 5, Fri 6, Mon 9.
			pauses: [][2]string{{"2026-03-03 10:00", "2026-03-09 10:00"}}, paused: 4,
			resumedDue: "2026-03-11 00:00",
		},
	}
	for _, tt := range tests {
		start := at(t, tt.start, rome)
		due := c.AddWorkingDays(start, tt.n)
		if !due.Equal(at(t, tt.due, rome)) {
			t.Fatalf("%s: due %s, want %s", tt.name, due.In(rome), tt.due)
		}
		paused := 0
		for _, p := range tt.pauses {
			n := c.WorkingDaysBetween(at(t, p[0], rome), at(t, p[1], rome))
			paused += n
			due = c.Shift(due, n)
		}
		if paused != tt.paused {
			t.Errorf("%s: paused %d working days, want %d", tt.name, paused, tt.paused)
		}
		if !due.Equal(at(t, tt.resumedDue, rome)) {
			t.Errorf("%s: due after resuming %s, want %s", tt.name, due.In(rome), tt.resumedDue)
		}
		if want := c.AddWorkingDays(start, tt.n+paused); !due.Equal(want) {
			t.Errorf("%s: due after resuming %s, AddWorkingDays(start, n+paused) %s", tt.name, due.In(rome), want.In(rome))
		}
	}
}

// The rules the package documentation states, on random instants over eight years.
func TestProperties(t *testing.T) {
	rome := location(t, "Europe/Rome")
	c := parse(t, "IT, 12-07, 2026-12-24", rome)
	r := rand.New(rand.NewPCG(1, 2))
	first := time.Date(2024, 1, 1, 0, 0, 0, 0, rome).Unix()
	span := time.Date(2032, 1, 1, 0, 0, 0, 0, rome).Unix() - first
	instant := func() time.Time { return time.Unix(first+r.Int64N(span), 0).In(rome) }
	for range 5000 {
		from, n, p := instant(), r.IntN(12), r.IntN(8)
		due := c.AddWorkingDays(from, n)
		last := due.Add(-time.Nanosecond)
		if h, m, s := due.Clock(); h != 0 || m != 0 || s != 0 || due.Nanosecond() != 0 {
			t.Fatalf("AddWorkingDays(%s, %d) = %s, not a midnight", from, n, due)
		}
		if !due.After(from) || !c.IsWorkingDay(last) {
			t.Fatalf("AddWorkingDays(%s, %d) = %s, not the end of a working day after it", from, n, due)
		}
		want := n
		if n == 0 && !c.IsWorkingDay(from) {
			want = 1
		}
		if got := c.WorkingDaysBetween(from, last); got != want {
			t.Fatalf("AddWorkingDays(%s, %d) = %s, %d working days after from's day", from, n, due, got)
		}
		if got := c.Shift(due, 0); !got.Equal(due) {
			t.Fatalf("Shift(%s, 0) = %s", due, got)
		}
		if n >= 1 {
			if got, want := c.Shift(due, p), c.AddWorkingDays(from, n+p); !got.Equal(want) {
				t.Fatalf("Shift(AddWorkingDays(%s, %d), %d) = %s, AddWorkingDays(%s, %d) = %s", from, n, p, got, from, n+p, want)
			}
		}
		// Pauses of up to six weeks each, split at b.
		a := instant()
		b := a.Add(time.Duration(r.Int64N(int64(42 * 24 * time.Hour))))
		d := b.Add(time.Duration(r.Int64N(int64(42 * 24 * time.Hour))))
		if ab, bd, ad := c.WorkingDaysBetween(a, b), c.WorkingDaysBetween(b, d), c.WorkingDaysBetween(a, d); ab+bd != ad {
			t.Fatalf("WorkingDaysBetween: %s–%s %d + %s–%s %d != %d", a, b, ab, b, d, bd, ad)
		}
	}
}

// Cairo's clocks jump from 00:00 to 01:00 on the last Friday of April: Thursday ends at
// 01:00 local time.
func TestSkippedMidnight(t *testing.T) {
	cairo := location(t, "Africa/Cairo")
	c := parse(t, "", cairo)
	wednesday := time.Date(2024, 4, 24, 10, 0, 0, 0, cairo)
	due := c.AddWorkingDays(wednesday, 1)
	if want := time.Date(2024, 4, 25, 22, 0, 0, 0, time.UTC); !due.Equal(want) {
		t.Errorf("AddWorkingDays(%s, 1) = %s, want %s", wednesday, due, want)
	}
	if got := c.Shift(due, 0); !got.Equal(due) {
		t.Errorf("Shift(%s, 0) = %s", due, got)
	}
	if got, want := c.Shift(due, 1), time.Date(2024, 4, 26, 21, 0, 0, 0, time.UTC); !got.Equal(want) {
		t.Errorf("Shift(%s, 1) = %s, want %s, the end of Friday", due, got, want)
	}
}

func TestNegativePanics(t *testing.T) {
	c := parse(t, "IT", time.UTC)
	for name, f := range map[string]func(){
		"AddWorkingDays": func() { c.AddWorkingDays(time.Now(), -1) },
		"Shift":          func() { c.Shift(time.Now(), -1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s with n = -1 did not panic", name)
				}
			}()
			f()
		}()
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "IT", " it , 12-07 ,2026-12-24", "DE-BY", "ch-zh", "CH", "XX", "IT,ES",
		"02-29", "2024-02-29", "0000-01-01", ",,", "12-7", "2026-13-01", "GB, 12-31, 01-02"} {
		f.Add(s)
	}
	rome := location(f, "Europe/Rome")
	start := time.Date(2026, 12, 20, 12, 0, 0, 0, rome)
	f.Fuzz(func(t *testing.T, spec string) {
		c, err := workdays.Parse(spec, rome)
		if err != nil {
			var se *workdays.SpecError
			if !errors.As(err, &se) {
				t.Fatalf("Parse(%q) = %v, not a *SpecError", spec, err)
			}
			if se.Item == "" || !strings.Contains(spec, se.Item) {
				t.Fatalf("Parse(%q): item %q is not in the spec", spec, se.Item)
			}
			return
		}
		canonical := c.String()
		again, err := workdays.Parse(canonical, rome)
		if err != nil || again.String() != canonical {
			t.Fatalf("Parse(%q).String() = %q, which parses to %v, %v", spec, canonical, again, err)
		}
		for d := start.AddDate(0, 0, -60); d.Before(start.AddDate(0, 0, 60)); d = d.AddDate(0, 0, 1) {
			if c.IsWorkingDay(d) != again.IsWorkingDay(d) {
				t.Fatalf("%q and its canonical form %q differ on %s", spec, canonical, d)
			}
		}
		due := c.AddWorkingDays(start, 5)
		if last := due.Add(-time.Nanosecond); !c.IsWorkingDay(last) || c.WorkingDaysBetween(start, last) != 5 {
			t.Fatalf("%q: AddWorkingDays(%s, 5) = %s", spec, start, due)
		}
	})
}
