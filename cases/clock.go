package cases

import (
	"time"

	so "github.com/secondopinion/secondopinion"
)

// The working-day SLA clocks (DESIGN §1, §8): triage is due TriageDays working days after
// submission; the report ReportDays working days after payment. Both are paused while the
// centre waits for the applicant (documents requested; an extra proposed and not yet
// decided) and, when the pause ends, moved by exactly the working days it lasted.
const (
	TriageDays = 2
	ReportDays = 5
)

// Calendar is the centre's working-day calendar (*workdays.Calendar, which documents the
// exact rules: due instants are the end of a working day; a pause takes the working days that
// began during it).
type Calendar interface {
	AddWorkingDays(t time.Time, n int) time.Time
	WorkingDaysBetween(a, b time.Time) int
	Shift(due time.Time, n int) time.Time
}

// overdue reports whether the case's running clock has passed its due instant.
func overdue(c Case, now time.Time) bool {
	if c.ClockPausedAt != nil {
		return false
	}
	switch c.Status {
	case so.StatusSubmitted, so.StatusTriage:
		return c.TriageDueAt != nil && !now.Before(*c.TriageDueAt)
	case so.StatusInReview:
		return c.ReportDueAt != nil && !now.Before(*c.ReportDueAt)
	}
	return false
}

// shiftDue moves a due instant by the working days a pause from pausedAt to now took.
func shiftDue(cal Calendar, due, pausedAt, now time.Time) time.Time {
	return cal.Shift(due, cal.WorkingDaysBetween(pausedAt, now))
}
