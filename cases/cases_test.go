package cases_test

import (
	"context"
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/mail"
)

var now = time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)

type fixture struct {
	t     *testing.T
	ctx   context.Context
	db    *testenv.DB
	cases *cases.Cases
	svc   *access.Service
}

func newFixture(t *testing.T) *fixture {
	db := testenv.NewDB(t)
	f := &fixture{t: t, ctx: context.Background(), db: db}
	f.cases = cases.New(cases.Config{DB: db.Runtime, Now: func() time.Time { return now }, Consent: fakeConsent{}})
	outbox, err := mail.New(mail.Config{DB: db.Runtime, Sender: &mail.MemoryMailer{}, Key: make([]byte, mail.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	svc, err := access.New(access.Config{DB: db.Runtime, Directory: f.cases, Outbox: outbox, PublicURL: "https://so.test",
		TOTPKey: make([]byte, access.TOTPKeyLen), Now: f.cases.Now, Argon2: access.Argon2Params{Memory: 1024, Time: 1, Threads: 1},
		TokenRoles: so.AccountRoles}) // subjects of every role come from tokens here
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.cases.SetAccounts(svc.Accounts)
	return f
}

// subject adds an account and authenticates it with an API token: a real subject, TOTP
// satisfied, without the TOTP enrolment dance that package access tests.
func (f *fixture) subject(email string, role so.Role) access.Subject {
	f.t.Helper()
	if _, err := f.svc.Accounts.Add(f.ctx, email, role, ""); err != nil {
		f.t.Fatal(err)
	}
	_, raw, err := f.svc.Tokens.Issue(f.ctx, email, time.Hour)
	if err != nil {
		f.t.Fatal(err)
	}
	s, err := f.svc.Tokens.Authenticate(f.ctx, raw)
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

func (f *fixture) create(owner access.Subject, given string) cases.Case {
	f.t.Helper()
	c, err := f.cases.Create(f.ctx, owner, cases.CreateInput{
		Patient:               cases.Patient{GivenName: given, FamilyName: "Rossi", BirthDate: "1970-05-01"},
		ApplicantRelationship: "self", ConsultationTypes: []so.ConsultationType{"oncological", "surgical"}, Language: "en"})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func TestCreateAndGet(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	c := f.create(ann, "Maria")
	if c.Status != so.StatusDraft || c.OwnerID != ann.AccountID || !c.CreatedAt.Equal(now) ||
		!slices.Equal(c.ConsultationTypes, []so.ConsultationType{"oncological", "surgical"}) || c.Patient.BirthDate != "1970-05-01" {
		t.Errorf("created %+v", c)
	}
	got, err := f.cases.Get(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != c.ID || got.Patient != c.Patient || got.Language != "en" {
		t.Errorf("got %+v, want %+v", got, c)
	}
	for _, id := range []string{"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77", "nope", ""} {
		if _, err := f.cases.Get(f.ctx, id); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("Get(%q) = %v", id, err)
		}
	}
	cm := f.subject("cm@example.org", so.RoleCaseManager)
	if _, err := f.cases.Create(f.ctx, cm, cases.CreateInput{}); !errors.Is(err, so.ErrForbidden) {
		t.Errorf("a case manager creating: %v", err)
	}
	if _, err := f.cases.Create(f.ctx, ann, cases.CreateInput{Language: "en"}); so.ErrorCode(err) != so.EInvalid {
		t.Errorf("invalid input: %v", err)
	}
}

// ListForSubject returns exactly the cases the policy lets the subject read.
func TestListMatchesPolicy(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	bob := f.subject("bob@example.org", so.RoleApplicant)
	cm := f.subject("cm@example.org", so.RoleCaseManager)
	rev := f.subject("rev@example.org", so.RoleReviewer)
	idle := f.subject("idle@example.org", so.RoleReviewer)
	dpo := f.subject("dpo@example.org", so.RoleDPO)
	admin := f.subject("admin@example.org", so.RoleAdmin)
	var all []string
	for _, owner := range []access.Subject{ann, ann, bob} {
		all = append(all, f.create(owner, "P").ID)
	}
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, all[1], "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	inv, err := f.svc.Invitations.Invite(f.ctx, ann, all[0], "dr@example.org")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inv.URL)
	_, raw, err := f.svc.Invitations.Redeem(f.ctx, u.Query().Get("token"))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := f.svc.Sessions.Authenticate(f.ctx, raw)
	if err != nil {
		t.Fatal(err)
	}

	for _, s := range []access.Subject{ann, bob, cm, rev, idle, dpo, admin, doc, {}} {
		list, err := f.cases.List(f.ctx, s, cases.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var got, want []string
		for _, c := range list {
			got = append(got, c.ID)
		}
		for _, id := range all {
			if f.svc.Policy.Authorize(f.ctx, s, access.ActionCaseRead, id) == nil {
				want = append(want, id)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Errorf("%s %s lists %v, the policy allows %v", s.Role, s.Email, got, want)
		}
	}
	if l, _ := f.cases.List(f.ctx, cm, cases.ListOptions{}); len(l) != 3 {
		t.Errorf("case manager lists %d cases, want 3", len(l))
	}
	if l, _ := f.cases.List(f.ctx, rev, cases.ListOptions{}); len(l) != 1 || l[0].ID != all[1] {
		t.Errorf("reviewer lists %v", l)
	}
}

func TestAssign(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	cm := f.subject("cm@example.org", so.RoleCaseManager)
	rev := f.subject("rev@example.org", so.RoleReviewer)
	f.subject("off@example.org", so.RoleReviewer)
	if err := f.svc.Accounts.Disable(f.ctx, "off@example.org"); err != nil {
		t.Fatal(err)
	}
	c := f.create(ann, "Maria")

	id, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, c.ID, "REV@example.org")
	if err != nil || id != rev.AccountID {
		t.Fatalf("assign: %s, %v", id, err)
	}
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, c.ID, "rev@example.org"); err != nil {
		t.Errorf("assign twice: %v", err)
	}
	as, err := f.cases.Assignments(f.ctx, c.ID)
	if err != nil || len(as) != 1 || as[0].Email != "rev@example.org" || as[0].AssignedBy != cm.AccountID || !as[0].AssignedAt.Equal(now) {
		t.Errorf("assignments %+v, %v", as, err)
	}
	for _, email := range []string{"nobody@example.org", "cm@example.org", "ann@example.org", "off@example.org"} {
		var ve *so.Error
		_, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, c.ID, email)
		if !errors.As(err, &ve) || len(ve.Fields) == 0 || ve.Fields[0].Field != "reviewer_email" {
			t.Errorf("assign %s: %v, want a validation error on reviewer_email", email, err)
		}
	}
	for _, id := range []string{"0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77", "nope"} {
		if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, id, "rev@example.org"); !errors.Is(err, so.ErrNotFound) {
			t.Errorf("assign to case %q: %v", id, err)
		}
	}
	if err := f.cases.Unassign(f.ctx, c.ID, rev.AccountID); err != nil {
		t.Fatal(err)
	}
	if err := f.cases.Unassign(f.ctx, c.ID, rev.AccountID); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("unassign twice: %v", err)
	}
}

func TestDocuments(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	c := f.create(ann, "Maria")
	other := f.create(ann, "Lucia")
	inv, err := f.svc.Invitations.Invite(f.ctx, ann, c.ID, "dr@example.org")
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(inv.URL)
	_, raw, err := f.svc.Invitations.Redeem(f.ctx, u.Query().Get("token"))
	if err != nil {
		t.Fatal(err)
	}
	doc, _ := f.svc.Sessions.Authenticate(f.ctx, raw)

	insert := func(id, caseID, kind, by, invitation, status string) {
		t.Helper()
		_, err := f.db.Runtime.ExecContext(f.ctx, `INSERT INTO documents (id, case_id, kind, filename, object_key, uploaded_by, uploaded_by_invitation, status, size, sha256, created_at, finished_at)
			VALUES ($1, $2, $3, 'f.pdf', 'o/' || $1, nullif($4, '')::uuid, nullif($5, '')::uuid, $6,
			CASE WHEN $6 = 'available' THEN 10 END, CASE WHEN $6 = 'available' THEN '\xabcd'::bytea END,
			now() + (SELECT count(*) FROM documents) * interval '1 second', CASE WHEN $6 = 'available' THEN now() END)`,
			id, caseID, kind, by, invitation, status)
		if err != nil {
			t.Fatal(err)
		}
	}
	insert("d1", c.ID, "identity_document", ann.AccountID, "", "available")
	insert("d2", c.ID, "cover_letter", "", inv.ID, "available")
	insert("d3", c.ID, "imaging_study", "", inv.ID, "uploading")
	insert("d4", other.ID, "other", ann.AccountID, "", "available")

	all, err := f.cases.Documents(f.ctx, c.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 3 || all[0].ID != "d1" || all[1].ID != "d2" || all[2].ID != "d3" {
		t.Fatalf("documents %+v", all)
	}
	if d := all[0]; d.Size == nil || *d.Size != 10 || d.SHA256 != "abcd" || d.UploadedAt == nil || d.UploadedBy != ann.AccountID {
		t.Errorf("available document %+v", d)
	}
	if d := all[2]; d.Size != nil || d.SHA256 != "" || d.UploadedAt != nil || d.UploadedByInvitation != inv.ID {
		t.Errorf("uploading document %+v", d)
	}
	mine, err := f.cases.DocumentsFor(f.ctx, doc, c.ID)
	if err != nil || len(mine) != 2 || mine[0].ID != "d2" || mine[1].ID != "d3" {
		t.Errorf("the physician sees %+v, %v", mine, err)
	}
	if owner, _ := f.cases.DocumentsFor(f.ctx, ann, c.ID); len(owner) != 3 {
		t.Errorf("the owner sees %d documents", len(owner))
	}
	facts, err := f.cases.DocumentFacts(f.ctx, "d2")
	if err != nil || facts.CaseID != c.ID || facts.UploadedByInvitation != inv.ID || facts.Kind != so.KindCoverLetter {
		t.Errorf("facts %+v, %v", facts, err)
	}
	if _, err := f.cases.DocumentFacts(f.ctx, "missing"); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("missing document: %v", err)
	}
	if _, err := f.cases.Documents(f.ctx, "nope"); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("documents of a malformed id: %v", err)
	}
}

// Every checklist kind is uploadable by someone.
func TestKindsMatchPolicy(t *testing.T) {
	seen := map[so.DocumentKind]bool{}
	for _, r := range so.Roles {
		for _, k := range access.UploadableKinds(r) {
			if !k.Valid() {
				t.Errorf("%s may upload %q, not a checklist kind", r, k)
			}
			seen[k] = true
		}
	}
	for _, k := range so.Kinds {
		if !seen[k] {
			t.Errorf("nobody may upload %q", k)
		}
	}
	if got := access.UploadableKinds(so.RoleReviewer); len(got) != 1 || got[0] != so.KindReport {
		t.Errorf("reviewers upload %v", got)
	}
}
