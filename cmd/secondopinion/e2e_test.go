package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/minio/minio-go/v7"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/mail"
	"github.com/secondopinion/secondopinion/vault"
)

// The binary under test, built once for the package's end-to-end tests.
var (
	binOnce sync.Once
	binPath string
	binErr  error
)

func serverBinary(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "so-bin-")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "secondopinion")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return binPath
}

// proc is the service running as its own process.
type proc struct {
	t    *testing.T
	vars map[string]string
	addr string
	cmd  *exec.Cmd
	logs *bytes.Buffer
	dir  string // working directory; TMPDIR points inside it too (the disk checks read it)
}

// startProc starts `secondopinion serve` with vars on a fixed loopback port and waits for /readyz.
func startProc(t *testing.T, vars map[string]string) *proc {
	return startProcIn(t, vars, "")
}

// startProcIn starts the service with dir as its working directory and TMPDIR.
func startProcIn(t *testing.T, vars map[string]string, dir string) *proc {
	t.Helper()
	p := &proc{t: t, vars: vars, dir: dir}
	if vars["SO_LISTEN_ADDR"] == "127.0.0.1:0" || vars["SO_LISTEN_ADDR"] == "" {
		vars["SO_LISTEN_ADDR"] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		vars["SO_PUBLIC_URL"] = "http://" + vars["SO_LISTEN_ADDR"]
	}
	p.addr = vars["SO_LISTEN_ADDR"]
	p.start()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *proc) start() {
	p.t.Helper()
	cmd := exec.Command(serverBinary(p.t), "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	if p.dir != "" {
		tmp := filepath.Join(p.dir, "tmp")
		os.MkdirAll(tmp, 0o700)
		cmd.Dir = p.dir
		cmd.Env = append(cmd.Env, "TMPDIR="+tmp)
	}
	for k, v := range p.vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	p.logs = &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = p.logs, p.logs
	if err := cmd.Start(); err != nil {
		p.t.Fatalf("start server: %v", err)
	}
	p.cmd = cmd
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		resp, err := http.Get("http://" + p.addr + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
	}
	p.t.Fatalf("server did not become ready; logs:\n%s", p.logs)
}

// kill ends the process abruptly, as a crash or an OOM kill would.
func (p *proc) kill() {
	if p.cmd != nil && p.cmd.Process != nil {
		p.cmd.Process.Signal(syscall.SIGKILL)
		p.cmd.Wait()
		p.cmd = nil
	}
}

// world is a running service with an applicant, their case and an API token.
type world struct {
	db     *testenv.DB
	bucket *testenv.MinIO
	vars   map[string]string
	token  string
	caseID string
	acc    *access.Service
	cases  *cases.Cases
}

func newWorld(t *testing.T) *world {
	t.Helper()
	return newWorldOn(t, testenv.NewBucket(t))
}

// newWorldOn is newWorld with the given bucket (e.g. on a private MinIO).
func newWorldOn(t *testing.T, bucket *testenv.MinIO) *world {
	t.Helper()
	w := &world{db: testenv.NewDB(t), bucket: bucket}
	w.vars = baseVars(t, w.db, w.bucket)
	key, err := os.ReadFile(w.vars["SO_TOTP_KEY_FILE"])
	if err != nil {
		t.Fatal(err)
	}
	totpKey, err := access.ParseTOTPKey(strings.TrimSpace(string(key)))
	if err != nil {
		t.Fatal(err)
	}
	w.cases = cases.New(cases.Config{DB: w.db.Runtime})
	outbox, err := mail.New(mail.Config{DB: w.db.Runtime, Sender: &mail.MemoryMailer{}, Key: make([]byte, mail.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	w.acc, err = access.New(access.Config{DB: w.db.Runtime, Directory: w.cases, Outbox: outbox,
		PublicURL: "http://127.0.0.1", TOTPKey: totpKey, TokenRoles: so.AccountRoles}) // as baseVars' SO_TOKEN_ROLES
	if err != nil {
		t.Fatal(err)
	}
	w.cases.SetAccounts(w.acc.Accounts)
	w.token, w.caseID = w.applicantWithCase(t, "patient@example.org")
	return w
}

// applicantWithCase creates an applicant, a token for them and a case of theirs.
func (w *world) applicantWithCase(t *testing.T, email string) (token, caseID string) {
	t.Helper()
	ctx := context.Background()
	id, err := w.acc.Accounts.Add(ctx, email, so.RoleApplicant, "Test Applicant")
	if err != nil {
		t.Fatal(err)
	}
	_, token, err = w.acc.Tokens.Issue(ctx, email, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	in, err := cases.ParseCreateInput([]byte(`{"patient":{"given_name":"Ada","family_name":"Test","birth_date":"1970-01-01"},
		"applicant_relationship":"self","consultation_types":["oncological"],"clinical_question":"q","language":"en"}`), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	c, err := w.cases.Create(ctx, access.Subject{Role: so.RoleApplicant, AccountID: id}, in)
	if err != nil {
		t.Fatal(err)
	}
	return token, c.ID
}

// tusEvent is one JSON line of web/ui/test/tus-upload.mjs.
type tusEvent struct {
	Event   string `json:"event"`
	SHA256  string `json:"sha256"`
	URL     string `json:"url"`
	Sent    int64  `json:"sent"`
	Message string `json:"message"`
	Status  int    `json:"status"`
	Body    string `json:"body"`
}

type tusRun struct {
	cmd    *exec.Cmd
	events chan tusEvent
	stderr bytes.Buffer
}

// runTusClient starts the real tus-js-client on an upload of size deterministic bytes.
func runTusClient(t *testing.T, endpoint, token string, size, chunk int64, seed int, meta map[string]string, extraEnv ...string) *tusRun {
	t.Helper()
	metaJSON, _ := json.Marshal(meta)
	cmd := exec.Command("node", "test/tus-upload.mjs")
	cmd.Dir = filepath.Join("..", "..", "web", "ui")
	cmd.Env = append(os.Environ(), "TUS_ENDPOINT="+endpoint, "TUS_TOKEN="+token, fmt.Sprintf("TUS_SIZE=%d", size),
		fmt.Sprintf("TUS_CHUNK_SIZE=%d", chunk), fmt.Sprintf("TUS_SEED=%d", seed), "TUS_META="+string(metaJSON),
	)
	cmd.Env = append(cmd.Env, extraEnv...)
	r := &tusRun{cmd: cmd, events: make(chan tusEvent, 1024)}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = &r.stderr
	if err := cmd.Start(); err != nil {
		t.Fatalf("node: %v (make test installs web/ui's packages)", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var e tusEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				r.events <- e
			}
		}
		cmd.Wait()
		close(r.events)
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return r
}

// wait returns the plaintext SHA-256 the client computed and the upload URL, failing on error.
func (r *tusRun) wait(t *testing.T, onProgress func(tusEvent)) (sum, url string) {
	t.Helper()
	timeout := time.After(3 * time.Minute)
	for {
		select {
		case e, ok := <-r.events:
			if !ok {
				t.Fatalf("tus client exited without finishing; stderr: %s", r.stderr.String())
			}
			switch e.Event {
			case "start":
				sum = e.SHA256
			case "error":
				t.Fatalf("tus client failed: %s (status %d, body %q)", e.Message, e.Status, e.Body)
			case "done":
				return sum, e.URL
			default:
				if onProgress != nil {
					onProgress(e)
				}
			}
		case <-timeout:
			t.Fatal("tus upload did not finish in 3 minutes")
		}
	}
}

// storedPlaintextSHA256 decrypts the stored object with the real age CLI and the document's
// identity, entirely through pipes: neither the plaintext nor the ciphertext is written to disk.
func (w *world) storedPlaintextSHA256(t *testing.T, docID string) string {
	t.Helper()
	ctx := context.Background()
	var key string
	if err := w.db.Owner.Get(&key, `SELECT object_key FROM documents WHERE id = $1`, docID); err != nil {
		t.Fatalf("document %s not registered: %v", docID, err)
	}
	kr, err := vault.LoadKeyring(strings.Split(w.vars["SO_KEK_FILES"], ","))
	if err != nil {
		t.Fatal(err)
	}
	identity, err := vault.NewKeys(w.db.Runtime, kr).IdentityString(ctx, docID)
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(t.TempDir(), "document-identity.txt") // key material, not health data
	if err := os.WriteFile(idFile, []byte(identity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	obj, err := w.bucket.Client.GetObject(ctx, w.bucket.Bucket, key, minio.GetObjectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	cmd := exec.Command(testenv.Binary(t, "age"), "-d", "-i", idFile)
	cmd.Stdin = obj
	h := sha256.New()
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = h, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("age -d: %v: %s", err, stderr.String())
	}
	return hex.EncodeToString(h.Sum(nil))
}

// cutProxy forwards loopback TCP to target, and once cut() is armed, drops every connection
// after the client has sent `after` more bytes.
type cutProxy struct {
	ln      net.Listener
	target  string
	after   atomic.Int64 // bytes to pass before cutting; <0: never
	cutOnce chan struct{}
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, cutOnce: make(chan struct{})}
	p.after.Store(-1)
	t.Cleanup(func() { ln.Close() })
	go p.serve()
	return p
}

func (p *cutProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.pipe(c)
	}
}

func (p *cutProxy) pipe(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	go func() { io.Copy(client, server); client.Close() }()
	buf := make([]byte, 32<<10)
	for {
		n, err := client.Read(buf)
		if n > 0 {
			if left := p.after.Load(); left >= 0 {
				if int64(n) >= left {
					server.Write(buf[:left])
					p.after.Store(-1)
					close(p.cutOnce)
					return // drop both sides mid-request
				}
				p.after.Add(-int64(n))
			}
			if _, werr := server.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// The real tus-js-client uploads 64 MiB in 5 MiB chunks; the connection is cut in the middle of
// a chunk and the server process is killed and restarted; the client resumes, and the stored
// object, decrypted by the real age CLI, has the plaintext's SHA-256.
func TestTusJSClientResumesAcrossServerRestart(t *testing.T) {
	w := newWorld(t)
	// The client reaches the service only through the proxy, which is its public URL (the
	// upload's Location is under it).
	proxy := newCutProxy(t, w.vars["SO_LISTEN_ADDR"])
	w.vars["SO_PUBLIC_URL"] = "http://" + proxy.ln.Addr().String()
	srv := startProc(t, w.vars)
	const size, chunk = 64 << 20, 5 << 20
	run := runTusClient(t, "http://"+proxy.ln.Addr().String()+"/api/v1/uploads/", w.token, size, chunk, 7,
		map[string]string{"case_id": w.caseID, "kind": "imaging_study", "filename": "ct-study.dcm", "filetype": "application/dicom"},
		"TUS_PREFIX="+dicomPreamble)
	restarted := false
	sum, url := run.wait(t, func(e tusEvent) {
		if e.Event == "progress" && e.Sent >= 2*chunk && !restarted {
			restarted = true
			proxy.after.Store(chunk/2 + 12345) // the middle of the next chunk
			go func() {
				<-proxy.cutOnce
				srv.kill()
				srv.start()
			}()
		}
	})
	if !restarted {
		t.Fatal("the upload was never interrupted")
	}
	select {
	case <-proxy.cutOnce:
	default:
		t.Fatal("the proxy never cut the connection")
	}
	docID := url[strings.LastIndex(url, "/")+1:]
	if got := w.storedPlaintextSHA256(t, docID); got != sum {
		t.Fatalf("age -d of the stored object: sha256 %s, want %s", got, sum)
	}
	var dbSum []byte
	if err := w.db.Owner.Get(&dbSum, `SELECT sha256 FROM documents WHERE id = $1`, docID); err != nil || hex.EncodeToString(dbSum) != sum {
		t.Fatalf("registered sha256 %x (err %v), want %s", dbSum, err, sum)
	}
}

// Edge sizes upload and decrypt with the age CLI to the same bytes; the content route returns
// them too, whole and by Range. Files too small to carry any format signature (0 and 1 byte)
// are refused by the content checks with a clear reason, and nothing of them stays stored.
func TestTusJSClientEdgeSizes(t *testing.T) {
	w := newWorld(t)
	srv := startProc(t, w.vars)
	const part = 80 * 65536 // plaintext bytes in a 5 MiB part
	meta := map[string]string{"case_id": w.caseID, "kind": "clinical_history", "filename": "history.pdf", "filetype": "application/pdf"}
	for _, size := range []int64{65535, 65536, 65537, part - 1, part, part + 1, 5} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			run := runTusClient(t, "http://"+srv.addr+"/api/v1/uploads/", w.token, size, 5<<20, int(size%1000)+3, meta,
				"TUS_PREFIX="+hex.EncodeToString([]byte("%PDF-")))
			sum, url := run.wait(t, nil)
			docID := url[strings.LastIndex(url, "/")+1:]
			if got := w.storedPlaintextSHA256(t, docID); got != sum {
				t.Fatalf("age -d: sha256 %s, want %s", got, sum)
			}
			body, resp := get(t, "http://"+srv.addr+"/api/v1/documents/"+docID+"/content", w.token, nil)
			if resp.StatusCode != 200 || hexSum(body) != sum {
				t.Fatalf("content: %d, sha256 %s, want %s", resp.StatusCode, hexSum(body), sum)
			}
			if resp.Header.Get("Content-Type") != "application/pdf" || resp.Header.Get("Cache-Control") != "no-store" ||
				!strings.HasPrefix(resp.Header.Get("Content-Disposition"), `attachment; filename="history.pdf"`) {
				t.Fatalf("headers: %v", resp.Header)
			}
			tail, resp := get(t, "http://"+srv.addr+"/api/v1/documents/"+docID+"/content", w.token,
				map[string]string{"Range": fmt.Sprintf("bytes=%d-", size-3)})
			if resp.StatusCode != 206 || !bytes.Equal(tail, body[size-3:]) {
				t.Fatalf("range: %d %x, want %x", resp.StatusCode, tail, body[size-3:])
			}
		})
	}
	for _, size := range []int64{0, 1} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			run := runTusClient(t, "http://"+srv.addr+"/api/v1/uploads/", w.token, size, 5<<20, 1, meta)
			e := run.failure(t)
			if e.Status != 415 || !strings.Contains(e.Body, "file_type_not_allowed") {
				t.Fatalf("want 415 file_type_not_allowed, got %d %q", e.Status, e.Body)
			}
			w.assertNothingStored(t)
		})
	}
}

// failure waits for the client to give up and returns its error event.
func (r *tusRun) failure(t *testing.T) tusEvent {
	t.Helper()
	for e := range r.events {
		switch e.Event {
		case "error":
			return e
		case "done":
			t.Fatal("upload succeeded; want it refused")
		}
	}
	t.Fatalf("tus client exited without an error event; stderr: %s", r.stderr.String())
	return tusEvent{}
}

// assertNothingStored checks that no unfinished upload, key or object outlives refused uploads:
// every object in the bucket belongs to a registered document (or is an audit checkpoint).
func (w *world) assertNothingStored(t *testing.T) {
	t.Helper()
	var orphans int
	if err := w.db.Owner.Get(&orphans, `SELECT
		(SELECT count(*) FROM uploads WHERE finished_at IS NULL) +
		(SELECT count(*) FROM document_keys k WHERE NOT EXISTS (SELECT 1 FROM documents d WHERE d.id = k.document_id))`); err != nil {
		t.Fatal(err)
	}
	if orphans != 0 {
		t.Fatalf("%d unfinished uploads or orphan keys remain", orphans)
	}
	var keys []string
	if err := w.db.Owner.Select(&keys, `SELECT object_key FROM documents`); err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, k := range keys {
		known[k] = true
	}
	for obj := range w.bucket.Client.ListObjects(context.Background(), w.bucket.Bucket, minio.ListObjectsOptions{Recursive: true}) {
		if obj.Err != nil {
			t.Fatal(obj.Err)
		}
		if !known[obj.Key] && !strings.HasPrefix(obj.Key, "audit/") {
			t.Fatalf("object %s is stored but belongs to no document", obj.Key)
		}
	}
}

func get(t *testing.T, url, token string, headers map[string]string) ([]byte, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s body: %v", url, err)
	}
	return b, resp
}

// dicomPreamble is a DICOM file's first 132 bytes: a zero preamble and "DICM".
var dicomPreamble = strings.Repeat("00", 128) + hex.EncodeToString([]byte("DICM"))

func hexSum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }
