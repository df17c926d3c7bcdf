package main

import (
	"testing"

	so "github.com/secondopinion/secondopinion"
)

// Granting access is audited before it takes effect: a reviewer's assignment, an invitation and
// its revocation, and a logout each leave an entry naming the actor and the case; a refused
// assignment leaves a refusal.
func TestGrantsAreAudited(t *testing.T) {
	a := bootAPI(t)
	const pw = "correct horse battery staple"
	a.account("owner@example.org", so.RoleApplicant, pw)
	ownerCookie, _ := a.login("owner@example.org", pw, "")
	owner := who{name: "owner", cookie: ownerCookie}
	caseID := a.newCase(owner, "Ada")
	cmID := a.account("cm@example.org", so.RoleCaseManager, pw)
	cmCookie, _ := a.enrol("cm@example.org", pw)
	cm := who{name: "case manager", cookie: cmCookie}
	a.account("rev@example.org", so.RoleReviewer, pw)

	a.do(cm, "POST", "/api/v1/cases/"+caseID+"/assignments", map[string]string{"reviewer_email": "rev@example.org"}).want(t, 201, "assign")
	a.do(cm, "POST", "/api/v1/cases/"+caseID+"/assignments", map[string]string{"reviewer_email": "owner@example.org"}).want(t, 400, "assign a non-reviewer")
	inv := a.do(owner, "POST", "/api/v1/cases/"+caseID+"/invitations", map[string]string{"email": "gp@example.org"}).want(t, 201, "invite").json(t)
	a.do(owner, "DELETE", "/api/v1/invitations/"+inv["id"].(string), nil).want(t, 204, "revoke")
	a.do(owner, "DELETE", "/api/v1/session", nil).want(t, 204, "logout")

	type row struct {
		Action  string `db:"action"`
		Actor   string `db:"actor_id"`
		CaseID  string `db:"case_id"`
		Outcome int    `db:"outcome"`
	}
	var rows []row
	if err := a.db.Owner.Select(&rows, `SELECT action, actor_id, case_id, outcome FROM audit_entries
		WHERE action IN ('case.assign', 'invitation.create', 'invitation.revoke', 'auth.logout') ORDER BY seq`); err != nil {
		t.Fatal(err)
	}
	want := []row{
		{"case.assign", "account:" + cmID, caseID, 0},
		{"case.assign", "account:" + cmID, caseID, 4}, // the refused one
		{"invitation.create", "", caseID, 0},
		{"invitation.revoke", "", caseID, 0}, // authorized first, so its case is known (finding 7)
		{"auth.logout", "", "", 0},
	}
	if len(rows) != len(want) {
		t.Fatalf("audit rows %+v, want %d", rows, len(want))
	}
	for i, w := range want {
		got := rows[i]
		if w.Actor == "" {
			w.Actor = got.Actor // the owner's id is checked below
		}
		if got != w {
			t.Errorf("entry %d = %+v, want %+v", i, got, w)
		}
	}
	if rows[2].Actor == rows[0].Actor || rows[2].Actor == "" || rows[4].Actor != rows[2].Actor {
		t.Errorf("invitation and logout entries should name the owner: %+v", rows)
	}
}
