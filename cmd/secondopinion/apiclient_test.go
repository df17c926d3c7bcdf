package main

// Helpers for the HTTP tests of accounts, sessions and per-case access: a booted service with
// a clock the test moves, a small JSON client, and the real sign-in flows (password, TOTP
// enrolment with codes computed here, sign-in links read from the mail directory, invitations).

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/quotedprintable"
	"net/http"
	"net/mail"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// testClock is the service's clock in these tests: it moves only when told.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }

func (c *testClock) Advance(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

// apiServer is a running service over a fresh database and bucket.
type apiServer struct {
	t       *testing.T
	m       *Main
	db      *testenv.DB
	vars    map[string]string // its configuration, for run(...)
	base    string            // http://127.0.0.1:port
	clock   *testClock
	mailDir string
	http    *http.Client
}

// bootAPI starts the service with the test clock and a cheap password hash (the CLI, which
// builds its own service, hashes with the production parameters).
func bootAPI(t *testing.T) *apiServer {
	t.Helper()
	return bootAPIWith(t, testenv.NewDB(t), testenv.NewBucket(t), nil)
}

// bootAPIWith is bootAPI over the given database and bucket; edit may change the
// configuration first.
func bootAPIWith(t *testing.T, db *testenv.DB, bucket *testenv.MinIO, edit func(vars map[string]string)) *apiServer {
	t.Helper()
	vars := baseVars(t, db, bucket)
	if edit != nil {
		edit(vars)
	}
	cfg, err := LoadConfig(env(vars))
	if err != nil {
		t.Fatal(err)
	}
	clock := &testClock{t: time.Now().UTC().Truncate(time.Second)}
	m := NewMain(cfg, slog.New(slog.NewJSONHandler(io.Discard, nil)))
	m.tuneAccess = func(c *access.Config) {
		c.Now = clock.Now
		c.Argon2 = access.Argon2Params{Memory: 1024, Time: 1, Threads: 1}
	}
	if err := m.Run(context.Background()); err != nil {
		t.Fatalf("run: %v", err)
	}
	t.Cleanup(func() { m.Close() })
	return &apiServer{t: t, m: m, db: db, vars: vars, base: "http://" + m.Addr, clock: clock,
		mailDir: strings.TrimPrefix(vars["SO_SMTP_URL"], "file://"), http: &http.Client{Timeout: 20 * time.Second}}
}

// who is the credential a request carries: a session cookie, a bearer token, or neither.
type who struct {
	name   string
	cookie string
	token  string
}

var nobody = who{name: "nobody"}

// reply is an answer of the service.
type reply struct {
	status int
	header http.Header
	body   []byte
}

func (r reply) json(t *testing.T) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return v
}

// sessionCookie returns the value of the session cookie the reply sets, and the cookie.
func (r reply) sessionCookie(t *testing.T) (string, *http.Cookie) {
	t.Helper()
	for _, line := range r.header.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil {
			t.Fatalf("Set-Cookie %q: %v", line, err)
		}
		if c.Name == access.SessionCookie {
			return c.Value, c
		}
	}
	t.Fatalf("no %s cookie set (status %d, body %s)", access.SessionCookie, r.status, r.body)
	return "", nil
}

// do sends a request; body is JSON-encoded unless nil or a string (sent as is); edit may
// change the request before it goes.
func (a *apiServer) do(w who, method, path string, body any, edit ...func(*http.Request)) reply {
	a.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			a.t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, a.base+path, rd)
	if err != nil {
		a.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if w.cookie != "" {
		req.AddCookie(&http.Cookie{Name: access.SessionCookie, Value: w.cookie})
	}
	if w.token != "" {
		req.Header.Set("Authorization", "Bearer "+w.token)
	}
	for _, e := range edit {
		e(req)
	}
	resp, err := a.http.Do(req)
	if err != nil {
		a.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatal(err)
	}
	return reply{status: resp.StatusCode, header: resp.Header, body: b}
}

// want fails the test unless r has the status.
func (r reply) want(t *testing.T, status int, what string) reply {
	t.Helper()
	if r.status != status {
		t.Fatalf("%s: status %d, want %d: %s", what, r.status, status, r.body)
	}
	return r
}

// account adds an account with a password through the domain (the CLI has its own tests).
func (a *apiServer) account(email string, role so.Role, password string) string {
	a.t.Helper()
	ctx := context.Background()
	id, err := a.m.access.Accounts.Add(ctx, email, role, "")
	if err != nil {
		a.t.Fatal(err)
	}
	if password != "" {
		if err := a.m.access.Accounts.SetPassword(ctx, email, password); err != nil {
			a.t.Fatal(err)
		}
	}
	return id
}

// login signs in with a password (and a TOTP code, when not empty) and returns the cookie.
func (a *apiServer) login(email, password, totp string) (string, map[string]any) {
	a.t.Helper()
	r := a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": email, "password": password, "totp": totp}).
		want(a.t, 200, "login "+email)
	c, _ := r.sessionCookie(a.t)
	return c, r.json(a.t)
}

// enrol signs a staff account in for the first time, enrols TOTP through the API and returns
// the rotated, second-factor session and the TOTP secret.
func (a *apiServer) enrol(email, password string) (cookie, secret string) {
	a.t.Helper()
	first, view := a.login(email, password, "")
	if view["needs_totp_enrolment"] != true {
		a.t.Fatalf("first staff login of %s: %v, want needs_totp_enrolment", email, view)
	}
	e := a.do(who{cookie: first}, "POST", "/api/v1/session/totp", nil).want(a.t, 200, "begin TOTP").json(a.t)
	secret, _ = e["secret"].(string)
	u, err := url.Parse(e["uri"].(string))
	if err != nil || u.Scheme != "otpauth" || u.Host != "totp" || u.Query().Get("secret") != secret || secret == "" {
		a.t.Fatalf("enrolment %v", e)
	}
	r := a.do(who{cookie: first}, "POST", "/api/v1/session/totp/confirm", map[string]string{"code": totpCode(a.t, secret, a.clock.Now())}).
		want(a.t, 200, "confirm TOTP")
	cookie, _ = r.sessionCookie(a.t)
	if cookie == first || r.json(a.t)["needs_totp_enrolment"] != false {
		a.t.Fatalf("confirmation kept the session id or the enrolment flag: %s", r.body)
	}
	return cookie, secret
}

// staffLogin signs a staff account in with password and a fresh TOTP code: the clock moves
// to the next 30-second step, since a code is accepted once.
func (a *apiServer) staffLogin(email, password, secret string) string {
	a.t.Helper()
	a.clock.Advance(30 * time.Second)
	c, _ := a.login(email, password, totpCode(a.t, secret, a.clock.Now()))
	return c
}

// totpCode is RFC 6238's code (SHA-1, 6 digits, 30 s) of a base32 secret at t, as an
// authenticator app computes it.
func totpCode(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil {
		t.Fatalf("TOTP secret %q: %v", secret, err)
	}
	m := hmac.New(sha1.New, key)
	binary.Write(m, binary.BigEndian, uint64(at.Unix()/30))
	sum := m.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1000000)
}

var linkRE = regexp.MustCompile(`https?://\S+[?&]token=([A-Za-z0-9_-]+)`)

// sentMail is a mail the service sent, as its recipient reads it.
type sentMail struct {
	Subject, Language, Body string
}

// mailsTo delivers what the outbox holds, as the background job does, and returns every mail
// sent to address, oldest first.
func (a *apiServer) mailsTo(address string) []sentMail {
	a.t.Helper()
	if _, err := a.m.outbox.Deliver(context.Background()); err != nil {
		a.t.Fatal(err)
	}
	entries, err := os.ReadDir(a.mailDir)
	if err != nil {
		a.t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	slices.Sort(names) // <unix-nanos>-<random>.eml
	var out []sentMail
	for _, n := range names {
		f, err := os.Open(filepath.Join(a.mailDir, n))
		if err != nil {
			a.t.Fatal(err)
		}
		msg, err := mail.ReadMessage(f)
		if err != nil {
			a.t.Fatal(err)
		}
		body, err := io.ReadAll(quotedprintable.NewReader(msg.Body))
		f.Close()
		if err != nil {
			a.t.Fatal(err)
		}
		if !strings.EqualFold(msg.Header.Get("To"), address) {
			continue
		}
		subject, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
		if err != nil {
			a.t.Fatal(err)
		}
		out = append(out, sentMail{Subject: subject, Language: msg.Header.Get("Content-Language"), Body: string(body)})
	}
	return out
}

// mails returns the token of every link mailed to address, oldest first.
func (a *apiServer) mails(address string) []string {
	a.t.Helper()
	var tokens []string
	for _, m := range a.mailsTo(address) {
		if t := linkRE.FindStringSubmatch(m.Body); t != nil {
			tokens = append(tokens, t[1])
		}
	}
	return tokens
}

// linkSignIn asks for a sign-in link for an applicant, reads it from the mail and redeems it.
func (a *apiServer) linkSignIn(email string) string {
	a.t.Helper()
	a.do(nobody, "POST", "/api/v1/signin-links", map[string]string{"email": email}).want(a.t, 202, "sign-in link")
	tokens := a.mails(email)
	if len(tokens) == 0 {
		a.t.Fatalf("no sign-in link mailed to %s", email)
	}
	r := a.do(nobody, "POST", "/api/v1/signin-links/redeem", map[string]string{"token": tokens[len(tokens)-1]}).
		want(a.t, 200, "redeem sign-in link")
	c, _ := r.sessionCookie(a.t)
	return c
}

// newCase opens a draft as the applicant w and returns its id.
func (a *apiServer) newCase(w who, given string) string {
	a.t.Helper()
	r := a.do(w, "POST", "/api/v1/cases", map[string]any{
		"patient":                map[string]string{"given_name": given, "family_name": "Rossi", "birth_date": "1970-05-01"},
		"applicant_relationship": "self", "consultation_types": []string{"oncological"},
		"clinical_question": "Is surgery indicated?", "language": "en",
	}).want(a.t, 201, "create case")
	return r.json(a.t)["id"].(string)
}

// upload stores a small PDF through the tus API as w and returns the document id.
func (a *apiServer) upload(w who, caseID, kind string, content []byte) string {
	a.t.Helper()
	loc := a.createUpload(w, caseID, kind, kind+".pdf", len(content))
	a.do(w, "PATCH", loc, string(content), func(req *http.Request) {
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Offset", "0")
		req.Header.Set("Content-Type", "application/offset+octet-stream")
	}).want(a.t, 204, "upload")
	return path.Base(loc)
}

// createUpload creates a tus upload of size bytes as w and returns its path.
func (a *apiServer) createUpload(w who, caseID, kind, name string, size int) string {
	a.t.Helper()
	var meta []string
	for _, kv := range [][2]string{{"case_id", caseID}, {"kind", kind}, {"filename", name}, {"filetype", "application/pdf"}} {
		meta = append(meta, kv[0]+" "+base64.StdEncoding.EncodeToString([]byte(kv[1])))
	}
	r := a.do(w, "POST", "/api/v1/uploads/", nil, func(req *http.Request) {
		req.Header.Set("Tus-Resumable", "1.0.0")
		req.Header.Set("Upload-Length", strconv.Itoa(size))
		req.Header.Set("Upload-Metadata", strings.Join(meta, ","))
	}).want(a.t, 201, "create upload")
	return strings.TrimPrefix(r.header.Get("Location"), a.base)
}
