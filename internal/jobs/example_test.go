package jobs_test

import (
	"context"
	"database/sql"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/secondopinion/secondopinion/internal/jobs"
)

// MailArgs is a one-off job: send the outbox message with this id. It names the message,
// it does not carry it.
type MailArgs struct {
	MessageID string `json:"message_id"`
}

func (MailArgs) Kind() string { return "mail" }

// MailWorker sends one outbox message.
type MailWorker struct {
	river.WorkerDefaults[MailArgs]
	Send func(ctx context.Context, messageID string) error
}

func (w *MailWorker) Work(ctx context.Context, job *river.Job[MailArgs]) error {
	return w.Send(ctx, job.Args.MessageID)
}

// The wiring of cmd/secondopinion: migrate as the owner, then run as the runtime role.
func Example() {
	var (
		ctx            = context.Background()
		owner, runtime *sql.DB // SO_DATABASE_OWNER_URL, SO_DATABASE_URL
		logger         = slog.Default()
		checkpoint     func(context.Context) error            // audit.Checkpointer.Checkpoint
		expire         func(context.Context, time.Time) error // upload.Store.Expire
		send           func(context.Context, string) error    // the mailer
	)

	// `secondopinion migrate` (schema.Apply does this after the service's own files).
	if _, err := jobs.Migrate(ctx, owner); err != nil {
		logger.Error("migrate River", "err", err)
		return
	}

	// `secondopinion serve`.
	r, err := jobs.New(jobs.Config{DB: runtime, Logger: logger, Tasks: []jobs.Task{
		{Name: "audit_checkpoint", Every: time.Minute, Run: checkpoint},
		{Name: "upload_expiry", Every: 5 * time.Minute, Run: func(ctx context.Context) error { return expire(ctx, time.Now()) }},
	}})
	if err == nil {
		err = jobs.Register(r, &MailWorker{Send: send})
	}
	if err == nil {
		err = r.Start(ctx)
	}
	if err != nil {
		logger.Error("background jobs", "err", err)
		return
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		r.Stop(ctx)
	}()

	// In a service method: the mail leaves if and only if the change commits.
	tx, err := runtime.BeginTx(ctx, nil)
	if err != nil {
		return
	}
	defer tx.Rollback()
	// … INSERT INTO outbox …
	if err := r.InsertTx(ctx, tx, MailArgs{MessageID: "0193…"}, nil); err != nil {
		return
	}
	tx.Commit()
}
