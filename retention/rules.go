package retention

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// Period is a retention period in calendar years and days ("10y", "30d", "0d").
type Period struct {
	Years, Days int
}

// Before returns the cutoff of the period at now: what entered its state at or before it
// has expired.
func (p Period) Before(now time.Time) time.Time { return now.AddDate(-p.Years, 0, -p.Days) }

// String writes the period as ParseRules reads it.
func (p Period) String() string {
	switch {
	case p.Years > 0 && p.Days > 0:
		return fmt.Sprintf("%dy%dd", p.Years, p.Days)
	case p.Years > 0:
		return fmt.Sprintf("%dy", p.Years)
	}
	return fmt.Sprintf("%dd", p.Days)
}

// Rules are the centre's retention periods: how long a case is kept once it is in a state
// (States), and how long a document the case manager rejected is kept (Rejected; nil: until
// its case is erased). A state without a period is kept until it changes.
type Rules struct {
	States   map[so.CaseStatus]Period
	Rejected *Period
}

// DefaultRules is SO_RETENTION's default: closed and refunded cases ten years (the medical
// and accounting records of a consultation), withdrawn cases 30 days, drafts never submitted
// a year after their last change, rejected documents at the next daily run.
const DefaultRules = "closed=10y,refunded=10y,withdrawn=30d,draft=365d,rejected=0d"

// rejectedKey names the rejected documents' period in the rules.
const rejectedKey = "rejected"

// ParseRules reads rules written as comma-separated state=period pairs, a period being
// years ("10y"), days ("30d") or both ("1y30d"); "rejected" names the rejected documents'
// period. The empty string is no rules: nothing expires. A case in review is never erased,
// so in_review takes no period.
func ParseRules(s string) (Rules, error) {
	r := Rules{States: map[so.CaseStatus]Period{}}
	for _, item := range strings.Split(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		key, val, ok := strings.Cut(item, "=")
		if !ok {
			return Rules{}, fmt.Errorf("%q: want state=period, e.g. closed=10y", item)
		}
		key = strings.TrimSpace(key)
		p, err := parsePeriod(strings.TrimSpace(val))
		if err != nil {
			return Rules{}, fmt.Errorf("%s: %w", key, err)
		}
		if key == rejectedKey {
			if r.Rejected != nil {
				return Rules{}, fmt.Errorf("%s: given twice", key)
			}
			r.Rejected = &p
			continue
		}
		st := so.CaseStatus(key)
		switch {
		case !st.Valid():
			return Rules{}, fmt.Errorf("%q: not a case state (nor %q)", key, rejectedKey)
		case st == so.StatusInReview:
			return Rules{}, fmt.Errorf("%s: a case in review is never erased", key)
		}
		if _, dup := r.States[st]; dup {
			return Rules{}, fmt.Errorf("%s: given twice", key)
		}
		r.States[st] = p
	}
	return r, nil
}

// maxYears bounds a period (AddDate must not overflow).
const maxYears = 200

func parsePeriod(s string) (Period, error) {
	var p Period
	rest := s
	if s == "" {
		return p, fmt.Errorf("no period: want e.g. 10y, 30d or 1y30d")
	}
	if y, after, ok := strings.Cut(rest, "y"); ok {
		n, err := strconv.Atoi(y)
		if err != nil || n < 0 || n > maxYears {
			return p, fmt.Errorf("%q: years must be a whole number from 0 to %d", s, maxYears)
		}
		p.Years, rest = n, after
	}
	if rest != "" {
		d, ok := strings.CutSuffix(rest, "d")
		n, err := strconv.Atoi(d)
		if !ok || err != nil || n < 0 || n > maxYears*366 {
			return p, fmt.Errorf("%q: want e.g. 10y, 30d or 1y30d", s)
		}
		p.Days = n
	}
	return p, nil
}

// String writes the rules as ParseRules reads them, states in a fixed order.
func (r Rules) String() string {
	var parts []string
	for _, st := range so.Statuses {
		if p, ok := r.States[st]; ok {
			parts = append(parts, string(st)+"="+p.String())
		}
	}
	if r.Rejected != nil {
		parts = append(parts, rejectedKey+"="+r.Rejected.String())
	}
	return strings.Join(parts, ",")
}

// Cutoffs are the rules' state cutoffs at now.
func (r Rules) Cutoffs(now time.Time) map[so.CaseStatus]time.Time {
	out := make(map[so.CaseStatus]time.Time, len(r.States))
	for st, p := range r.States {
		out[st] = p.Before(now)
	}
	return out
}
