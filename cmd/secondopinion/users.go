package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// openAccess connects as the runtime role and builds the access service for one CLI command;
// close releases the connection.
func openAccess(ctx context.Context, cfg Config, logger *slog.Logger) (svc *access.Service, close func(), err error) {
	if cfg.DatabaseURL == "" {
		return nil, nil, &ConfigError{Var: "SO_DATABASE_URL", Reason: "is required"}
	}
	m := NewMain(cfg, logger)
	if m.db, err = openDB(ctx, cfg.DatabaseURL); err != nil {
		return nil, nil, fmt.Errorf("database (SO_DATABASE_URL): %w", err)
	}
	if err := m.buildDomain(); err != nil {
		m.db.Close() // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
		return nil, nil, err
	}
	return m.access, func() { m.db.Close() }, nil // #nosec G104 -- closing at shutdown or after use; nothing to do about a failure
}

// flags parses args for the subcommand name; every flag is required unless its default is set.
func flags(name string, args []string, stderr io.Writer, define func(fs *flag.FlagSet)) error {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	define(fs)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%s: unexpected argument %q", name, fs.Arg(0))
	}
	return nil
}

// usersCommand: users add | set-password | disable | reset-totp.
func usersCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("users: want add, set-password, disable or reset-totp")
	}
	var email, role, name string
	emailFlag := func(fs *flag.FlagSet) { fs.StringVar(&email, "email", "", "the account's email address") }
	var define func(*flag.FlagSet)
	switch args[0] {
	case "add":
		define = func(fs *flag.FlagSet) {
			emailFlag(fs)
			fs.StringVar(&role, "role", "", "applicant, case_manager, reviewer, dpo or admin")
			fs.StringVar(&name, "name", "", "display name")
		}
	case "set-password", "disable", "reset-totp":
		define = emailFlag
	default:
		return fmt.Errorf("users: unknown command %q", args[0])
	}
	cmd := "users " + args[0]
	if err := flags(cmd, args[1:], stderr, define); err != nil {
		return err
	}
	if email == "" {
		return fmt.Errorf("%s: --email is required", cmd)
	}
	var r so.Role
	if args[0] == "add" {
		var err error
		if r, err = so.ParseRole(role); err != nil {
			return fmt.Errorf("%s: --role: %w", cmd, err)
		}
	}
	var password string
	if args[0] == "set-password" {
		var err error
		if password, err = readLine(stdin); err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
	}
	svc, closeDB, err := openAccess(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeDB()
	switch args[0] {
	case "add":
		id, err := svc.Accounts.Add(ctx, email, r, name)
		if err != nil {
			return fmt.Errorf("%s: %w", cmd, err)
		}
		fmt.Fprintf(stdout, "added %s (%s)\n%s\n", email, r, id)
	case "set-password":
		err = svc.Accounts.SetPassword(ctx, email, password)
	case "disable":
		err = svc.Accounts.Disable(ctx, email)
	case "reset-totp": // a staff member lost their phone: they enrol again at the next sign-in
		var a access.Account
		if a, err = svc.Accounts.ByEmail(ctx, email); err == nil {
			var db *sqlx.DB
			if db, err = openDB(ctx, cfg.DatabaseURL); err == nil {
				defer db.Close()
				if err = logCLI(ctx, db, logger, cliEntry(audit.ActionAccountTOTPReset, "account", a.ID, "")); err == nil {
					err = svc.Accounts.ResetTOTP(ctx, a.ID)
				}
			}
		}
	}
	if errors.Is(err, so.ErrNotFound) {
		return fmt.Errorf("%s: no account with this email", cmd)
	}
	if err != nil {
		return fmt.Errorf("%s: %w", cmd, err)
	}
	return nil
}

// readLine reads the password: one line, without its line ending.
func readLine(r io.Reader) (string, error) {
	line, err := bufio.NewReaderSize(r, 4096).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return "", fmt.Errorf("read the password from standard input: %w", err)
	}
	line = strings.TrimSuffix(strings.TrimSuffix(line, "\n"), "\r")
	if line == "" {
		return "", errors.New("give the password as one line on standard input")
	}
	return line, nil
}

// tokensCommand: tokens issue | revoke.
func tokensCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("tokens: want issue or revoke")
	}
	var email, ttlText, id string
	switch args[0] {
	case "issue":
		if err := flags("tokens issue", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&email, "email", "", "the account the token acts as")
			fs.StringVar(&ttlText, "ttl", "", "lifetime, e.g. 720h or 30d (default 90d)")
		}); err != nil {
			return err
		}
		if email == "" {
			return errors.New("tokens issue: --email is required")
		}
	case "revoke":
		if len(args) != 2 {
			return errors.New("tokens revoke: want the token id")
		}
		id = args[1]
	default:
		return fmt.Errorf("tokens: unknown command %q", args[0])
	}
	ttl, err := parseTTL(ttlText)
	if err != nil {
		return fmt.Errorf("tokens issue: --ttl: %w", err)
	}
	svc, closeDB, err := openAccess(ctx, cfg, logger)
	if err != nil {
		return err
	}
	defer closeDB()
	if args[0] == "revoke" {
		if err := svc.Tokens.Revoke(ctx, id); errors.Is(err, so.ErrNotFound) {
			return fmt.Errorf("tokens revoke: no token with id %q", id)
		} else if err != nil {
			return fmt.Errorf("tokens revoke: %w", err)
		}
		return nil
	}
	tokID, raw, err := svc.Tokens.Issue(ctx, email, ttl)
	if errors.Is(err, so.ErrNotFound) {
		return errors.New("tokens issue: no account with this email")
	}
	if err != nil {
		return fmt.Errorf("tokens issue: %w", err)
	}
	fmt.Fprintf(stdout, "token id %s (revoke with: secondopinion tokens revoke %s)\n%s\n", tokID, tokID, raw)
	return nil
}

// parseTTL parses a Go duration or a whole number of days ("30d"); "" is 0 (the default).
func parseTTL(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if days, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(days)
		if err != nil || n <= 0 || n > 100*366 {
			return 0, fmt.Errorf("%q is not a number of days", s)
		}
		return time.Duration(n) * 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, fmt.Errorf("%q is not a positive duration such as 720h or 30d", s)
	}
	return d, nil
}
