package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os/user"

	so "github.com/secondopinion/secondopinion"

	"github.com/jmoiron/sqlx"

	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/vault"
)

// keysCommand: keys generate | list | rotate.
func keysCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want generate, list or rotate")
	}
	switch args[0] {
	case "generate":
		var out string
		if err := flags("keys generate", args[1:], stderr, func(fs *flag.FlagSet) {
			fs.StringVar(&out, "out", "", "file to write the new identity to (must not exist)")
		}); err != nil {
			return err
		}
		if out == "" {
			return errors.New("keys generate: --out FILE is required")
		}
		recipient, err := vault.GenerateKEK(out)
		if err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		fmt.Fprintf(stdout, "fingerprint %s\n%s\n", vault.Fingerprint(recipient), recipient)
		return nil
	case "list":
		if err := flags("keys list", args[1:], stderr, func(*flag.FlagSet) {}); err != nil {
			return err
		}
		return withVault(ctx, cfg, func(_ *sqlx.DB, kr *vault.Keyring, keys *vault.Keys) error {
			counts, err := keys.CountByKEK(ctx)
			if err != nil {
				return fmt.Errorf("keys list: %w", err)
			}
			fps, recips := kr.Fingerprints(), kr.Recipients()
			for i := range fps {
				role := "unwraps"
				if i == len(fps)-1 {
					role = "wraps"
				}
				fmt.Fprintf(stdout, "%s  %-7s  %6d document keys  %s\n", fps[i], role, counts[fps[i]], recips[i])
				delete(counts, fps[i])
			}
			for fp, n := range counts {
				fmt.Fprintf(stdout, "%s  MISSING  %6d document keys  (no configured KEK opens these)\n", fp, n)
			}
			return nil
		})
	case "rotate":
		if err := flags("keys rotate", args[1:], stderr, func(*flag.FlagSet) {}); err != nil {
			return err
		}
		return withVault(ctx, cfg, func(db *sqlx.DB, kr *vault.Keyring, keys *vault.Keys) error {
			n, err := keys.Rewrap(ctx)
			fps := kr.Fingerprints()
			e := cliEntry(audit.ActionKeyRotate, "kek", fps[len(fps)-1], "")
			if err != nil {
				e.Outcome = audit.OutcomeSeriousFailure
			}
			if aerr := logCLI(ctx, db, logger, e); aerr != nil {
				return errors.Join(err, aerr)
			}
			if err != nil {
				return fmt.Errorf("keys rotate: %w (%d re-wrapped before the error)", err, n)
			}
			fmt.Fprintf(stdout, "re-wrapped %d document keys to %s\n", n, fps[len(fps)-1])
			return nil
		})
	default:
		return fmt.Errorf("keys: unknown command %q", args[0])
	}
}

// documentsCommand: documents identity DOC_ID — the admin escrow of a document's age identity,
// for disaster recovery. It is audited before the identity is printed.
func documentsCommand(ctx context.Context, cfg Config, logger *slog.Logger, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "identity" {
		return errors.New("documents: want identity DOC_ID")
	}
	var admin string
	fs := flag.NewFlagSet("documents identity", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&admin, "admin", "", "email of the admin account the escrow is done as (recorded in the audit log)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("documents identity: want exactly one DOC_ID")
	}
	docID := fs.Arg(0)
	return withVault(ctx, cfg, func(db *sqlx.DB, _ *vault.Keyring, keys *vault.Keys) error {
		e := cliEntry(audit.ActionDocumentIdentity, "document", docID, "")
		if admin != "" {
			svc, closeAccess, err := openAccess(ctx, cfg, logger)
			if err != nil {
				return err
			}
			acct, err := svc.Accounts.ByEmail(ctx, admin)
			closeAccess()
			if err != nil || acct.Role != so.RoleAdmin || acct.Disabled {
				return errors.New("documents identity: --admin must name an enabled admin account")
			}
			e.ActorID = "account:" + acct.ID
		}
		doc, err := cases.New(cases.Config{DB: db}).Document(ctx, docID)
		if err != nil {
			return fmt.Errorf("documents identity: %w", err)
		}
		stored, err := cases.New(cases.Config{DB: db}).StoredObject(ctx, docID)
		if err != nil {
			return fmt.Errorf("documents identity: %w", err)
		}
		e.CaseID = doc.CaseID
		if err := logCLI(ctx, db, logger, e); err != nil {
			return err
		}
		identity, err := keys.IdentityString(ctx, docID)
		if err != nil {
			return fmt.Errorf("documents identity: %w", err)
		}
		fmt.Fprintf(stdout, "object: %s\n%s\n", stored.ObjectKey, identity)
		return nil
	})
}

// withVault opens the runtime database and the configured KEKs for one command.
func withVault(ctx context.Context, cfg Config, f func(*sqlx.DB, *vault.Keyring, *vault.Keys) error) error {
	if cfg.DatabaseURL == "" {
		return &ConfigError{Var: "SO_DATABASE_URL", Reason: "is required"}
	}
	kr, err := vault.LoadKeyring(cfg.KEKFiles)
	if err != nil {
		return &ConfigError{Var: "SO_KEK_FILES", Reason: err.Error()}
	}
	db, err := openDB(ctx, cfg.DatabaseURL)
	if err != nil {
		return fmt.Errorf("database (SO_DATABASE_URL): %w", err)
	}
	defer db.Close()
	return f(db, kr, vault.NewKeys(db, kr))
}

// cliEntry is an audit entry for a command run by an operator on the server.
func cliEntry(action, objectType, objectID, caseID string) audit.Entry {
	who := "unknown"
	if u, err := user.Current(); err == nil {
		who = u.Username
	}
	return audit.Entry{Action: action, ObjectType: objectType, ObjectID: objectID, CaseID: caseID,
		ActorID: "cli:" + who, ActorRole: string(so.RoleAdmin), Purpose: audit.PurposeSysAdmin, UserAgent: "secondopinion-cli"}
}

// logCLI commits one audit entry; a command whose action cannot be audited does not run.
func logCLI(ctx context.Context, db *sqlx.DB, logger *slog.Logger, e audit.Entry) error {
	w := audit.NewWriter(db, audit.WriterConfig{Logger: logger})
	defer w.Close()
	if _, err := w.Log(ctx, e); err != nil {
		return fmt.Errorf("audit log unavailable, nothing done: %w", err)
	}
	return nil
}
