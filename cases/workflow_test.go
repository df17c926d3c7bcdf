package cases_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/internal/workdays"
	"github.com/secondopinion/secondopinion/mail"
)

var rome = func() *time.Location {
	l, err := time.LoadLocation("Europe/Rome")
	if err != nil {
		panic(err)
	}
	return l
}()

// at is a wall-clock time in Rome.
func at(y int, m time.Month, d, h, min int) time.Time { return time.Date(y, m, d, h, min, 0, 0, rome) }

// endOf is the end of a day in Rome: the instant a due date on that day falls.
func endOf(y int, m time.Month, d int) time.Time { return time.Date(y, m, d+1, 0, 0, 0, 0, rome) }

// notices records the mails the store queued.
type notices struct {
	mu  sync.Mutex
	got []cases.Notice
}

func (n *notices) Notify(_ context.Context, _ *sqlx.Tx, x cases.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.got = append(n.got, x)
	return nil
}

func (n *notices) events() []cases.NoticeEvent {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []cases.NoticeEvent
	for _, x := range n.got {
		out = append(out, x.Event)
	}
	return out
}

// flow is a case store over a fresh database with the Italian holiday calendar in Rome, a
// clock the test moves, and the real access service for subjects.
type flow struct {
	t      *testing.T
	ctx    context.Context
	db     *testenv.DB
	now    time.Time
	cases  *cases.Cases
	svc    *access.Service
	notify *notices
	ann    access.Subject // applicant
	cm     access.Subject // case manager
	rev    access.Subject // reviewer
}

func newFlow(t *testing.T, start time.Time) *flow {
	t.Helper()
	cal, err := workdays.Parse("IT", rome)
	if err != nil {
		t.Fatal(err)
	}
	f := &flow{t: t, ctx: context.Background(), db: testenv.NewDB(t), now: start, notify: &notices{}}
	f.cases = cases.New(cases.Config{DB: f.db.Runtime, Now: func() time.Time { return f.now }, Calendar: cal,
		Notifier: f.notify, Consent: consentAll{}})
	outbox, err := mail.New(mail.Config{DB: f.db.Runtime, Sender: &mail.MemoryMailer{}, Key: make([]byte, mail.KeySize)})
	if err != nil {
		t.Fatal(err)
	}
	f.svc, err = access.New(access.Config{DB: f.db.Runtime, Directory: f.cases, Outbox: outbox,
		PublicURL: "https://so.test", TOTPKey: make([]byte, access.TOTPKeyLen), Now: func() time.Time { return f.now },
		Argon2: access.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, TokenRoles: so.AccountRoles})
	if err != nil {
		t.Fatal(err)
	}
	f.cases.SetAccounts(f.svc.Accounts)
	fx := &fixture{t: t, ctx: f.ctx, cases: f.cases, svc: f.svc}
	f.ann = fx.subject("ann@example.org", so.RoleApplicant)
	f.cm = fx.subject("cm@example.org", so.RoleCaseManager)
	f.rev = fx.subject("rev@example.org", so.RoleReviewer)
	return f
}

func (f *flow) create(lang so.Language) cases.Case {
	f.t.Helper()
	c, err := f.cases.Create(f.ctx, f.ann, cases.CreateInput{
		Patient:               cases.Patient{GivenName: "Maria", FamilyName: "Rossi", BirthDate: "1970-05-01"},
		ApplicantRelationship: so.RelationshipSelf, ConsultationTypes: []so.ConsultationType{so.ConsultationOncological},
		Language: lang})
	if err != nil {
		f.t.Fatal(err)
	}
	return c
}

func (f *flow) step(by access.Subject, id string, t cases.Transition, in cases.Input) cases.Case {
	f.t.Helper()
	c, err := f.cases.Transition(f.ctx, cases.Actor{Subject: by}, id, t, in)
	if err != nil {
		f.t.Fatalf("%s: %v", t, err)
	}
	return c
}

// acceptAll registers and accepts a document of every required kind (as the upload path and a
// case manager would), so that the case can be accepted.
func (f *flow) acceptAll(c cases.Case) {
	f.t.Helper()
	for i, k := range so.RequiredKinds(so.ChecklistRequest{Relationship: c.ApplicantRelationship,
		ConsultationTypes: c.ConsultationTypes, ImagingRelevant: c.ImagingRelevant}) {
		id := c.ID[:8] + "-doc-" + string(k)
		if err := f.cases.Register(f.ctx, cases.NewDocument{ID: id, CaseID: c.ID, Kind: k, Filename: "f.pdf",
			UploadedBy: f.ann.AccountID, ObjectKey: "o/" + id, Size: int64(10 + i), EncryptedSize: 100, SniffedType: "pdf"}); err != nil {
			f.t.Fatal(err)
		}
		if _, err := f.cases.ReviewDocument(f.ctx, cases.Actor{Subject: f.cm}, id,
			cases.ReviewInput{Decision: cases.DecisionAccepted}); err != nil {
			f.t.Fatal(err)
		}
	}
}

// A submission on the Friday before Easter Monday (a holiday in Italy) is due at the end of the
// Wednesday after; a request for documents pauses the clock and the applicant's answer moves
// the due date by exactly the working days it took; an overdue case is listed first.
func TestTriageClock(t *testing.T) {
	f := newFlow(t, at(2026, 4, 3, 10, 30)) // Friday; Monday 6 April is Easter Monday
	c := f.create(so.LanguageItalian)
	c = f.step(f.ann, c.ID, cases.TransitionSubmit, cases.Input{})
	if c.Status != so.StatusSubmitted || c.TriageDueAt == nil || !c.TriageDueAt.Equal(endOf(2026, 4, 8)) {
		t.Fatalf("submitted %s, triage due %v, want the end of Wednesday 8 April", c.Status, c.TriageDueAt)
	}
	f.now = at(2026, 4, 7, 9, 0)
	f.step(f.cm, c.ID, cases.TransitionTriage, cases.Input{})
	f.now = at(2026, 4, 7, 15, 0) // Tuesday: the histology report is missing
	c = f.step(f.cm, c.ID, cases.TransitionRequestDocuments, cases.Input{Message: "Please add the histology report.",
		Kinds: []so.DocumentKind{so.KindHistologyReport}})
	if c.Status != so.StatusDocumentsRequested || c.ClockPausedAt == nil {
		t.Fatalf("requested: %s, paused %v", c.Status, c.ClockPausedAt)
	}
	f.now = at(2026, 4, 20, 9, 0) // long after the due date, but the clock is paused
	if c, _ := f.cases.Get(f.ctx, c.ID); c.Overdue {
		t.Error("overdue while waiting for the applicant")
	}
	f.now = at(2026, 4, 10, 11, 0) // Friday: Wednesday, Thursday and Friday were paused
	c = f.step(f.ann, c.ID, cases.TransitionSubmit, cases.Input{})
	if c.Status != so.StatusTriage || c.ClockPausedAt != nil || !c.TriageDueAt.Equal(endOf(2026, 4, 13)) {
		t.Fatalf("resubmitted %s, paused %v, due %v, want the end of Monday 13 April", c.Status, c.ClockPausedAt, c.TriageDueAt)
	}

	// Two more cases: one not yet due, one with no clock at all (a draft).
	later := f.create(so.LanguageEnglish)
	f.now = at(2026, 4, 13, 12, 0)
	f.step(f.ann, later.ID, cases.TransitionSubmit, cases.Input{}) // due the end of Wednesday 15 April
	f.create(so.LanguageSpanish)

	f.now = endOf(2026, 4, 13) // the first case's due instant: overdue from here
	list, err := f.cases.List(f.ctx, f.cm, cases.ListOptions{Sort: cases.SortDue})
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != c.ID || !list[0].Overdue || list[1].ID != later.ID || list[1].Overdue {
		t.Fatalf("by due date: %+v", ids(list))
	}
	overdue, err := f.cases.List(f.ctx, f.cm, cases.ListOptions{Overdue: true})
	if err != nil || len(overdue) != 1 || overdue[0].ID != c.ID {
		t.Fatalf("overdue only: %v %v", ids(overdue), err)
	}
	if n, err := f.cases.OverdueCount(f.ctx); err != nil || n != 1 {
		t.Errorf("overdue count %d, %v", n, err)
	}
	f.now = f.now.Add(-time.Second)
	if n, _ := f.cases.OverdueCount(f.ctx); n != 0 {
		t.Errorf("a second before the due instant: %d overdue", n)
	}
}

func ids(vs []cases.View) []string {
	var out []string
	for _, v := range vs {
		out = append(out, v.ID+"/"+string(v.Status))
	}
	return out
}

// The report is due 5 working days after payment; an extra proposed pauses it until the
// applicant decides, and the decision moves the due date by the working days it waited.
func TestReportClockAndExtras(t *testing.T) {
	f := newFlow(t, at(2026, 12, 1, 9, 0)) // Tuesday; 8 December is a holiday in Italy
	c := f.create(so.LanguageEnglish)
	f.step(f.ann, c.ID, cases.TransitionSubmit, cases.Input{})
	f.step(f.cm, c.ID, cases.TransitionTriage, cases.Input{})
	f.acceptAll(c)
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: f.cm}, c.ID, "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	c = f.step(f.cm, c.ID, cases.TransitionAccept, cases.Input{})
	if c.Status != so.StatusAwaitingPayment || c.Price == nil || c.Price.Amount.Cents != 50000 || c.Price.Kind != cases.PriceSecondOpinion {
		t.Fatalf("accepted: %s %+v", c.Status, c.Price)
	}
	if _, err := f.cases.Transition(f.ctx, cases.Actor{Subject: f.cm}, c.ID, cases.TransitionPayment,
		cases.Input{Amount: "450.00", Currency: "EUR", Method: "bank transfer"}); so.ErrorCode(err) != so.EInvalid {
		t.Fatalf("paying less than due: %v", err)
	}
	f.now = at(2026, 12, 3, 16, 0) // Thursday: Fri 4, Mon 7, Wed 9, Thu 10, Fri 11 (Tue 8 is a holiday)
	c = f.step(f.cm, c.ID, cases.TransitionPayment, cases.Input{Amount: "500", Currency: "EUR", Method: "bank transfer", Reference: "SO-1"})
	if c.Status != so.StatusInReview || !c.ReportDueAt.Equal(endOf(2026, 12, 11)) {
		t.Fatalf("paid: %s, report due %v, want the end of Friday 11 December", c.Status, c.ReportDueAt)
	}
	f.now = at(2026, 12, 4, 10, 0) // Friday
	x, err := f.cases.ProposeExtra(f.ctx, cases.Actor{Subject: f.rev}, c.ID, cases.ExtraInput{Type: so.ExtraSlideReview,
		Reason: "The slides should be re-read."})
	if err != nil || x.Price.Cents != 23200 || x.Status != cases.ExtraProposed {
		t.Fatalf("proposed %+v, %v", x, err)
	}
	if _, err := f.cases.Transition(f.ctx, cases.Actor{Subject: f.rev}, c.ID, cases.TransitionRelease, cases.Input{}); so.ErrorCode(err) != so.EConflict {
		t.Fatalf("release with no report and an extra waiting: %v", err)
	}
	f.now = at(2026, 12, 9, 18, 0) // Wednesday: Monday 7 and Wednesday 9 were paused (8 is a holiday)
	x, err = f.cases.DecideExtra(f.ctx, cases.Actor{Subject: f.ann}, x.ID, true)
	if err != nil || x.Status != cases.ExtraApproved {
		t.Fatalf("approved %+v, %v", x, err)
	}
	if _, err := f.cases.DecideExtra(f.ctx, cases.Actor{Subject: f.ann}, x.ID, false); so.ErrorCode(err) != so.EState {
		t.Errorf("deciding twice: %v", err)
	}
	c, _ = f.cases.Get(f.ctx, c.ID)
	if c.ClockPausedAt != nil || !c.ReportDueAt.Equal(endOf(2026, 12, 15)) {
		t.Fatalf("after the decision: paused %v, due %v, want the end of Tuesday 15 December", c.ClockPausedAt, c.ReportDueAt)
	}
	b, err := f.cases.Balance(f.ctx, c.ID)
	if err != nil || b.Outstanding().Cents != 23200 {
		t.Fatalf("balance %+v, %v", b, err)
	}
	fx := &fixture{t: t, ctx: f.ctx, cases: f.cases, svc: f.svc}
	dpo := fx.subject("dpo@example.org", so.RoleDPO)
	if d, err := f.cases.Detail(f.ctx, dpo, c.ID); err != nil || d.ClinicalQuestion != "" || len(d.Extras) != 1 ||
		d.Extras[0].Reason != "" || len(d.History) == 0 || slices.ContainsFunc(d.History, func(e cases.Event) bool { return e.Note != "" }) {
		t.Errorf("the DPO's view keeps free text: %+v, %v", d, err)
	}
	if d, _ := f.cases.Detail(f.ctx, f.cm, c.ID); d.Extras[0].Reason == "" {
		t.Error("the case manager's view lost the extra's reason")
	}
	c = f.step(f.cm, c.ID, cases.TransitionPayment, cases.Input{Amount: "232.00", Currency: "EUR", Method: "card"})
	if c.Status != so.StatusInReview || !c.ReportDueAt.Equal(endOf(2026, 12, 15)) {
		t.Fatalf("the extra's payment moved the case: %s %v", c.Status, c.ReportDueAt)
	}
	if got := f.notify.events(); !slices.Equal(got, []cases.NoticeEvent{cases.NoticeSubmitted, cases.NoticeAccepted,
		cases.NoticeExtraProposed, cases.NoticeExtraDecided}) {
		t.Errorf("mails %v", got)
	}
}

// The state machine refuses every transition from every state it is not allowed from with
// so.EState naming the current state, and the refusal changes nothing.
func TestTransitionsFromEveryState(t *testing.T) {
	f := newFlow(t, at(2026, 6, 1, 9, 0))
	allowed := map[cases.Transition][]so.CaseStatus{ // DESIGN §8 and §9, written out
		cases.TransitionSubmit:           {so.StatusDraft, so.StatusDocumentsRequested},
		cases.TransitionTriage:           {so.StatusSubmitted},
		cases.TransitionRequestDocuments: {so.StatusTriage},
		cases.TransitionAccept:           {so.StatusTriage},
		cases.TransitionPayment:          {so.StatusAwaitingPayment, so.StatusInReview},
		cases.TransitionRelease:          {so.StatusInReview},
		cases.TransitionClose:            {so.StatusReportReleased},
		cases.TransitionWithdraw: {so.StatusDraft, so.StatusSubmitted, so.StatusTriage, so.StatusDocumentsRequested,
			so.StatusAwaitingPayment},
		cases.TransitionRefund: {so.StatusInReview},
	}
	c := f.create(so.LanguageEnglish)
	for _, st := range so.Statuses {
		if _, err := f.db.Owner.ExecContext(f.ctx, `UPDATE cases SET status = $2 WHERE id = $1`, c.ID, st); err != nil {
			t.Fatal(err)
		}
		for _, tr := range cases.Transitions {
			_, ok := cases.Next(tr, st)
			if want := slices.Contains(allowed[tr], st); ok != want {
				t.Errorf("Next(%s, %s) allowed = %v, want %v", tr, st, ok, want)
			}
			if ok {
				continue
			}
			by := map[cases.Transition]access.Subject{cases.TransitionSubmit: f.ann, cases.TransitionWithdraw: f.ann,
				cases.TransitionRelease: f.rev}[tr]
			if by.Role == "" {
				by = f.cm
			}
			in := cases.Input{Message: "m", Kinds: []so.DocumentKind{so.KindOther}, Amount: "1", Currency: "EUR", Method: "x", Reason: "r"}
			_, err := f.cases.Transition(f.ctx, cases.Actor{Subject: by}, c.ID, tr, in)
			var e *so.Error
			if !errors.As(err, &e) || e.Code != so.EState || e.Status != st {
				t.Errorf("%s from %s: %v, want a state conflict naming %s", tr, st, err, st)
			}
			if got, _ := f.cases.Get(f.ctx, c.ID); got.Status != st {
				t.Fatalf("%s from %s moved the case to %s", tr, st, got.Status)
			}
		}
	}
	if h, _ := f.cases.History(f.ctx, c.ID); len(h) != 1 || h[0].Action != "create" {
		t.Errorf("refusals wrote history: %+v", h)
	}
}

// A reviewer assigned to a case without an active consent sees only that it exists and waits
// for consent: the listing and the case carry no patient, question or checklist.
func TestReviewerSeesNothingBeforeConsent(t *testing.T) {
	f := newFlow(t, at(2026, 6, 1, 9, 0))
	active := map[string]bool{}
	f.cases = cases.New(cases.Config{DB: f.db.Runtime, Now: func() time.Time { return f.now }, Consent: fakeConsent(active)})
	f.cases.SetAccounts(f.svc.Accounts)
	c := f.create(so.LanguageEnglish)
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: f.cm}, c.ID, "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	list, err := f.cases.List(f.ctx, f.rev, cases.ListOptions{})
	if err != nil || len(list) != 1 || !list[0].Redacted() || !list[0].AwaitingConsent || list[0].Status != so.StatusDraft {
		t.Fatalf("reviewer's list before consent: %+v, %v", list, err)
	}
	d, err := f.cases.Detail(f.ctx, f.rev, c.ID)
	if err != nil || !d.Redacted() || d.Checklist != nil || d.History != nil {
		t.Fatalf("reviewer's case before consent: %+v, %v", d, err)
	}
	if d, _ := f.cases.Detail(f.ctx, f.cm, c.ID); d.Redacted() || d.Patient.GivenName != "Maria" {
		t.Errorf("the case manager's view is redacted: %+v", d)
	}
	active[c.ID] = true
	if d, _ := f.cases.Detail(f.ctx, f.rev, c.ID); d.Redacted() || d.Patient.GivenName != "Maria" {
		t.Errorf("reviewer's case with consent: %+v", d)
	}
}

type fakeConsent map[string]bool

func (fc fakeConsent) ActiveConsents(_ context.Context, _ sqlx.QueryerContext, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = fc[id]
	}
	return out, nil
}

// An update request names an earlier case of the same patient whose report was released
// within 12 months; it is priced as an update when a reviewer of that case takes it, else as a
// second opinion.
func TestUpdateRequest(t *testing.T) {
	f := newFlow(t, at(2026, 1, 12, 9, 0))
	first := f.create(so.LanguageEnglish)
	update := func(previous string, given string) (cases.Case, error) {
		return f.cases.Create(f.ctx, f.ann, cases.CreateInput{
			Patient:               cases.Patient{GivenName: given, FamilyName: "Rossi", BirthDate: "1970-05-01"},
			ApplicantRelationship: so.RelationshipSelf, ConsultationTypes: []so.ConsultationType{so.ConsultationOncological},
			Language: so.LanguageEnglish, PreviousCaseID: previous})
	}
	if _, err := update(first.ID, "Maria"); so.ErrorCode(err) != so.EInvalid {
		t.Fatalf("an update of a case without a report: %v", err)
	}
	// The first case's report is released.
	f.step(f.ann, first.ID, cases.TransitionSubmit, cases.Input{})
	f.step(f.cm, first.ID, cases.TransitionTriage, cases.Input{})
	f.acceptAll(first)
	if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: f.cm}, first.ID, "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	f.step(f.cm, first.ID, cases.TransitionAccept, cases.Input{})
	f.step(f.cm, first.ID, cases.TransitionPayment, cases.Input{Amount: "500.00", Currency: "EUR", Method: "card"})
	if err := f.cases.Register(f.ctx, cases.NewDocument{ID: "report-1", CaseID: first.ID, Kind: so.KindReport,
		UploadedBy: f.rev.AccountID, ObjectKey: "o/report-1", Size: 10, EncryptedSize: 100, SniffedType: "pdf"}); err != nil {
		t.Fatal(err)
	}
	f.step(f.rev, first.ID, cases.TransitionRelease, cases.Input{})

	if _, err := update(first.ID, "Lucia"); so.ErrorCode(err) != so.EInvalid {
		t.Errorf("an update about another patient: %v", err)
	}
	f.now = f.now.AddDate(1, 0, 1)
	if _, err := update(first.ID, "Maria"); so.ErrorCode(err) != so.EInvalid {
		t.Errorf("an update more than 12 months after the report: %v", err)
	}
	f.now = f.now.AddDate(-1, 1, 0)
	accept := func(c cases.Case, reviewer string) cases.Case {
		t.Helper()
		f.step(f.ann, c.ID, cases.TransitionSubmit, cases.Input{})
		f.step(f.cm, c.ID, cases.TransitionTriage, cases.Input{})
		f.acceptAll(c)
		if _, err := f.cases.Assign(f.ctx, cases.Actor{Subject: f.cm}, c.ID, reviewer); err != nil {
			t.Fatal(err)
		}
		return f.step(f.cm, c.ID, cases.TransitionAccept, cases.Input{Courier: true})
	}
	same, err := update(first.ID, "Maria")
	if err != nil || same.PreviousCaseID == nil || *same.PreviousCaseID != first.ID {
		t.Fatalf("update request: %+v, %v", same, err)
	}
	same = accept(same, "rev@example.org")
	if same.Price.Kind != cases.PriceUpdate || same.Price.Amount.Cents != 35000 || same.Price.Courier.Cents != 1800 {
		t.Errorf("update by the same specialist priced %+v", same.Price)
	}
	fx := &fixture{t: t, ctx: f.ctx, cases: f.cases, svc: f.svc}
	fx.subject("other@example.org", so.RoleReviewer)
	other, err := update(first.ID, "Maria")
	if err != nil {
		t.Fatal(err)
	}
	if other = accept(other, "other@example.org"); other.Price.Kind != cases.PriceSecondOpinion || other.Price.Amount.Cents != 50000 {
		t.Errorf("update by another specialist priced %+v", other.Price)
	}
	if b, _ := f.cases.Balance(f.ctx, other.ID); b.Outstanding().Cents != 51800 {
		t.Errorf("outstanding with the courier: %+v", b)
	}
}

// consentAll says every case has an active consent (package consent has its own tests; the API
// tests use the real gate).
type consentAll struct{}

func (consentAll) ActiveConsents(_ context.Context, _ sqlx.QueryerContext, ids []string) (map[string]bool, error) {
	out := map[string]bool{}
	for _, id := range ids {
		out[id] = true
	}
	return out, nil
}

// A transition needs one database connection: nothing inside its transaction waits for a
// second one from the pool (which, while the transaction holds the audit log's append lock,
// could wait for ever under load). The store runs here on a pool of one connection, with the
// real audit writer and consent gate; any second connection would block until the deadline.
func TestTransitionsNeedOneConnection(t *testing.T) {
	f := newFlow(t, at(2026, 6, 1, 9, 0))
	one, err := sqlx.Open("postgres", f.db.RuntimeURL)
	if err != nil {
		t.Fatal(err)
	}
	defer one.Close()
	one.SetMaxOpenConns(1)
	w := audit.NewWriter(f.db.Runtime, audit.WriterConfig{})
	defer w.Close()
	cal, _ := workdays.Parse("IT", rome)
	f.cases = cases.New(cases.Config{DB: one, Now: func() time.Time { return f.now }, Calendar: cal, Audit: w,
		Notifier: f.notify, Consent: consent.NewGate(one)})
	f.cases.SetAccounts(f.svc.Accounts)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	f.ctx = ctx

	c := f.create(so.LanguageEnglish)
	store := consent.NewStore(f.db.Runtime, f.cases)
	if _, err := store.Sign(ctx, c.ID, "2025-01-en", "Maria Rossi", so.RelationshipSelf, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := store.Countersign(ctx, c.ID, f.cm.AccountID); err != nil {
		t.Fatal(err)
	}
	f.step(f.ann, c.ID, cases.TransitionSubmit, cases.Input{})
	f.step(f.cm, c.ID, cases.TransitionTriage, cases.Input{})
	f.acceptAll(c)
	if _, err := f.cases.Assign(ctx, cases.Actor{Subject: f.cm}, c.ID, "rev@example.org"); err != nil {
		t.Fatal(err)
	}
	f.step(f.cm, c.ID, cases.TransitionAccept, cases.Input{})
	f.step(f.cm, c.ID, cases.TransitionPayment, cases.Input{Amount: "500.00", Currency: "EUR", Method: "card"})
	x, err := f.cases.ProposeExtra(ctx, cases.Actor{Subject: f.rev}, c.ID, cases.ExtraInput{Type: so.ExtraInDepth, Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.cases.DecideExtra(ctx, cases.Actor{Subject: f.ann}, x.ID, false); err != nil {
		t.Fatal(err)
	}
	if err := f.cases.Register(ctx, cases.NewDocument{ID: "report-1", CaseID: c.ID, Kind: so.KindReport,
		UploadedBy: f.rev.AccountID, ObjectKey: "o/report-1", Size: 10, EncryptedSize: 100, SniffedType: "pdf"}); err != nil {
		t.Fatal(err)
	}
	f.step(f.rev, c.ID, cases.TransitionRelease, cases.Input{})
	var entries int
	if err := f.db.Owner.Get(&entries, `SELECT count(*) FROM audit_entries WHERE case_id = $1`, c.ID); err != nil || entries < 10 {
		t.Errorf("%d audit entries for the case, %v", entries, err)
	}
}
