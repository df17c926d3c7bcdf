package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/retention"
)

// retentionCommand is `secondopinion retention run [--dry-run] [--json]`: what the daily
// retention job does, now, from the operator's shell; the run is audited as the operator's.
func retentionCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "run" {
		return errors.New("retention: want run [--dry-run] [--json]")
	}
	fs := flag.NewFlagSet("retention run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dry := fs.Bool("dry-run", false, "list what has expired; erase nothing")
	asJSON := fs.Bool("json", false, "print the report as JSON")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 0 {
		return errors.New("retention run: no arguments expected")
	}
	if err := cfg.requireServe(); err != nil {
		return err
	}
	m := NewMain(cfg, logger)
	defer m.closeConns()
	var err error
	if m.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
		return fmt.Errorf("database (SO_DATABASE_URL): %w", err)
	}
	if m.minio, err = openMinIO(cfg); err != nil {
		return fmt.Errorf("minio (SO_MINIO_ENDPOINT): %w", err)
	}
	if err := m.buildDomain(); err != nil {
		return err
	}
	if err := m.buildStorage(ctx); err != nil {
		return err
	}
	e := cliEntry("", "", "", "")
	e.ActorRole = string(so.RoleSystem)
	r, runErr := m.eraser.Run(ctx, retention.RunOptions{Now: time.Now(), DryRun: *dry,
		By: cases.Actor{Subject: access.Subject{Role: so.RoleSystem}, Entry: e}})
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(r); err != nil {
			return err
		}
		return runErr
	}
	printRetention(stdout, r)
	return runErr
}

// printRetention writes the report for a person: ids, states and dates only.
func printRetention(w io.Writer, r retention.Report) {
	verb := "erased"
	if r.DryRun {
		verb = "would erase"
	}
	fmt.Fprintf(w, "rules: %s\n", r.Rules)
	for _, c := range r.Cases {
		since := string(c.Status) + " since " + c.Since.Format(time.DateOnly)
		if c.Erasing {
			since = "erasure interrupted, carried on"
		}
		fmt.Fprintf(w, "case %s: %s\n", c.CaseID, since)
	}
	for _, d := range r.Rejected {
		fmt.Fprintf(w, "rejected document %s of case %s: rejected on %s\n", d.DocumentID, d.CaseID,
			d.RejectedAt.Format(time.DateOnly))
	}
	if r.DryRun {
		fmt.Fprintf(w, "dry run: %s %d cases and %d rejected documents\n", verb, len(r.Cases), len(r.Rejected))
		return
	}
	fmt.Fprintf(w, "%s %d cases and %d rejected documents", verb, r.Erased, r.Removed)
	if len(r.Failures) > 0 {
		fmt.Fprintf(w, "; %d failed: %v", len(r.Failures), r.Failures)
	}
	fmt.Fprintln(w)
}
