package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// throwawayCert makes a self-signed certificate for 127.0.0.1, writes it and its key under dir,
// and returns it with the base64 SHA-256 of its public key (what Chromium is told to trust).
func throwawayCert(t *testing.T, dir string) (certFile, keyFile, spki string, cert *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: "secondopinion test proxy"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	if cert, err = x509.ParseCertificate(der); err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "proxy.crt"), filepath.Join(dir, "proxy.key")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), 0o600)
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return certFile, keyFile, base64.StdEncoding.EncodeToString(sum[:]), cert
}

// startCaddy runs Debian's Caddy as a TLS-terminating reverse proxy on port, in front of
// upstream (host:port), with the given certificate.
func startCaddy(t *testing.T, dir string, port int, upstream, certFile, keyFile string) {
	t.Helper()
	if _, err := exec.LookPath("caddy"); err != nil {
		t.Fatal("caddy is missing: make test installs it (Debian package caddy)")
	}
	conf := fmt.Sprintf(`{
	admin off
	auto_https off
	storage file_system %s
}
https://127.0.0.1:%d {
	tls %s %s
	reverse_proxy %s
}
`, filepath.Join(dir, "caddy-data"), port, certFile, keyFile, upstream)
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("caddy", "run", "--config", cf, "--adapter", "caddyfile")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for i := 0; i < 100; i++ {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
			c.Close()
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("caddy did not start:\n%s", logs.String())
}

// The applicant's journey through a real TLS-terminating reverse proxy (Caddy): the service
// speaks plain HTTP on loopback, the browser only HTTPS. Mailed links, tus upload URLs and
// redirects are all under SO_PUBLIC_URL (an http:// upload URL would be mixed content, which
// the browser blocks), and the pages carry HSTS.
func TestPagesBehindTLSProxy(t *testing.T) {
	dir := t.TempDir()
	proxyPort := testenv.FreePort(t)
	public := fmt.Sprintf("https://127.0.0.1:%d", proxyPort)
	a := bootAPIWith(t, testenv.NewDB(t), testenv.NewBucket(t), func(vars map[string]string) {
		vars["SO_PUBLIC_URL"] = public
	})
	certFile, keyFile, spki, cert := throwawayCert(t, dir)
	startCaddy(t, dir, proxyPort, strings.TrimPrefix(a.base, "http://"), certFile, keyFile)

	// What a client behind the proxy is told.
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	client := &http.Client{Timeout: 20 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(public + "/signin")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if !strings.HasPrefix(resp.Header.Get("Strict-Transport-Security"), "max-age=") {
		t.Errorf("no HSTS behind https: %q", resp.Header.Get("Strict-Transport-Security"))
	}
	const email = "proxy@example.org"
	a.account(email, so.RoleApplicant, "")
	owner := a.apiToken(email)
	caseID := a.newCase(owner, "Paola")
	req, _ := http.NewRequest("POST", public+"/api/v1/uploads/", nil)
	req.Header.Set("Authorization", "Bearer "+owner.token)
	req.Header.Set("Tus-Resumable", "1.0.0")
	req.Header.Set("Upload-Length", "10")
	req.Header.Set("Upload-Metadata", tusMeta(map[string]string{"case_id": caseID, "kind": "clinical_history", "filename": "a.pdf"}))
	resp, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if loc := resp.Header.Get("Location"); resp.StatusCode != 201 || !strings.HasPrefix(loc, public+"/api/v1/uploads/") {
		t.Fatalf("tus creation behind the proxy: %d, Location %q (want it under %s)", resp.StatusCode, loc, public)
	}

	pdfFile := writePDF(t, dir, "history.pdf")
	cd := makeCD(t, dir, 12)
	const parent = "parent.proxy@example.org"
	a.account(parent, so.RoleApplicant, "")
	res := runScenario(t, "pages-journey.mjs", map[string]string{
		"BASE_URL": public, "CONTROL_URL": startControl(t, a), "APPLICANT_EMAIL": parent, "PDF_FILE": pdfFile, "DICOM_DIR": cd,
		"TEXT_FILE":     writeText(t, dir),
		"CHROMIUM_ARGS": "--ignore-certificate-errors-spki-list=" + spki,
	})
	id, _ := res["caseId"].(string)
	docs := a.do(a.apiToken(parent), "GET", "/api/v1/cases/"+id+"/documents", nil).want(t, 200, "documents").json(t)
	if n := len(docs["documents"].([]any)); n != 14 {
		t.Errorf("behind the proxy the case has %d documents, want the PDF, the DICOMDIR and 12 images", n)
	}
}
