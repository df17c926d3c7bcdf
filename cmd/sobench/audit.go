package main

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/minio/minio-go/v7"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/secondopinion/secondopinion/audit"
)

// auditBenchmarks is item 7: `secondopinion audit verify` over a log of bulk-loaded entries,
// and the group-commit Writer through its Go benchmark (go test ./audit -bench Writer: 32
// callers per CPU, each waiting for its commit), both on the bench's PostgreSQL.
func (b *bench) auditBenchmarks(ctx context.Context) error {
	n := b.sz.entries
	d, out, usage, err := b.auditVerify(ctx, n)
	if err != nil {
		return err
	}
	perMillion := d.Seconds() * 1e6 / float64(n)
	b.progress("go test ./audit -bench Writer -benchtime %s", b.sz.writerTime)
	bench, err := b.goBench(ctx, "Writer", b.sz.writerTime)
	if err != nil {
		return err
	}
	rate, err := benchMetric(bench, "entries/s")
	if err != nil {
		return err
	}
	b.printf("audit log\n")
	b.printf("    secondopinion audit verify over %d entries: %.2f s (%.2f s per million): %s\n", n, d.Seconds(), perMillion, out)
	for _, l := range benchLines(bench) {
		b.printf("    go test ./audit: %s\n", l)
	}
	b.printf("\n")
	b.figs = append(b.figs,
		figure{name: fmt.Sprintf("7a. audit verify time per million entries (%d verified)", n),
			value: fmt.Sprintf("%.2f s", perMillion), target: "< 10 s", met: perMillion < 10, unsure: stolen(usage)},
		figure{name: "7b. audit entries per second, group commit (32 callers per CPU)",
			value: fmt.Sprintf("%.0f/s", rate)},
	)
	return nil
}

// auditVerify loads n entries into a database of their own, signs a checkpoint of them
// (copied to a bucket of their own, as the service does), and times `secondopinion audit
// verify` over them. It returns the time, the command's output and where CPU time went meanwhile.
func (b *bench) auditVerify(ctx context.Context, n int64) (time.Duration, string, cpuUsage, error) {
	db, err := createDB(ctx, b.db.adminURL)
	if err != nil {
		return 0, "", cpuUsage{}, err
	}
	defer db.drop()
	bucket := "so-bench-audit-" + randomHex(4)
	if err := b.mc.MakeBucket(ctx, bucket, minio.MakeBucketOptions{}); err != nil {
		return 0, "", cpuUsage{}, err
	}
	defer b.mc.RemoveBucketWithOptions(context.WithoutCancel(ctx), bucket, minio.RemoveBucketOptions{ForceDelete: true})
	cli := &service{bin: b.bin, vars: map[string]string{}}
	for k, v := range b.svc.vars {
		cli.vars[k] = v
	}
	cli.vars["SO_DATABASE_URL"], cli.vars["SO_DATABASE_OWNER_URL"], cli.vars["SO_MINIO_CHECKPOINT_BUCKET"] = db.runtimeURL, db.ownerURL, bucket
	if _, err := cli.cli(ctx, "migrate"); err != nil {
		return 0, "", cpuUsage{}, err
	}
	b.progress("bulk-loading %d audit entries and their tree hashes", n)
	if err := bulkLoadAudit(ctx, db.ownerURL, n); err != nil {
		return 0, "", cpuUsage{}, fmt.Errorf("bulk load: %w", err)
	}
	runtime, err := sqlx.Open("postgres", db.runtimeURL)
	if err != nil {
		return 0, "", cpuUsage{}, err
	}
	defer runtime.Close()
	signer, _, err := audit.ReadCheckpointKeyFile(cli.vars["SO_CHECKPOINT_KEY_FILE"])
	if err != nil {
		return 0, "", cpuUsage{}, err
	}
	cp := audit.NewCheckpointer(runtime, audit.CheckpointConfig{Signer: signer,
		Sink: &audit.MinIOSink{Client: b.mc, Bucket: bucket, Prefix: "audit/"}})
	if _, err := cp.Checkpoint(ctx); err != nil {
		return 0, "", cpuUsage{}, fmt.Errorf("checkpoint: %w", err)
	}
	b.progress("secondopinion audit verify")
	var out string
	d, usage, err := b.measure("", 0, func() (err error) {
		out, err = cli.cli(ctx, "audit", "verify")
		return err
	})
	if err != nil {
		return 0, "", usage, err
	}
	out = lastLine(out)
	if !strings.HasPrefix(out, fmt.Sprintf("ok: %d entries", n)) {
		return 0, "", usage, fmt.Errorf("audit verify: %q, want ok for %d entries", out, n)
	}
	return d, out, usage, nil
}

// sampleEntry is entry seq of the bench's log: document opens and the other actions of a
// busy service, by varied actors on varied cases, one a millisecond.
func sampleEntry(seq int64) audit.Entry {
	actions := []string{audit.ActionDocumentOpen, audit.ActionDocumentOpen, audit.ActionDocumentOpen,
		audit.ActionLogin, audit.ActionUploadFinish, audit.ActionConsentSign, audit.ActionCaseAssign}
	roles := []string{"reviewer", "case_manager", "applicant", "dpo"}
	e := audit.Entry{
		Seq:        seq,
		Time:       time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(seq) * time.Millisecond),
		ActorID:    fmt.Sprintf("acct-%d", seq%97),
		ActorRole:  roles[seq%int64(len(roles))],
		Action:     actions[seq%int64(len(actions))],
		ObjectType: "document",
		ObjectID:   fmt.Sprintf("doc-%d", seq%5003),
		CaseID:     fmt.Sprintf("case-%d", seq%211),
		ClientIP:   fmt.Sprintf("192.0.2.%d", seq%250),
		UserAgent:  "Mozilla/5.0 (X11; Linux x86_64) sobench/1.0",
		RequestID:  fmt.Sprintf("req-%016x", seq),
		Purpose:    audit.PurposeTreatment,
	}
	if seq%50 == 49 {
		e.Outcome, e.Reason = audit.OutcomeMinorFailure, "forbidden"
	}
	return e
}

// bulkLoadAudit writes n sample entries and the Merkle tree's stored hashes with COPY, as
// the owner with the gap check off (the bench measures verifying, not appending), in two
// streaming passes: hashes, then entries.
func bulkLoadAudit(ctx context.Context, ownerURL string, n int64) error {
	db, err := sql.Open("postgres", ownerURL)
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_gap_free`); err != nil {
		return err
	}
	for _, q := range []string{`ALTER TABLE audit_entries DISABLE TRIGGER audit_entries_recorded_now`,
		`ALTER TABLE audit_hashes DISABLE TRIGGER audit_hashes_in_order`} { // sample entries are dated, hashes go first
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	hashes, err := tx.PrepareContext(ctx, "COPY audit_hashes (idx, hash) FROM STDIN")
	if err != nil {
		return err
	}
	f := audit.NewFrontier()
	var idx int64 // stored hashes are numbered in the order records add them
	for seq := range n {
		stored, err := tlog.StoredHashesForRecordHash(seq, sampleEntry(seq).Hash(), f)
		if err != nil {
			return err
		}
		f.Add(seq, stored)
		for _, h := range stored {
			if _, err := hashes.ExecContext(ctx, idx, h[:]); err != nil {
				return err
			}
			idx++
		}
	}
	if _, err := hashes.ExecContext(ctx); err != nil {
		return err
	}
	entries, err := tx.PrepareContext(ctx, "COPY audit_entries (seq, recorded_at, actor_id, actor_role, on_behalf_of, action, object_type, object_id, case_id, client_ip, user_agent, request_id, outcome, purpose, reason) FROM STDIN")
	if err != nil {
		return err
	}
	for seq := range n {
		e := sampleEntry(seq)
		if _, err := entries.ExecContext(ctx, e.Seq, e.Time, e.ActorID, e.ActorRole, e.OnBehalfOf, e.Action, e.ObjectType,
			e.ObjectID, e.CaseID, e.ClientIP, e.UserAgent, e.RequestID, int(e.Outcome), e.Purpose, e.Reason); err != nil {
			return err
		}
	}
	if _, err := entries.ExecContext(ctx); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_gap_free`); err != nil {
		return err
	}
	for _, q := range []string{`ALTER TABLE audit_entries ENABLE TRIGGER audit_entries_recorded_now`,
		`ALTER TABLE audit_hashes ENABLE TRIGGER audit_hashes_in_order`} {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			return err
		}
	}
	if err := tx.Commit(); err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `ANALYZE audit_entries; ANALYZE audit_hashes`)
	return err
}

// goBench runs one benchmark of package audit and returns go test's output.
func (b *bench) goBench(ctx context.Context, name, benchtime string, env ...string) (string, error) {
	cmd := exec.CommandContext(ctx, "go", "test", "./audit", "-run", "^$", "-bench", "^Benchmark"+name+"$", // #nosec G204 -- the benchmark runs the go tool on the repository it measures
		"-benchtime", benchtime, "-count", "1", "-timeout", "30m")
	cmd.Dir = b.repo
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go test -bench %s: %w\n%s", name, err, out.String())
	}
	return out.String(), nil
}

// benchLines returns the result lines of go test -bench output.
func benchLines(out string) []string {
	var lines []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			lines = append(lines, strings.Join(strings.Fields(l), " "))
		}
	}
	return lines
}

// benchMetric returns the value reported with unit on a result line of go test -bench output.
func benchMetric(out, unit string) (float64, error) {
	for _, l := range benchLines(out) {
		f := strings.Fields(l)
		for i := 1; i < len(f); i++ {
			if f[i] == unit {
				return strconv.ParseFloat(f[i-1], 64)
			}
		}
	}
	return 0, fmt.Errorf("no %q in the benchmark output:\n%s", unit, out)
}
