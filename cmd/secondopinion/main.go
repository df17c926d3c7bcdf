// Command secondopinion is the one binary of the service: it serves, migrates, and manages
// keys, accounts and tokens. Run `secondopinion help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	_ "time/tzdata" // SO_TIMEZONE works on hosts and images without a zone database
)

const usage = `usage: secondopinion [--env-file FILE] COMMAND [ARGS]

commands:
  serve                       run the service
  migrate                     apply pending database migrations (as SO_DATABASE_OWNER_URL)
  keys generate --out FILE    write a new key-encryption key (age hybrid post-quantum identity)
  keys list                   the configured KEKs: fingerprint, role, how many document keys each wraps
  keys rotate                 re-wrap every document key to the newest KEK of SO_KEK_FILES (rows only; audited)
  documents identity DOC_ID [--admin EMAIL]
                              admin escrow: print the document's object key and age identity (audited)
  users add --email E --role R [--name N]
                              add an account (applicant, case_manager, reviewer, dpo, admin);
                              prints its id on the last line
  users set-password --email E
                              set the account's password, read as one line from standard input
  users disable --email E     disable the account; ends its sessions, tokens and sign-in links
  tokens issue --email E [--ttl D]
                              issue an API bearer token (D like 720h or 30d; default 90d);
                              prints the token alone on the last line
  tokens revoke ID            revoke the API token with this id
  audit verify [--verifier FILE]
                              recompute the audit log and check its signed checkpoints; exit 0
                              only when intact, else print the first bad entry and exit 1
  audit export --format csv|fhir [--case ID] [--bundle]
                              write the audit log (or one case's entries) to standard output
  audit keygen --out FILE [--name N]
                              write a new checkpoint signing key; prints its verifier key
  retention run [--dry-run] [--json]
                              erase what SO_RETENTION says has expired (cases not under legal
                              hold, rejected documents), as the daily job does; --dry-run lists
                              it and erases nothing (audited)
  storage setup [--lock-mode compliance|governance] [--retention-days N] [--secret-out FILE]
                              once, with MinIO's root credentials (SO_MINIO_ROOT_USER,
                              SO_MINIO_ROOT_PASSWORD): the buckets, the checkpoints' object lock,
                              the service's user SO_MINIO_ACCESS_KEY and its least-privilege policy
  healthcheck                 exit 0 when the local service answers /healthz (for containers)
  help                        this text

Configuration is read from SO_* environment variables (see README.md); --env-file loads
KEY=VALUE lines first, without overriding variables already set.
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := runWith(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.LookupEnv)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "secondopinion:", err)
		}
		os.Exit(1)
	}
}

// run is main without the process: tests call it. Standard input is empty.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	return runWith(ctx, args, strings.NewReader(""), stdout, stderr, lookup)
}

// runWith is run with a standard input (users set-password reads the password from it).
func runWith(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, lookup func(string) (string, bool)) error {
	fs := flag.NewFlagSet("secondopinion", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, usage) }
	envFile := fs.String("env-file", "", "load configuration from this KEY=VALUE file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *envFile != "" {
		vars, err := LoadEnvFile(*envFile)
		if err != nil {
			return err
		}
		base := lookup
		lookup = func(k string) (string, bool) {
			if v, ok := base(k); ok {
				return v, true
			}
			v, ok := vars[k]
			return v, ok
		}
	}
	args = fs.Args()
	if len(args) == 0 || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	cfg, err := LoadConfig(lookup)
	if err != nil {
		return err
	}
	logger := newLogger(stderr, cfg.LogLevel)
	cmd, rest := args[0], args[1:]
	switch cmd {
	case "serve":
		return serve(ctx, cfg, logger)
	case "migrate":
		return migrate(ctx, cfg, logger)
	case "keys":
		return keysCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "documents":
		return documentsCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "healthcheck":
		return healthcheck(ctx, cfg)
	case "users":
		return usersCommand(ctx, cfg, logger, rest, stdin, stdout, stderr)
	case "tokens":
		return tokensCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "audit":
		return auditCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "retention":
		return retentionCommand(ctx, cfg, logger, rest, stdout, stderr)
	case "storage":
		return storageCommand(ctx, cfg, lookup, rest, stdout, stderr)
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	l.UnmarshalText([]byte(level)) // #nosec G104 -- the level was validated with the configuration
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// healthcheck asks the service listening on SO_LISTEN_ADDR for /healthz.
func healthcheck(ctx context.Context, cfg Config) error {
	host, port, _ := net.SplitHostPort(cfg.ListenAddr)
	if host == "" || host == "0.0.0.0" || host == "::" {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("healthcheck: %w", err)
	}
	resp.Body.Close() // #nosec G104 -- the body was read whole; nothing to lose
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("healthcheck: /healthz answered %d", resp.StatusCode)
	}
	return nil
}

func serve(ctx context.Context, cfg Config, logger *slog.Logger) error {
	m := NewMain(cfg, logger)
	if err := m.Run(ctx); err != nil {
		return err
	}
	werr := m.Wait(ctx)
	logger.Info("shutting down")
	if err := m.Close(); err != nil {
		return err
	}
	return werr
}
