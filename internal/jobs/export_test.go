package jobs

import (
	"context"
	"time"
)

// OnEnqueue lets tests hear of every periodic run r's leader enqueues, or finds enqueued
// already (duplicate). Set it before Start.
func OnEnqueue(r *Runner, f func(task string, period time.Time, duplicate bool)) {
	r.onEnqueue = f
}

// InsertRun enqueues the run of a task for the current period, as a leader that knows the
// task would, even if r does not know it.
func InsertRun(ctx context.Context, r *Runner, task string, every time.Duration) error {
	args, opts := run(Task{Name: task, Every: every, MaxAttempts: DefaultTaskMaxAttempts}, time.Now())
	_, err := r.inserter.Insert(ctx, args, opts)
	return err
}

// SnoozeUnknownTasks sets how long r snoozes the run of a task it does not know.
func SnoozeUnknownTasks(r *Runner, d time.Duration) {
	r.unknownSnooze = d
}
