package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/minio/madmin-go/v3"
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/secondopinion/secondopinion/internal/miniosetup"
)

// storageCommand: storage setup.
func storageCommand(ctx context.Context, cfg Config, lookup func(string) (string, bool), args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "setup" {
		return errors.New("storage: want setup")
	}
	return storageSetup(ctx, cfg, lookup, args[1:], stdout, stderr)
}

// storageSetup prepares MinIO once, with its root credentials (SO_MINIO_ROOT_USER and
// SO_MINIO_ROOT_PASSWORD, each also as _FILE, never flags): the buckets SO_MINIO_BUCKET and
// SO_MINIO_CHECKPOINT_BUCKET (the latter with object locking), the service's policy, and the
// service's user SO_MINIO_ACCESS_KEY with the secret key SO_MINIO_SECRET_KEY, or the one in
// --secret-out (generated there, mode 0600, when the file does not exist).
func storageSetup(ctx context.Context, cfg Config, lookup func(string) (string, bool), args []string, stdout, stderr io.Writer) error {
	var mode, secretOut string
	var days uint
	if err := flags("storage setup", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&mode, "lock-mode", "compliance", "the checkpoints' default retention mode: compliance (nobody may delete a copy early, root neither) or governance (root may)")
		fs.UintVar(&days, "retention-days", miniosetup.DefaultRetentionDays, "the checkpoints' default retention, in days")
		fs.StringVar(&secretOut, "secret-out", "", "file holding the service's secret key: read when it exists, else generated and written there (mode 0600)")
	}); err != nil {
		return err
	}
	var lockMode minio.RetentionMode
	switch mode {
	case "compliance":
		lockMode = minio.Compliance
	case "governance":
		lockMode = minio.Governance
	default:
		return fmt.Errorf("storage setup: --lock-mode %q is neither compliance nor governance", mode)
	}

	r := &envReader{lookup: lookup}
	rootUser, rootPassword := r.str("SO_MINIO_ROOT_USER", ""), r.str("SO_MINIO_ROOT_PASSWORD", "")
	need := func(name, v string) {
		if v == "" {
			r.fail(name, "is required by storage setup")
		}
	}
	need("SO_MINIO_ROOT_USER", rootUser)
	need("SO_MINIO_ROOT_PASSWORD", rootPassword)
	need("SO_MINIO_ENDPOINT", cfg.MinIOEndpoint)
	need("SO_MINIO_ACCESS_KEY", cfg.MinIOAccessKey)
	if cfg.MinIOAccessKey != "" && cfg.MinIOAccessKey == rootUser {
		r.fail("SO_MINIO_ACCESS_KEY", "is the root user: the service needs a user of its own")
	}
	if err := errors.Join(r.errs...); err != nil {
		return err
	}
	secret, err := serviceSecret(cfg.MinIOSecretKey, secretOut)
	if err != nil {
		return err
	}
	if secret == rootPassword {
		return &ConfigError{Var: "SO_MINIO_SECRET_KEY", Reason: "is the root password: the service needs a secret of its own"}
	}

	creds := credentials.NewStaticV4(rootUser, rootPassword, "")
	s3, err := minio.New(cfg.MinIOEndpoint, &minio.Options{Creds: creds, Secure: cfg.MinIOSecure})
	if err != nil {
		return fmt.Errorf("storage setup: %w", err)
	}
	admin, err := madmin.NewWithOptions(cfg.MinIOEndpoint, &madmin.Options{Creds: creds, Secure: cfg.MinIOSecure})
	if err != nil {
		return fmt.Errorf("storage setup: %w", err)
	}
	if err := miniosetup.Setup(ctx, miniosetup.Config{
		Admin: admin, S3: s3,
		DocumentsBucket: cfg.MinIOBucket, CheckpointsBucket: cfg.MinIOCheckpoints,
		AccessKey: cfg.MinIOAccessKey, SecretKey: secret,
		Mode: lockMode, RetentionDays: days,
		CopyPrefix: checkpointPrefix + "checkpoints/",
	}, stdout); err != nil {
		return err
	}
	if secretOut != "" {
		fmt.Fprintf(stdout, "the service's credentials: SO_MINIO_ACCESS_KEY=%s SO_MINIO_SECRET_KEY_FILE=%s\n", cfg.MinIOAccessKey, secretOut)
	}
	return nil
}

// serviceSecret is the service's secret key: configured, or in the file out (generated
// there when it does not exist). Both given, they must agree.
func serviceSecret(configured, out string) (string, error) {
	if out == "" {
		if configured == "" {
			return "", &ConfigError{Var: "SO_MINIO_SECRET_KEY", Reason: "is required by storage setup (or give --secret-out FILE)"}
		}
		return configured, nil
	}
	b, err := os.ReadFile(out) // #nosec G304 -- a file named by the operator on the command line
	switch {
	case err == nil:
		s := strings.TrimRight(string(b), "\r\n")
		if s == "" {
			return "", fmt.Errorf("storage setup: --secret-out %s is empty", out)
		}
		if configured != "" && configured != s {
			return "", errors.New("storage setup: SO_MINIO_SECRET_KEY and the file --secret-out names hold different secrets")
		}
		return s, nil
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("storage setup: --secret-out: %w", err)
	case configured != "":
		return "", errors.New("storage setup: SO_MINIO_SECRET_KEY is set and --secret-out names no file: give one of them")
	}
	raw := make([]byte, 20)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	s := hex.EncodeToString(raw)                                         // 40 characters, MinIO's longest generated secret key
	f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600) // #nosec G304 -- a file named by the operator on the command line
	if err != nil {
		return "", fmt.Errorf("storage setup: --secret-out: %w", err)
	}
	if _, err := f.WriteString(s + "\n"); err != nil {
		f.Close() // #nosec G104 -- the write failed already
		return "", fmt.Errorf("storage setup: --secret-out: %w", err)
	}
	if err := f.Close(); err != nil {
		return "", fmt.Errorf("storage setup: --secret-out: %w", err)
	}
	return s, nil
}
