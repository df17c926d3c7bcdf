package audit

import (
	"context"
	"slices"
	"testing"
)

// The entries about a person are exactly those of their cases, their own without a case and
// those about their account: never another person's case, not even their own refused attempt
// on it, nor another account's entries. EachAbout reads past one page, oldest first;
// LatestAbout answers the newest, and says when there are more.
func TestEntriesAbout(t *testing.T) {
	l := newTestLog(t, nil)
	ctx := context.Background()
	const ann, bob = "account:ann", "account:bob"
	type row struct {
		e     Entry
		about bool
	}
	rows := []row{
		{Entry{ActorID: ann, ActorRole: "applicant", Action: ActionLogin, ObjectType: "session"}, true},
		{Entry{ActorID: "account:rita", ActorRole: "reviewer", Action: ActionDocumentOpen, ObjectType: "document", ObjectID: "doc-a", CaseID: "case-a"}, true},
		{Entry{ActorID: bob, ActorRole: "applicant", Action: ActionDocumentOpen, ObjectType: "document", ObjectID: "doc-b", CaseID: "case-b"}, false},
		{Entry{ActorID: ann, ActorRole: "applicant", Action: "access.denied", ObjectType: "route:/api/v1/cases/:id", ObjectID: "case-b", CaseID: "case-b", Outcome: OutcomeMinorFailure}, false},
		{Entry{ActorID: bob, ActorRole: "applicant", Action: ActionLogin, ObjectType: "session"}, false},
		{Entry{ActorID: "account:adm", ActorRole: "admin", Action: ActionAccountCreate, ObjectType: "account", ObjectID: "ann@example.org"}, true},
		{Entry{ActorID: "account:adm", ActorRole: "admin", Action: ActionAccountCreate, ObjectType: "account", ObjectID: "bob@example.org"}, false},
		{Entry{ActorID: "account:dpo", ActorRole: "dpo", Action: ActionSubjectExport, ObjectType: "account", ObjectID: "ann"}, true},
		{Entry{ActorID: "account:dpo", ActorRole: "dpo", Action: ActionAuditRead, ObjectType: "audit_log", ObjectID: "ann"}, false},
		{Entry{ActorID: "invitation:inv", ActorRole: "physician", Action: ActionUploadFinish, ObjectType: "document", ObjectID: "doc-c", CaseID: "case-c"}, true},
	}
	for range 2 { // more than one page of EachAbout, by repeating the rows
		for i := 0; i < eachBatch/len(rows)+1; i++ {
			for _, r := range rows {
				if _, err := l.w.Log(ctx, r.e); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	a := About{ActorID: ann, CaseIDs: []string{"case-a", "case-c"}, ObjectIDs: []string{"ann", "ann@example.org"}}
	var want []int64
	size, err := l.r.Size(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for seq := range size {
		if rows[int(seq)%len(rows)].about {
			want = append(want, seq)
		}
	}
	var got []int64
	if err := l.r.EachAbout(ctx, a, func(e Entry) error { got = append(got, e.Seq); return nil }); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("EachAbout: %d entries %v…, want %d %v…", len(got), got[:min(len(got), 8)], len(want), want[:8])
	}
	latest, more, err := l.r.LatestAbout(ctx, a, 5)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []int64
	for _, e := range latest {
		seqs = append(seqs, e.Seq)
	}
	if !more || !slices.Equal(seqs, reverse(want)[:5]) {
		t.Fatalf("LatestAbout: %v (more: %v), want %v", seqs, more, reverse(want)[:5])
	}
	if all, more, err := l.r.LatestAbout(ctx, About{ActorID: "account:nobody"}, 0); err != nil || more || len(all) != 0 {
		t.Fatalf("nobody's entries: %v, %v, %v", all, more, err)
	}
	if err := l.r.EachAbout(ctx, About{}, func(Entry) error { t.Fatal("an empty About selects entries"); return nil }); err != nil {
		t.Fatal(err)
	}
}

func TestCSVCell(t *testing.T) {
	for in, want := range map[string]string{"=1+1": "'=1+1", "+x": "'+x", "-2": "'-2", "@SUM(A1)": "'@SUM(A1)",
		"\tx": "'\tx", "plain": "plain", "": "", "a=b": "a=b"} {
		if got := CSVCell(in); got != want {
			t.Errorf("CSVCell(%q) = %q, want %q", in, got, want)
		}
	}
}
