package jobs_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	_ "github.com/lib/pq"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/secondopinion/secondopinion/internal/jobs"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// month is the period of tasks that must run exactly once in a test: its periods are long
// enough that a test never straddles two (the odds are a few seconds in thirty days).
const month = 30 * 24 * time.Hour

// fastPoll keeps the tests short; the service uses jobs.DefaultPollInterval.
const fastPoll = 100 * time.Millisecond

// Two instances on one database, with a task every second: every period that ran, ran
// once, on one instance or the other.
func TestTwoInstancesRunEachPeriodOnce(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)

	var mu sync.Mutex
	runs := map[time.Time][]int{} // period → instances that ran it
	var runners [2]*jobs.Runner
	for i := range runners {
		runners[i] = start(t, jobs.Config{
			DB:           openRuntime(t, db),
			Logger:       logs.logger(),
			PollInterval: fastPoll,
			Tasks: []jobs.Task{{Name: "tick", Every: time.Second, Run: func(ctx context.Context) error {
				p, ok := jobs.Period(ctx)
				if !ok {
					return errors.New("no period in the task's context")
				}
				mu.Lock()
				runs[p] = append(runs[p], i)
				mu.Unlock()
				return nil
			}}},
		})
	}
	waitFor(t, 20*time.Second, "three periods to run", func() bool {
		mu.Lock()
		defer mu.Unlock()
		return len(runs) >= 3
	})
	for _, r := range runners {
		stop(t, r)
	}

	mu.Lock()
	defer mu.Unlock()
	for p, who := range runs {
		if len(who) != 1 {
			t.Errorf("period %s ran %d times (instances %v)", p.Format(time.RFC3339), len(who), who)
		}
		if !p.Equal(p.Truncate(time.Second)) {
			t.Errorf("period %s does not start on a second", p)
		}
	}
	var dups int
	if err := db.Owner.Get(&dups, `SELECT count(*) FROM (SELECT args->>'period' FROM river_job
		WHERE kind = 'periodic' AND args->>'task' = 'tick' GROUP BY 1 HAVING count(*) > 1) d`); err != nil {
		t.Fatal(err)
	}
	if dups != 0 {
		t.Errorf("%d periods have several jobs in river_job", dups)
	}
}

// A new leader, elected in a period that has already run, enqueues that period again
// (River's RunOnStart), and uniqueness drops it: the task does not run twice.
func TestNewLeaderDoesNotRepeatThePeriod(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)

	var runs atomic.Int32
	cfg := jobs.Config{
		DB:           db.Runtime.DB,
		Logger:       logs.logger(),
		PollInterval: fastPoll,
		Tasks: []jobs.Task{{Name: "monthly", Every: month, Run: func(context.Context) error {
			runs.Add(1)
			return nil
		}}},
	}
	type enqueued struct {
		period    time.Time
		duplicate bool
	}
	heard := func(ch chan enqueued) func(string, time.Time, bool) {
		return func(_ string, period time.Time, duplicate bool) { ch <- enqueued{period, duplicate} }
	}

	first := make(chan enqueued, 10)
	a := newRunner(t, cfg)
	jobs.OnEnqueue(a, heard(first))
	if err := a.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e1 := receive(t, first, 20*time.Second)
	if e1.duplicate {
		t.Fatalf("the first leader found its period enqueued already")
	}
	waitFor(t, 20*time.Second, "the first run", func() bool { return runs.Load() == 1 })
	stop(t, a) // resigns leadership

	second := make(chan enqueued, 10)
	b := newRunner(t, cfg)
	jobs.OnEnqueue(b, heard(second))
	if err := b.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	e2 := receive(t, second, 30*time.Second)
	if !e2.period.Equal(e1.period) || !e2.duplicate {
		t.Fatalf("new leader enqueued %+v, want a duplicate of period %s", e2, e1.period)
	}
	// Give the second instance time to fetch anything it could have run.
	time.Sleep(5 * fastPoll)
	stop(t, b)
	if n := runs.Load(); n != 1 {
		t.Fatalf("the task ran %d times in one period, want 1", n)
	}
}

// During a rolling deploy, an instance of the previous release may fetch the run of a task
// it does not know: it leaves the run to an instance that knows the task.
func TestRunOfUnknownTaskWaitsForAnInstanceThatKnowsIt(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)
	ctx := context.Background()

	old := newRunner(t, jobs.Config{DB: openRuntime(t, db), Logger: logs.logger(), PollInterval: fastPoll})
	jobs.SnoozeUnknownTasks(old, time.Second)
	if err := old.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.InsertRun(ctx, old, "fresh", month); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 20*time.Second, "the old instance to snooze the run", func() bool {
		var snoozes int
		err := db.Owner.Get(&snoozes, `SELECT coalesce((metadata->>'snoozes')::int, 0) FROM river_job WHERE kind = 'periodic'`)
		return err == nil && snoozes > 0
	})
	stop(t, old)

	var runs atomic.Int32
	start(t, jobs.Config{
		DB:           openRuntime(t, db),
		Logger:       logs.logger(),
		PollInterval: fastPoll,
		Tasks: []jobs.Task{{Name: "fresh", Every: month, Run: func(context.Context) error {
			runs.Add(1)
			return nil
		}}},
	})
	waitFor(t, 30*time.Second, "the new instance to run the task", func() bool {
		var state string
		err := db.Owner.Get(&state, `SELECT state FROM river_job WHERE kind = 'periodic'`) // one row, or an error
		return err == nil && state == "completed"
	})
	if n := runs.Load(); n != 1 {
		t.Fatalf("the task ran %d times, want 1", n)
	}
}

// A task failing once, by an error or a panic, is retried by River, succeeds, and does not
// run again.
func TestFailingTaskIsRetried(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)

	var calls [2]atomic.Int32
	r := start(t, jobs.Config{
		DB:           db.Runtime.DB,
		Logger:       logs.logger(),
		PollInterval: fastPoll,
		Tasks: []jobs.Task{
			{Name: "flaky", Every: month, Run: func(context.Context) error {
				if calls[0].Add(1) == 1 {
					return errors.New("transient failure")
				}
				return nil
			}},
			{Name: "panicky", Every: month, Run: func(context.Context) error {
				if calls[1].Add(1) == 1 {
					panic("nil map")
				}
				return nil
			}},
		},
	})
	waitFor(t, 30*time.Second, "the retries to complete", func() bool {
		var n int
		err := db.Owner.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'periodic' AND state = 'completed'`)
		return err == nil && n == 2
	})
	stop(t, r)

	for i, task := range []string{"flaky", "panicky"} {
		if n := calls[i].Load(); n != 2 {
			t.Errorf("%s ran %d times, want 2 (a failure, then a success)", task, n)
		}
		var job struct {
			Attempt int `db:"attempt"`
			Errors  int `db:"errors"`
			Max     int `db:"max_attempts"`
		}
		if err := db.Owner.Get(&job, `SELECT attempt, coalesce(array_length(errors, 1), 0) AS errors, max_attempts
			FROM river_job WHERE kind = 'periodic' AND args->>'task' = $1`, task); err != nil {
			t.Fatal(err)
		}
		if job.Attempt != 2 || job.Errors != 1 || job.Max != jobs.DefaultTaskMaxAttempts {
			t.Errorf("%s: attempt %d, errors %d, max attempts %d; want 2, 1, %d", task, job.Attempt, job.Errors, job.Max, jobs.DefaultTaskMaxAttempts)
		}
	}
	for _, want := range []string{"periodic task failed; will retry", "periodic task panicked"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("the log lacks %q:\n%s", want, logs)
		}
	}
}

// Stop cancels a job that outlives its context and returns promptly; an idle runner stops
// at once.
func TestStopIsPrompt(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)

	started := make(chan struct{})
	var once sync.Once
	r := start(t, jobs.Config{
		DB:           db.Runtime.DB,
		Logger:       logs.logger(),
		PollInterval: fastPoll,
		Tasks: []jobs.Task{{Name: "slow", Every: month, Timeout: time.Hour, Run: func(ctx context.Context) error {
			once.Do(func() { close(started) })
			<-ctx.Done()
			return ctx.Err()
		}}},
	})
	receive(t, started, 20*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	t0 := time.Now()
	if err := r.Stop(ctx); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(t0); d > 3*time.Second {
		t.Fatalf("stop with a running job took %s", d)
	}

	idle := start(t, jobs.Config{DB: db.Runtime.DB, Logger: logs.logger(), PollInterval: fastPoll})
	t0 = time.Now()
	if err := idle.Stop(context.Background()); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Fatalf("stop of an idle runner took %s", d)
	}
	if err := idle.Stop(context.Background()); err != nil {
		t.Fatalf("second stop: %v", err)
	}
}

// Migrate is idempotent and leaves the runtime role able to work River's tables but not to
// change its schema.
func TestMigrate(t *testing.T) {
	t.Parallel()
	db := testenv.NewDB(t)
	ctx := context.Background()

	if _, err := jobs.Migrate(ctx, db.Owner.DB); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	applied, err := jobs.Migrate(ctx, db.Owner.DB)
	if err != nil || len(applied) != 0 {
		t.Fatalf("second migrate applied %v, %v; want nothing", applied, err)
	}
	pending, err := jobs.Pending(ctx, db.Runtime.DB)
	if err != nil || len(pending) != 0 {
		t.Fatalf("pending as runtime: %v, %v; want none", pending, err)
	}
	for _, c := range []struct {
		check string
		want  bool
	}{
		{`has_table_privilege('secondopinion_runtime', 'river_job', 'SELECT, INSERT, UPDATE, DELETE')`, true},
		{`has_table_privilege('secondopinion_runtime', 'river_leader', 'SELECT, INSERT, UPDATE, DELETE')`, true},
		{`has_table_privilege('secondopinion_runtime', 'river_queue', 'SELECT, INSERT, UPDATE, DELETE')`, true},
		{`has_sequence_privilege('secondopinion_runtime', 'river_job_id_seq', 'USAGE')`, true},
		{`has_function_privilege('secondopinion_runtime', 'river_job_state_in_bitmask(bit, river_job_state)', 'EXECUTE')`, true},
		{`has_table_privilege('secondopinion_runtime', 'river_migration', 'SELECT')`, true},
		{`has_table_privilege('secondopinion_runtime', 'river_migration', 'INSERT')`, false},
		{`has_table_privilege('secondopinion_runtime', 'river_job', 'TRUNCATE')`, false},
	} {
		var got bool
		if err := db.Owner.Get(&got, `SELECT `+c.check); err != nil {
			t.Fatalf("%s: %v", c.check, err)
		}
		if got != c.want {
			t.Errorf("%s = %v, want %v", c.check, got, c.want)
		}
	}

	// Remove River's schema; then the runtime role sees every migration pending and cannot
	// apply them, and the owner can.
	m, err := rivermigrate.New(riverdatabasesql.New(db.Owner.DB), nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{TargetVersion: -1}); err != nil {
		t.Fatalf("remove River's schema: %v", err)
	}
	pending, err = jobs.Pending(ctx, db.Runtime.DB)
	if err != nil || len(pending) != len(m.AllVersions()) {
		t.Fatalf("pending without River's schema: %v, %v; want all %d", pending, err, len(m.AllVersions()))
	}
	if _, err := jobs.Migrate(ctx, db.Runtime.DB); err == nil {
		t.Fatal("the runtime role ran River's migrations")
	}
	applied, err = jobs.Migrate(ctx, db.Owner.DB)
	if err != nil || len(applied) != len(pending) || applied[0] != pending[0] {
		t.Fatalf("migrate applied %v, %v; want %v", applied, err, pending)
	}
	if pending, err := jobs.Pending(ctx, db.Runtime.DB); err != nil || len(pending) != 0 {
		t.Fatalf("pending after migrate: %v, %v", pending, err)
	}
}

type noteArgs struct {
	Secret string `json:"secret"`
}

func (noteArgs) Kind() string { return "test_note" }

// noteWorker fails each note's first attempt, and records the notes it completes.
type noteWorker struct {
	river.WorkerDefaults[noteArgs]
	mu   sync.Mutex
	done []string
}

func (w *noteWorker) NextRetry(*river.Job[noteArgs]) time.Time { return time.Now() }

func (w *noteWorker) Work(_ context.Context, job *river.Job[noteArgs]) error {
	if job.Attempt == 1 {
		return errors.New("mail server unavailable")
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.done = append(w.done, job.Args.Secret)
	return nil
}

func (w *noteWorker) notes() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.done...)
}

// A one-off job exists only if the transaction that enqueued it commits; its failure is
// logged without its arguments and retried.
func TestInsertTx(t *testing.T) {
	t.Parallel()
	db := migrated(t)
	logs := newLogSink(t)
	ctx := context.Background()

	r := newRunner(t, jobs.Config{DB: db.Runtime.DB, Logger: logs.logger(), PollInterval: fastPoll})
	if err := r.Insert(ctx, noteArgs{}, nil); !errors.Is(err, jobs.ErrUnknownKind) {
		t.Fatalf("insert of an unregistered kind: %v, want ErrUnknownKind", err)
	}
	w := &noteWorker{}
	if err := jobs.Register(r, w); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Register(r, w); err == nil {
		t.Fatal("a kind was registered twice")
	}

	for _, commit := range []bool{false, true} {
		tx, err := db.Runtime.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		secret := map[bool]string{false: "rolled-back-note", true: "patient-secret-42"}[commit]
		if err := r.InsertTx(ctx, tx, noteArgs{Secret: secret}, nil); err != nil {
			t.Fatal(err)
		}
		if commit {
			err = tx.Commit()
		} else {
			err = tx.Rollback()
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := jobs.Register(r, &noteWorker{}); err == nil {
		t.Fatal("registered after Start")
	}
	waitFor(t, 30*time.Second, "the note to be sent", func() bool { return len(w.notes()) == 1 })
	stop(t, r)

	if got := w.notes(); got[0] != "patient-secret-42" {
		t.Fatalf("worked %v", got)
	}
	var n int
	if err := db.Owner.Get(&n, `SELECT count(*) FROM river_job WHERE kind = 'test_note'`); err != nil || n != 1 {
		t.Fatalf("river_job holds %d notes (%v), want 1", n, err)
	}
	out := logs.String()
	if !strings.Contains(out, "job failed; River will retry it") {
		t.Fatalf("the failure was not logged:\n%s", out)
	}
	if strings.Contains(out, "patient-secret-42") {
		t.Fatalf("a job's arguments reached the log:\n%s", out)
	}
}

func TestConfigErrors(t *testing.T) {
	db, err := sql.Open("postgres", "postgres://nobody@127.0.0.1:1/none")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	run := func(context.Context) error { return nil }
	for _, c := range []struct {
		name string
		cfg  jobs.Config
	}{
		{"no DB", jobs.Config{}},
		{"one-letter name", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "x", Every: time.Minute, Run: run}}}},
		{"negative workers", jobs.Config{DB: db, MaxWorkers: -1}},
		{"bad name", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "Audit-Checkpoint", Every: time.Minute, Run: run}}}},
		{"short period", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "aa", Every: time.Second / 2, Run: run}}}},
		{"no Run", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "aa", Every: time.Minute}}}},
		{"timeout over period", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "aa", Every: time.Minute, Timeout: time.Hour, Run: run}}}},
		{"twice", jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "aa", Every: time.Minute, Run: run}, {Name: "aa", Every: time.Hour, Run: run}}}},
		{"fast poll", jobs.Config{DB: db, PollInterval: time.Millisecond}},
	} {
		if _, err := jobs.New(c.cfg); err == nil {
			t.Errorf("%s: New accepted %+v", c.name, c.cfg)
		}
	}
	if _, err := jobs.New(jobs.Config{DB: db, Tasks: []jobs.Task{{Name: "audit_checkpoint", Every: time.Minute, Run: run}}}); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

// migrated is a fresh database with the service's and River's migrations applied.
func migrated(t *testing.T) *testenv.DB {
	t.Helper()
	db := testenv.NewDB(t)
	if _, err := jobs.Migrate(context.Background(), db.Owner.DB); err != nil {
		t.Fatalf("migrate River: %v", err)
	}
	return db
}

// openRuntime is a connection pool of its own as the runtime role, as a second instance has.
func openRuntime(t *testing.T, db *testenv.DB) *sql.DB {
	t.Helper()
	c, err := sql.Open("postgres", db.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// newRunner makes a runner that the test's end stops.
func newRunner(t *testing.T, cfg jobs.Config) *jobs.Runner {
	t.Helper()
	r, err := jobs.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stop(t, r) })
	return r
}

// start starts a runner.
func start(t *testing.T, cfg jobs.Config) *jobs.Runner {
	t.Helper()
	r := newRunner(t, cfg)
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func stop(t *testing.T, r *jobs.Runner) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Stop(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
}

func waitFor(t *testing.T, limit time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", limit, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func receive[T any](t *testing.T, ch <-chan T, limit time.Duration) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(limit):
		t.Fatalf("nothing received in %s", limit)
		var zero T
		return zero
	}
}

// logSink keeps what the runners log, for assertions, and shows it with -v while the test
// runs (never after: River may log while stopping).
type logSink struct {
	t    *testing.T
	mu   sync.Mutex
	buf  bytes.Buffer
	done bool
}

func newLogSink(t *testing.T) *logSink {
	s := &logSink{t: t}
	t.Cleanup(func() {
		s.mu.Lock()
		s.done = true
		s.mu.Unlock()
	})
	return s
}

func (s *logSink) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.buf.Write(p)
	if testing.Verbose() && !s.done {
		s.t.Log(strings.TrimSuffix(string(p), "\n"))
	}
	return len(p), nil
}

func (s *logSink) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func (s *logSink) logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(s, &slog.HandlerOptions{Level: slog.LevelDebug}))
}
