package cases

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	"github.com/lib/pq"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// Transition is a step of the state machine, named as the last path segment of
// POST /api/v1/cases/{id}/{transition}.
type Transition string

// The transitions (DESIGN §8, §9).
const (
	TransitionSubmit           Transition = "submit"            // applicant: draft → submitted; documents_requested → triage
	TransitionTriage           Transition = "triage"            // case manager: submitted → triage
	TransitionRequestDocuments Transition = "request-documents" // case manager: triage → documents_requested
	TransitionAccept           Transition = "accept"            // case manager: triage → awaiting_payment
	TransitionPayment          Transition = "payment"           // case manager: awaiting_payment → in_review (in_review: an extra's payment)
	TransitionRelease          Transition = "release"           // assigned reviewer: in_review → report_released
	TransitionClose            Transition = "close"             // case manager: report_released → closed
	TransitionWithdraw         Transition = "withdraw"          // applicant: any state before payment → withdrawn
	TransitionRefund           Transition = "refund"            // case manager: in_review → refunded
)

// Transitions lists them in the order a case meets them.
var Transitions = []Transition{TransitionSubmit, TransitionTriage, TransitionRequestDocuments, TransitionAccept,
	TransitionPayment, TransitionRelease, TransitionClose, TransitionWithdraw, TransitionRefund}

// edges is the state machine: for each transition, the state it leads to from each state it
// is allowed from. Any other pair is a conflict (409).
var edges = map[Transition]map[so.CaseStatus]so.CaseStatus{
	TransitionSubmit:           {so.StatusDraft: so.StatusSubmitted, so.StatusDocumentsRequested: so.StatusTriage},
	TransitionTriage:           {so.StatusSubmitted: so.StatusTriage},
	TransitionRequestDocuments: {so.StatusTriage: so.StatusDocumentsRequested},
	TransitionAccept:           {so.StatusTriage: so.StatusAwaitingPayment},
	TransitionPayment:          {so.StatusAwaitingPayment: so.StatusInReview, so.StatusInReview: so.StatusInReview},
	TransitionRelease:          {so.StatusInReview: so.StatusReportReleased},
	TransitionClose:            {so.StatusReportReleased: so.StatusClosed},
	TransitionWithdraw: {so.StatusDraft: so.StatusWithdrawn, so.StatusSubmitted: so.StatusWithdrawn,
		so.StatusTriage: so.StatusWithdrawn, so.StatusDocumentsRequested: so.StatusWithdrawn,
		so.StatusAwaitingPayment: so.StatusWithdrawn},
	TransitionRefund: {so.StatusInReview: so.StatusRefunded},
}

// Next returns the state t leads to from status, and whether t is allowed from it.
func Next(t Transition, from so.CaseStatus) (so.CaseStatus, bool) {
	to, ok := edges[t][from]
	return to, ok
}

// Action is the access policy's action for t.
func (t Transition) Action() access.Action { return access.Transitions[string(t)] }

// AuditAction is the audit log's action for t, done or refused: "case.request_documents".
func (t Transition) AuditAction() string { return "case." + strings.ReplaceAll(string(t), "-", "_") }

// Valid reports whether t is one of Transitions.
func (t Transition) Valid() bool { return slices.Contains(Transitions, t) }

// Input is the body of a transition. Each transition reads its own fields and refuses the
// others' (ParseInput):
//
//	request-documents  message (required), kinds (at least one)
//	accept             courier (optional: the applicant sends slides or discs by courier)
//	payment            amount, currency, method, reference
//	refund, withdraw   reason (required for a refund)
//	release, close     note (optional)
type Input struct {
	Message   string            `json:"message,omitempty"`
	Kinds     []so.DocumentKind `json:"kinds,omitempty"`
	Courier   bool              `json:"courier,omitempty"`
	Amount    string            `json:"amount,omitempty"`
	Currency  string            `json:"currency,omitempty"`
	Method    string            `json:"method,omitempty"`
	Reference string            `json:"reference,omitempty"`
	Reason    string            `json:"reason,omitempty"`
	Note      string            `json:"note,omitempty"`
}

var inputFields = map[Transition][]string{
	TransitionRequestDocuments: {"message", "kinds"},
	TransitionAccept:           {"courier"},
	TransitionPayment:          {"amount", "currency", "method", "reference"},
	TransitionRefund:           {"reason"},
	TransitionWithdraw:         {"reason"},
	TransitionRelease:          {"note"},
	TransitionClose:            {"note"},
	TransitionSubmit:           {"note"},
	TransitionTriage:           {"note"},
}

const (
	maxNote      = 2000
	maxReference = 200
)

// ParseInput decodes and checks the body of transition t: an empty body is {}; unknown
// fields and fields of other transitions are refused, every problem is named at once.
func ParseInput(t Transition, body []byte) (Input, error) {
	var in Input
	ve := so.Invalid()
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if len(body) > maxBody {
		ve.AddField("", "body is larger than %d bytes", maxBody)
		return in, ve
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(body, &raw); err != nil {
		ve.AddField("", "body must be one JSON object")
		return in, ve
	}
	for k := range raw {
		if !slices.Contains(inputFields[t], k) {
			ve.AddField(k, "unknown field for %s", t)
		}
	}
	if err := ve.OrNil(); err != nil {
		return in, err
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&in); err != nil {
		ve.Fields = append(ve.Fields, jsonError(err))
		return Input{}, ve
	}
	if _, err := dec.Token(); err != io.EOF {
		ve.AddField("", "body must hold one JSON object")
		return Input{}, ve
	}
	in.Message, in.Reason, in.Note = strings.TrimSpace(in.Message), strings.TrimSpace(in.Reason), strings.TrimSpace(in.Note)
	in.Method, in.Reference = strings.TrimSpace(in.Method), strings.TrimSpace(in.Reference)
	checkText(ve, "message", in.Message, maxNote, t == TransitionRequestDocuments, true)
	checkText(ve, "reason", in.Reason, maxNote, t == TransitionRefund, true)
	checkText(ve, "note", in.Note, maxNote, false, true)
	checkText(ve, "method", in.Method, maxReference, t == TransitionPayment, false)
	checkText(ve, "reference", in.Reference, maxReference, false, false)
	if t == TransitionRequestDocuments {
		if len(in.Kinds) == 0 {
			ve.AddField("kinds", "name at least one document kind that is missing")
		}
		for i, k := range in.Kinds {
			if !k.Valid() || k == so.KindReport {
				ve.AddField(fmt.Sprintf("kinds[%d]", i), "must be one of the checklist's kinds")
			}
		}
	}
	if t == TransitionPayment {
		if _, err := ParseAmount(in.Amount); err != nil {
			ve.AddField("amount", "must be a decimal amount such as 500.00")
		}
		if in.Currency == "" {
			ve.AddField("currency", "is required, e.g. EUR")
		}
	}
	return in, ve.OrNil()
}

// Actor is who does something, and from where: the subject, and the audit entry the web
// layer prepared with the request's client address, user agent and request id.
type Actor struct {
	Subject access.Subject
	Entry   audit.Entry
}

// entry returns the audit entry of action on object in the case.
func (a Actor) entry(action, objectType, objectID, caseID string) audit.Entry {
	e := a.Entry
	e.Action, e.ObjectType, e.ObjectID, e.CaseID = action, objectType, objectID, caseID
	if e.ActorID == "" && a.Subject.Authenticated() {
		e.ActorID = a.Subject.Actor()
	}
	if e.ActorRole == "" {
		e.ActorRole = string(a.Subject.Role)
	}
	return e
}

// Transition moves the case along t in one transaction that checks the state (so.StateError
// from any state t is not allowed from), checks what t needs (EConflict: the checklist is not
// complete, no consent, no report, the amount differs from what is due), applies t's effects
// on the clocks and the payments, records the step in the case history, writes its audit
// entry and queues its mail. The caller has asked access.Policy for t.Action().
func (c *Cases) Transition(ctx context.Context, by Actor, caseID string, t Transition, in Input) (Case, error) {
	if !t.Valid() {
		return Case{}, so.ErrNotFound
	}
	tx, cs, err := c.lock(ctx, caseID, string(t))
	if err != nil {
		return Case{}, err
	}
	defer tx.Rollback()
	to, ok := Next(t, cs.Status)
	if !ok {
		return Case{}, so.StateError(cs.Status)
	}
	now := c.Now()
	st := &step{c: c, tx: tx, by: by, cs: cs, to: to, now: now, in: in, t: t, note: in.Note}
	if err := st.apply(ctx); err != nil {
		return Case{}, err
	}
	if err := c.addEvent(ctx, tx, by.Subject, caseID, string(t), cs.Status, to, st.objectID, st.note); err != nil {
		return Case{}, err
	}
	for _, n := range st.notices {
		if err := c.notify(ctx, tx, n); err != nil {
			return Case{}, err
		}
	}
	// The audit entry is the last statement: it holds the log's append lock until Commit.
	if err := c.logTx(ctx, tx, by.entry(t.AuditAction(), "case", caseID, caseID)); err != nil {
		return Case{}, err
	}
	if err := tx.Commit(); err != nil {
		return Case{}, fmt.Errorf("%s: %w", t, err)
	}
	return c.Get(ctx, caseID)
}

// step is one transition under way.
type step struct {
	c        *Cases
	tx       *sqlx.Tx
	by       Actor
	cs       Case
	to       so.CaseStatus
	now      time.Time
	in       Input
	t        Transition
	note     string   // for the history
	objectID string   // the payment or request the step made
	notices  []Notice // mails to queue
	set      []string // extra assignments for the cases row
	args     []any
}

// assign adds "column = value" to the case's update.
func (st *step) assign(col string, v any) {
	st.args = append(st.args, v)
	st.set = append(st.set, fmt.Sprintf("%s = $%d", col, len(st.args)+3))
}

func (st *step) apply(ctx context.Context) error {
	cal := st.c.cfg.Calendar
	switch st.t {
	case TransitionSubmit:
		if st.cs.Status == so.StatusDraft {
			st.assign("submitted_at", st.now)
			st.assign("triage_due_at", cal.AddWorkingDays(st.now, TriageDays))
			st.notices = append(st.notices, st.notice(NoticeSubmitted))
		} else {
			st.resume()
			if _, err := st.tx.ExecContext(ctx, `UPDATE document_requests SET answered_at = $2
				WHERE case_id = $1 AND answered_at IS NULL`, st.cs.ID, st.now); err != nil {
				return fmt.Errorf("submit: %w", err)
			}
		}
	case TransitionRequestDocuments:
		kinds := make([]string, len(st.in.Kinds))
		for i, k := range st.in.Kinds {
			kinds[i] = string(k)
		}
		if err := st.tx.GetContext(ctx, &st.objectID, `INSERT INTO document_requests (case_id, kinds, message, requested_by, requested_at)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`, st.cs.ID, pq.StringArray(kinds), st.in.Message, st.by.Subject.AccountID, st.now); err != nil {
			return fmt.Errorf("request documents: %w", err)
		}
		st.note = st.in.Message
		st.assign("clock_paused_at", st.now)
		st.notices = append(st.notices, st.notice(NoticeDocumentsRequested))
	case TransitionAccept:
		return st.accept(ctx)
	case TransitionPayment:
		return st.payment(ctx)
	case TransitionRelease:
		return st.release(ctx)
	case TransitionClose:
		st.assign("closed_at", st.now)
	case TransitionWithdraw:
		st.note = st.in.Reason
		st.assign("clock_paused_at", nil)
	case TransitionRefund:
		return st.refund(ctx)
	}
	return st.update(ctx)
}

// resume ends the pause of the triage clock when the applicant sends what was asked for: its
// due instant moves by the working days the pause took. (The report clock's pauses end in
// DecideExtra.)
func (st *step) resume() {
	if st.cs.ClockPausedAt == nil {
		return
	}
	if st.cs.TriageDueAt != nil {
		st.assign("triage_due_at", shiftDue(st.c.cfg.Calendar, *st.cs.TriageDueAt, *st.cs.ClockPausedAt, st.now))
	}
	st.assign("clock_paused_at", nil)
}

// update writes the new status and the step's columns.
func (st *step) update(ctx context.Context) error {
	q := `UPDATE cases SET status = $2, updated_at = $3`
	for _, s := range st.set {
		q += ", " + s
	}
	args := append([]any{st.cs.ID, st.to, st.now}, st.args...)
	if _, err := st.tx.ExecContext(ctx, q+` WHERE id = $1`, args...); err != nil {
		return fmt.Errorf("%s: %w", st.t, err)
	}
	return nil
}

func (st *step) notice(ev NoticeEvent) Notice {
	return Notice{Event: ev, CaseID: st.cs.ID, RecipientID: st.cs.OwnerID, Language: st.cs.Language}
}

// accept checks that every required document is accepted and the consent is active, fixes
// the price and stops the triage clock.
func (st *step) accept(ctx context.Context) error {
	items, err := st.c.checklist(ctx, st.tx, st.cs)
	if err != nil {
		return err
	}
	var missing []string
	for _, it := range items {
		if it.Required && it.State != ItemAccepted {
			missing = append(missing, string(it.Kind))
		}
	}
	if len(missing) > 0 {
		return so.Errorf(so.EConflict, "accept every required document first; not accepted: %s", strings.Join(missing, ", "))
	}
	if err := st.c.requireConsent(ctx, st.tx, st.cs.ID, "countersign the privacy consent first"); err != nil {
		return err
	}
	kind, err := st.c.priceKind(ctx, st.tx, st.cs)
	if err != nil {
		return err
	}
	p := st.c.cfg.Prices
	courier := int64(0)
	if st.in.Courier {
		courier = p.Courier
	}
	st.assign("accepted_at", st.now)
	st.assign("price_kind", string(kind))
	st.assign("price_cents", p.Base(kind).Cents)
	st.assign("courier_cents", courier)
	st.assign("currency", p.Currency)
	n := st.notice(NoticeAccepted)
	n.Amount = &Money{Cents: p.Base(kind).Cents + courier, Currency: p.Currency}
	st.notices = append(st.notices, n)
	return st.update(ctx)
}

// priceKind is PriceUpdate for an update request that a reviewer of the previous case takes.
func (c *Cases) priceKind(ctx context.Context, q sqlx.QueryerContext, cs Case) (PriceKind, error) {
	if cs.PreviousCaseID == nil {
		return PriceSecondOpinion, nil
	}
	var same bool
	err := sqlx.GetContext(ctx, q, &same, `SELECT EXISTS (SELECT 1 FROM assignments a JOIN assignments p
		ON p.reviewer_id = a.reviewer_id AND p.case_id = $2 WHERE a.case_id = $1)`, cs.ID, *cs.PreviousCaseID)
	if err != nil {
		return "", fmt.Errorf("price: %w", err)
	}
	if same {
		return PriceUpdate, nil
	}
	return PriceSecondOpinion, nil
}

// payment records a payment of exactly the outstanding balance; from awaiting_payment it
// starts the report clock.
func (st *step) payment(ctx context.Context) error {
	b, err := st.c.balance(ctx, st.tx, st.cs)
	if err != nil {
		return err
	}
	cents, _ := ParseAmount(st.in.Amount)
	outstanding := b.Outstanding()
	if outstanding.Cents == 0 {
		return so.Errorf(so.EConflict, "nothing is due")
	}
	if cents != outstanding.Cents || !strings.EqualFold(st.in.Currency, outstanding.Currency) {
		ve := so.Invalid()
		ve.AddField("amount", "the amount due is %s %s", outstanding.Currency, outstanding)
		return ve
	}
	if err := st.tx.GetContext(ctx, &st.objectID, `INSERT INTO payments (case_id, kind, amount_cents, currency, method, reference,
		recorded_by, recorded_at) VALUES ($1, 'payment', $2, $3, $4, $5, $6, $7) RETURNING id`,
		st.cs.ID, cents, outstanding.Currency, st.in.Method, st.in.Reference, st.by.Subject.AccountID, st.now); err != nil {
		return fmt.Errorf("payment: %w", err)
	}
	if st.cs.Status == so.StatusAwaitingPayment {
		st.assign("paid_at", st.now)
		st.assign("report_due_at", st.c.cfg.Calendar.AddWorkingDays(st.now, ReportDays))
	}
	return st.update(ctx)
}

// release needs an available report uploaded by an assigned reviewer and no extra waiting
// for the applicant.
func (st *step) release(ctx context.Context) error {
	var reports, proposed int
	if err := st.tx.GetContext(ctx, &reports, `SELECT count(*) FROM documents d JOIN assignments a
		ON a.case_id = d.case_id AND a.reviewer_id = d.uploaded_by
		WHERE d.case_id = $1 AND d.kind = 'report' AND d.status = 'available'`, st.cs.ID); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if reports == 0 {
		return so.Errorf(so.EConflict, "upload the report (kind report) first")
	}
	if err := st.tx.GetContext(ctx, &proposed, `SELECT count(*) FROM extras WHERE case_id = $1 AND status = 'proposed'`,
		st.cs.ID); err != nil {
		return fmt.Errorf("release: %w", err)
	}
	if proposed > 0 {
		return so.Errorf(so.EConflict, "an extra is waiting for the applicant's decision")
	}
	b, err := st.c.balance(ctx, st.tx, st.cs)
	if err != nil {
		return err
	}
	if b.Outstanding().Cents > 0 {
		return so.Errorf(so.EConflict, "%s %s is still to be paid", b.Outstanding().Currency, b.Outstanding())
	}
	if err := st.c.requireConsent(ctx, st.tx, st.cs.ID, "the privacy consent is not active: the report cannot be released"); err != nil {
		return err
	}
	st.assign("released_at", st.now)
	st.notices = append(st.notices, st.notice(NoticeReportReleased))
	return st.update(ctx)
}

// refund records the refund of everything paid, with its reason.
func (st *step) refund(ctx context.Context) error {
	b, err := st.c.balance(ctx, st.tx, st.cs)
	if err != nil {
		return err
	}
	if err := st.tx.GetContext(ctx, &st.objectID, `INSERT INTO payments (case_id, kind, amount_cents, currency, reason,
		recorded_by, recorded_at) VALUES ($1, 'refund', $2, $3, $4, $5, $6) RETURNING id`,
		st.cs.ID, b.Paid.Cents, b.Paid.Currency, st.in.Reason, st.by.Subject.AccountID, st.now); err != nil {
		return fmt.Errorf("refund: %w", err)
	}
	st.note = st.in.Reason
	st.assign("clock_paused_at", nil)
	return st.update(ctx)
}

// lock begins a transaction and locks the case's row, which must be in one of the states
// (any state when none are given): so.StateError otherwise. The caller rolls back or commits.
func (c *Cases) lock(ctx context.Context, caseID, op string, states ...so.CaseStatus) (*sqlx.Tx, Case, error) {
	tx, err := c.db.BeginTxx(ctx, nil)
	if err != nil {
		return nil, Case{}, fmt.Errorf("%s: %w", op, err)
	}
	cs, err := c.get(ctx, tx, caseID, true)
	if err == nil && len(states) > 0 && !slices.Contains(states, cs.Status) {
		err = so.StateError(cs.Status)
	}
	if err != nil {
		tx.Rollback() // #nosec G104 -- rolls back after an error already returned
		return nil, Case{}, err
	}
	return tx, cs, nil
}

// requireConsent fails with EConflict (message) unless the case has an active countersigned
// consent, read in tx; without a consent checker nothing that needs consent is allowed.
func (c *Cases) requireConsent(ctx context.Context, q sqlx.QueryerContext, caseID, message string) error {
	if c.cfg.Consent == nil {
		return errors.New("cases: no consent checker configured")
	}
	active, err := c.cfg.Consent.ActiveConsents(ctx, q, []string{caseID})
	if err != nil {
		return fmt.Errorf("%w: consent: %w", so.ErrUnavailable, err)
	}
	if !active[caseID] {
		return so.Errorf(so.EConflict, "%s", message)
	}
	return nil
}

// logTx writes e in tx; without an auditor (tests of one part) nothing is written.
func (c *Cases) logTx(ctx context.Context, tx *sqlx.Tx, e audit.Entry) error {
	if c.cfg.Audit == nil {
		return nil
	}
	if _, err := c.cfg.Audit.LogTx(ctx, tx, e); err != nil {
		return fmt.Errorf("%w: audit: %w", so.ErrUnavailable, err)
	}
	return nil
}

func (c *Cases) notify(ctx context.Context, tx *sqlx.Tx, n Notice) error {
	if c.cfg.Notifier == nil {
		return nil
	}
	if err := c.cfg.Notifier.Notify(ctx, tx, n); err != nil {
		return fmt.Errorf("queue mail: %w", err)
	}
	return nil
}
