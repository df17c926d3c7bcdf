package cases_test

import (
	"testing"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
)

// A document without inspection flags registers (flags is NOT NULL: nil must be stored as {}).
func TestRegisterWithoutFlags(t *testing.T) {
	f := newFixture(t)
	ann := f.subject("ann@example.org", access.RoleApplicant)
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
