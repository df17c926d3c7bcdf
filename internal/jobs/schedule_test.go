package jobs

import (
	"testing"
	"time"
)

// The leader fires each period shortly after it starts, and a firing up to 100 ms early
// (River's margin) still lands in the period it is meant for.
func TestScheduleFiresInsideEachPeriod(t *testing.T) {
	start := time.Date(2026, 3, 29, 0, 59, 59, 999_000_000, time.UTC) // DST night in Europe: periods are UTC
	for _, every := range []time.Duration{time.Second, 7 * time.Second, time.Minute, 5 * time.Minute, 24 * time.Hour} {
		s := schedule{every}
		for _, now := range []time.Time{start, start.Add(every / 3), start.Add(every - time.Nanosecond), start.In(time.FixedZone("CET", 3600))} {
			fire := s.Next(now)
			period := now.Truncate(every)
			if !fire.Truncate(every).Equal(period.Add(every)) {
				t.Errorf("every %s, now %s: fires at %s, not in the next period", every, now, fire)
			}
			for i := 0; i < 3; i++ {
				early := fire.Add(-100 * time.Millisecond)
				args, opts := run(Task{Name: "t", Every: every, MaxAttempts: 1}, early)
				if !args.Period.Equal(fire.Truncate(every)) || args.Period.Location() != time.UTC {
					t.Errorf("every %s: firing at %s (100 ms early) enqueues period %s", every, fire, args.Period)
				}
				if opts.UniqueOpts.ByPeriod != every || !opts.UniqueOpts.ByArgs || len(opts.UniqueOpts.ByState) != 8 {
					t.Errorf("every %s: unique options %+v", every, opts.UniqueOpts)
				}
				next := s.Next(fire)
				if next.Sub(fire) != every {
					t.Errorf("every %s: fires at %s then %s", every, fire, next)
				}
				fire = next
			}
		}
	}
}

func TestRetryBackoff(t *testing.T) {
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 16 * time.Second, 3: 81 * time.Second, 5: 625 * time.Second} {
		if got := retryBackoff(attempt); got != want {
			t.Errorf("retryBackoff(%d) = %s, want %s", attempt, got, want)
		}
	}
}
