package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/rivertype"
)

// periodicKind is the one River job kind of every task's runs; the args name the task.
const periodicKind = "periodic"

// periodicArgs identify one period's run of a task. Being unique by these args is what
// makes a period run once, whoever enqueues it.
type periodicArgs struct {
	Task   string    `json:"task"`
	Period time.Time `json:"period"` // the period's start, UTC
}

func (periodicArgs) Kind() string { return periodicKind }

// uniqueStates are every state: a period's run, once enqueued, blocks another for the same
// period whatever became of it (completed, retrying, discarded, cancelled) until the job
// cleaner deletes it, which riverConfig defers past the period's end.
var uniqueStates = rivertype.JobStates()

// schedule fires at the start of every period (multiples of every since the zero time) plus
// a small offset. River fires up to 100 ms early; with the offset, "now" at firing always
// falls inside the period being enqueued.
type schedule struct{ every time.Duration }

func (s schedule) Next(t time.Time) time.Time {
	return t.Truncate(s.every).Add(s.every + min(s.every/4, time.Second))
}

// constructor returns the function the leader calls on each firing (and once when elected):
// the run of t for the period that holds the current time.
func constructor(t Task) river.PeriodicJobConstructor {
	return func() (river.JobArgs, *river.InsertOpts) { return run(t, time.Now()) }
}

// run is the job of t's run for the period that holds now.
func run(t Task, now time.Time) (periodicArgs, *river.InsertOpts) {
	return periodicArgs{Task: t.Name, Period: now.Truncate(t.Every).UTC()}, &river.InsertOpts{
		Queue:       QueuePeriodic,
		MaxAttempts: t.MaxAttempts,
		UniqueOpts: river.UniqueOpts{
			ByArgs:   true,
			ByPeriod: t.Every,
			ByState:  uniqueStates,
		},
	}
}

// A run of a task this instance does not know (enqueued by an instance of another release,
// during a rolling deploy) is snoozed, so that an instance that knows the task may take it,
// until the job is unknownTaskPatience old; then it is cancelled.
const (
	unknownTaskSnooze   = 10 * time.Second
	unknownTaskPatience = 10 * time.Minute
)

// retryBackoff is River's default schedule, attempt⁴ seconds: 1 s, 16 s, 81 s, 256 s, …
func retryBackoff(attempt int) time.Duration {
	a := time.Duration(max(attempt, 1))
	return a * a * a * a * time.Second
}

// periodicWorker runs one period's run of a task, found by name.
type periodicWorker struct {
	river.WorkerDefaults[periodicArgs]
	r *Runner
}

func (w *periodicWorker) Timeout(job *river.Job[periodicArgs]) time.Duration {
	if t, ok := w.r.tasks[job.Args.Task]; ok {
		return t.Timeout
	}
	return 0 // River's default
}

func (w *periodicWorker) NextRetry(job *river.Job[periodicArgs]) time.Time {
	return time.Now().Add(retryBackoff(job.Attempt))
}

// Work runs the task. A failed run is retried while the retry falls within its period;
// past it, the next period's run does the work, so the job is cancelled instead and
// failing runs never pile up.
func (w *periodicWorker) Work(ctx context.Context, job *river.Job[periodicArgs]) error {
	log := w.r.log.With("task", job.Args.Task, "period", job.Args.Period, "job_id", job.ID,
		"attempt", job.Attempt, "max_attempts", job.MaxAttempts)
	t, ok := w.r.tasks[job.Args.Task]
	if !ok {
		if time.Since(job.CreatedAt) < unknownTaskPatience {
			log.Info("periodic run of a task this instance does not know; left to instances that do")
			return river.JobSnooze(w.r.unknownSnooze)
		}
		log.Warn("periodic run of a task no instance took; cancelled")
		return river.JobCancel(fmt.Errorf("jobs: unknown task %q", job.Args.Task))
	}
	end := job.Args.Period.Add(t.Every)
	if job.Attempt > 1 && !time.Now().Before(end) {
		log.Warn("retry of a periodic task came after its period; the next period's run takes over")
		return river.JobCancel(errors.New("jobs: retry superseded by the next period's run"))
	}
	err := runTask(context.WithValue(ctx, periodKey{}, job.Args.Period), t, log)
	if err == nil {
		return nil
	}
	retryAt := time.Now().Add(retryBackoff(job.Attempt))
	switch {
	case errors.Is(ctx.Err(), context.Canceled):
		// Shutdown (or a job cancelled by an operator): River decides what follows.
		log.Info("periodic task interrupted", "err", err)
		return err
	case job.Attempt >= job.MaxAttempts:
		log.Error("periodic task failed; no attempt left for this period", "err", err)
		return err
	case !retryAt.Before(end):
		log.Error("periodic task failed; the next period's run takes over", "err", err)
		return river.JobCancel(err)
	default:
		log.Warn("periodic task failed; will retry", "err", err, "retry_at", retryAt)
		return err
	}
}

// runTask runs t, turning a panic into an error so that it follows the same retry rules;
// the stack goes to the log, not into the job's recorded errors.
func runTask(ctx context.Context, t Task, log *slog.Logger) (err error) {
	defer func() {
		if p := recover(); p != nil {
			log.Error("periodic task panicked", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			err = fmt.Errorf("jobs: task %s panicked: %v", t.Name, p)
		}
	}()
	return t.Run(ctx)
}

type periodKey struct{}

// Period returns the start of the period whose run ctx belongs to, when ctx is the context
// of a task's run.
func Period(ctx context.Context) (start time.Time, ok bool) {
	start, ok = ctx.Value(periodKey{}).(time.Time)
	return start, ok
}

// periodicInserts logs, at Debug, each period's run the leader enqueues, and each it finds
// already enqueued (by itself or a previous leader): the latter is uniqueness at work.
type periodicInserts struct {
	river.MiddlewareDefaults
	r *Runner
}

func (m *periodicInserts) InsertMany(ctx context.Context, params []*rivertype.JobInsertParams, doInner func(context.Context) ([]*rivertype.JobInsertResult, error)) ([]*rivertype.JobInsertResult, error) {
	res, err := doInner(ctx)
	if err != nil {
		return res, err
	}
	for _, x := range res {
		if x == nil || x.Job == nil || x.Job.Kind != periodicKind {
			continue
		}
		var a periodicArgs
		if json.Unmarshal(x.Job.EncodedArgs, &a) != nil {
			continue
		}
		if x.UniqueSkippedAsDuplicate {
			m.r.log.DebugContext(ctx, "periodic run already enqueued for this period", "task", a.Task, "period", a.Period, "job_id", x.Job.ID)
		} else {
			m.r.log.DebugContext(ctx, "periodic run enqueued", "task", a.Task, "period", a.Period, "job_id", x.Job.ID)
		}
		if m.r.onEnqueue != nil {
			m.r.onEnqueue(a.Task, a.Period, x.UniqueSkippedAsDuplicate)
		}
	}
	return res, nil
}
