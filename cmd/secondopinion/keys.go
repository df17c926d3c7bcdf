package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"filippo.io/age"
)

func keysCommand(ctx context.Context, cfg Config, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New("keys: want generate")
	}
	switch args[0] {
	case "generate":
		fs := flag.NewFlagSet("keys generate", flag.ContinueOnError)
		out := fs.String("out", "", "file to write the new identity to (must not exist)")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		if *out == "" {
			return errors.New("keys generate: --out FILE is required")
		}
		id, err := age.GenerateHybridIdentity()
		if err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		f, err := os.OpenFile(*out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		fmt.Fprintf(f, "# secondopinion key-encryption key\n# public key: %s\n%s\n", id.Recipient(), id)
		if err := f.Close(); err != nil {
			return fmt.Errorf("keys generate: %w", err)
		}
		fmt.Fprintln(stdout, id.Recipient())
		return nil
	default:
		return fmt.Errorf("keys: unknown command %q", args[0])
	}
}
