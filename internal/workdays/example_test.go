package workdays_test

import (
	"fmt"
	"time"

	"github.com/secondopinion/secondopinion/internal/workdays"
)

func Example() {
	rome, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	// A centre in Milan: Italian holidays, and Saint Ambrose on 7 December.
	milan, err := workdays.Parse("it, 12-07", rome)
	if err != nil {
		panic(err)
	}
	fmt.Println("calendar:", milan)

	// Submitted on Friday 4 December 2026; triage has 2 working days. Monday 7 and
	// Tuesday 8 (the Immaculate Conception) are closed.
	submitted := time.Date(2026, 12, 4, 16, 30, 0, 0, rome)
	due := milan.AddWorkingDays(submitted, 2)
	fmt.Println("due:", due.Format("Mon 2006-01-02 15:04 MST"))

	// Triage asks for a missing report on Wednesday; it arrives the next Monday.
	asked := time.Date(2026, 12, 9, 11, 0, 0, 0, rome)
	answered := time.Date(2026, 12, 14, 9, 30, 0, 0, rome)
	paused := milan.WorkingDaysBetween(asked, answered)
	due = milan.Shift(due, paused)
	fmt.Println("paused:", paused, "working days; due:", due.Format("Mon 2006-01-02 15:04 MST"))

	now := time.Date(2026, 12, 16, 0, 0, 0, 0, rome)
	fmt.Println("overdue at", now.Format("Mon 15:04:"), !now.Before(due))
	// Output:
	// calendar: IT,12-07
	// due: Fri 2026-12-11 00:00 CET
	// paused: 3 working days; due: Wed 2026-12-16 00:00 CET
	// overdue at Wed 00:00: true
}
