package retention

import (
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
)

func TestParseRules(t *testing.T) {
	for _, c := range []struct {
		in, want, err string
	}{
		{in: DefaultRules, want: "draft=365d,closed=10y,withdrawn=30d,refunded=10y,rejected=0d"},
		{in: "", want: ""},
		{in: " closed = 1y30d , rejected=7d ", want: "closed=1y30d,rejected=7d"},
		{in: "closed=0y", want: "closed=0d"},
		{in: "closed", err: "want state=period"},
		{in: "closed=", err: "no period"},
		{in: "closed=10", err: "want e.g."},
		{in: "closed=10m", err: "want e.g."},
		{in: "closed=-1d", err: "want e.g."},
		{in: "closed=300y", err: "years must be"},
		{in: "closed=1y,closed=2y", err: "given twice"},
		{in: "rejected=1d,rejected=2d", err: "given twice"},
		{in: "in_review=1y", err: "never erased"},
		{in: "archived=1y", err: "not a case state"},
	} {
		r, err := ParseRules(c.in)
		switch {
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("ParseRules(%q) error %v, want one saying %q", c.in, err, c.err)
		case c.err == "" && err != nil:
			t.Errorf("ParseRules(%q): %v", c.in, err)
		case c.err == "" && r.String() != c.want:
			t.Errorf("ParseRules(%q) = %q, want %q", c.in, r.String(), c.want)
		}
	}
}

func TestCutoffsAreCalendarPeriods(t *testing.T) {
	r, err := ParseRules("closed=10y,withdrawn=30d,draft=1y1d")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2036, 3, 1, 12, 0, 0, 0, time.UTC)
	got := r.Cutoffs(now)
	want := map[so.CaseStatus]time.Time{
		so.StatusClosed:    time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
		so.StatusWithdrawn: time.Date(2036, 1, 31, 12, 0, 0, 0, time.UTC), // 2036 is a leap year
		so.StatusDraft:     time.Date(2035, 2, 28, 12, 0, 0, 0, time.UTC),
	}
	if len(got) != len(want) {
		t.Fatalf("cutoffs %v", got)
	}
	for st, w := range want {
		if !got[st].Equal(w) {
			t.Errorf("%s: cutoff %s, want %s", st, got[st], w)
		}
	}
}

// Whatever the input, ParseRules either refuses it or returns rules that read back the same.
func FuzzParseRules(f *testing.F) {
	for _, s := range []string{DefaultRules, "closed=1y30d", "rejected=0d", "x=1", ",,", "closed=99999999999999999999d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRules(s)
		if err != nil {
			return
		}
		again, err := ParseRules(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("%q read as %q, which reads back as %q (%v)", s, r.String(), again.String(), err)
		}
		_ = r.Cutoffs(time.Now())
	})
}
