package main

import (
	"bytes"
	"context"
	"maps"
	"net/http"
	"strconv"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/internal/testenv"
)

// The session cookie carries exactly the attributes a __Host- cookie needs, a login always
// issues a new session id and ends the one the browser came with, and logout ends it.
func TestSessionCookieAndLogout(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)
	r := a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "ann@example.org", "password": password}).
		want(t, 200, "login")
	first, ck := r.sessionCookie(t)
	if line := r.header.Get("Set-Cookie"); line != access.SessionCookie+"="+first+"; Path=/; HttpOnly; Secure; SameSite=Strict" {
		t.Errorf("Set-Cookie %q", line)
	}
	if ck.Path != "/" || ck.Domain != "" || !ck.Secure || !ck.HttpOnly || ck.SameSite != http.SameSiteStrictMode ||
		ck.MaxAge != 0 || !ck.Expires.IsZero() || len(first) < 40 {
		t.Errorf("cookie %+v", ck)
	}
	if r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	me := a.do(who{cookie: first}, "GET", "/api/v1/session", nil).want(t, 200, "whoami").json(t)
	if me["role"] != "applicant" || me["email"] != "ann@example.org" {
		t.Errorf("whoami %v", me)
	}

	// Signing in again, with the old cookie: a new id, and the old session is over.
	r = a.do(who{cookie: first}, "POST", "/api/v1/session", map[string]string{"email": "ann@example.org", "password": password}).
		want(t, 200, "second login")
	second, _ := r.sessionCookie(t)
	if second == first {
		t.Fatal("login kept the session id")
	}
	a.do(who{cookie: first}, "GET", "/api/v1/session", nil).want(t, 401, "the replaced session")
	a.do(who{cookie: second}, "GET", "/api/v1/session", nil).want(t, 200, "the new session")

	r = a.do(who{cookie: second}, "DELETE", "/api/v1/session", nil).want(t, 204, "logout")
	if _, c := r.sessionCookie(t); c.Value != "" || c.MaxAge >= 0 || c.Path != "/" || !c.Secure {
		t.Errorf("logout cookie %+v, want it cleared", c)
	}
	a.do(who{cookie: second}, "GET", "/api/v1/session", nil).want(t, 401, "after logout")
	a.do(who{cookie: second}, "DELETE", "/api/v1/session", nil).want(t, 204, "logout again")
	a.do(who{cookie: "not-a-session"}, "GET", "/api/v1/cases", nil).want(t, 401, "a forged cookie")
}

// A session ends after 30 idle minutes and 12 hours after login however active; a stale
// cookie does not stand in the way of signing in again.
func TestSessionTimeouts(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)

	c, _ := a.login("ann@example.org", password, "")
	for range 3 {
		a.clock.Advance(29 * time.Minute)
		a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 200, "active session")
	}
	a.clock.Advance(30 * time.Minute)
	a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 401, "after 30 idle minutes")
	r := a.do(who{cookie: c}, "POST", "/api/v1/session", map[string]string{"email": "ann@example.org", "password": password}).
		want(t, 200, "login with a stale cookie")
	c, _ = r.sessionCookie(t)

	// Absolute timeout: a request every 29 minutes keeps it alive until 12 hours after login.
	start := a.clock.Now()
	for {
		a.clock.Advance(29 * time.Minute)
		r := a.do(who{cookie: c}, "GET", "/api/v1/cases", nil)
		if a.clock.Now().Sub(start) < 12*time.Hour {
			r.want(t, 200, "within 12 hours")
			continue
		}
		r.want(t, 401, "12 hours after login")
		break
	}
}

// Disabling an account (users disable) ends its sessions and refuses its logins at once.
func TestDisableEndsSessions(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)
	c, _ := a.login("ann@example.org", password, "")
	a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 200, "before disable")
	var out bytes.Buffer
	if err := run(context.Background(), []string{"users", "disable", "--email", "ann@example.org"}, &out, &out, env(a.vars)); err != nil {
		t.Fatalf("users disable: %v: %s", err, out.String())
	}
	a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 401, "after disable")
	a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "ann@example.org", "password": password}).
		want(t, 401, "login of a disabled account")
	a.do(nobody, "POST", "/api/v1/signin-links", map[string]string{"email": "ann@example.org"}).want(t, 202, "link request")
	if got := a.mails("ann@example.org"); len(got) != 0 {
		t.Errorf("a disabled account was mailed a link: %v", got)
	}
}

// Staff sign in with password and TOTP: before enrolment they may only enrol (403
// totp_required elsewhere); enrolment rotates the session; a code works once.
func TestStaffTOTP(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)
	ann, _ := a.login("ann@example.org", password, "")
	caseID := a.newCase(who{cookie: ann}, "Maria")
	a.account("cm@example.org", so.RoleCaseManager, password)

	pending, view := a.login("cm@example.org", password, "")
	if view["role"] != "case_manager" || view["needs_totp_enrolment"] != true {
		t.Fatalf("first login %v", view)
	}
	for _, req := range []struct{ method, path string }{
		{"GET", "/api/v1/cases"}, {"GET", "/api/v1/cases/" + caseID}, {"GET", "/api/v1/cases/" + missingCase},
		{"GET", "/api/v1/cases/" + caseID + "/documents"}, {"POST", "/api/v1/cases/" + caseID + "/assignments"},
	} {
		r := a.do(who{cookie: pending}, req.method, req.path, map[string]string{})
		if r.status != 403 || r.json(t)["error"] != "totp_required" {
			t.Errorf("%s %s before enrolment: %d %s", req.method, req.path, r.status, r.body)
		}
	}
	// Applicants have no second factor to enrol.
	a.do(who{cookie: ann}, "POST", "/api/v1/session/totp", nil).want(t, 403, "applicant enrolling")

	e := a.do(who{cookie: pending}, "POST", "/api/v1/session/totp", nil).want(t, 200, "begin").json(t)
	secret := e["secret"].(string)
	a.do(who{cookie: pending}, "POST", "/api/v1/session/totp/confirm", map[string]string{"code": "000000"}).
		want(t, 401, "a wrong code")
	r := a.do(who{cookie: pending}, "POST", "/api/v1/session/totp/confirm",
		map[string]string{"code": totpCode(t, secret, a.clock.Now())}).want(t, 200, "confirm")
	enrolled, _ := r.sessionCookie(t)
	if enrolled == pending {
		t.Fatal("enrolment kept the session id")
	}
	a.do(who{cookie: pending}, "GET", "/api/v1/session", nil).want(t, 401, "the pre-enrolment session")
	a.do(who{cookie: enrolled}, "GET", "/api/v1/cases/"+caseID, nil).want(t, 200, "after enrolment")
	a.do(who{cookie: enrolled}, "POST", "/api/v1/session/totp", nil).want(t, 409, "enrolling twice")

	// From now on the password alone is not enough, and each code is accepted once.
	a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "cm@example.org", "password": password}).
		want(t, 401, "password without code")
	used := totpCode(t, secret, a.clock.Now())
	a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "cm@example.org", "password": password, "totp": used}).
		want(t, 401, "the confirmation's code again")
	c := a.staffLogin("cm@example.org", password, secret)
	a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 200, "password and code")
}

// Failed logins are throttled per account (401 with Retry-After, the same body as a wrong
// password, even for the right password) until the window passes; a success clears the count.
// The client address is throttled too.
func TestLoginThrottling(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)
	login := func(email, pw string) reply {
		return a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": email, "password": pw})
	}
	refused := login("nobody@example.org", "whatever-whatever").want(t, 401, "unknown account").json(t)
	delete(refused, "request_id")
	same := func(r reply, what string) {
		t.Helper()
		got := r.want(t, 401, what).json(t)
		delete(got, "request_id")
		if !maps.Equal(got, refused) {
			t.Errorf("%s: body %v, want the unknown account's %v", what, got, refused)
		}
	}

	for i := range 4 {
		r := login("ann@example.org", "wrong password "+strconv.Itoa(i))
		same(r, "wrong password")
		if r.header.Get("Retry-After") != "" {
			t.Errorf("Retry-After before the limit")
		}
	}
	login("ann@example.org", password).want(t, 200, "right password under the limit")
	for range 5 { // the success cleared the count: five more failures reach the limit
		same(login("ann@example.org", "wrong password"), "wrong password")
	}
	r := login("ann@example.org", password)
	same(r, "right password over the limit")
	sec, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || sec < 1 || sec > 15*60 {
		t.Errorf("Retry-After %q", r.header.Get("Retry-After"))
	}
	a.clock.Advance(time.Duration(sec) * time.Second)
	login("ann@example.org", password).want(t, 200, "after Retry-After")

	// Per client address: failures across accounts add up, 20 in the window (the earlier ones
	// have left it).
	for i := range 20 {
		same(login("guess"+strconv.Itoa(i)+"@example.org", "whatever-whatever"), "guessing")
	}
	r = login("ann@example.org", password)
	same(r, "the address over its limit")
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After for the address's limit")
	}
	a.clock.Advance(16 * time.Minute)
	login("ann@example.org", password).want(t, 200, "after the window")
}

// Sign-in links: 202 and the same body whatever the address; only applicants get a mail; a
// link works once.
func TestSignInLinks(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, "")
	a.account("cm@example.org", so.RoleCaseManager, password)
	var body []byte
	for _, email := range []string{"ann@example.org", "nobody@example.org", "cm@example.org"} {
		r := a.do(nobody, "POST", "/api/v1/signin-links", map[string]string{"email": email}).want(t, 202, email)
		if body != nil && !bytes.Equal(r.body, body) {
			t.Errorf("%s: body %s, want %s", email, r.body, body)
		}
		body = r.body
	}
	if got := a.mails("cm@example.org"); len(got) != 0 {
		t.Errorf("staff were mailed a sign-in link")
	}
	tokens := a.mails("ann@example.org")
	if len(tokens) != 1 {
		t.Fatalf("links to ann: %v", tokens)
	}
	r := a.do(nobody, "POST", "/api/v1/signin-links/redeem", map[string]string{"token": tokens[0]}).want(t, 200, "redeem")
	c, _ := r.sessionCookie(t)
	if v := r.json(t); v["role"] != "applicant" {
		t.Errorf("link session %v", v)
	}
	a.do(who{cookie: c}, "GET", "/api/v1/cases", nil).want(t, 200, "signed in by link")
	a.do(nobody, "POST", "/api/v1/signin-links/redeem", map[string]string{"token": tokens[0]}).want(t, 401, "redeem twice")
	a.do(nobody, "POST", "/api/v1/signin-links", map[string]string{"email": "not an address"}).want(t, 400, "malformed address")
	a.do(nobody, "POST", "/api/v1/signin-links", `{"email": "ann@example.org", "extra": 1}`).want(t, 400, "unknown field")
}

// A browser's cross-origin state-changing request is refused even with a valid cookie (CSRF);
// the same request from the service's own origin, or from an API client, passes.
func TestCrossOriginRefused(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, password)
	c, _ := a.login("ann@example.org", password, "")
	ann := who{cookie: c}
	body := map[string]any{
		"patient":                map[string]string{"given_name": "Maria", "family_name": "Rossi", "birth_date": "1970-05-01"},
		"applicant_relationship": "self", "consultation_types": []string{"oncological"}, "language": "en",
	}
	header := func(k, v string) func(*http.Request) { return func(r *http.Request) { r.Header.Set(k, v) } }
	for _, tc := range []struct {
		name string
		edit func(*http.Request)
	}{
		{"Sec-Fetch-Site: cross-site", header("Sec-Fetch-Site", "cross-site")},
		{"Sec-Fetch-Site: same-site", header("Sec-Fetch-Site", "same-site")},
		{"a foreign Origin", header("Origin", "https://evil.example")},
	} {
		r := a.do(ann, "POST", "/api/v1/cases", body, tc.edit)
		if r.status != 403 || r.json(t)["error"] != "cross_origin" {
			t.Errorf("case creation with %s: %d %s", tc.name, r.status, r.body)
		}
		if r := a.do(ann, "DELETE", "/api/v1/session", nil, tc.edit); r.status != 403 {
			t.Errorf("logout with %s: %d", tc.name, r.status)
		}
		r = a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "ann@example.org", "password": password}, tc.edit)
		if r.status != 403 {
			t.Errorf("login with %s: %d", tc.name, r.status)
		}
	}
	if l := a.do(ann, "GET", "/api/v1/cases", nil).json(t)["cases"].([]any); len(l) != 0 {
		t.Fatalf("a refused request created a case: %v", l)
	}
	a.do(ann, "POST", "/api/v1/cases", body, header("Sec-Fetch-Site", "same-origin")).want(t, 201, "same origin")
	a.do(ann, "POST", "/api/v1/cases", body, header("Origin", a.base)).want(t, 201, "own Origin")
	a.do(ann, "POST", "/api/v1/cases", body).want(t, 201, "no browser headers")
	a.do(ann, "GET", "/api/v1/cases", nil, header("Sec-Fetch-Site", "cross-site")).want(t, 200, "a cross-site GET")
}

// The client address of throttles, audit entries and consent signatures is the TCP peer's,
// or, when the peer is a configured proxy (SO_TRUSTED_PROXIES), the X-Forwarded-For it
// appended; a header from anyone else is ignored (security review, finding 2).
func TestClientAddressBehindTrustedProxy(t *testing.T) {
	for _, c := range []struct {
		name, proxies, want string
	}{
		{"no proxy configured", "", "127.0.0.1"},
		{"loopback is the proxy", "127.0.0.1/32", "203.0.113.50"},
		{"another proxy", "192.0.2.0/24", "127.0.0.1"},
	} {
		t.Run(c.name, func(t *testing.T) {
			a := bootAPIWith(t, testenv.NewDB(t), testenv.NewBucket(t), func(v map[string]string) { v["SO_TRUSTED_PROXIES"] = c.proxies })
			a.do(nobody, "POST", "/api/v1/session", map[string]string{"email": "x@example.org", "password": "wrong password 123"},
				func(r *http.Request) { r.Header.Set("X-Forwarded-For", "203.0.113.50") }).want(t, 401, "login")
			var ip string
			if err := a.db.Owner.Get(&ip, `SELECT client_ip FROM audit_entries WHERE action = $1 ORDER BY seq DESC LIMIT 1`,
				audit.ActionLogin); err != nil {
				t.Fatal(err)
			}
			if ip != c.want {
				t.Errorf("the refused login was recorded from %q, want %q", ip, c.want)
			}
		})
	}
}
