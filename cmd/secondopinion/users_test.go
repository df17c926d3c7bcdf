package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"
)

// lastLine is the last non-empty line of out.
func lastLine(out string) string {
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	return lines[len(lines)-1]
}

// cli runs the binary's command line against the service's database, with stdin as input.
func (a *apiServer) cli(stdin string, args ...string) (string, error) {
	var out, errs bytes.Buffer
	err := runWith(context.Background(), args, strings.NewReader(stdin), &out, &errs, env(a.vars))
	return out.String(), err
}

// users add prints the new account's id; set-password reads stdin; the account then signs
// in over HTTP; tokens issue prints a token that authenticates; tokens revoke and users
// disable end it.
func TestUsersAndTokensCLI(t *testing.T) {
	a := bootAPI(t)
	ctx := context.Background()

	var out bytes.Buffer
	if err := run(ctx, []string{"users", "add", "--email", "Ann@Example.org", "--role", "applicant", "--name", "Ann Rossi"}, &out, &out, env(a.vars)); err != nil {
		t.Fatalf("users add: %v: %s", err, out.String())
	}
	acct, err := a.m.access.Accounts.ByEmail(ctx, "ann@example.org")
	if err != nil {
		t.Fatal(err)
	}
	if got := lastLine(out.String()); got != acct.ID || !so.ValidID(got) {
		t.Fatalf("users add printed %q, the account is %s", out.String(), acct.ID)
	}
	if acct.Role != so.RoleApplicant || acct.Name != "Ann Rossi" {
		t.Errorf("account %+v", acct)
	}

	for _, tc := range []struct {
		name, stdin string
		args        []string
		want        string
	}{
		{"duplicate", "", []string{"users", "add", "--email", "ann@example.org", "--role", "applicant"}, "already exists"},
		{"physician role", "", []string{"users", "add", "--email", "dr@example.org", "--role", "physician"}, "--role"},
		{"no email", "", []string{"users", "add", "--role", "admin"}, "--email is required"},
		{"bad email", "", []string{"users", "add", "--email", "ann", "--role", "admin"}, "invalid"},
		{"empty password", "", []string{"users", "set-password", "--email", "ann@example.org"}, "standard input"},
		{"short password", "short\n", []string{"users", "set-password", "--email", "ann@example.org"}, "12 to 256"},
		{"password of nobody", password + "\n", []string{"users", "set-password", "--email", "x@example.org"}, "no account"},
		{"password in argv", "", []string{"users", "set-password", "--email", "ann@example.org", "--password", "x"}, "not defined"},
		{"disable nobody", "", []string{"users", "disable", "--email", "x@example.org"}, "no account"},
		{"token of nobody", "", []string{"tokens", "issue", "--email", "x@example.org"}, "no account"},
		{"bad ttl", "", []string{"tokens", "issue", "--email", "ann@example.org", "--ttl", "forever"}, "--ttl"},
		{"ttl too long", "", []string{"tokens", "issue", "--email", "ann@example.org", "--ttl", "400d"}, "between"},
		{"revoke nothing", "", []string{"tokens", "revoke", missingCase}, "no token"},
		{"revoke without id", "", []string{"tokens", "revoke"}, "token id"},
		{"unknown", "", []string{"users", "remove"}, "unknown command"},
	} {
		if _, err := a.cli(tc.stdin, tc.args...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want one saying %q", tc.name, err, tc.want)
		}
	}

	// The password comes from stdin (trailing CR LF stripped) and works over HTTP.
	if _, err := a.cli(password+"\r\n", "users", "set-password", "--email", "ann@example.org"); err != nil {
		t.Fatalf("set-password: %v", err)
	}
	a.login("ann@example.org", password, "")

	tokOut, err := a.cli("", "tokens", "issue", "--email", "ann@example.org", "--ttl", "30d")
	if err != nil {
		t.Fatalf("tokens issue: %v", err)
	}
	tok := lastLine(tokOut)
	if strings.ContainsAny(tok, " \t") || len(tok) < 40 {
		t.Fatalf("tokens issue printed %q", tokOut)
	}
	me := a.do(who{token: tok}, "GET", "/api/v1/session", nil).want(t, 200, "the issued token").json(t)
	if me["role"] != "applicant" || me["email"] != "Ann@Example.org" { // stored as given, found in any case
		t.Errorf("token subject %v", me)
	}
	a.newCase(who{token: tok}, "Maria") // bearer requests need no CSRF token
	id := strings.Fields(tokOut)[2]     // "token id <id> (revoke with ...)"
	if !so.ValidID(id) {
		t.Fatalf("no token id in %q", tokOut)
	}
	if _, err := a.cli("", "tokens", "revoke", id); err != nil {
		t.Fatalf("tokens revoke: %v", err)
	}
	a.do(who{token: tok}, "GET", "/api/v1/session", nil).want(t, 401, "a revoked token")

	// users disable revokes the account's other tokens too.
	tokOut, err = a.cli("", "tokens", "issue", "--email", "ann@example.org")
	if err != nil {
		t.Fatal(err)
	}
	tok = lastLine(tokOut)
	a.do(who{token: tok}, "GET", "/api/v1/cases", nil).want(t, 200, "second token")
	if _, err := a.cli("", "users", "disable", "--email", "ann@example.org"); err != nil {
		t.Fatal(err)
	}
	a.do(who{token: tok}, "GET", "/api/v1/cases", nil).want(t, 401, "token of a disabled account")
	if _, err := a.cli("", "tokens", "issue", "--email", "ann@example.org"); err == nil {
		t.Error("a disabled account got a token")
	}
}

func TestParseTTL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{"", "0s", true}, {"720h", "720h0m0s", true}, {"30d", "720h0m0s", true}, {"1d", "24h0m0s", true},
		{"0d", "", false}, {"-1d", "", false}, {"d", "", false}, {"1.5d", "", false}, {"99999999999d", "", false},
		{"-5m", "", false}, {"soon", "", false},
	} {
		d, err := parseTTL(tc.in)
		if (err == nil) != tc.ok || (tc.ok && d.String() != tc.want) {
			t.Errorf("parseTTL(%q) = %v, %v", tc.in, d, err)
		}
	}
}

// By default only case managers, DPOs and admins may hold API tokens (security review,
// finding 8): `tokens issue` refuses an applicant and a reviewer, and SO_TOKEN_ROLES widens it.
func TestTokensOnlyForAutomationRoles(t *testing.T) {
	a := bootAPI(t)
	a.account("ann@example.org", so.RoleApplicant, "")
	a.account("rita@example.org", so.RoleReviewer, "")
	a.account("dora@example.org", so.RoleDPO, "")
	delete(a.vars, "SO_TOKEN_ROLES")
	for _, email := range []string{"ann@example.org", "rita@example.org"} {
		if out, err := a.cli("", "tokens", "issue", "--email", email); err == nil || !strings.Contains(err.Error(), "may not hold API tokens") {
			t.Fatalf("tokens issue for %s: %v\n%s", email, err, out)
		}
	}
	if out, err := a.cli("", "tokens", "issue", "--email", "dora@example.org"); err != nil {
		t.Fatalf("tokens issue for the DPO: %v\n%s", err, out)
	}
	a.vars["SO_TOKEN_ROLES"] = "applicant, dpo"
	if out, err := a.cli("", "tokens", "issue", "--email", "ann@example.org"); err != nil {
		t.Fatalf("tokens issue for an applicant with SO_TOKEN_ROLES=applicant,dpo: %v\n%s", err, out)
	}
	a.vars["SO_TOKEN_ROLES"] = "physician"
	if _, err := a.cli("", "tokens", "issue", "--email", "dora@example.org"); err == nil || !strings.Contains(err.Error(), "SO_TOKEN_ROLES") {
		t.Fatalf("SO_TOKEN_ROLES=physician: %v", err)
	}
}
