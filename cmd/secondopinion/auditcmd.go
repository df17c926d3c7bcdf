package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"os/user"
	"strings"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"
	"github.com/minio/minio-go/v7"
	"golang.org/x/mod/sumdb/note"

	"github.com/secondopinion/secondopinion/audit"
)

// checkpointPrefix is where the audit checkpoints' copies live in their bucket (and lived in
// the documents' bucket before they had one of their own).
const checkpointPrefix = "audit/"

func checkpointSink(c *minio.Client, bucket string) *audit.MinIOSink {
	return &audit.MinIOSink{Client: c, Bucket: bucket, Prefix: checkpointPrefix}
}

// logVerifier checks the audit log with audit.Verify: the service's web.AuditVerifier.
type logVerifier struct {
	db  *sqlx.DB
	v   note.Verifier
	src audit.CheckpointSource // nil: the database's checkpoints only
}

// Verify implements web.AuditVerifier.
func (l logVerifier) Verify(ctx context.Context) (audit.Report, error) {
	return audit.Verify(ctx, l.db, l.v, l.src)
}

// NotIntactError is what `audit verify` returns when the log is not intact.
type NotIntactError struct{ Problem *audit.Problem }

func (e *NotIntactError) Error() string {
	return fmt.Sprintf("audit verify: the log is not intact: first bad entry %d (%s)", e.Problem.Seq, e.Problem.Kind)
}

// auditCommand: audit verify | export | keygen.
func auditCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("audit: want verify, export or keygen")
	}
	switch args[0] {
	case "verify":
		return auditVerify(ctx, cfg, args[1:], stdout, stderr)
	case "export":
		return auditExport(ctx, cfg, logger, args[1:], stdout, stderr)
	case "keygen":
		return auditKeygen(cfg, args[1:], stdout, stderr)
	}
	return fmt.Errorf("audit: unknown command %q", args[0])
}

// auditDB connects for the audit commands: the runtime role, which may read and append.
func auditDB(ctx context.Context, cfg Config) (*sqlx.DB, error) {
	if cfg.DatabaseURL == "" {
		return nil, &ConfigError{Var: "SO_DATABASE_URL", Reason: "is required"}
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("database (SO_DATABASE_URL): %w", err)
	}
	return db, nil
}

// auditVerify recomputes the log and checks it against its stored hashes and every signed
// checkpoint, in the database and in the bucket. It prints a summary; when the log is not
// intact it prints the first bad entry and returns a *NotIntactError.
func auditVerify(ctx context.Context, cfg Config, args []string, stdout, stderr io.Writer) error {
	var verifierFile string
	if err := flags("audit verify", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&verifierFile, "verifier", "", "file holding the checkpoint verifier key (default: derived from SO_CHECKPOINT_KEY_FILE)")
	}); err != nil {
		return err
	}
	v, err := checkpointVerifier(cfg, verifierFile)
	if err != nil {
		return err
	}
	db, err := auditDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	var src audit.CheckpointSource
	if cfg.MinIOEndpoint != "" {
		client, err := openMinIO(cfg)
		if err != nil {
			return fmt.Errorf("minio (SO_MINIO_ENDPOINT): %w", err)
		}
		src = checkpointSink(client, cfg.MinIOCheckpoints)
	} else {
		fmt.Fprintln(stderr, "warning: SO_MINIO_ENDPOINT is not set: the checkpoint copies in object storage are not compared")
	}
	rep, err := audit.Verify(ctx, db, v, src)
	if err != nil {
		return fmt.Errorf("audit verify: %w", err)
	}
	if !rep.OK {
		p := rep.Problem
		fmt.Fprintf(stdout, "NOT INTACT\nfirst bad entry: %d\nkind: %s\ndetail: %s\n", p.Seq, p.Kind, p.Detail)
		return &NotIntactError{Problem: p}
	}
	fmt.Fprintf(stdout, "ok: %d entries, %d checkpoints checked, newest signed tree size %d\n", rep.Size, rep.Checkpoints, rep.Latest)
	return nil
}

// checkpointVerifier reads the verifier key from file, or derives it from the signing key.
func checkpointVerifier(cfg Config, file string) (note.Verifier, error) {
	if file != "" {
		b, err := os.ReadFile(file) // #nosec G304 -- a file named by the operator on the command line
		if err != nil {
			return nil, fmt.Errorf("audit verify: --verifier: %w", err)
		}
		v, err := note.NewVerifier(strings.TrimSpace(string(b)))
		if err != nil {
			return nil, fmt.Errorf("audit verify: --verifier: %w", err)
		}
		return v, nil
	}
	if cfg.CheckpointKey == "" {
		return nil, &ConfigError{Var: "SO_CHECKPOINT_KEY_FILE", Reason: "is required (or give --verifier FILE)"}
	}
	_, v, err := audit.ReadCheckpointKeyFile(cfg.CheckpointKey)
	if err != nil {
		return nil, &ConfigError{Var: "SO_CHECKPOINT_KEY_FILE", Reason: err.Error()}
	}
	return v, nil
}

// auditExport writes the entries (of one case, or all) to stdout as CSV or FHIR R4 AuditEvent
// NDJSON (or one Bundle). The export is itself audited first, as the operator's.
func auditExport(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	var format, caseID string
	var bundle bool
	if err := flags("audit export", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "format", "", "csv or fhir")
		fs.StringVar(&caseID, "case", "", "only the entries of this case")
		fs.BoolVar(&bundle, "bundle", false, "with --format fhir: one Bundle instead of NDJSON")
	}); err != nil {
		return err
	}
	if format != "csv" && format != "fhir" || bundle && format != "fhir" {
		return errors.New("audit export: --format must be csv or fhir (--bundle only with fhir)")
	}
	if caseID != "" && !so.ValidID(caseID) {
		return fmt.Errorf("audit export: --case %q is not a case id", caseID)
	}
	db, err := auditDB(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()

	w := audit.NewWriter(db, audit.WriterConfig{Logger: logger})
	_, err = w.Log(ctx, audit.Entry{Action: audit.ActionAuditExport, ActorID: operator(), ActorRole: "system",
		ObjectType: "audit_log", ObjectID: format, Purpose: audit.PurposeCompliance})
	w.Close() // #nosec G104 -- the entry was committed (Log returned); Close only stops the writer
	if err != nil {
		return fmt.Errorf("audit export: the export cannot be audited, so it is not made: %w", err)
	}
	r := audit.NewReader(db)
	f := audit.Filter{CaseID: caseID}
	if format == "csv" {
		err = r.ExportCSV(ctx, stdout, f)
	} else {
		err = r.ExportFHIR(ctx, stdout, f, bundle)
	}
	return err
}

// operator names the person running the CLI in the audit log: "cli:<os user>".
func operator() string {
	if u, err := user.Current(); err == nil && u.Username != "" {
		return "cli:" + u.Username
	}
	return "cli"
}

// auditKeygen writes a new checkpoint signing key to a file that must not exist and prints
// its verifier key, which auditors may hold to check checkpoints without the secret.
func auditKeygen(cfg Config, args []string, stdout, stderr io.Writer) error {
	var out, name string
	if err := flags("audit keygen", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&out, "out", "", "file to write the signing key to (must not exist)")
		fs.StringVar(&name, "name", "", "the log's name (checkpoint origin); default <SO_PUBLIC_URL host>/secondopinion/audit")
	}); err != nil {
		return err
	}
	if out == "" {
		return errors.New("audit keygen: --out FILE is required")
	}
	if name == "" {
		u, err := url.Parse(cfg.PublicURL)
		if err != nil || u.Host == "" {
			return errors.New("audit keygen: give --name")
		}
		name = u.Host + "/secondopinion/audit"
	}
	skey, vkey, err := audit.GenerateCheckpointKey(name)
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a file named by the operator on the command line
	if err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	if _, err := fmt.Fprintln(f, skey); err != nil {
		f.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		return fmt.Errorf("audit keygen: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("audit keygen: %w", err)
	}
	fmt.Fprintln(stdout, vkey)
	return nil
}
