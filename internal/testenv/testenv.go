// Package testenv gives tests a real PostgreSQL database and a real MinIO bucket of their own.
//
// `make test` starts a throwaway PostgreSQL and MinIO on free loopback ports and names them in
// SO_TEST_DATABASE_URL and SO_TEST_MINIO_ENDPOINT / _ACCESS_KEY / _SECRET_KEY; a developer may
// point those at servers of their own. Every test gets a fresh database, owned by a fresh owner
// role, with the migrations applied and a fresh runtime login role that is a member of
// secondopinion_runtime, and a fresh bucket; all are dropped when the test ends.
//
// A test that needs these and finds the variables unset fails: a skipped test proves nothing.
package testenv

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // PostgreSQL driver
	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/secondopinion/secondopinion/internal/schema"
)

func need(t testing.TB, name string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		t.Fatalf("%s is not set: run the tests with `make test`, which starts PostgreSQL and MinIO", name)
	}
	return v
}

func randomName(prefix string) string {
	b := make([]byte, 6)
	rand.Read(b)
	return prefix + hex.EncodeToString(b)
}

// DB is a fresh database with every migration applied.
type DB struct {
	Name       string
	OwnerURL   string   // the migration owner: owns every table
	RuntimeURL string   // a login role in secondopinion_runtime, as the service connects
	Owner      *sqlx.DB // connected as the owner
	Runtime    *sqlx.DB // connected as the runtime role
	admin      string
}

// withUser returns base with its user and database replaced.
func withUser(base, user, db string) string {
	u, err := url.Parse(base)
	if err != nil {
		panic(err)
	}
	u.User = url.User(user)
	u.Path = "/" + db
	return u.String()
}

// NewDB creates a fresh database and applies the migrations to it as its owner.
func NewDB(t testing.TB) *DB {
	t.Helper()
	d := NewEmptyDB(t)
	if _, err := schema.Apply(context.Background(), d.Owner.DB); err != nil {
		t.Fatalf("apply migrations: %v", err)
	}
	return d
}

// NewEmptyDB creates a fresh database, with its owner and runtime roles, and no migration applied.
func NewEmptyDB(t testing.TB) *DB {
	t.Helper()
	admin := need(t, "SO_TEST_DATABASE_URL")
	ctx := context.Background()
	a, err := sql.Open("postgres", admin)
	if err != nil {
		t.Fatalf("open admin database: %v", err)
	}
	defer a.Close()

	d := &DB{Name: randomName("so_t_"), admin: admin}
	owner, runtime := d.Name+"_o", d.Name+"_r"
	stmts := []string{
		`DO $$ BEGIN
			IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'secondopinion_runtime') THEN
				CREATE ROLE secondopinion_runtime NOLOGIN;
			END IF;
		EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
		END $$`,
		fmt.Sprintf(`CREATE ROLE %s LOGIN`, owner),
		fmt.Sprintf(`CREATE ROLE %s LOGIN IN ROLE secondopinion_runtime`, runtime),
		fmt.Sprintf(`CREATE DATABASE %s OWNER %s`, d.Name, owner),
	}
	for _, s := range stmts {
		if _, err := a.ExecContext(ctx, s); err != nil {
			t.Fatalf("prepare test database: %s: %v", s, err)
		}
	}
	d.OwnerURL = withUser(admin, owner, d.Name)
	d.RuntimeURL = withUser(admin, runtime, d.Name)
	t.Cleanup(func() { d.drop(owner, runtime) })

	if d.Owner, err = sqlx.Open("postgres", d.OwnerURL); err != nil {
		t.Fatalf("open owner: %v", err)
	}
	if d.Runtime, err = sqlx.Open("postgres", d.RuntimeURL); err != nil {
		t.Fatalf("open runtime: %v", err)
	}
	return d
}

func (d *DB) drop(owner, runtime string) {
	if d.Owner != nil {
		d.Owner.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	}
	if d.Runtime != nil {
		d.Runtime.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	}
	a, err := sql.Open("postgres", d.admin)
	if err != nil {
		return
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a.ExecContext(ctx, fmt.Sprintf(`DROP DATABASE IF EXISTS %s WITH (FORCE)`, d.Name)) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	a.ExecContext(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, runtime))                 // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	a.ExecContext(ctx, fmt.Sprintf(`DROP ROLE IF EXISTS %s`, owner))                   // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
}

// MinIO is a fresh bucket on the test MinIO server.
type MinIO struct {
	Endpoint  string // host:port
	AccessKey string
	SecretKey string
	Bucket    string
	Client    *minio.Client
}

// NewBucket creates a fresh bucket on the MinIO named by SO_TEST_MINIO_*.
func NewBucket(t testing.TB) *MinIO {
	t.Helper()
	m := &MinIO{
		Endpoint:  need(t, "SO_TEST_MINIO_ENDPOINT"),
		AccessKey: need(t, "SO_TEST_MINIO_ACCESS_KEY"),
		SecretKey: need(t, "SO_TEST_MINIO_SECRET_KEY"),
		Bucket:    strings.ReplaceAll(randomName("so-t-"), "_", "-"),
	}
	m.connect(t)
	ctx := context.Background()
	if err := m.Client.MakeBucket(ctx, m.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		m.Client.RemoveBucketWithOptions(ctx, m.Bucket, minio.RemoveBucketOptions{ForceDelete: true}) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	})
	return m
}

func (m *MinIO) connect(t testing.TB) {
	c, err := minio.New(m.Endpoint, &minio.Options{Creds: credentials.NewStaticV4(m.AccessKey, m.SecretKey, "")})
	if err != nil {
		t.Fatalf("minio client: %v", err)
	}
	m.Client = c
}

// Binary finds a program the tests drive (minio, age): in $(go env GOPATH)/bin, where
// `make test` installs the pinned versions, or else on PATH.
func Binary(t testing.TB, name string) string {
	t.Helper()
	gopath := os.Getenv("GOPATH")
	if gopath == "" {
		if home, err := os.UserHomeDir(); err == nil {
			gopath = filepath.Join(home, "go")
		}
	}
	p := filepath.Join(gopath, "bin", name)
	if _, err := os.Stat(p); err == nil { // #nosec G703 -- a path under the test's own temporary directory
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	t.Fatalf("%s not found in %s or on PATH: `make test` installs it", name, filepath.Dir(p))
	return ""
}

// FreePort returns a loopback TCP port that was free a moment ago.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// MinIOProcess is a MinIO server of the test's own, which the test may stop and start.
type MinIOProcess struct {
	MinIO
	bin, dir string
	cmd      *exec.Cmd
	t        testing.TB
}

// StartMinIO starts a private MinIO server on a free loopback port with a bucket in it.
func StartMinIO(t testing.TB) *MinIOProcess {
	t.Helper()
	p := &MinIOProcess{bin: Binary(t, "minio"), dir: t.TempDir(), t: t}
	p.Endpoint = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
	p.AccessKey, p.SecretKey = "testadmin", randomName("secret")
	p.Bucket = "so-private"
	p.Start()
	t.Cleanup(p.Stop)
	p.connect(t)
	if err := p.Client.MakeBucket(context.Background(), p.Bucket, minio.MakeBucketOptions{}); err != nil {
		t.Fatalf("make bucket: %v", err)
	}
	return p
}

// Start starts the server and waits until it answers.
func (p *MinIOProcess) Start() {
	p.t.Helper()
	cmd := exec.Command(p.bin, "server", "--quiet", "--address", p.Endpoint, "--console-address", fmt.Sprintf("127.0.0.1:%d", FreePort(p.t)), p.dir) // #nosec G204 -- tests start the MinIO binary they found
	cmd.Env = append(os.Environ(), "MINIO_ROOT_USER="+p.AccessKey, "MINIO_ROOT_PASSWORD="+p.SecretKey, "MINIO_BROWSER=off")
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start minio: %v", err)
	}
	p.cmd = cmd
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := httpGet("http://" + p.Endpoint + "/minio/health/ready")
		if err == nil && resp == 200 {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	p.t.Fatalf("minio at %s did not become ready", p.Endpoint)
}

// Dir is the server's data directory.
func (p *MinIOProcess) Dir() string { return p.dir }

// Stop stops the server (its data stays).
func (p *MinIOProcess) Stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	p.cmd.Process.Kill() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	p.cmd.Wait()         // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	p.cmd = nil
}
