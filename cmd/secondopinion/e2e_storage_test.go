package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// uploadPDF uploads size bytes that start with "%PDF-" and returns the document id and the
// plaintext SHA-256.
func (w *world) uploadPDF(t *testing.T, addr string, size int64, seed int, extraEnv ...string) (docID, sum string) {
	t.Helper()
	env := append([]string{"TUS_PREFIX=" + hex.EncodeToString([]byte("%PDF-"))}, extraEnv...)
	run := runTusClient(t, "http://"+addr+"/api/v1/uploads/", w.token, size, 5<<20, seed,
		map[string]string{"case_id": w.caseID, "kind": "clinical_history", "filename": "h.pdf", "filetype": "application/pdf"}, env...)
	sum, url := run.wait(t, nil)
	return url[strings.LastIndex(url, "/")+1:], sum
}

func runCLI(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), args, &out, &errOut, env(vars))
	if err != nil {
		return out.String() + errOut.String(), err
	}
	return out.String(), nil
}

// KEK rotation re-wraps the document keys to a new KEK; with the old one removed the service
// still serves the document; the escrowed identity decrypts the object with the age CLI; both
// are in the audit log.
func TestKeyRotationAndEscrow(t *testing.T) {
	w := newWorld(t)
	srv := startProc(t, w.vars)
	docID, sum := w.uploadPDF(t, srv.addr, 300_000, 11)

	oldKEK := w.vars["SO_KEK_FILES"]
	out, err := runCLI(t, w.vars, "keys", "list")
	if err != nil || !strings.Contains(out, "wraps") || !strings.Contains(out, "     1 document keys") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	newKEK := filepath.Join(t.TempDir(), "kek-2.age")
	if out, err := runCLI(t, w.vars, "keys", "generate", "--out", newKEK); err != nil || !strings.Contains(out, "age1pq1") {
		t.Fatalf("keys generate: %v\n%s", err, out)
	}
	w.vars["SO_KEK_FILES"] = oldKEK + "," + newKEK
	if out, err := runCLI(t, w.vars, "keys", "rotate"); err != nil || !strings.Contains(out, "re-wrapped 1 ") {
		t.Fatalf("keys rotate: %v\n%s", err, out)
	}
	// The old KEK is retired: the service runs with the new one alone.
	w.vars["SO_KEK_FILES"] = newKEK
	srv.kill()
	srv.start()
	body, resp := get(t, "http://"+srv.addr+"/api/v1/documents/"+docID+"/content", w.token, nil)
	if resp.StatusCode != 200 || hexSum(body) != sum {
		t.Fatalf("after rotation: %d sha %s want %s", resp.StatusCode, hexSum(body), sum)
	}

	out, err = runCLI(t, w.vars, "documents", "identity", docID)
	if err != nil {
		t.Fatalf("documents identity: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "object: ") || !strings.HasPrefix(lines[1], "AGE-SECRET-KEY-PQ-1") {
		t.Fatalf("documents identity printed %q", out)
	}
	var key string
	w.db.Owner.Get(&key, `SELECT object_key FROM documents WHERE id = $1`, docID)
	if lines[0] != "object: "+key {
		t.Fatalf("object line %q, want object: %s", lines[0], key)
	}
	if got := w.storedPlaintextSHA256(t, docID); got != sum { // decrypts with the escrowed identity's twin
		t.Fatalf("age -d: %s want %s", got, sum)
	}
	var n int
	w.db.Owner.Get(&n, `SELECT count(*) FROM audit_entries WHERE action IN ('keys.rotate', 'document.identity')`)
	if n != 2 {
		t.Fatalf("%d audit entries for rotation and escrow, want 2", n)
	}
	// Escrow refuses to act for someone who is not an admin.
	if _, err := runCLI(t, w.vars, "documents", "identity", "--admin", "patient@example.org", docID); err == nil {
		t.Fatal("escrow as an applicant succeeded")
	}
}

// tusRequest sends one raw tus request.
func tusRequest(t *testing.T, method, url, token string, headers map[string]string, body io.Reader) *http.Response {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Tus-Resumable", "1.0.0")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func tusMeta(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+" "+b64(v))
	}
	return strings.Join(parts, ",")
}

// Two PATCHes race on one upload through two server processes: the PostgreSQL locker makes the
// second ask the first to release, the first stops and saves what it received, the second is
// told the real offset (409), and the finished object decrypts intact.
func TestRacingPatchesAcrossProcesses(t *testing.T) {
	w := newWorld(t)
	a := startProc(t, w.vars)
	varsB := map[string]string{}
	for k, v := range w.vars {
		varsB[k] = v
	}
	varsB["SO_LISTEN_ADDR"] = "127.0.0.1:0"
	b := startProc(t, varsB)

	const size = 12 << 20
	data := make([]byte, size)
	rand.Read(data)
	copy(data, "%PDF-")
	resp := tusRequest(t, http.MethodPost, "http://"+a.addr+"/api/v1/uploads/", w.token, map[string]string{
		"Upload-Length":   strconv.Itoa(size),
		"Upload-Metadata": tusMeta(map[string]string{"case_id": w.caseID, "kind": "clinical_history", "filename": "r.pdf"}),
	}, nil)
	if resp.StatusCode != 201 || resp.Header.Get("Upload-Expires") == "" {
		t.Fatalf("create: %d, Upload-Expires %q; logs:\n%s", resp.StatusCode, resp.Header.Get("Upload-Expires"), a.logs)
	}
	path := resp.Header.Get("Location")
	path = path[strings.Index(path, "/api/"):]

	// A receives 7 MiB quickly (one part is stored), then its client stalls.
	pr, pw := io.Pipe()
	aDone := make(chan int, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPatch, "http://"+a.addr+path, pr)
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Authorization", "Bearer "+w.token)
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			aDone <- 0
			return
		}
		resp.Body.Close()
		aDone <- resp.StatusCode
	}()
	pw.Write(data[:7<<20])
	time.Sleep(1500 * time.Millisecond)

	// B writes from offset 0 at the same time.
	respB := tusRequest(t, http.MethodPatch, "http://"+b.addr+path, w.token, map[string]string{
		"Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}, bytes.NewReader(data))
	pw.CloseWithError(io.ErrUnexpectedEOF)
	statusA := <-aDone
	if respB.StatusCode != http.StatusConflict {
		t.Fatalf("B's PATCH at offset 0 answered %d, want 409 (A had stored data); A answered %d", respB.StatusCode, statusA)
	}
	if statusA == http.StatusNoContent {
		t.Fatal("A's PATCH completed although its client never sent the whole body")
	}
	// The client resumes from the offset the service reports, through B.
	head := tusRequest(t, http.MethodHead, "http://"+b.addr+path, w.token, nil, nil)
	if head.Header.Get("Upload-Expires") == "" {
		t.Fatal("HEAD lacks Upload-Expires")
	}
	off, err := strconv.ParseInt(head.Header.Get("Upload-Offset"), 10, 64)
	if err != nil || off <= 0 || off > 7<<20 {
		t.Fatalf("offset after the race: %q (%v)", head.Header.Get("Upload-Offset"), err)
	}
	fin := tusRequest(t, http.MethodPatch, "http://"+b.addr+path, w.token, map[string]string{
		"Upload-Offset": strconv.FormatInt(off, 10), "Content-Type": "application/offset+octet-stream"}, bytes.NewReader(data[off:]))
	if fin.StatusCode != 204 || fin.Header.Get("Upload-Expires") == "" {
		t.Fatalf("final PATCH: %d, Upload-Expires %q", fin.StatusCode, fin.Header.Get("Upload-Expires"))
	}
	opts := tusRequest(t, http.MethodOptions, "http://"+b.addr+"/api/v1/uploads/", "", nil, nil)
	if ext := opts.Header.Get("Tus-Extension"); !strings.Contains(ext, "expiration") || strings.Contains(ext, "concatenation") {
		t.Fatalf("Tus-Extension %q: want expiration, and no concatenation", ext)
	}
	docID := path[strings.LastIndex(path, "/")+1:]
	if got := w.storedPlaintextSHA256(t, docID); got != hexSum(data) {
		t.Fatalf("object after the race decrypts to %s, want %s", got, hexSum(data))
	}
}

// A marker written in uploads is found nowhere on disk afterwards — not in MinIO's data
// directory, nor in the service's working directory or temp directory, nor in this machine's
// temp directory — though the decrypted document holds it.
func TestPlaintextNeverOnDisk(t *testing.T) {
	mp := testenv.StartMinIO(t)
	w := newWorldOn(t, &mp.MinIO)
	work := t.TempDir()
	srv := startProcIn(t, w.vars, work)
	marker := "SO-MARKER-" + hex.EncodeToString(randomBytes(12))
	// One finished document, and one upload left unfinished with a tail.
	docID, _ := w.uploadPDF(t, srv.addr, 11<<20+12345, 5, "TUS_MARKER="+marker)
	part := runTusClient(t, "http://"+srv.addr+"/api/v1/uploads/", w.token, 9<<20, 3<<20, 6,
		map[string]string{"case_id": w.caseID, "kind": "clinical_history", "filename": "p.pdf"},
		"TUS_PREFIX="+hex.EncodeToString([]byte("%PDF-")), "TUS_MARKER="+marker)
	for e := range part.events {
		if e.Event == "progress" && e.Sent >= 6<<20 {
			part.cmd.Process.Kill()
			break
		}
	}
	body, resp := get(t, "http://"+srv.addr+"/api/v1/documents/"+docID+"/content", w.token, nil)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(marker)) {
		t.Fatalf("the document does not hold the marker (status %d)", resp.StatusCode)
	}
	for _, dir := range []string{mp.Dir(), work, os.TempDir()} {
		if hit := grepTree(t, dir, []byte(marker)); hit != "" {
			t.Fatalf("plaintext marker found on disk in %s", hit)
		}
	}
}

func randomBytes(n int) []byte { b := make([]byte, n); rand.Read(b); return b }

// grepTree returns the first regular file under dir holding needle, or "".
func grepTree(t *testing.T, dir string, needle []byte) string {
	t.Helper()
	var hit string
	filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || hit != "" || !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(path)
		if err != nil {
			return nil
		}
		defer f.Close()
		buf := make([]byte, 1<<20)
		var carry []byte
		for {
			n, err := f.Read(buf)
			chunk := append(carry, buf[:n]...)
			if bytes.Contains(chunk, needle) {
				hit = path
				return nil
			}
			if len(chunk) >= len(needle) {
				carry = append([]byte(nil), chunk[len(chunk)-len(needle)+1:]...)
			}
			if err != nil {
				return nil
			}
		}
	})
	return hit
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// A stored object that was bit-flipped or truncated is never served as a complete 200: the
// open fails, or the connection is cut before the announced length, whole or by Range.
func TestDamagedObjectNeverServedWhole(t *testing.T) {
	w := newWorld(t)
	srv := startProc(t, w.vars)
	ctx := context.Background()
	for _, damage := range []string{"flip", "truncate"} {
		t.Run(damage, func(t *testing.T) {
			docID, _ := w.uploadPDF(t, srv.addr, 3<<20, 21)
			var key string
			w.db.Owner.Get(&key, `SELECT object_key FROM documents WHERE id = $1`, docID)
			obj, err := w.bucket.Client.GetObject(ctx, w.bucket.Bucket, key, minio.GetObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			raw, err := io.ReadAll(obj) // ciphertext only
			obj.Close()
			if err != nil {
				t.Fatal(err)
			}
			switch damage {
			case "flip":
				raw[len(raw)/2] ^= 0x01
			case "truncate":
				raw = raw[:len(raw)-70000]
			}
			if _, err := w.bucket.Client.PutObject(ctx, w.bucket.Bucket, key, bytes.NewReader(raw), int64(len(raw)), minio.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
			for _, rng := range []string{"", "bytes=0-", fmt.Sprintf("bytes=%d-", 1<<20)} {
				req, _ := http.NewRequest(http.MethodGet, "http://"+srv.addr+"/api/v1/documents/"+docID+"/content", nil)
				req.Header.Set("Authorization", "Bearer "+w.token)
				if rng != "" {
					req.Header.Set("Range", rng)
				}
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					continue // refused at the connection: not served
				}
				body, readErr := io.ReadAll(resp.Body)
				resp.Body.Close()
				if readErr == nil && (resp.StatusCode == 200 || resp.StatusCode == 206) && int64(len(body)) == resp.ContentLength {
					t.Fatalf("damaged object (%s, range %q) served complete: %d, %d bytes", damage, rng, resp.StatusCode, len(body))
				}
			}
		})
	}
}
