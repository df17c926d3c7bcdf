package audit

import (
	"bytes"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"
)

// The serialization is stable: this vector changes only with a new version line.
func TestCanonicalVector(t *testing.T) {
	e := Entry{Seq: 7, Time: time.Date(2025, 1, 2, 3, 4, 5, 6000, time.UTC), ActorID: "a", Action: "document.open",
		CaseID: "c", Outcome: OutcomeMinorFailure, Reason: "consent"}
	got := e.Canonical()
	want := []byte(canonicalMagic)
	want = append(want, 0, 0, 0, 0, 0, 0, 0, 7)                         // seq
	want = append(want, 0x00, 0x06, 0x2a, 0xb0, 0x6a, 0x39, 0x13, 0x46) // 1735787045000006 µs
	want = append(want, 4)                                              // outcome
	want = append(want, 1, 'a', 0, 0)                                   // actor, role, on behalf of
	want = append(want, 13)
	want = append(want, "document.open"...)
	want = append(want, 0, 0, 1, 'c', 0, 0, 0, 0) // object type, id, case, ip, ua, request, purpose
	want = append(want, 7)
	want = append(want, "consent"...)
	if !bytes.Equal(got, want) {
		t.Fatalf("canonical\n got %x\nwant %x", got, want)
	}
	if e.Hash() != tlog.RecordHash(want) {
		t.Fatal("hash is not the RFC 6962 leaf hash of the serialization")
	}
}

func TestOutcome(t *testing.T) {
	for _, o := range []Outcome{0, 4, 8, 12} {
		if !o.Valid() || strings.HasPrefix(o.String(), "outcome(") {
			t.Errorf("%d", o)
		}
	}
	for _, o := range []Outcome{-1, 1, 5, 13} {
		if o.Valid() {
			t.Errorf("%d valid", o)
		}
	}
	if _, err := normalize(Entry{Action: "x", Outcome: 2}); !errors.Is(err, ErrInvalidEntry) {
		t.Error("outcome 2 accepted")
	}
}

// Moving a byte from one field to its neighbour changes the serialization: field
// boundaries are unambiguous.
func FuzzCanonicalInjective(f *testing.F) {
	f.Add("ab", "c", 1)
	f.Add("", "x", 0)
	f.Fuzz(func(t *testing.T, a, b string, field int) {
		fields := func(e *Entry) []*string {
			return []*string{&e.ActorID, &e.ActorRole, &e.OnBehalfOf, &e.Action, &e.ObjectType, &e.ObjectID,
				&e.CaseID, &e.ClientIP, &e.UserAgent, &e.RequestID, &e.Purpose, &e.Reason}
		}
		i := (field%11 + 11) % 11
		var e1, e2 Entry
		*fields(&e1)[i], *fields(&e1)[i+1] = a, b
		if a == "" {
			return
		}
		*fields(&e2)[i], *fields(&e2)[i+1] = a[:len(a)-1], a[len(a)-1:]+b
		if bytes.Equal(e1.Canonical(), e2.Canonical()) {
			t.Fatalf("%q|%q and %q|%q serialize alike", a, b, a[:len(a)-1], a[len(a)-1:]+b)
		}
	})
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range []string{"", "case_id=c&actor=a&action=document.*&outcome=denied",
		"from=2025-01-01&to=2025-01-02T00:00:00Z&before=10&limit=5", "action=a%25b", "limit=99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := url.ParseQuery(s)
		if err != nil {
			return
		}
		flt, err := ParseFilter(q)
		if err != nil {
			if !errors.Is(err, ErrInvalidFilter) {
				t.Fatalf("error does not wrap ErrInvalidFilter: %v", err)
			}
			return
		}
		if flt.Limit < 0 || flt.Limit > MaxLimit || flt.Before < 0 || !validAction(flt.Action) {
			t.Fatalf("accepted %+v", flt)
		}
		where, args := flt.where()
		if strings.Count(where, "$") != len(args) {
			t.Fatalf("where %q has %d arguments", where, len(args))
		}
	})
}

func FuzzParseCheckpoint(f *testing.F) {
	f.Add([]byte(FormatCheckpoint("o", 1, tlog.Hash{})))
	f.Add([]byte("o\n1\nAAAA\next\n"))
	f.Fuzz(func(t *testing.T, text []byte) {
		origin, size, root, err := ParseCheckpoint(text)
		if err != nil {
			if !errors.Is(err, ErrMalformedCheckpoint) {
				t.Fatalf("error does not wrap ErrMalformedCheckpoint: %v", err)
			}
			return
		}
		if !bytes.HasPrefix(text, FormatCheckpoint(origin, size, root)) {
			t.Fatalf("%q parsed as %q %d %v", text, origin, size, root)
		}
	})
}

func FuzzOpenCheckpoint(f *testing.F) {
	skey, _, err := GenerateCheckpointKey("fuzz.example/audit")
	if err != nil {
		f.Fatal(err)
	}
	s, v, err := ParseCheckpointKey(skey)
	if err != nil {
		f.Fatal(err)
	}
	good, err := note.Sign(&note.Note{Text: string(FormatCheckpoint(s.Name(), 3, tlog.Hash{1}))}, s)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte("fuzz.example/audit\n3\n\n— fuzz.example/audit AAAA\n"))
	f.Fuzz(func(t *testing.T, signed []byte) {
		cp, err := OpenCheckpoint(signed, v)
		if err != nil {
			return
		}
		if cp.Origin != v.Name() || cp.Size < 0 {
			t.Fatalf("opened %+v", cp)
		}
		if claimedSize(signed) != cp.Size {
			t.Fatalf("claimed size %d, signed size %d", claimedSize(signed), cp.Size)
		}
	})
}
