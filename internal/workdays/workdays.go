package workdays

import (
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/rickar/cal/v2"
)

// MaxDates is the most extra dates a spec may list. With at most this many closing days
// a year besides a country's holidays, every year keeps well over a hundred working days,
// so no computation here has to look far for the next one.
const MaxDates = 100

// A Calendar tells working days from weekends, public holidays and a centre's own
// closing days, in one time zone. Make one with Parse. It does not change after Parse and
// is safe for concurrent use.
type Calendar struct {
	loc     *time.Location
	bc      *cal.BusinessCalendar // Monday to Friday, less the holidays Parse added
	country string                // as written in the spec, upper-cased; "" for none
	yearly  []string              // "MM-DD", sorted
	once    []string              // "YYYY-MM-DD", sorted
}

// A SpecError reports the item of a spec that Parse could not use.
type SpecError struct {
	Item   string // the item as written, without surrounding spaces
	Reason string
}

func (e *SpecError) Error() string {
	return fmt.Sprintf("workdays: %q: %s", e.Item, e.Reason)
}

// Parse reads a calendar spec (the package documentation describes it) for a centre in
// loc. The empty spec gives a calendar of Mondays to Fridays. An item that is not a known
// code nor a valid date is an error naming it; so is a second country code.
func Parse(spec string, loc *time.Location) (*Calendar, error) {
	if loc == nil {
		return nil, errors.New("workdays: nil location")
	}
	c := &Calendar{loc: loc, bc: cal.NewBusinessCalendar()}
	dates := 0
	for item := range strings.SplitSeq(spec, ",") {
		item = strings.TrimSpace(item)
		switch {
		case item == "":
			continue
		case item[0] >= '0' && item[0] <= '9':
			if dates++; dates > MaxDates {
				return nil, &SpecError{item, fmt.Sprintf("more than %d dates", MaxDates)}
			}
			if err := c.addDate(item); err != nil {
				return nil, err
			}
		default:
			if err := c.setCountry(item); err != nil {
				return nil, err
			}
		}
	}
	slices.Sort(c.yearly)
	slices.Sort(c.once)
	return c, nil
}

func (c *Calendar) setCountry(item string) error {
	for _, r := range item {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-') {
			return &SpecError{item, "neither a country code nor a date (YYYY-MM-DD or MM-DD)"}
		}
	}
	code := strings.ToUpper(item)
	if why, ok := noCountryWide[code]; ok {
		var regions []string
		for _, k := range codes() {
			if strings.HasPrefix(k, code+"-") {
				regions = append(regions, k)
			}
		}
		return &SpecError{item, why + "; use one of " + strings.Join(regions, ", ")}
	}
	list, ok := holidayLists[code]
	if !ok {
		return &SpecError{item, "unknown country code; known: " + knownCodes()}
	}
	if c.country != "" {
		return &SpecError{item, fmt.Sprintf("a second country code after %s; a calendar has at most one", c.country)}
	}
	c.country = code
	for _, h := range list {
		if dayOff(h) {
			c.bc.AddHoliday(h)
		}
	}
	return nil
}

// addDate adds a closing date, YYYY-MM-DD for one day or MM-DD for every year, as a
// rickar/cal holiday: the business calendar then knows every day off in one place.
func (c *Calendar) addDate(item string) error {
	bad := func(reason string) error { return &SpecError{item, reason} }
	year, md, once := 0, item, len(item) == len("2006-01-02")
	if once {
		if item[4] != '-' || !digits(item[:4]) {
			return bad("not a date: want YYYY-MM-DD (one day) or MM-DD (every year)")
		}
		year, _ = strconv.Atoi(item[:4])
		md = item[5:]
	}
	if len(md) != len("01-02") || md[2] != '-' || !digits(md[:2]) || !digits(md[3:]) {
		return bad("not a date: want YYYY-MM-DD (one day) or MM-DD (every year)")
	}
	month, _ := strconv.Atoi(md[:2])
	day, _ := strconv.Atoi(md[3:])
	switch {
	case once && year == 0:
		return bad("year 0000 is not a year")
	case month < 1 || month > 12:
		return bad("no such month")
	case !once && month == 2 && day == 29:
		return bad("02-29 is not a day of every year; list leap days as YYYY-02-29")
	}
	probe := year
	if !once {
		probe = 2001 // not a leap year: MM-DD must be a day of every year
	}
	if day < 1 || time.Date(probe, time.Month(month), day, 12, 0, 0, 0, time.UTC).Day() != day {
		return bad("no such day")
	}
	h := &cal.Holiday{Name: "closing day " + item, Month: time.Month(month), Day: day, Func: cal.CalcDayOfMonth}
	if once {
		h.StartYear, h.EndYear = year, year // rickar/cal reads 0 as "no limit": year 0 was refused above
		if slices.Contains(c.once, item) {
			return nil
		}
		c.once = append(c.once, item)
	} else {
		if slices.Contains(c.yearly, item) {
			return nil
		}
		c.yearly = append(c.yearly, item)
	}
	c.bc.AddHoliday(h)
	return nil
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// String returns the calendar's spec in canonical form: the country code upper-cased,
// then the yearly dates, then the one-off dates, each group in order, without repeats,
// separated by commas. Parse reads it back to the same calendar. A calendar of weekends
// only returns "".
func (c *Calendar) String() string {
	var items []string
	if c.country != "" {
		items = append(items, c.country)
	}
	items = append(items, c.yearly...)
	items = append(items, c.once...)
	return strings.Join(items, ",")
}

// IsWorkingDay reports whether the day of t, in the calendar's location, is a working day.
func (c *Calendar) IsWorkingDay(t time.Time) bool {
	return c.working(c.day(t))
}

// AddWorkingDays returns the instant a clock of n working days started at t runs out:
// the end of the n-th working day after the day of t, that is the first instant of the
// following local day. The day of t never counts, even if it is a working day: a
// submission on Friday morning, Friday evening or Saturday alike has Monday as its first
// day. A deadline is missed when !now.Before(due).
//
// For n == 0 it returns the end of t's day if that is a working day, else the end of the
// next working day. Every result is thus the end of a working day.
//
// AddWorkingDays panics if n < 0.
func (c *Calendar) AddWorkingDays(t time.Time, n int) time.Time {
	if n < 0 {
		panic("workdays: AddWorkingDays with negative n")
	}
	return c.end(c.nth(c.day(t), n))
}

// WorkingDaysBetween returns how many working days began while a clock was paused from a
// to b: the working days d with day(a) < d ≤ day(b), days taken in the calendar's
// location. The day the pause starts does not count, the day it ends does: a pause within
// one day counts 0, one from Friday to Monday counts 1, b before a counts 0. Pauses
// add up: for a ≤ b ≤ c, WorkingDaysBetween(a, c) = WorkingDaysBetween(a, b) +
// WorkingDaysBetween(b, c).
func (c *Calendar) WorkingDaysBetween(a, b time.Time) int {
	n := 0
	last := c.day(b)
	for d := c.day(a).AddDate(0, 0, 1); !d.After(last); d = d.AddDate(0, 0, 1) {
		if c.working(d) {
			n++
		}
	}
	return n
}

// Shift moves a due instant by n working days: it returns the end of the n-th working day
// after the day that ends at due. On resuming a clock paused from a to b,
// Shift(due, WorkingDaysBetween(a, b)) is the new due instant; for n ≥ 1,
// Shift(AddWorkingDays(t, n), p) == AddWorkingDays(t, n+p).
//
// Shift(due, 0) returns due when due is the end of a working day, as every result of
// AddWorkingDays and Shift is. Any other instant is taken as the end of the day it falls
// in, the day of due minus a nanosecond: never use AddWorkingDays(due, n), which would
// count from the day after.
//
// Shift panics if n < 0.
func (c *Calendar) Shift(due time.Time, n int) time.Time {
	if n < 0 {
		panic("workdays: Shift with negative n")
	}
	return c.end(c.nth(c.day(due.Add(-time.Nanosecond)), n))
}

// nth returns the earliest working day d on or after from such that n working days lie
// in (from, d].
func (c *Calendar) nth(from time.Time, n int) time.Time {
	d := from
	if n == 0 {
		for !c.working(d) {
			d = d.AddDate(0, 0, 1)
		}
		return d
	}
	for ; n > 0; n-- {
		d = d.AddDate(0, 0, 1)
		for !c.working(d) {
			d = d.AddDate(0, 0, 1)
		}
	}
	return d
}

// day returns the date of t in the calendar's location as midnight UTC, a value on which
// AddDate(0, 0, k) is exact day arithmetic whatever the location's offsets do.
func (c *Calendar) day(t time.Time) time.Time {
	y, m, d := t.In(c.loc).Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

func (c *Calendar) working(day time.Time) bool {
	return c.bc.IsWorkday(day)
}

// end returns the instant day ends in the calendar's location: the first instant of the
// next local day, which is its midnight unless the clocks skip midnight.
func (c *Calendar) end(day time.Time) time.Time {
	y, m, d := day.AddDate(0, 0, 1).Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, c.loc)
	if ty, tm, td := t.Date(); ty != y || tm != m || td != d {
		// Midnight does not exist here (America/Santiago jumps from 00:00 to 01:00) and
		// time.Date went back to the day before; the day begins where that offset ends.
		if _, next := t.ZoneBounds(); !next.IsZero() {
			t = next
		}
	}
	return t
}
