package cases

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
)

// View is a case as one subject may see it. A reviewer assigned to a case without an active
// countersigned consent sees only that it exists, its status and that it waits for consent:
// Case is nil, and no health data (patient, question, documents) reaches them.
type View struct {
	ID              string        `json:"id"`
	Status          so.CaseStatus `json:"status"`
	AwaitingConsent bool          `json:"awaiting_consent,omitempty"`
	*Case
}

// Redacted reports whether the view holds only the case's id and status.
func (v View) Redacted() bool { return v.Case == nil }

// Sort orders a case listing.
type Sort string

// The orders.
const (
	SortCreated Sort = "created" // newest first (the default)
	SortDue     Sort = "due"     // overdue first, then by the running clock's due instant, then newest
)

// ListOptions filter and order a listing.
type ListOptions struct {
	Status       so.CaseStatus       // only cases in this state; "" for all
	Overdue      bool                // only cases whose running clock is past due
	Language     so.Language         // only cases in this language; "" for all
	Consultation so.ConsultationType // only cases asking for this consultation; "" for all
	Reviewer     string              // only cases assigned to the reviewer with this email; "" for all
	Sort         Sort
}

// List returns the cases s may read (access.ReadableCases), filtered and ordered by opt, each
// as s may see it (see View).
func (c *Cases) List(ctx context.Context, s access.Subject, opt ListOptions) ([]View, error) {
	now := c.Now()
	where, args, ok := scopeWhere(access.ReadableCases(s))
	if !ok {
		return []View{}, nil
	}
	var nowRef string
	nowArg := func() string { // the placeholder of now, added to args once
		if nowRef == "" {
			args = append(args, now)
			nowRef = fmt.Sprintf("$%d", len(args))
		}
		return nowRef
	}
	if opt.Status != "" {
		args = append(args, string(opt.Status))
		where = append(where, fmt.Sprintf("status = $%d", len(args)))
	}
	if opt.Overdue {
		where = append(where, overdueSQL(nowArg()))
	}
	if opt.Language != "" {
		args = append(args, string(opt.Language))
		where = append(where, fmt.Sprintf("language = $%d", len(args)))
	}
	if opt.Consultation != "" {
		args = append(args, string(opt.Consultation))
		where = append(where, fmt.Sprintf("$%d = ANY (consultation_types)", len(args)))
	}
	if opt.Reviewer != "" {
		id, err := c.cfg.Accounts.EnabledAccount(ctx, opt.Reviewer, so.RoleReviewer)
		if errors.Is(err, so.ErrNotFound) {
			return []View{}, nil // no such reviewer: no case is theirs
		}
		if err != nil {
			return nil, err
		}
		args = append(args, id)
		where = append(where, fmt.Sprintf("id IN (SELECT case_id FROM assignments WHERE reviewer_id = $%d)", len(args)))
	}
	q := `SELECT ` + caseColumns + ` FROM cases`
	for i, w := range where {
		if i == 0 {
			q += " WHERE " + w
		} else {
			q += " AND " + w
		}
	}
	switch opt.Sort {
	case SortDue:
		q += ` ORDER BY ` + overdueSQL(nowArg()) + ` DESC, ` + dueSQL + ` ASC NULLS LAST, created_at DESC, id`
	default:
		q += ` ORDER BY created_at DESC, id`
	}
	var rows []caseRow
	if err := c.db.SelectContext(ctx, &rows, q, args...); err != nil {
		return nil, fmt.Errorf("list cases: %w", err)
	}
	out := make([]View, len(rows))
	ids := make([]string, len(rows))
	for i, r := range rows {
		cs := r.value(now)
		out[i] = View{ID: cs.ID, Status: cs.Status, Case: &cs}
		ids[i] = cs.ID
	}
	if s.Role == so.RoleReviewer {
		if err := c.redact(ctx, out, ids); err != nil {
			return nil, err
		}
	}
	for i := range out {
		minimize(s, out[i].Case)
	}
	return out, nil
}

// scopeWhere is the condition of the cases a scope reads, with its arguments; ok is false
// when it reads none.
func scopeWhere(scope access.CaseScope) (where []string, args []any, ok bool) {
	where = append(where, "erasing_at IS NULL") // an erasure has begun: the case is gone
	switch {
	case scope.All:
	case scope.OwnerID != "":
		args = append(args, scope.OwnerID)
		where = append(where, fmt.Sprintf("owner_id = $%d", len(args)))
	case scope.ReviewerID != "":
		args = append(args, scope.ReviewerID)
		where = append(where, fmt.Sprintf("id IN (SELECT case_id FROM assignments WHERE reviewer_id = $%d)", len(args)),
			"status NOT IN ('withdrawn', 'refunded')") // access.ReviewerClosed
	default:
		return nil, nil, false
	}
	return where, args, true
}

// Counts is how many of the cases s may read are in each state, and how many are overdue:
// the queue's summary, counted by the database rather than by listing every case.
func (c *Cases) Counts(ctx context.Context, s access.Subject) (map[so.CaseStatus]int, int, error) {
	where, args, ok := scopeWhere(access.ReadableCases(s))
	counts := map[so.CaseStatus]int{}
	if !ok {
		return counts, 0, nil
	}
	args = append(args, c.Now())
	q := `SELECT status, count(*) AS n, count(*) FILTER (WHERE ` + overdueSQL(fmt.Sprintf("$%d", len(args))) + `) AS overdue FROM cases`
	if len(where) > 0 {
		q += " WHERE " + strings.Join(where, " AND ")
	}
	var rows []struct {
		Status  string `db:"status"`
		N       int    `db:"n"`
		Overdue int    `db:"overdue"`
	}
	if err := c.db.SelectContext(ctx, &rows, q+" GROUP BY status", args...); err != nil {
		return nil, 0, fmt.Errorf("count cases: %w", err)
	}
	overdue := 0
	for _, r := range rows {
		counts[so.CaseStatus(r.Status)] = r.N
		overdue += r.Overdue
	}
	return counts, overdue, nil
}

// minimize removes from a case what the subject's role has no need for: the DPO handles
// access requests and erasure by the case's metadata, never its clinical question.
func minimize(s access.Subject, c *Case) {
	if c != nil && s.Role == so.RoleDPO {
		c.ClinicalQuestion = ""
	}
}

// dueSQL is the running clock's due instant.
const dueSQL = `(CASE WHEN status IN ('submitted', 'triage') THEN triage_due_at
		WHEN status = 'in_review' THEN report_due_at END)`

// overdueSQL is whether the running clock has passed its due instant at now (a placeholder).
func overdueSQL(now string) string {
	return `(clock_paused_at IS NULL AND coalesce(` + dueSQL + ` <= ` + now + `::timestamptz, false))`
}

// redact blanks the views of cases without an active consent (for reviewers).
func (c *Cases) redact(ctx context.Context, views []View, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if c.cfg.Consent == nil {
		return errors.New("cases: no consent checker configured: cannot show reviewers their cases")
	}
	active, err := c.cfg.Consent.ActiveConsents(ctx, nil, ids)
	if err != nil {
		return fmt.Errorf("%w: consent: %w", so.ErrUnavailable, err)
	}
	for i := range views {
		if !active[views[i].ID] {
			views[i] = View{ID: views[i].ID, Status: views[i].Status, AwaitingConsent: true}
		}
	}
	return nil
}

// View returns the case as s may see it. The caller has been allowed access.ActionCaseRead.
func (c *Cases) View(ctx context.Context, s access.Subject, id string) (View, error) {
	cs, err := c.Get(ctx, id)
	if err != nil {
		return View{}, err
	}
	return c.ViewOf(ctx, s, cs)
}

// ViewOf is View of a case the caller has read already (the one a step returned).
func (c *Cases) ViewOf(ctx context.Context, s access.Subject, cs Case) (View, error) {
	v := []View{{ID: cs.ID, Status: cs.Status, Case: &cs}}
	if s.Role == so.RoleReviewer {
		if err := c.redact(ctx, v, []string{cs.ID}); err != nil {
			return View{}, err
		}
	}
	minimize(s, v[0].Case)
	return v[0], nil
}

// Detail is GET /api/v1/cases/{id}: the case as the subject may see it, with its checklist,
// history (the timeline), extras, balance, the open request for documents and, for staff,
// its reviewers. A redacted view has none of them.
type Detail struct {
	View
	Checklist       []ChecklistItem  `json:"checklist,omitempty"`
	History         []Event          `json:"history,omitempty"`
	Extras          []Extra          `json:"extras,omitempty"`
	Balance         *Balance         `json:"balance,omitempty"`
	Payments        []Payment        `json:"payments,omitempty"`
	DocumentRequest *DocumentRequest `json:"document_request,omitempty"`
	Assignments     []Assignment     `json:"assignments,omitempty"`
}

// DocumentRequest is the open request for documents: what the case manager asked for.
type DocumentRequest struct {
	Kinds       []so.DocumentKind `json:"kinds"`
	Message     string            `json:"message"`
	RequestedAt time.Time         `json:"requested_at"`
}

// Detail returns the case's detail as s may see it. The caller has been allowed
// access.ActionCaseRead.
func (c *Cases) Detail(ctx context.Context, s access.Subject, id string) (Detail, error) {
	v, err := c.View(ctx, s, id)
	if err != nil || v.Redacted() {
		return Detail{View: v}, err
	}
	d := Detail{View: v}
	if d.Checklist, err = c.checklist(ctx, c.db, *v.Case); err != nil {
		return Detail{}, err
	}
	if d.History, err = c.History(ctx, id); err != nil {
		return Detail{}, err
	}

	if d.Extras, err = c.Extras(ctx, id); err != nil {
		return Detail{}, err
	}
	b, err := c.balance(ctx, c.db, *v.Case)
	if err != nil {
		return Detail{}, err
	}
	if v.Price != nil {
		d.Balance = &b
		if d.Payments, err = c.Payments(ctx, id); err != nil {
			return Detail{}, err
		}
	}
	if d.DocumentRequest, err = c.openRequest(ctx, c.db, id); err != nil {
		return Detail{}, err
	}
	if s.Role.Staff() {
		if d.Assignments, err = c.Assignments(ctx, id); err != nil {
			return Detail{}, err
		}
	}
	if s.Role == so.RoleDPO {
		d.minimizeForDPO()
	}
	return d, nil
}

// minimizeForDPO blanks the free text of a detail, which may hold clinical detail: the notes
// of the history, the extras' reasons, the request for documents' message, the refunds'
// reasons. The steps, amounts and dates stay.
func (d *Detail) minimizeForDPO() {
	for i := range d.History {
		d.History[i].Note = ""
	}
	for i := range d.Extras {
		d.Extras[i].Reason = ""
	}
	for i := range d.Payments {
		d.Payments[i].Reason = ""
	}
	if d.DocumentRequest != nil {
		d.DocumentRequest.Message = ""
	}
}

func (c *Cases) openRequest(ctx context.Context, q sqlx.QueryerContext, caseID string) (*DocumentRequest, error) {
	var rows []struct {
		Kinds       pq.StringArray `db:"kinds"`
		Message     string         `db:"message"`
		RequestedAt time.Time      `db:"requested_at"`
	}
	if err := sqlx.SelectContext(ctx, q, &rows, `SELECT kinds, message, requested_at FROM document_requests
		WHERE case_id = $1 AND answered_at IS NULL ORDER BY requested_at DESC LIMIT 1`, caseID); err != nil {
		return nil, fmt.Errorf("document request: %w", err)
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := &DocumentRequest{Message: rows[0].Message, RequestedAt: rows[0].RequestedAt}
	for _, k := range rows[0].Kinds {
		r.Kinds = append(r.Kinds, so.DocumentKind(k))
	}
	return r, nil
}

// OverdueCount returns how many cases' running clocks are past due, for the metric.
func (c *Cases) OverdueCount(ctx context.Context) (int, error) {
	var n int
	if err := c.db.GetContext(ctx, &n, `SELECT count(*) FROM cases WHERE `+overdueSQL("$1"), c.Now()); err != nil {
		return 0, fmt.Errorf("overdue cases: %w", err)
	}
	return n, nil
}
