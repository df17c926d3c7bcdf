package access_test

import (
	"errors"
	"os"
	"slices"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
)

// The expected answers of the policy: "ok" (allowed), "403" (ErrForbidden), "404" (ErrNotFound).
// Roles in the order of the package documentation's table.
var roles = []so.Role{so.RoleApplicant, so.RolePhysician, so.RoleCaseManager,
	so.RoleReviewer, so.RoleDPO, so.RoleAdmin}

// caseMatrix: per case action and role, the answer on the case related to the subject (the
// applicant's own, the physician's invited, the reviewer's assigned; for case managers, DPOs and
// admins simply a case), on another applicant's case, and on a missing case.
var caseMatrix = []struct {
	action access.Action
	cells  [6]string
}{
	{access.ActionCaseRead, [6]string{"ok 404 404", "403 404 404", "ok ok 404", "ok 404 404", "ok ok 404", "403 403 404"}},
	{access.ActionCaseSubmit, [6]string{"ok 404 404", "403 404 404", "403 403 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseTriage, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseRequestDocuments, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseAccept, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCasePayment, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseRelease, [6]string{"403 404 404", "403 404 404", "403 403 404", "ok 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseClose, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseWithdraw, [6]string{"ok 404 404", "403 404 404", "403 403 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionCaseRefund, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionDocumentList, [6]string{"ok 404 404", "ok 404 404", "ok ok 404", "ok 404 404", "ok ok 404", "403 403 404"}},
	{access.ActionDocumentUpload, [6]string{"ok 404 404", "ok 404 404", "403 403 404", "ok 404 404", "403 403 404", "403 403 404"}},
	{access.ActionAssignReviewer, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionInvite, [6]string{"ok 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionConsentSign, [6]string{"ok 404 404", "403 404 404", "403 403 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionConsentCountersign, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionConsentWithdraw, [6]string{"ok 404 404", "403 404 404", "403 403 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionConsentRead, [6]string{"ok 404 404", "403 404 404", "ok ok 404", "403 404 404", "ok ok 404", "403 403 404"}},
	{access.ActionExtrasPropose, [6]string{"403 404 404", "403 404 404", "403 403 404", "ok 404 404", "403 403 404", "403 403 404"}},
	{access.ActionExtrasDecide, [6]string{"ok 404 404", "403 404 404", "403 403 404", "403 404 404", "403 403 404", "403 403 404"}},
	{access.ActionErasure, [6]string{"403 404 404", "403 404 404", "403 403 404", "403 404 404", "ok ok 404", "403 403 404"}},
	{access.ActionCaseHold, [6]string{"403 404 404", "403 404 404", "403 403 404", "403 404 404", "ok ok 404", "403 403 404"}},
	{access.ActionDocumentReview, [6]string{"403 404 404", "403 404 404", "ok ok 404", "403 404 404", "403 403 404", "403 403 404"}},
}

// documentMatrix: per document action and role, the answer on a document of the related case
// uploaded by its applicant, one of the related case uploaded by the invited physician, one of
// another case, and a missing one.
var documentMatrix = []struct {
	action access.Action
	cells  [6]string
}{
	{access.ActionDocumentRead, [6]string{"ok ok 404 404", "404 ok 404 404", "ok ok ok 404", "ok ok 404 404", "403 403 403 404", "403 403 403 404"}},
	{access.ActionDocumentDelete, [6]string{"ok ok 404 404", "404 403 404 404", "403 403 403 404", "403 403 404 404", "ok ok ok 404", "403 403 403 404"}},
}

// globalMatrix: per global action, the answer for each role.
var globalMatrix = []struct {
	action access.Action
	cells  string
}{
	{access.ActionCaseCreate, "ok 403 403 403 403 403"},
	{access.ActionDataExport, "ok 403 403 403 403 403"},
	{access.ActionSubjectExport, "403 403 403 403 ok 403"},
	{access.ActionAuditRead, "403 403 403 403 ok 403"},
	{access.ActionAuditExport, "403 403 403 403 ok 403"},
	{access.ActionAccountsManage, "403 403 403 403 403 ok"},
}

// uploadMatrix: per document kind, the answer of AuthorizeUpload for each role on its related case.
var uploadMatrix = []struct {
	kind  so.DocumentKind
	cells string
}{
	{"identity_document", "ok 403 403 403 403 403"},
	{"applicant_identity_document", "ok 403 403 403 403 403"},
	{"proof_of_authority", "ok 403 403 403 403 403"},
	{"consent_form", "ok 403 403 403 403 403"},
	{"cover_letter", "ok ok 403 403 403 403"},
	{"clinical_history", "ok ok 403 403 403 403"},
	{"histology_report", "ok ok 403 403 403 403"},
	{"imaging_report", "ok ok 403 403 403 403"},
	{"imaging_study", "ok ok 403 403 403 403"},
	{"radiotherapy_plan", "ok ok 403 403 403 403"},
	{"report", "403 403 403 ok 403 403"},
	{"other", "ok ok 403 403 403 403"},
	{"no_such_kind", "403 403 403 403 403 403"},
}

func answer(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, so.ErrForbidden):
		return "403"
	case errors.Is(err, so.ErrNotFound):
		return "404"
	}
	return "error: " + err.Error()
}

// policyWorld is a small world: two applicants with a case each, the first case with an
// assigned reviewer, an invited physician and two documents, the second with one.
type policyWorld struct {
	subjects          map[so.Role]access.Subject
	related, other    string // case ids
	missing           string
	ownerDoc, physDoc string // documents of the related case
	otherDoc          string
}

func newPolicyWorld(f *fixture) *policyWorld {
	f.t.Helper()
	w := &policyWorld{subjects: map[so.Role]access.Subject{}, missing: "0b8e3a0c-2f4e-4c1a-9a43-8d2b6c1f0e77"}
	ann := f.applicant("ann@example.org")
	bob := f.applicant("bob@example.org")
	w.related, w.other = f.newCase(ann, "Giulietta"), f.newCase(bob, "Romeo")
	w.subjects[so.RoleApplicant] = ann
	for _, r := range []so.Role{so.RoleCaseManager, so.RoleReviewer, so.RoleDPO, so.RoleAdmin} {
		_, w.subjects[r] = f.staff(string(r)+"@example.org", r)
	}
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: w.subjects[so.RoleCaseManager]}, w.related, "reviewer@example.org"); err != nil {
		f.t.Fatal(err)
	}
	inv, phys, _ := f.physician(ann, w.related, "dr.verdi@example.org")
	w.subjects[so.RolePhysician] = phys
	w.ownerDoc, w.physDoc, w.otherDoc = "doc-owner", "doc-physician", "doc-other"
	f.document(w.ownerDoc, w.related, "identity_document", ann.AccountID, "")
	f.document(w.physDoc, w.related, "cover_letter", "", inv.ID)
	f.document(w.otherDoc, w.other, "identity_document", bob.AccountID, "")
	return w
}

// TestPolicyMatrix asks the policy every cell of the tables above, through subjects that signed
// in for real (passwords, TOTP, an invitation link) and facts read from PostgreSQL.
func TestPolicyMatrix(t *testing.T) {
	f := newFixture(t)
	w := newPolicyWorld(f)
	p := f.svc.Policy

	for _, row := range caseMatrix {
		for i, role := range roles {
			want := strings.Fields(row.cells[i])
			for j, caseID := range []string{w.related, w.other, w.missing} {
				if got := answer(p.Authorize(f.ctx, w.subjects[role], row.action, caseID)); got != want[j] {
					t.Errorf("%s %s on %s case: %s, want %s", role, row.action, []string{"related", "other", "missing"}[j], got, want[j])
				}
			}
		}
	}
	for _, row := range documentMatrix {
		for i, role := range roles {
			want := strings.Fields(row.cells[i])
			for j, docID := range []string{w.ownerDoc, w.physDoc, w.otherDoc, "doc-missing"} {
				if got := answer(p.AuthorizeDocument(f.ctx, w.subjects[role], row.action, docID)); got != want[j] {
					t.Errorf("%s %s on %s: %s, want %s", role, row.action, docID, got, want[j])
				}
				// The same answer on the facts of the registry row (the zero facts when
				// missing), without and with the case's facts read in the same query.
				facts, _ := f.cases.DocumentFacts(f.ctx, docID)
				if got := answer(p.AuthorizeDocumentFacts(f.ctx, w.subjects[role], row.action, facts)); got != want[j] {
					t.Errorf("%s %s on the facts of %s: %s, want %s", role, row.action, docID, got, want[j])
				}
				var withCase access.DocumentFacts
				if rec, err := f.cases.StoredDocument(f.ctx, docID); err == nil {
					withCase = rec.Facts()
				}
				if got := answer(p.AuthorizeDocumentFacts(f.ctx, w.subjects[role], row.action, withCase)); got != want[j] {
					t.Errorf("%s %s on the facts of %s with its case's: %s, want %s", role, row.action, docID, got, want[j])
				}
			}
		}
	}
	for _, row := range globalMatrix {
		want := strings.Fields(row.cells)
		for i, role := range roles {
			if got := answer(p.Authorize(f.ctx, w.subjects[role], row.action, "")); got != want[i] {
				t.Errorf("%s %s: %s, want %s", role, row.action, got, want[i])
			}
		}
	}
	for _, row := range uploadMatrix {
		want := strings.Fields(row.cells)
		for i, role := range roles {
			if got := answer(p.AuthorizeUpload(f.ctx, w.subjects[role], w.related, row.kind)); got != want[i] {
				t.Errorf("%s uploading %s: %s, want %s", role, row.kind, got, want[i])
			}
			// Elsewhere the case answers first: invisible is 404 whatever the kind.
			wantOther := map[so.Role]string{so.RoleApplicant: "404", so.RolePhysician: "404", so.RoleReviewer: "404"}[role]
			if wantOther == "" {
				wantOther = "403"
			}
			if got := answer(p.AuthorizeUpload(f.ctx, w.subjects[role], w.other, row.kind)); got != wantOther {
				t.Errorf("%s uploading %s to another case: %s, want %s", role, row.kind, got, wantOther)
			}
			if got := answer(p.AuthorizeUpload(f.ctx, w.subjects[role], w.missing, row.kind)); got != "404" {
				t.Errorf("%s uploading %s to a missing case: %s, want 404", role, row.kind, got)
			}
		}
	}

	t.Run("ids that cannot exist are missing", func(t *testing.T) {
		for _, id := range []string{"", "nope", "0B8E3A0C-2F4E-4C1A-9A43-8D2B6C1F0E77", w.related + " "} {
			if got := answer(p.Authorize(f.ctx, w.subjects[so.RoleCaseManager], access.ActionCaseRead, id)); got != "404" {
				t.Errorf("case %q: %s", id, got)
			}
		}
	})
	t.Run("nobody is unauthenticated", func(t *testing.T) {
		for _, s := range []access.Subject{{}, {Role: so.RoleApplicant}, {Role: so.RolePhysician, InvitationID: "x"}, {Role: "root", AccountID: "x"}} {
			if err := p.Authorize(f.ctx, s, access.ActionCaseRead, w.related); !errors.Is(err, so.ErrUnauthenticated) {
				t.Errorf("%+v: %v", s, err)
			}
			if err := p.AuthorizeDocumentFacts(f.ctx, s, access.ActionDocumentRead, access.DocumentFacts{}); !errors.Is(err, so.ErrUnauthenticated) {
				t.Errorf("%+v on a missing document: %v", s, err)
			}
		}
	})
	t.Run("case facts given with a document's are decided on, unless of another case", func(t *testing.T) {
		rev := w.subjects[so.RoleReviewer]
		facts, err := f.cases.DocumentFacts(f.ctx, w.ownerDoc)
		if err != nil {
			t.Fatal(err)
		}
		unassigned := access.CaseFacts{ID: facts.CaseID, OwnerID: "someone"}
		facts.Case = &unassigned
		if got := answer(p.AuthorizeDocumentFacts(f.ctx, rev, access.ActionDocumentRead, facts)); got != "404" {
			t.Errorf("reviewer not among the given case facts: %s, want 404", got)
		}
		other := access.CaseFacts{ID: w.other}
		facts.Case = &other
		if got := answer(p.AuthorizeDocumentFacts(f.ctx, rev, access.ActionDocumentRead, facts)); got != "ok" {
			t.Errorf("case facts of another case were not ignored: %s", got)
		}
	})
	t.Run("actions in the wrong place are errors, not answers", func(t *testing.T) {
		cm := w.subjects[so.RoleCaseManager]
		for _, err := range []error{
			p.Authorize(f.ctx, cm, access.ActionDocumentRead, w.related),
			p.Authorize(f.ctx, cm, access.ActionAuditRead, w.related),
			p.Authorize(f.ctx, cm, "case.frobnicate", w.related),
			p.AuthorizeDocument(f.ctx, cm, access.ActionCaseRead, w.ownerDoc),
			p.AuthorizeDocumentFacts(f.ctx, cm, access.ActionCaseRead, access.DocumentFacts{ID: w.ownerDoc}),
		} {
			if err == nil || errors.Is(err, so.ErrForbidden) || errors.Is(err, so.ErrNotFound) {
				t.Errorf("got %v", err)
			}
		}
	})
	t.Run("unassigning hides the case again", func(t *testing.T) {
		if err := f.cases.Unassign(f.ctx, w.related, w.subjects[so.RoleReviewer].AccountID); err != nil {
			t.Fatal(err)
		}
		if got := answer(p.Authorize(f.ctx, w.subjects[so.RoleReviewer], access.ActionCaseRead, w.related)); got != "404" {
			t.Errorf("unassigned reviewer: %s", got)
		}
	})
}

// The tables cover every action, and the package documentation shows exactly these tables.
func TestPolicyTablesCompleteAndDocumented(t *testing.T) {
	var inCase, inDoc, inGlobal []access.Action
	for _, r := range caseMatrix {
		inCase = append(inCase, r.action)
	}
	for _, r := range documentMatrix {
		inDoc = append(inDoc, r.action)
	}
	for _, r := range globalMatrix {
		inGlobal = append(inGlobal, r.action)
	}
	for _, c := range []struct {
		name        string
		table, want []access.Action
	}{{"case", inCase, access.CaseActions}, {"document", inDoc, access.DocumentActions}, {"global", inGlobal, access.GlobalActions}} {
		if !slices.Equal(c.table, c.want) {
			t.Errorf("%s table covers %v, the package defines %v", c.name, c.table, c.want)
		}
	}
	var kinds []so.DocumentKind
	for _, r := range uploadMatrix[:len(uploadMatrix)-1] {
		kinds = append(kinds, r.kind)
	}
	for _, role := range roles {
		for _, k := range access.UploadableKinds(role) {
			if !slices.Contains(kinds, k) {
				t.Errorf("%s may upload %s, which the upload table lacks", role, k)
			}
		}
	}

	src, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]string{}
	for _, line := range strings.Split(string(src), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		if len(f) > 1 && strings.Contains(f[0], ".") && !strings.HasSuffix(f[0], ".") {
			doc[f[0]] = strings.Join(f[1:], " ")
		}
	}
	check := func(action access.Action, cells string) {
		if got := doc[string(action)]; got != cells {
			t.Errorf("doc.go row %s:\n got %q\nwant %q", action, got, cells)
		}
	}
	for _, r := range caseMatrix {
		check(r.action, strings.Join(r.cells[:], " "))
	}
	for _, r := range documentMatrix {
		check(r.action, strings.Join(r.cells[:], " "))
	}
	for _, r := range globalMatrix {
		check(r.action, r.cells)
	}
}
