package cases_test

import (
	"errors"
	"reflect"
	"testing"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/cases"
)

// A document without inspection flags registers (flags is NOT NULL: nil must be stored as {}).
func TestRegisterWithoutFlags(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	c := f.create(ann, "Maria")
	for _, flags := range [][]string{nil, {"pdf_javascript"}} {
		id := "doc-" + string(rune('a'+len(flags)))
		err := f.cases.Register(f.ctx, cases.NewDocument{ID: id, CaseID: c.ID, Kind: "clinical_history", Filename: "h.pdf",
			UploadedBy: ann.AccountID, ObjectKey: "objects/" + id, Size: 5, EncryptedSize: 300, SniffedType: "pdf", Flags: flags})
		if err != nil {
			t.Fatalf("register with flags %v: %v", flags, err)
		}
		st, err := f.cases.StoredObject(f.ctx, id)
		if err != nil || len(st.Flags) != len(flags) || st.EncryptedSize != 300 {
			t.Errorf("stored %+v, %v", st, err)
		}
	}
}

// StoredDocument reads in one query what Document and StoredObject read in two, and tells an
// available document from one that is not (no storage facts) and from a missing one.
func TestStoredDocument(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	c := f.create(ann, "Maria")
	err := f.cases.Register(f.ctx, cases.NewDocument{ID: "doc-a", CaseID: c.ID, Kind: "clinical_history", Filename: "h.pdf",
		UploadedBy: ann.AccountID, ObjectKey: "objects/doc-a", Size: 5, EncryptedSize: 300, SHA256: [32]byte{1},
		SniffedType: "pdf", Flags: []string{"pdf_javascript"}})
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second time on the prepared statement
		rec, err := f.cases.StoredDocument(f.ctx, "doc-a")
		if err != nil || rec.Stored == nil {
			t.Fatalf("StoredDocument: %+v, %v", rec, err)
		}
		wantDoc, _ := f.cases.Document(f.ctx, "doc-a")
		wantSt, _ := f.cases.StoredObject(f.ctx, "doc-a")
		wantCase, _ := f.cases.CaseFacts(f.ctx, c.ID)
		if !reflect.DeepEqual(rec.Document, wantDoc) || !reflect.DeepEqual(*rec.Stored, wantSt) || !reflect.DeepEqual(rec.Case, wantCase) {
			t.Fatalf("StoredDocument = %+v; want %+v, %+v, %+v", rec, wantDoc, wantSt, wantCase)
		}
		wantFacts := wantDoc.Facts()
		wantFacts.Case = &wantCase
		if !reflect.DeepEqual(rec.Facts(), wantFacts) {
			t.Fatalf("Facts = %+v, want %+v", rec.Facts(), wantFacts)
		}
	}
	// The case's reviewers are its facts' reviewers.
	cm := f.subject("cm@example.org", so.RoleCaseManager)
	f.subject("rev@example.org", so.RoleReviewer)
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: cm}, c.ID, "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	rec, _ := f.cases.StoredDocument(f.ctx, "doc-a")
	if wantCase, _ := f.cases.CaseFacts(f.ctx, c.ID); len(rec.Case.Reviewers) != 1 || !reflect.DeepEqual(rec.Case, wantCase) {
		t.Errorf("case facts %+v, want %+v", rec.Case, wantCase)
	}
	if _, err := f.db.Owner.ExecContext(f.ctx, `UPDATE documents SET status = 'rejected' WHERE id = 'doc-a'`); err != nil {
		t.Fatal(err)
	}
	if rec, err := f.cases.StoredDocument(f.ctx, "doc-a"); err != nil || rec.Stored != nil || rec.Status != "rejected" {
		t.Errorf("rejected document: %+v, %v", rec, err)
	}
	if _, err := f.cases.StoredDocument(f.ctx, "missing"); !errors.Is(err, so.ErrNotFound) {
		t.Errorf("missing document: %v", err)
	}
}

// Registering the same document again (a retried finish) changes nothing; the same id for
// another object is refused.
func TestRegisterAgain(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", so.RoleApplicant)
	c := f.create(ann, "Maria")
	doc := cases.NewDocument{ID: "doc-again", CaseID: c.ID, Kind: "clinical_history", Filename: "h.pdf",
		UploadedBy: ann.AccountID, ObjectKey: "objects/a", Size: 5, EncryptedSize: 300, SniffedType: "pdf", SHA256: [32]byte{1}}
	for i := range 2 {
		if err := f.cases.Register(f.ctx, doc); err != nil {
			t.Fatalf("register #%d: %v", i+1, err)
		}
	}
	other := doc
	other.ObjectKey = "objects/b"
	if err := f.cases.Register(f.ctx, other); err == nil {
		t.Fatal("the id of a registered document was registered for another object")
	}
	if st, err := f.cases.StoredObject(f.ctx, doc.ID); err != nil || st.ObjectKey != "objects/a" {
		t.Fatalf("stored %+v, %v", st, err)
	}
}
