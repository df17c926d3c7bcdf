package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/vault"
)

// env builds a lookup over the given variables only.
func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

// devKeys writes the key files serve needs into a fresh directory.
func devKeys(t *testing.T) (totpKeyFile, mailDir string) {
	t.Helper()
	dir := t.TempDir()
	totpKeyFile = filepath.Join(dir, "totp.key")
	if err := os.WriteFile(totpKeyFile, []byte(strings.Repeat("ab", 32)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	mailDir = filepath.Join(dir, "mail")
	os.Mkdir(mailDir, 0o700)
	return totpKeyFile, mailDir
}

// serviceKeys writes a KEK and an audit checkpoint key, as `make run` does.
func serviceKeys(t *testing.T) (kekFile, checkpointKeyFile string) {
	t.Helper()
	dir := t.TempDir()
	kekFile = filepath.Join(dir, "kek-1.age")
	if _, err := vault.GenerateKEK(kekFile); err != nil {
		t.Fatal(err)
	}
	skey, _, err := audit.GenerateCheckpointKey("secondopinion.test/audit")
	if err != nil {
		t.Fatal(err)
	}
	checkpointKeyFile = filepath.Join(dir, "checkpoint.key")
	if err := os.WriteFile(checkpointKeyFile, []byte(skey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return kekFile, checkpointKeyFile
}

func baseVars(t *testing.T, db *testenv.DB, m *testenv.MinIO) map[string]string {
	totpKey, mailDir := devKeys(t)
	kek, checkpointKey := serviceKeys(t)
	// A real port, so that the public URL (tus Locations, links in mails) names this server.
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	return map[string]string{
		"SO_PUBLIC_URL":          "http://" + addr,
		"SO_KEK_FILES":           kek,
		"SO_CHECKPOINT_KEY_FILE": checkpointKey,
		"SO_TOTP_KEY_FILE":       totpKey,
		"SO_SMTP_URL":            "file://" + mailDir,
		"SO_LISTEN_ADDR":         addr,
		"SO_DATABASE_URL":        db.RuntimeURL,
		"SO_DATABASE_OWNER_URL":  db.OwnerURL,
		"SO_MINIO_ENDPOINT":      m.Endpoint,
		"SO_MINIO_ACCESS_KEY":    m.AccessKey,
		"SO_MINIO_SECRET_KEY":    m.SecretKey,
		"SO_MINIO_BUCKET":        m.Bucket,
		"SO_SHUTDOWN_TIMEOUT":    "10s",
		// The tests drive every role through the API with tokens; the default allows them to
		// case managers, DPOs and admins only (TestTokensOnlyForAutomationRoles).
		"SO_TOKEN_ROLES": "applicant,case_manager,reviewer,dpo,admin",
		// On m's server, so that a test of a private MinIO has everything there.
		"SO_MINIO_CHECKPOINT_BUCKET": testenv.NewLockedBucket(t, m),
	}
}

func boot(t *testing.T, vars map[string]string, wrap func(http.Handler) http.Handler) *Main {
	t.Helper()
	cfg, err := LoadConfig(env(vars))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	m := NewMain(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	m.wrap = wrap
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return m
}

func status(t *testing.T, url string) int {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// waitStatus polls url until it answers want, for at most 20 s.
func waitStatus(t *testing.T, url string, want int) {
	t.Helper()
	var got int
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(200 * time.Millisecond) {
		if got = status(t, url); got == want {
			return
		}
	}
	t.Fatalf("GET %s = %d, want %d", url, got, want)
}

// Readiness goes to 503 when MinIO stops and back to 200 when it returns.
func TestReadinessFollowsMinIO(t *testing.T) {
	db := testenv.NewDB(t)
	mp := testenv.StartMinIO(t)
	m := boot(t, baseVars(t, db, &mp.MinIO), nil)
	base := "http://" + m.Addr

	if got := status(t, base+"/healthz"); got != 200 {
		t.Fatalf("/healthz = %d", got)
	}
	waitStatus(t, base+"/readyz", 200)
	mp.Stop()
	waitStatus(t, base+"/readyz", 503)
	if got := status(t, base+"/healthz"); got != 200 {
		t.Fatalf("/healthz with MinIO down = %d, want 200 (the process is alive)", got)
	}
	mp.Start()
	waitStatus(t, base+"/readyz", 200)
}

// A missing bucket makes the service unready.
func TestReadinessNeedsBucket(t *testing.T) {
	db := testenv.NewDB(t)
	mb := testenv.NewBucket(t)
	m := boot(t, baseVars(t, db, mb), nil)
	waitStatus(t, "http://"+m.Addr+"/readyz", 200)
	if err := mb.Client.RemoveBucket(context.Background(), mb.Bucket); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, "http://"+m.Addr+"/readyz", 503)
}

// serve refuses an outdated schema; migrate applies it once; serve then starts.
func TestServeRefusesOutdatedSchema(t *testing.T) {
	db := testenv.NewEmptyDB(t)
	mb := testenv.NewBucket(t)
	vars := baseVars(t, db, mb)
	var out bytes.Buffer
	ctx := context.Background()

	err := run(ctx, []string{"serve"}, &out, &out, env(vars))
	if err == nil || !strings.Contains(err.Error(), "migrations pending") {
		t.Fatalf("serve on an empty database: err = %v, want a pending-migrations refusal", err)
	}
	if err := run(ctx, []string{"migrate"}, &out, &out, env(vars)); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	if !strings.Contains(out.String(), "migration applied") {
		t.Fatalf("migrate printed nothing applied: %s", out.String())
	}
	out.Reset()
	if err := run(ctx, []string{"migrate"}, &out, &out, env(vars)); err != nil {
		t.Fatalf("second migrate: %v", err)
	}
	if strings.Contains(out.String(), "migration applied") {
		t.Fatalf("second migrate applied something: %s", out.String())
	}
	m := boot(t, vars, nil)
	waitStatus(t, "http://"+m.Addr+"/readyz", 200)
}

// SO_AUTO_MIGRATE lets serve migrate an empty database itself.
func TestServeAutoMigrate(t *testing.T) {
	db := testenv.NewEmptyDB(t)
	vars := baseVars(t, db, testenv.NewBucket(t))
	vars["SO_AUTO_MIGRATE"] = "true"
	m := boot(t, vars, nil)
	waitStatus(t, "http://"+m.Addr+"/readyz", 200)
}

// A bad configuration value fails start with a message naming the variable.
func TestBadConfigNamesVariable(t *testing.T) {
	secretFile := filepath.Join(t.TempDir(), "missing-secret")
	tests := []struct {
		name, variable, value, want string
	}{
		{"listen address", "SO_LISTEN_ADDR", "8080", "SO_LISTEN_ADDR"},
		{"public url", "SO_PUBLIC_URL", "ftp://x", "SO_PUBLIC_URL"},
		{"plain http public url off loopback (finding 5)", "SO_PUBLIC_URL", "http://so.example.org", "SO_PUBLIC_URL"},
		{"trusted proxy", "SO_TRUSTED_PROXIES", "10.0.0.0/8,not-an-address", "SO_TRUSTED_PROXIES"},
		{"database url", "SO_DATABASE_URL", "mysql://u:hunter2@x/db", "SO_DATABASE_URL"},
		{"minio endpoint", "SO_MINIO_ENDPOINT", "http://minio", "SO_MINIO_ENDPOINT"},
		{"bucket", "SO_MINIO_BUCKET", "Bad_Bucket", "SO_MINIO_BUCKET"},
		{"checkpoint bucket", "SO_MINIO_CHECKPOINT_BUCKET", "Bad_Bucket", "SO_MINIO_CHECKPOINT_BUCKET"},
		{"checkpoints in the documents' bucket (finding 3)", "SO_MINIO_CHECKPOINT_BUCKET", "secondopinion", "SO_MINIO_CHECKPOINT_BUCKET"},
		{"secure", "SO_MINIO_SECURE", "maybe", "SO_MINIO_SECURE"},
		{"log level", "SO_LOG_LEVEL", "loud", "SO_LOG_LEVEL"},
		{"shutdown", "SO_SHUTDOWN_TIMEOUT", "-1s", "SO_SHUTDOWN_TIMEOUT"},
		{"upload memory", "SO_UPLOAD_MEMORY_MIB", "lots", "SO_UPLOAD_MEMORY_MIB"},
		{"document cache", "SO_DOCUMENT_CACHE_MIB", "-1", "SO_DOCUMENT_CACHE_MIB"},
		{"secret file", "SO_MINIO_SECRET_KEY_FILE", secretFile, "SO_MINIO_SECRET_KEY_FILE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			vars := map[string]string{
				"SO_DATABASE_URL": "postgres://localhost/x", "SO_MINIO_ENDPOINT": "127.0.0.1:9000",
				"SO_MINIO_ACCESS_KEY": "a", "SO_MINIO_SECRET_KEY": "b",
				"SO_TOTP_KEY_FILE": "/nonexistent", "SO_SMTP_URL": "file:///nonexistent",
				"SO_KEK_FILES": "/nonexistent", "SO_CHECKPOINT_KEY_FILE": "/nonexistent",
			}
			if strings.HasSuffix(tt.variable, "_FILE") {
				delete(vars, strings.TrimSuffix(tt.variable, "_FILE"))
			}
			vars[tt.variable] = tt.value
			var out bytes.Buffer
			err := run(context.Background(), []string{"serve"}, &out, &out, env(vars))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one naming %s", err, tt.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("error echoes a secret: %v", err)
			}
		})
	}
	t.Run("required", func(t *testing.T) {
		err := run(context.Background(), []string{"serve"}, io.Discard, io.Discard, env(map[string]string{}))
		for _, v := range []string{"SO_DATABASE_URL", "SO_MINIO_ENDPOINT", "SO_MINIO_ACCESS_KEY", "SO_MINIO_SECRET_KEY", "SO_TOTP_KEY_FILE", "SO_SMTP_URL"} {
			if err == nil || !strings.Contains(err.Error(), v) {
				t.Errorf("err = %v, want it to name %s", err, v)
			}
		}
	})
}

// Secrets may come from files, and --env-file loads configuration.
func TestSecretsFromFilesAndEnvFile(t *testing.T) {
	dir := t.TempDir()
	secret := filepath.Join(dir, "minio-secret")
	os.WriteFile(secret, []byte("from-file\n"), 0o600)
	envFile := filepath.Join(dir, "dev.env")
	os.WriteFile(envFile, []byte("# comment\nexport SO_MINIO_SECRET_KEY_FILE="+secret+"\nSO_MINIO_BUCKET='from-env-file'\n"), 0o600)
	vars, err := LoadEnvFile(envFile)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.MinIOSecretKey != "from-file" || cfg.MinIOBucket != "from-env-file" {
		t.Fatalf("secret %q bucket %q", cfg.MinIOSecretKey, cfg.MinIOBucket)
	}
	vars["SO_MINIO_SECRET_KEY"] = "inline"
	if _, err := LoadConfig(env(vars)); err == nil || !strings.Contains(err.Error(), "SO_MINIO_SECRET_KEY") {
		t.Fatalf("both inline and _FILE: err = %v", err)
	}
}

// Close lets an in-flight request finish and refuses new connections.
func TestGracefulShutdown(t *testing.T) {
	db := testenv.NewDB(t)
	started := make(chan struct{})
	m := boot(t, baseVars(t, db, testenv.NewBucket(t)), func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				close(started)
				time.Sleep(700 * time.Millisecond)
				io.WriteString(w, "finished")
				return
			}
			h.ServeHTTP(w, r)
		})
	})
	type result struct {
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Get("http://" + m.Addr + "/slow")
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{string(b), err}
	}()
	<-started
	if err := m.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	r := <-res
	if r.err != nil || r.body != "finished" {
		t.Fatalf("in-flight request: body %q err %v", r.body, r.err)
	}
	if _, err := http.Get("http://" + m.Addr + "/healthz"); err == nil {
		t.Fatal("server still accepts connections after Close")
	}
}
