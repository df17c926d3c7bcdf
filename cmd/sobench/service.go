package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/lib/pq" // PostgreSQL driver

	"github.com/secondopinion/secondopinion/audit"
)

// minioServer names the MinIO the bench uses (SO_TEST_MINIO_*).
type minioServer struct{ endpoint, accessKey, secretKey string }

func minioFromEnv() (minioServer, error) {
	m := minioServer{os.Getenv("SO_TEST_MINIO_ENDPOINT"), os.Getenv("SO_TEST_MINIO_ACCESS_KEY"), os.Getenv("SO_TEST_MINIO_SECRET_KEY")}
	if m.endpoint == "" || m.accessKey == "" || m.secretKey == "" {
		return m, errors.New("SO_TEST_MINIO_ENDPOINT, _ACCESS_KEY and _SECRET_KEY must name a MinIO (make bench starts one)")
	}
	return m, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// benchDB is a database of the bench's own, with an owner and a runtime role as in production.
type benchDB struct {
	adminURL             string
	name, owner, runtime string
	ownerURL, runtimeURL string
}

// createDB creates the database and its roles through adminURL (a superuser); migrations are
// applied by `secondopinion migrate`.
func createDB(ctx context.Context, adminURL string) (*benchDB, error) {
	a, err := sql.Open("postgres", adminURL)
	if err != nil {
		return nil, err
	}
	defer a.Close()
	d := &benchDB{adminURL: adminURL, name: "so_bench_" + randomHex(4)}
	d.owner, d.runtime = d.name+"_o", d.name+"_r"
	for _, s := range []string{
		`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'secondopinion_runtime') THEN
				CREATE ROLE secondopinion_runtime NOLOGIN;
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`,
		`CREATE ROLE ` + d.owner + ` LOGIN`,
		`CREATE ROLE ` + d.runtime + ` LOGIN IN ROLE secondopinion_runtime`,
		`CREATE DATABASE ` + d.name + ` OWNER ` + d.owner,
	} {
		if _, err := a.ExecContext(ctx, s); err != nil {
			return nil, fmt.Errorf("prepare database: %w", err)
		}
	}
	if d.ownerURL, err = withUser(adminURL, d.owner, d.name); err != nil {
		return nil, err
	}
	d.runtimeURL, _ = withUser(adminURL, d.runtime, d.name)
	return d, nil
}

func withUser(base, user, db string) (string, error) {
	u, err := url.Parse(base)
	if err != nil {
		return "", errors.New("SO_TEST_DATABASE_URL is not a URL")
	}
	u.User = url.User(user)
	u.Path = "/" + db
	return u.String(), nil
}

func (d *benchDB) drop() {
	a, err := sql.Open("postgres", d.adminURL)
	if err != nil {
		return
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.ExecContext(ctx, `DROP DATABASE IF EXISTS `+d.name+` WITH (FORCE)`) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	a.ExecContext(ctx, `DROP ROLE IF EXISTS `+d.runtime)                  // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	a.ExecContext(ctx, `DROP ROLE IF EXISTS `+d.owner)                    // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
}

// service is `secondopinion serve` as its own process, configured by vars.
type service struct {
	bin    string
	vars   map[string]string
	addr   string
	logs   string // file the process's logs go to
	cmd    *exec.Cmd
	exited chan struct{} // closed when the running process has exited
}

// newService writes the keys serve needs into dir and returns the configuration of a
// service on a free loopback port.
func newService(ctx context.Context, bin, dir string, db *benchDB, m minioServer, bucket, checkpoints string) (*service, error) {
	kek := filepath.Join(dir, "kek-1.age")
	s := &service{bin: bin}
	if _, err := s.cli(ctx, "keys", "generate", "--out", kek); err != nil {
		return nil, err
	}
	skey, _, err := audit.GenerateCheckpointKey("secondopinion.bench/audit")
	if err != nil {
		return nil, err
	}
	checkpoint, totp, mail := filepath.Join(dir, "checkpoint.key"), filepath.Join(dir, "totp.key"), filepath.Join(dir, "mail")
	if err := errors.Join(
		os.WriteFile(checkpoint, []byte(skey+"\n"), 0o600),
		os.WriteFile(totp, []byte(randomHex(32)+"\n"), 0o600),
		os.MkdirAll(mail, 0o700),
	); err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s.addr = "127.0.0.1:" + strconv.Itoa(port)
	s.logs = filepath.Join(dir, "server.log")
	s.vars = map[string]string{
		"SO_LISTEN_ADDR":         s.addr,
		"SO_PUBLIC_URL":          "http://" + s.addr,
		"SO_DATABASE_URL":        db.runtimeURL,
		"SO_DATABASE_OWNER_URL":  db.ownerURL,
		"SO_MINIO_ENDPOINT":      m.endpoint,
		"SO_MINIO_ACCESS_KEY":    m.accessKey,
		"SO_MINIO_SECRET_KEY":    m.secretKey,
		"SO_MINIO_BUCKET":        bucket,
		"SO_KEK_FILES":           kek,
		"SO_CHECKPOINT_KEY_FILE": checkpoint,
		"SO_TOTP_KEY_FILE":       totp,
		"SO_SMTP_URL":            "file://" + mail,
		// The bench acts as an applicant through an API token, which the centre must allow.
		"SO_TOKEN_ROLES": "applicant,case_manager,dpo,admin",
	}
	s.vars["SO_MINIO_CHECKPOINT_BUCKET"] = checkpoints
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *service) env() []string {
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range s.vars {
		env = append(env, k+"="+v)
	}
	return env
}

// cli runs a secondopinion command and returns its standard output.
func (s *service) cli(ctx context.Context, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, s.bin, args...) // #nosec G204 -- the benchmark runs the binary it measures
	cmd.Env = s.env()
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("secondopinion %s: %w: %s", args[0], err, strings.TrimSpace(errOut.String()))
	}
	return out.String(), nil
}

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	var last string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			last = l
		}
	}
	return last
}

// start runs `secondopinion serve` and waits until /readyz answers 200.
func (s *service) start(ctx context.Context) error {
	logs, err := os.OpenFile(s.logs, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logs.Close()                  // the child holds its own descriptor
	cmd := exec.Command(s.bin, "serve") // #nosec G204 -- the benchmark runs the binary it measures
	cmd.Env = s.env()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd, s.exited = cmd, make(chan struct{})
	exited := s.exited
	go func() { cmd.Wait(); close(exited) }() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	for deadline := time.Now().Add(60 * time.Second); time.Now().Before(deadline); {
		resp, err := http.Get("http://" + s.addr + "/readyz")
		if err == nil {
			resp.Body.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return fmt.Errorf("secondopinion serve exited; see %s", s.logs)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return fmt.Errorf("secondopinion serve not ready after 60 s; see %s", s.logs)
}

func (s *service) pid() int { return s.cmd.Process.Pid }

// stop asks the service to shut down and waits for it (killing it after 30 s).
func (s *service) stop() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	select {
	case <-s.exited:
	case <-time.After(30 * time.Second):
		s.cmd.Process.Kill() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
		<-s.exited
	}
	s.cmd = nil
}

// restart gives a fresh process, so that a memory measurement starts from an idle heap.
func (s *service) restart(ctx context.Context) error {
	s.stop()
	return s.start(ctx)
}
