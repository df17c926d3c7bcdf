package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/consent"
)

// missingCase is a well-formed id that names no case.
const missingCase = "0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77"

// accessWorld is a service with one of each role signed in for real, two cases and documents.
//
// Case A is Ann's (applicant), its reviewer is Rita, and Ann invited the physician to it; case
// B is Bob's and has nobody assigned. So for every role A is the related case (own, invited,
// assigned; any case for the case manager, the DPO and the admin) and B another one.
type accessWorld struct {
	*apiServer
	cookies    map[so.Role]who // signed in with a session cookie
	tokens     map[so.Role]who // the same accounts with API tokens (no physician)
	caseA      string
	caseB      string
	bob        who               // the other applicant
	invitation string            // the physician's invitation (to case A)
	docs       map[string]string // "ann", "dr" (on A), "bob" (on B) → document id
	content    map[string][]byte
}

const password = "correct horse battery staple"

func newAccessWorld(t *testing.T) *accessWorld {
	a := bootAPI(t)
	w := &accessWorld{apiServer: a, cookies: map[so.Role]who{}, tokens: map[so.Role]who{},
		docs: map[string]string{}, content: map[string][]byte{}}
	ctx := context.Background()

	// Applicants: Ann with a password, Bob (no password) with an email sign-in link.
	a.account("ann@example.org", so.RoleApplicant, password)
	a.account("bob@example.org", so.RoleApplicant, "")
	ann, view := a.login("ann@example.org", password, "")
	if view["role"] != "applicant" || view["needs_totp_enrolment"] != false {
		t.Fatalf("applicant login: %v", view)
	}
	w.cookies[so.RoleApplicant] = who{name: "applicant", cookie: ann}
	bob := who{name: "bob", cookie: a.linkSignIn("bob@example.org")}

	// Staff: password, then TOTP enrolment with codes computed from the secret.
	staff := map[so.Role]string{so.RoleCaseManager: "cm@example.org", so.RoleReviewer: "rita@example.org",
		so.RoleDPO: "dpo@example.org", so.RoleAdmin: "admin@example.org"}
	var cmID string
	for _, r := range slices.Sorted(maps.Keys(staff)) {
		id := a.account(staff[r], r, password)
		if r == so.RoleCaseManager {
			cmID = id
		}
		c, _ := a.enrol(staff[r], password)
		w.cookies[r] = who{name: string(r), cookie: c}
	}
	a.account("rex@example.org", so.RoleReviewer, "") // assigned by the matrix, never signs in

	w.caseA = a.newCase(w.cookies[so.RoleApplicant], "Maria")
	w.caseB = a.newCase(bob, "Lucia")
	a.do(w.cookies[so.RoleCaseManager], "POST", "/api/v1/cases/"+w.caseA+"/assignments",
		map[string]string{"reviewer_email": "rita@example.org"}).want(t, 201, "assign Rita")

	// The physician: invited by Ann, signed in by redeeming the link (the same one was mailed).
	inv := a.do(w.cookies[so.RoleApplicant], "POST", "/api/v1/cases/"+w.caseA+"/invitations",
		map[string]string{"email": "dr.verdi@example.org"}).want(t, 201, "invite").json(t)
	w.invitation = inv["id"].(string)
	if _, ok := inv["invitation_url"]; ok {
		t.Fatalf("the inviter was given the physician's link: %v", inv) // finding 6 of the security review
	}
	mailed := a.mails("dr.verdi@example.org")
	if len(mailed) != 1 {
		t.Fatalf("the invitation mail lacks the link: %v", mailed)
	}
	tok := mailed[0]
	r := a.do(nobody, "POST", "/api/v1/invitations/redeem", map[string]string{"token": tok}).want(t, 200, "redeem invitation")
	doc, _ := r.sessionCookie(t)
	if v := r.json(t); v["role"] != "physician" || v["case_id"] != w.caseA {
		t.Fatalf("physician session %v", v)
	}
	w.cookies[so.RolePhysician] = who{name: "physician", cookie: doc}

	// Documents, uploaded through tus: Ann's and the physician's to A, Bob's to B.
	for _, d := range []struct {
		name   string
		by     who
		caseID string
		kind   string
	}{
		{"ann", w.cookies[so.RoleApplicant], w.caseA, "identity_document"},
		{"dr", w.cookies[so.RolePhysician], w.caseA, "cover_letter"},
		{"bob", bob, w.caseB, "identity_document"},
	} {
		w.content[d.name] = []byte("%PDF-1.7\n% the " + d.kind + " of " + d.name + "\n%%EOF\n")
		w.docs[d.name] = a.upload(d.by, d.caseID, d.kind, w.content[d.name])
	}
	w.bob = bob

	// Case A's consent is signed and countersigned (through the consent store directly), B has none.
	cs := consent.NewStore(a.db.Runtime, a.m.cases)
	if _, err := cs.Sign(ctx, w.caseA, "2025-01-en", "Maria Rossi", "self", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.Countersign(ctx, w.caseA, cmID); err != nil {
		t.Fatal(err)
	}

	for r, email := range map[so.Role]string{so.RoleApplicant: "ann@example.org", so.RoleCaseManager: "cm@example.org",
		so.RoleReviewer: "rita@example.org", so.RoleDPO: "dpo@example.org", so.RoleAdmin: "admin@example.org"} {
		_, raw, err := a.m.access.Tokens.Issue(ctx, email, 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		w.tokens[r] = who{name: string(r) + " token", token: raw}
	}
	return w
}

// roles in the column order of the tables below.
var roles = []so.Role{so.RoleApplicant, so.RolePhysician, so.RoleCaseManager, so.RoleReviewer,
	so.RoleDPO, so.RoleAdmin}

// caseMatrix is every case route's status for each role on the related case (A), another
// case (B) and a missing one: the policy of access's package documentation, over HTTP.
const caseMatrix = `
                              applicant    physician    case_manager reviewer     dpo          admin
                              own oth mis  inv oth mis  any any mis  asg oth mis  any any mis  any any mis
GET    /cases/{id}            200 404 404  403 404 404  200 200 404  200 404 404  200 200 404  403 403 404
GET    /cases/{id}/documents  200 404 404  200 404 404  200 200 404  200 404 404  200 200 404  403 403 404
POST   /cases/{id}/assignments 403 404 404 403 404 404  201 201 404  403 404 404  403 403 404  403 403 404
POST   /cases/{id}/invitations 201 404 404 403 404 404  201 201 404  403 404 404  403 403 404  403 403 404
GET    /cases/{id}/invitations 200 404 404 403 404 404  200 200 404  403 404 404  403 403 404  403 403 404
DELETE /invitations/{id}      204 404 404  403 404 404  204 204 404  403 404 404  403 403 404  403 403 404
`

// docMatrix is every document route's status for each role on a document of the related case
// (A) uploaded by the applicant, one of A uploaded by the invited physician, one of another
// case (B) and a missing one. Case A has an active consent, B none (B's document is an
// identity document, which case managers may read without one).
const docMatrix = `
                             applicant        physician        case_manager     reviewer         dpo              admin
                             A:ap A:dr B  mis A:ap A:dr B  mis A:ap A:dr B  mis A:ap A:dr B  mis A:ap A:dr B  mis A:ap A:dr B  mis
GET    /documents/{id}/content 200 200 404 404 404 200 404 404 200 200 200 404 200 200 404 404 403 403 403 404 403 403 403 404
DELETE /documents/{id}         204 204 404 404 404 403 404 404 403 403 403 404 403 403 404 404 204 204 204 404 403 403 403 404
`

type matrixRow struct {
	method, path string
	want         []int // per statuses per role, in the order of roles
}

// parseMatrix reads a table like caseMatrix, per statuses per role: the rows that start with
// an HTTP method.
func parseMatrix(t *testing.T, table string, per int) []matrixRow {
	var rows []matrixRow
	for _, line := range strings.Split(table, "\n") {
		f := strings.Fields(line)
		if len(f) == 0 || !slices.Contains([]string{"GET", "POST", "DELETE"}, f[0]) {
			continue
		}
		if len(f) != 2+per*len(roles) {
			t.Fatalf("matrix row %q has %d statuses", line, len(f)-2)
		}
		row := matrixRow{method: f[0], path: f[1]}
		for _, v := range f[2:] {
			n, err := strconv.Atoi(v)
			if err != nil {
				t.Fatalf("matrix row %q: %v", line, err)
			}
			row.want = append(row.want, n)
		}
		rows = append(rows, row)
	}
	return rows
}

// Every cell of the role × route × (related, other, missing case) table, signed in with session
// cookies and again with API tokens; invisible and missing answer the same 404 body; nobody
// gets 401.
func TestAccessMatrix(t *testing.T) {
	w := newAccessWorld(t)
	cm := w.tokens[so.RoleCaseManager]
	rows := parseMatrix(t, caseMatrix, 3)
	bodies := map[string]any{
		"/cases/{id}/assignments": map[string]string{"reviewer_email": "rex@example.org"},
		"/cases/{id}/invitations": map[string]string{"email": "colleague@example.org"},
	}
	notFound := w.do(cm, "GET", "/api/v1/cases/"+missingCase, nil).want(t, 404, "missing case").json(t)
	delete(notFound, "request_id")

	// path returns the route's path for a case; DELETE /invitations/{id} gets a fresh invitation of it.
	path := func(p, caseID string) string {
		if strings.HasPrefix(p, "/invitations/") {
			id := missingCase
			if caseID != missingCase {
				id = w.do(cm, "POST", "/api/v1/cases/"+caseID+"/invitations", map[string]string{"email": "x@example.org"}).
					want(t, 201, "invitation to revoke").json(t)["id"].(string)
			}
			return "/api/v1" + strings.Replace(p, "{id}", id, 1)
		}
		return "/api/v1" + strings.Replace(p, "{id}", caseID, 1)
	}

	for _, pass := range []struct {
		name    string
		callers map[so.Role]who
	}{{"cookie", w.cookies}, {"token", w.tokens}} {
		t.Run(pass.name, func(t *testing.T) {
			for _, row := range rows {
				for i, role := range roles {
					caller, ok := pass.callers[role]
					if !ok {
						continue // physicians have no API tokens
					}
					for j, caseID := range []string{w.caseA, w.caseB, missingCase} {
						exp := row.want[3*i+j]
						r := w.do(caller, row.method, path(row.path, caseID), bodies[row.path])
						cell := fmt.Sprintf("%s %s by %s on the %s case", row.method, row.path, caller.name, []string{"related", "other", "missing"}[j])
						if r.status != exp {
							t.Errorf("%s: %d, want %d: %s", cell, r.status, exp, r.body)
							continue
						}
						if exp == 404 {
							got := r.json(t)
							delete(got, "request_id")
							if !maps.Equal(got, notFound) {
								t.Errorf("%s: 404 body %v differs from a missing case's %v", cell, got, notFound)
							}
						}
					}
				}
			}
		})
	}

	// Documents: content and erasure. A 200 carries the document's bytes; each 204 erases a
	// fresh upload of the same column, so the standing documents serve every other cell.
	docRows := parseMatrix(t, docMatrix, 4)
	columns := []struct {
		name   string
		by     who
		caseID string
		kind   string
	}{
		{"ann", w.cookies[so.RoleApplicant], w.caseA, "identity_document"},
		{"dr", w.cookies[so.RolePhysician], w.caseA, "cover_letter"},
		{"bob", w.bob, w.caseB, "identity_document"},
		{"missing", who{}, "", ""},
	}
	for _, pass := range []struct {
		name    string
		callers map[so.Role]who
	}{{"cookie", w.cookies}, {"token", w.tokens}} {
		t.Run("documents by "+pass.name, func(t *testing.T) {
			for _, row := range docRows {
				for i, role := range roles {
					caller, ok := pass.callers[role]
					if !ok {
						continue
					}
					for j, col := range columns {
						exp := row.want[4*i+j]
						id := w.docs[col.name]
						switch {
						case col.name == "missing":
							id = missingCase
						case row.method == "DELETE" && exp == 204:
							id = w.upload(col.by, col.caseID, col.kind, w.content[col.name])
						}
						r := w.do(caller, row.method, "/api/v1"+strings.Replace(row.path, "{id}", id, 1), nil)
						cell := fmt.Sprintf("%s %s by %s on %s's document", row.method, row.path, caller.name, col.name)
						switch {
						case r.status != exp:
							t.Errorf("%s: %d, want %d: %.200s", cell, r.status, exp, r.body)
						case exp == 200 && !bytes.Equal(r.body, w.content[col.name]):
							t.Errorf("%s: body %q", cell, r.body)
						case exp == 204:
							w.do(w.cookies[so.RoleCaseManager], "GET", "/api/v1/documents/"+id+"/content", nil).
								want(t, 404, cell+": the erased document")
						case exp == 404:
							got := r.json(t)
							delete(got, "request_id")
							if !maps.Equal(got, notFound) {
								t.Errorf("%s: 404 body %v differs from a missing case's %v", cell, got, notFound)
							}
						}
					}
				}
			}
		})
	}

	t.Run("nobody", func(t *testing.T) {
		for _, row := range rows {
			for _, caseID := range []string{w.caseA, missingCase} {
				r := w.do(nobody, row.method, path(row.path, caseID), bodies[row.path])
				if r.status != 401 || r.json(t)["error"] != "unauthenticated" {
					t.Errorf("%s %s without credentials: %d %s", row.method, row.path, r.status, r.body)
				}
			}
		}
		for _, p := range []string{"/cases", "/session"} {
			if r := w.do(nobody, "GET", "/api/v1"+p, nil); r.status != 401 {
				t.Errorf("GET %s without credentials: %d", p, r.status)
			}
		}
		// A malformed case id answers like a missing one.
		r := w.do(cm, "GET", "/api/v1/cases/not-a-uuid", nil)
		got := r.json(t)
		delete(got, "request_id")
		if r.status != 404 || !maps.Equal(got, notFound) {
			t.Errorf("malformed case id: %d %v", r.status, got)
		}
	})
}

// The listings follow the policy: who sees which cases, and which documents of a case.
func TestListingsFollowPolicy(t *testing.T) {
	w := newAccessWorld(t)
	ids := func(r reply, key string) []string {
		var out []string
		for _, v := range r.json(t)[key].([]any) {
			out = append(out, v.(map[string]any)["id"].(string))
		}
		slices.Sort(out)
		return out
	}
	both := []string{w.caseA, w.caseB}
	slices.Sort(both)
	wantCases := map[so.Role][]string{
		so.RoleApplicant: {w.caseA}, so.RolePhysician: nil, so.RoleCaseManager: both,
		so.RoleReviewer: {w.caseA}, so.RoleDPO: both, so.RoleAdmin: nil,
	}
	for _, role := range roles {
		for _, caller := range []who{w.cookies[role], w.tokens[role]} {
			if caller.name == "" {
				continue
			}
			got := ids(w.do(caller, "GET", "/api/v1/cases", nil).want(t, 200, "list cases"), "cases")
			if !slices.Equal(got, wantCases[role]) {
				t.Errorf("%s lists cases %v, want %v", caller.name, got, wantCases[role])
			}
		}
	}

	// Documents of case A: the physician sees only what the invitation uploaded.
	onA := []string{w.docs["ann"], w.docs["dr"]}
	slices.Sort(onA)
	wantDocs := map[so.Role][]string{
		so.RoleApplicant: onA, so.RolePhysician: {w.docs["dr"]}, so.RoleCaseManager: onA,
		so.RoleReviewer: onA, so.RoleDPO: onA, // case A's consent is active
	}
	for role, want := range wantDocs {
		r := w.do(w.cookies[role], "GET", "/api/v1/cases/"+w.caseA+"/documents", nil).want(t, 200, "documents")
		if got := ids(r, "documents"); !slices.Equal(got, want) {
			t.Errorf("%s sees documents %v, want %v", role, got, want)
		}
	}
	d := w.do(w.cookies[so.RolePhysician], "GET", "/api/v1/cases/"+w.caseA+"/documents", nil).json(t)["documents"].([]any)[0].(map[string]any)
	for _, k := range []string{"id", "kind", "filename", "size", "sha256", "status", "uploaded_at"} {
		if _, ok := d[k]; !ok {
			t.Errorf("document lacks %q: %v", k, d)
		}
	}
	sum := sha256.Sum256(w.content["dr"])
	if d["kind"] != "cover_letter" || d["size"] != float64(len(w.content["dr"])) || d["sha256"] != hex.EncodeToString(sum[:]) ||
		d["status"] != "available" || d["filename"] != "cover_letter.pdf" {
		t.Errorf("document %v", d)
	}

	// The case: its checklist says where each kind it needs (or has) stands; no clock runs
	// before submission.
	c := w.do(w.cookies[so.RoleApplicant], "GET", "/api/v1/cases/"+w.caseA, nil).want(t, 200, "get case").json(t)
	state := map[string]string{}
	for _, item := range c["checklist"].([]any) {
		m := item.(map[string]any)
		state[m["kind"].(string)] = m["state"].(string)
	}
	if state["identity_document"] != "uploaded" || state["cover_letter"] != "uploaded" || state["histology_report"] != "missing" ||
		state["consent_form"] != "missing" {
		t.Errorf("checklist %v", c["checklist"])
	}
	if c["id"] != w.caseA || c["status"] != "draft" || c["triage_due_at"] != nil || c["report_due_at"] != nil {
		t.Errorf("case %v", c)
	}
	if _, ok := c["triage_due_at"]; !ok {
		t.Errorf("case lacks triage_due_at: %v", c)
	}
}

// POST /cases: applicants only; the body is validated field by field.
func TestCreateCase(t *testing.T) {
	w := newAccessWorld(t)
	for _, role := range roles[1:] {
		body := map[string]any{"language": "en"}
		if r := w.do(w.cookies[role], "POST", "/api/v1/cases", body); r.status != 403 {
			t.Errorf("%s creating a case: %d %s", role, r.status, r.body)
		}
	}
	ann := w.cookies[so.RoleApplicant]
	r := w.do(ann, "POST", "/api/v1/cases", map[string]any{
		"patient":                map[string]string{"given_name": "Giulia", "family_name": "Bianchi", "birth_date": "2015-01-01"},
		"applicant_relationship": "self", "consultation_types": []string{"surgical", "magic"}, "language": "fr",
	}).want(t, 400, "invalid case")
	var fields []string
	for _, f := range r.json(t)["fields"].([]any) {
		fields = append(fields, f.(map[string]any)["field"].(string))
	}
	if want := []string{"applicant_relationship", "consultation_types[1]", "language"}; !slices.Equal(fields, want) {
		t.Errorf("invalid fields %v, want %v", fields, want)
	}
	if r := w.do(ann, "POST", "/api/v1/cases", `{"surprise": 1}`); r.status != 400 || !strings.Contains(string(r.body), `"field":"surprise"`) {
		t.Errorf("unknown field: %d %s", r.status, r.body)
	}
	id := w.newCase(ann, "Giulia")
	c := w.do(ann, "GET", "/api/v1/cases/"+id, nil).want(t, 200, "new case").json(t)
	if c["status"] != "draft" || c["patient"].(map[string]any)["given_name"] != "Giulia" {
		t.Errorf("case %v", c)
	}
	// Assigning someone who is not an enabled reviewer is a 400 naming the field.
	r = w.do(w.cookies[so.RoleCaseManager], "POST", "/api/v1/cases/"+id+"/assignments", map[string]string{"reviewer_email": "ann@example.org"})
	if r.status != 400 || !strings.Contains(string(r.body), `"field":"reviewer_email"`) {
		t.Errorf("assigning an applicant: %d %s", r.status, r.body)
	}
	r = w.do(ann, "POST", "/api/v1/cases/"+id+"/invitations", map[string]string{"email": "not an address"})
	if r.status != 400 || !strings.Contains(string(r.body), `"field":"email"`) {
		t.Errorf("inviting a bad address: %d %s", r.status, r.body)
	}
}

// Invitations: listed for the case, revocation ends the physician's session at once, a
// redeemed or revoked link does not work again.
func TestInvitationLifecycle(t *testing.T) {
	w := newAccessWorld(t)
	ann, doc := w.cookies[so.RoleApplicant], w.cookies[so.RolePhysician]
	list := w.do(ann, "GET", "/api/v1/cases/"+w.caseA+"/invitations", nil).want(t, 200, "list").json(t)["invitations"].([]any)
	if len(list) != 1 || list[0].(map[string]any)["id"] != w.invitation || list[0].(map[string]any)["redeemed_at"] == nil {
		t.Fatalf("invitations %v", list)
	}
	if _, ok := list[0].(map[string]any)["invitation_url"]; ok {
		t.Errorf("the listing repeats the link: %v", list[0])
	}
	tok := w.mails("dr.verdi@example.org")[0]
	w.do(nobody, "POST", "/api/v1/invitations/redeem", map[string]string{"token": tok}).want(t, 401, "redeem twice")
	// A refused revocation is audited as a denial, never as a revocation (finding 7 of the review).
	w.do(w.cookies[so.RoleReviewer], "DELETE", "/api/v1/invitations/"+w.invitation, nil).want(t, 403, "a reviewer revoking")
	for _, e := range w.auditQuery(w.tokens[so.RoleDPO], "action=invitation.revoke").Entries {
		t.Errorf("a refused revocation left %s with outcome %d", e.Action, e.Outcome)
	}
	w.do(doc, "GET", "/api/v1/cases/"+w.caseA+"/documents", nil).want(t, 200, "physician before revocation")
	w.do(ann, "DELETE", "/api/v1/invitations/"+w.invitation, nil).want(t, 204, "revoke")
	w.do(doc, "GET", "/api/v1/cases/"+w.caseA+"/documents", nil).want(t, 401, "physician after revocation")

	// A new invitation, revoked before use, cannot be redeemed.
	inv := w.do(ann, "POST", "/api/v1/cases/"+w.caseA+"/invitations", map[string]string{"email": "dr.neri@example.org"}).
		want(t, 201, "invite").json(t)
	if exp, err := time.Parse(time.RFC3339, inv["expires_at"].(string)); err != nil || !exp.Equal(w.clock.Now().Add(7*24*time.Hour)) {
		t.Errorf("expires_at %v, want 7 days from now", inv["expires_at"])
	}
	w.do(ann, "DELETE", "/api/v1/invitations/"+inv["id"].(string), nil).want(t, 204, "revoke unused")
	w.do(nobody, "POST", "/api/v1/invitations/redeem", map[string]string{"token": w.mails("dr.neri@example.org")[0]}).
		want(t, 401, "redeem revoked")
}
