// Package workdays is the working-day calendar behind the case SLA clocks: which days
// count, when a clock of n working days runs out, and how far a pause moves it. It knows
// days and instants only; what a clock is for belongs to its caller.
//
// # Calendars
//
// Parse reads a spec, as SO_HOLIDAYS holds it: items separated by commas, spaces around
// them ignored, in any order.
//
//   - At most one code naming a holiday list, in any case: IT, es. Countries by ISO 3166-1
//     code: the EU's members (AT BE BG CY CZ DE DK EE ES FI FR GR HR HU IE IT LT LU LV MT
//     NL PL PT RO SE SI SK), Iceland (IS), Norway (NO) and the United Kingdom (GB). German
//     states and Swiss cantons by ISO 3166-2 code: DE-BY, CH-ZH. DE alone is the nine
//     holidays every German state keeps; CH alone is refused, Swiss holidays being cantonal.
//   - Any number of closing dates, at most MaxDates: YYYY-MM-DD closes that one day
//     (2026-12-24), MM-DD closes that day every year (12-07, Saint Ambrose in Milan).
//     02-29 is refused as a yearly date; name each leap day you mean.
//
// Saturdays and Sundays are never working days. The empty spec gives a calendar of
// Mondays to Fridays. An unknown code, a second code or a malformed date is a *SpecError
// naming the item; nothing is ignored.
//
// The holiday lists are rickar/cal's (github.com/rickar/cal/v2), not ours. A holiday from
// a list closes the office unless rickar/cal marks it ObservanceOther or
// ObservanceReligious: that leaves out customary days that are not public holidays, such
// as Christmas Eve in Sweden and Finland, and keeps the public and bank holidays, many of
// which it leaves unmarked (all of Ireland's). Where a holiday falling on a weekend is
// moved to a weekday (the United Kingdom's bank holidays), the weekday is the day off.
// GB is the England and Wales list. Regional holidays the lists lack, and moving ones
// such as Maundy Thursday in most of Spain, are given as one-off dates, year by year.
//
// # Days and instants
//
// Every question is asked of calendar dates in the location given to Parse: t's day is the
// date t shows on a clock in that location. Days are counted on dates, never by adding
// 24 hours, so daylight saving changes move no deadline: a due instant is a local
// midnight whatever the offset that day (in the few zones whose clocks skip midnight, the
// first instant of the day, 01:00).
//
// # Due instants
//
// AddWorkingDays(t, n) is the end of the n-th working day after t's day: the first
// instant of the next local day (midnight, unless the clocks skip midnight there). The day
// of t does not count, working or not: a request submitted on Friday 3 April 2026 in Italy
// with 2 working days for triage has Tuesday 7 April as its first day, Easter Monday
// being a holiday, and is due on Thursday 9 April at 00:00. A deadline is missed from the
// due instant on: overdue is !now.Before(due). For n = 0 the result is the end of t's day
// when it is a working day, else of the next working day; every result is the end of a
// working day.
//
// # Pauses
//
// A clock paused from a to b (asking the applicant for a document, then receiving it)
// gives back WorkingDaysBetween(a, b) working days: those that began while it stood
// still, the working days after a's day up to and including b's day. Shift(due, p) moves
// a due instant by p working days, so that on resume
//
//	due = c.Shift(due, c.WorkingDaysBetween(pausedAt, resumedAt))
//
// moves the deadline by exactly the paused working days: Shift(AddWorkingDays(t, n), p)
// is AddWorkingDays(t, n+p). A pause begun and ended on the same day gives back nothing,
// one from Friday to Monday gives back Monday, and several pauses add up. Shift counts
// from the day that ends at due; AddWorkingDays given a due instant would count from the
// day after it.
package workdays
