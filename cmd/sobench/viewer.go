package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

// viewerPages is the length of the PDF whose first page the viewer benchmark times.
const viewerPages = 300

// pdfViewer times how long a case manager waits for the first page of a 300-page PDF in the
// document viewer (pdf.js, Range requests on the content route) in headless Chromium: from
// the navigation's start to the first page drawn on the canvas, over several fresh page loads.
func (b *bench) pdfViewer(ctx context.Context) error {
	pdf := testenv.PDF(viewerPages, "Referto istologico")
	b.progress("a %d-page PDF (%s) as the case's identity document; a case manager signs in", viewerPages, fmtSize(int64(len(pdf))))
	docID, err := b.postUpload(ctx, pdf, map[string]string{"case_id": b.caseID, "kind": "identity_document",
		"filename": "referto.pdf", "filetype": "application/pdf"})
	if err != nil {
		return err
	}
	const email, password = "bench-cm@example.org", "bench viewer password 2026"
	if _, err := b.svc.cli(ctx, "users", "add", "--email", email, "--role", "case_manager"); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, b.svc.bin, "users", "set-password", "--email", email) // #nosec G204 -- the benchmark runs the binary it measures
	cmd.Env = b.svc.env()
	cmd.Stdin = strings.NewReader(password + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("set password: %w: %s", err, out)
	}
	const runs = 7
	node := exec.CommandContext(ctx, "node", "test/bench-viewer.mjs")
	node.Dir = filepath.Join(b.repo, "web", "ui")
	node.Env = append(os.Environ(), "BASE_URL=http://"+b.svc.addr, "CM_EMAIL="+email, "PASSWORD="+password,
		"DOC_ID="+docID, "RUNS="+strconv.Itoa(runs))
	var stderr bytes.Buffer
	node.Stderr = &stderr
	out, err := node.Output()
	if err != nil {
		return fmt.Errorf("bench-viewer.mjs: %w: %s %s", err, out, stderr.String())
	}
	var res struct {
		Result struct {
			Ms []float64 `json:"ms"`
		} `json:"result"`
		Error string `json:"error"`
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		json.Unmarshal(sc.Bytes(), &res) // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	}
	if res.Error != "" || len(res.Result.Ms) == 0 {
		return fmt.Errorf("bench-viewer.mjs: %s", res.Error)
	}
	ms := res.Result.Ms
	sorted := append([]float64(nil), ms...)
	for i := range sorted {
		for j := i + 1; j < len(sorted); j++ {
			if sorted[j] < sorted[i] {
				sorted[i], sorted[j] = sorted[j], sorted[i]
			}
		}
	}
	med, worst := sorted[len(sorted)/2], sorted[len(sorted)-1]
	b.printf("PDF viewer, %d pages (%s): first page drawn %.0f ms after navigation (median of %d loads, worst %.0f ms; all %v)\n",
		viewerPages, fmtSize(int64(len(pdf))), med, len(ms), worst, ms)
	b.figs = append(b.figs, figure{name: fmt.Sprintf("9. PDF viewer: first page of a %d-page PDF (median)", viewerPages),
		value: fmt.Sprintf("%.0f ms (worst %.0f ms)", med, worst), target: "< 1,500 ms",
		met: time.Duration(med)*time.Millisecond < 1500*time.Millisecond})
	return nil
}

// postUpload stores a small document with one tus creation-with-upload request as the bench's
// applicant and returns its id.
func (b *bench) postUpload(ctx context.Context, body []byte, meta map[string]string) (string, error) {
	var md []string
	for k, v := range meta {
		md = append(md, k+" "+base64.StdEncoding.EncodeToString([]byte(v)))
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, b.uploadsURL(), bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+b.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", strconv.Itoa(len(body)))
	req.Header.Set("Upload-Metadata", strings.Join(md, ","))
	req.Header.Set("Content-Type", "application/offset+octet-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	resp.Body.Close() // #nosec G104 -- benchmark and test cleanup: nothing to do about a failure
	if resp.StatusCode != http.StatusCreated || resp.Header.Get("Upload-Offset") != strconv.Itoa(len(body)) {
		return "", fmt.Errorf("upload: %s, offset %s", resp.Status, resp.Header.Get("Upload-Offset"))
	}
	return path.Base(resp.Header.Get("Location")), nil
}
