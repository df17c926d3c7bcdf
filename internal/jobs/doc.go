// Package jobs runs the service's background work on River (github.com/riverqueue/river)
// in the service's own PostgreSQL, shared safely by every instance of the service.
//
// Two kinds of work run here. Periodic tasks (audit checkpoints, upload expiry, SLA
// reminders, retention) are functions run once per period across all instances. One-off
// jobs (a mail to send) are enqueued in the transaction of the change that causes them,
// and worked by whichever instance fetches them first. Both are retried with backoff when
// they fail.
//
// # Schema and roles
//
// River keeps its jobs in tables of its own (river_job, river_leader, river_queue,
// river_migration, …), which its own migrations create. The service's migrate command
// applies them with Migrate, as the owner of the database, after the service's own
// migrations. Migrate then grants the runtime role (RuntimeRole, whose members the service
// connects as) what River needs at run time and nothing more: SELECT, INSERT, UPDATE and
// DELETE on River's tables but only SELECT on river_migration, USAGE on its sequences and
// types, EXECUTE on its functions. The runtime role cannot run River's migrations. Pending
// tells readiness whether River's schema is current; it only reads.
//
// # Running
//
// New builds a Runner from a Config: the runtime connection, a logger, the periodic tasks.
// Register adds the worker of a one-off job kind; Start starts working; Stop stops, waiting
// for running jobs until its context ends and cancelling them then. InsertTx enqueues a
// one-off job in a transaction, Insert outside one; both work before Start.
//
// The database/sql driver cannot LISTEN, so River runs in poll-only mode: each instance
// looks for available jobs every Config.PollInterval (DefaultPollInterval, 1 s), so a
// mail enqueued by a request leaves within about a second. Followers poll for leadership
// every five seconds or so: a leader that stops resigns and is replaced within about five
// seconds, one that crashes within about twenty (its lease lasts fifteen).
//
// # Periodic tasks: once per period, whoever leads
//
// A Task has a Name, a period Every, and a Run function. Periods are the multiples of Every
// since the zero time, in UTC: with Every = 24h, days from midnight UTC; with 5m, :00, :05,
// …. Every task's runs are jobs of one River kind, "periodic", whose arguments are the
// task's name and the start of the period; the worker finds the task by name. Run may read
// the period with Period.
//
// River elects one instance leader; only the leader enqueues periodic jobs, just after
// the start of each period, and once when it is elected (so that a task with a long period
// runs even if leaders change more often than that). Two leaders may still enqueue the
// same period: one elected within a period that already ran, or an old leader that has
// not yet noticed it lost. What keeps a period from running twice is River's unique jobs:
// a run is unique by its arguments (task and period) and by period, across every job
// state, completed and failed ones included. The second insertion finds the first and is
// dropped, in the database, whatever the instances believe. Finished runs are kept in
// river_job for at least a day, and always longer than the longest period, for this
// reason.
//
// Uniqueness bounds a period to at most one run. A period may have none: when no instance
// runs throughout it, or when the leader enqueues late enough that the next period has
// begun. Tasks are sweeps (expire what is due, checkpoint what is new), so the next period
// catches up.
//
// # Failures
//
// A failed run is logged (task, period, attempt, error; never a job's arguments) and
// retried by River after attempt⁴ seconds (1 s, 16 s, 81 s, …), up to Task.MaxAttempts
// attempts (default 5), but only within its period: when the next attempt would fall
// after the period ends, the run is cancelled instead, since the next period's run does
// the same work. A retry that starts late, after its period, is cancelled too. Failing
// runs therefore never pile up: each task has at most about one run in flight. Each run's
// context ends after Task.Timeout (default one minute, at most Every); Run must honour it.
// A panic in Run counts as a failure.
//
// A one-off job that fails is retried on River's schedule (attempt⁴ seconds, 25
// attempts) unless its worker or arguments say otherwise, and then discarded; each failure
// is logged at Warn, the last at Error, with the job's kind and id. Its context ends after
// a minute (River's default) unless its worker's Timeout says otherwise.
//
// During a rolling deploy, an instance may fetch the run of a task it does not know,
// enqueued by a leader of the other release: it snoozes the run so that an instance that
// knows the task can take it, and cancels it after ten minutes.
//
// # What to put in a job
//
// A job's arguments are stored as JSON in river_job, in clear, until River's cleaner
// deletes the job (a day after it completed, a week after it was discarded), and its
// errors with it. Put identifiers in arguments, never health data, names or addresses, and
// keep them out of error messages.
//
// # Not done here
//
// River's reindexer is disabled: REINDEX needs to own the indexes, which the runtime role
// does not. The owner may reindex river_job during maintenance. River's CLI and UI are not
// used.
package jobs
