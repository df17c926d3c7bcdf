package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivertype"
)

// Defaults of Config and Task.
const (
	// DefaultPollInterval is how often an instance looks for new jobs: a job inserted by
	// another instance, or in a transaction, starts within about this long.
	DefaultPollInterval = time.Second
	// DefaultMaxWorkers is how many one-off jobs an instance works at once.
	DefaultMaxWorkers = 10
	// DefaultTaskMaxAttempts is how many times one period's run of a task is tried.
	DefaultTaskMaxAttempts = 5
	// DefaultTaskTimeout bounds one run of a task, unless the task's period is shorter.
	DefaultTaskTimeout = time.Minute
	// MinEvery is the shortest period of a task.
	MinEvery = time.Second
)

// Queues. One-off jobs go to QueueDefault unless their args say otherwise (River's
// JobArgsWithInsertOpts); a job in any other queue is never worked.
const (
	QueueDefault  = river.QueueDefault // "default"
	QueuePeriodic = "periodic"         // the tasks' runs, apart so that a backlog of one-off jobs never delays them
)

// hardStopTimeout is how long Stop waits for running jobs after cancelling them.
const hardStopTimeout = 10 * time.Second

// taskName is also a valid River periodic job ID (two characters at least).
var taskName = regexp.MustCompile(`^[a-z][a-z0-9_]{1,62}$`)

// ErrUnknownKind is returned by Insert and InsertTx for a job kind no worker was registered
// for: such a job would wait in the table forever.
var ErrUnknownKind = errors.New("jobs: no worker registered for this job kind")

// Config configures a Runner. DB is required.
type Config struct {
	// DB is the runtime connection: a login role in RuntimeRole, with River's schema
	// current (see Migrate).
	DB *sql.DB
	// Logger receives task and job failures, and River's own messages. Job arguments are
	// never logged. Default slog.Default().
	Logger *slog.Logger
	// Tasks run periodically, each once per period across every instance.
	Tasks []Task
	// MaxWorkers is how many one-off jobs this instance works at once. Default
	// DefaultMaxWorkers.
	MaxWorkers int
	// PollInterval is how often this instance looks for new jobs. Default
	// DefaultPollInterval.
	PollInterval time.Duration
}

// Task is a periodic task. Its periods are the multiples of Every since the zero time, in
// UTC: with Every = 24h, each day from midnight UTC.
type Task struct {
	// Name identifies the task in the job table and in logs: 2 to 63 lower-case letters,
	// digits and underscores, starting with a letter. Renaming a task loses the record of
	// the current period's run, which may then run again.
	Name string
	// Every is the period, at least MinEvery.
	Every time.Duration
	// Timeout bounds one run: its context ends after this long. Default DefaultTaskTimeout
	// or Every, whichever is shorter; at most Every.
	Timeout time.Duration
	// MaxAttempts is how many times one period's run is tried. Default
	// DefaultTaskMaxAttempts; at most 100.
	MaxAttempts int
	// Run does the work. It must honour ctx, and it must be idempotent: a run interrupted
	// by a crash is tried again.
	Run func(ctx context.Context) error
}

// Runner works River jobs: the periodic tasks of its Config and the one-off jobs
// registered with Register. Build it with New.
type Runner struct {
	db       *sql.DB
	log      *slog.Logger
	poll     time.Duration
	workers  int
	tasks    map[string]Task
	order    []string // task names, as configured
	bundle   *river.Workers
	inserter *river.Client[*sql.Tx] // insert-only: works before Start and after Stop

	mu     sync.Mutex
	kinds  map[string]bool
	client *river.Client[*sql.Tx] // the working client, from Start on

	// onEnqueue, when set (by tests), hears of every periodic run the leader enqueues or
	// finds already enqueued.
	onEnqueue func(task string, period time.Time, duplicate bool)
	// unknownSnooze is unknownTaskSnooze, but for tests.
	unknownSnooze time.Duration
}

// New checks cfg and returns a Runner that has not started.
func New(cfg Config) (*Runner, error) {
	if cfg.DB == nil {
		return nil, errors.New("jobs: Config.DB is required")
	}
	r := &Runner{
		db:      cfg.DB,
		log:     cfg.Logger,
		poll:    cfg.PollInterval,
		workers: cfg.MaxWorkers,
		tasks:   map[string]Task{},
		bundle:  river.NewWorkers(),
		kinds:   map[string]bool{},

		unknownSnooze: unknownTaskSnooze,
	}
	if r.log == nil {
		r.log = slog.Default()
	}
	switch {
	case r.poll == 0:
		r.poll = DefaultPollInterval
	case r.poll < 10*time.Millisecond:
		return nil, fmt.Errorf("jobs: Config.PollInterval %s is below 10ms", r.poll)
	}
	switch {
	case r.workers == 0:
		r.workers = DefaultMaxWorkers
	case r.workers < 0:
		return nil, fmt.Errorf("jobs: Config.MaxWorkers %d is negative", r.workers)
	}
	for _, t := range cfg.Tasks {
		t, err := checkTask(t)
		if err != nil {
			return nil, err
		}
		if _, dup := r.tasks[t.Name]; dup {
			return nil, fmt.Errorf("jobs: task %q is configured twice", t.Name)
		}
		r.tasks[t.Name] = t
		r.order = append(r.order, t.Name)
	}
	if err := river.AddWorkerSafely(r.bundle, &periodicWorker{r: r}); err != nil {
		return nil, fmt.Errorf("jobs: %w", err)
	}
	inserter, err := river.NewClient(riverdatabasesql.New(r.db), &river.Config{Logger: quiet(r.log)})
	if err != nil {
		return nil, fmt.Errorf("jobs: River client: %w", err)
	}
	r.inserter = inserter
	return r, nil
}

func checkTask(t Task) (Task, error) {
	if !taskName.MatchString(t.Name) {
		return t, fmt.Errorf("jobs: task name %q: want lower-case letters, digits and underscores, starting with a letter", t.Name)
	}
	if t.Every < MinEvery {
		return t, fmt.Errorf("jobs: task %s: Every %s is below %s", t.Name, t.Every, MinEvery)
	}
	if t.Run == nil {
		return t, fmt.Errorf("jobs: task %s: Run is nil", t.Name)
	}
	switch {
	case t.Timeout == 0:
		t.Timeout = min(DefaultTaskTimeout, t.Every)
	case t.Timeout < 0 || t.Timeout > t.Every:
		return t, fmt.Errorf("jobs: task %s: Timeout %s is not within (0, Every]", t.Name, t.Timeout)
	}
	switch {
	case t.MaxAttempts == 0:
		t.MaxAttempts = DefaultTaskMaxAttempts
	case t.MaxAttempts < 0 || t.MaxAttempts > 100:
		return t, fmt.Errorf("jobs: task %s: MaxAttempts %d is not within [1, 100]", t.Name, t.MaxAttempts)
	}
	return t, nil
}

// Register makes r work the jobs of kind T with w. Call it before Start. Its Kind must not
// be "periodic", which the tasks use.
func Register[T river.JobArgs](r *Runner, w river.Worker[T]) error {
	var args T
	kind := args.Kind()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return fmt.Errorf("jobs: register %s: the runner has started", kind)
	}
	if kind == periodicKind {
		return fmt.Errorf("jobs: register %s: the kind is reserved for the periodic tasks", kind)
	}
	if err := river.AddWorkerSafely(r.bundle, w); err != nil {
		return fmt.Errorf("jobs: register %s: %w", kind, err)
	}
	r.kinds[kind] = true
	return nil
}

// InsertTx enqueues a one-off job in tx: the job exists if and only if tx commits, and is
// worked by some instance within about the poll interval after the commit. Pass the
// transaction of the change that causes the job (for sqlx, tx.Tx).
//
// Args are stored as JSON in river_job until the job is cleaned away (a day after it
// completes, a week after it is discarded): put identifiers in them, never health data.
func (r *Runner) InsertTx(ctx context.Context, tx *sql.Tx, args river.JobArgs, opts *river.InsertOpts) error {
	if err := r.known(args); err != nil {
		return err
	}
	if _, err := r.inserter.InsertTx(ctx, tx, args, opts); err != nil {
		return fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return nil
}

// Insert enqueues a one-off job outside any transaction; see InsertTx.
func (r *Runner) Insert(ctx context.Context, args river.JobArgs, opts *river.InsertOpts) error {
	if err := r.known(args); err != nil {
		return err
	}
	if _, err := r.inserter.Insert(ctx, args, opts); err != nil {
		return fmt.Errorf("jobs: insert %s: %w", args.Kind(), err)
	}
	return nil
}

func (r *Runner) known(args river.JobArgs) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.kinds[args.Kind()] {
		return fmt.Errorf("%w: %s", ErrUnknownKind, args.Kind())
	}
	return nil
}

// Start starts working jobs and, when this instance is elected leader, enqueuing the
// periodic tasks' runs. It returns once started; ctx bounds the start only, Stop ends the
// work. A Runner starts once.
func (r *Runner) Start(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.client != nil {
		return errors.New("jobs: the runner has already started")
	}
	if err := r.db.PingContext(ctx); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	client, err := river.NewClient(riverdatabasesql.New(r.db), r.riverConfig())
	if err != nil {
		return fmt.Errorf("jobs: River client: %w", err)
	}
	// Jobs' contexts derive from this one: only Stop may end them, not the caller's ctx.
	if err := client.Start(context.WithoutCancel(ctx)); err != nil {
		return fmt.Errorf("jobs: start: %w", err)
	}
	r.client = client
	return nil
}

// Stop stops fetching jobs and waits for the running ones to finish. If ctx ends first, it
// cancels their contexts and waits a little longer (River runs them again later, on some
// instance); it fails only when a job ignores its cancelled context. Stop before Start, or
// twice, does nothing.
func (r *Runner) Stop(ctx context.Context) error {
	r.mu.Lock()
	client := r.client
	r.mu.Unlock()
	if client == nil {
		return nil
	}
	err := client.Stop(ctx)
	if err == nil {
		return nil
	}
	if ctx.Err() == nil {
		return fmt.Errorf("jobs: stop: %w", err)
	}
	r.log.Warn("jobs still running at shutdown; cancelling them")
	hctx, cancel := context.WithTimeout(context.Background(), hardStopTimeout)
	defer cancel()
	if err := client.StopAndCancel(hctx); err != nil {
		return fmt.Errorf("jobs: stop: running jobs ignore cancellation: %w", err)
	}
	return nil
}

// riverConfig is the working client's configuration.
func (r *Runner) riverConfig() *river.Config {
	periodic := make([]*river.PeriodicJob, 0, len(r.order))
	longest := time.Duration(0)
	for _, name := range r.order {
		t := r.tasks[name]
		periodic = append(periodic, river.NewPeriodicJob(schedule{t.Every}, constructor(t),
			&river.PeriodicJobOpts{ID: t.Name, RunOnStart: true}))
		longest = max(longest, t.Every)
	}
	// A finished run must stay in the table as long as its period lasts, or a leader
	// elected later in the period would not see it and run the period again.
	keep := max(24*time.Hour, longest+time.Hour)
	return &river.Config{
		Logger:            quiet(r.log),
		PollOnly:          true, // database/sql has no LISTEN; fetches poll
		FetchPollInterval: r.poll,
		FetchCooldown:     min(100*time.Millisecond, r.poll),
		Queues: map[string]river.QueueConfig{
			QueueDefault:  {MaxWorkers: r.workers},
			QueuePeriodic: {MaxWorkers: max(1, len(r.order))},
		},
		Workers:                     r.bundle,
		PeriodicJobs:                periodic,
		ErrorHandler:                &errorLogger{log: r.log},
		Middleware:                  []rivertype.Middleware{&periodicInserts{r: r}},
		CompletedJobRetentionPeriod: keep,
		CancelledJobRetentionPeriod: keep,
		DiscardedJobRetentionPeriod: max(7*24*time.Hour, keep),
		// REINDEX needs to own the index, which the runtime role does not: River's
		// reindexer would only log permission errors. Reindexing is the owner's chore.
		ReindexerIndexNames: []string{},
	}
}

// errorLogger logs failed one-off jobs (the periodic worker logs its own) and panics.
// River's own message for a failure is at Info; this one is at Warn, or Error on the last
// attempt. Neither carries the job's arguments.
type errorLogger struct{ log *slog.Logger }

func (h *errorLogger) HandleError(ctx context.Context, job *rivertype.JobRow, err error) *river.ErrorHandlerResult {
	if job.Kind == periodicKind {
		return nil
	}
	level, msg := slog.LevelWarn, "job failed; River will retry it"
	if job.Attempt >= job.MaxAttempts {
		level, msg = slog.LevelError, "job failed for the last time; River discards it"
	}
	h.log.Log(ctx, level, msg, "job_kind", job.Kind, "job_id", job.ID,
		"attempt", job.Attempt, "max_attempts", job.MaxAttempts, "err", err)
	return nil
}

func (h *errorLogger) HandlePanic(ctx context.Context, job *rivertype.JobRow, panicVal any, trace string) *river.ErrorHandlerResult {
	h.log.ErrorContext(ctx, "job panicked", "job_kind", job.Kind, "job_id", job.ID,
		"attempt", job.Attempt, "max_attempts", job.MaxAttempts, "panic", fmt.Sprint(panicVal), "trace", trace)
	return nil
}

// quiet is the logger River's own messages go to: warnings and errors only (River reports job
// counts at Info every few seconds). Task and job failures are logged by this package.
func quiet(l *slog.Logger) *slog.Logger { return slog.New(warnOnly{l.Handler()}) }

type warnOnly struct{ slog.Handler }

func (w warnOnly) Enabled(ctx context.Context, level slog.Level) bool {
	return level >= slog.LevelWarn && w.Handler.Enabled(ctx, level)
}

func (w warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{w.Handler.WithAttrs(as)} }

func (w warnOnly) WithGroup(name string) slog.Handler { return warnOnly{w.Handler.WithGroup(name)} }
