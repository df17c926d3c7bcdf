package access_test

import (
	"context"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/internal/testenv"
	"github.com/secondopinion/secondopinion/mail"
)

// clock is the injectable clock of the tests.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

const password = "correct horse battery staple"

// fixture is the service over a fresh database, with a mail outbox that delivers to an
// in-memory mail catcher, and a clock that only moves when told.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	db     *testenv.DB
	clock  *clock
	mailer *mail.MemoryMailer
	outbox *mail.Outbox
	cases  *cases.Cases
	svc    *access.Service
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, nil)
}

// newFixtureWith is newFixture with the outbox sending through s (nil: the memory catcher).
func newFixtureWith(t *testing.T, s mail.Sender) *fixture {
	t.Helper()
	db := testenv.NewDB(t)
	f := &fixture{t: t, ctx: context.Background(), db: db, mailer: &mail.MemoryMailer{},
		clock: &clock{t: time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)}}
	if s == nil {
		s = f.mailer
	}
	f.cases = cases.New(cases.Config{DB: db.Runtime})
	f.cases.Now = f.clock.Now
	key := make([]byte, access.TOTPKeyLen)
	for i := range key {
		key[i] = byte(i)
	}
	var err error
	f.outbox, err = mail.New(mail.Config{DB: db.Runtime, Sender: s, Key: make([]byte, mail.KeySize),
		PublicURL: "https://so.test/app/", Now: f.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	caseLanguage := func(ctx context.Context, id string) (string, error) {
		c, err := f.cases.Get(ctx, id)
		return string(c.Language), err
	}
	svc, err := access.New(access.Config{
		DB: db.Runtime, Directory: f.cases, Outbox: f.outbox, CaseLanguage: caseLanguage, PublicURL: "https://so.test/app/",
		TOTPKey: key, Argon2: access.Argon2Params{Memory: 1024, Time: 1, Threads: 1}, Now: f.clock.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	f.cases.SetAccounts(svc.Accounts)
	return f
}

// sent delivers what the outbox holds and returns every mail sent so far, oldest first.
func (f *fixture) sent() []mail.Email {
	f.t.Helper()
	if _, err := f.outbox.Deliver(f.ctx); err != nil {
		f.t.Fatalf("deliver: %v", err)
	}
	return f.mailer.Messages()
}

// lastMail delivers what the outbox holds and returns the newest mail sent to address.
func (f *fixture) lastMail(address string) (mail.Email, bool) {
	f.t.Helper()
	f.sent()
	return f.mailer.Last(address)
}

// account adds an account with the test password and returns its id.
func (f *fixture) account(email string, role so.Role) string {
	f.t.Helper()
	id, err := f.svc.Accounts.Add(f.ctx, email, role, "")
	if err != nil {
		f.t.Fatalf("add %s: %v", email, err)
	}
	if err := f.svc.Accounts.SetPassword(f.ctx, email, password); err != nil {
		f.t.Fatalf("set password %s: %v", email, err)
	}
	return id
}

// staff adds a staff account, enrols its TOTP through the real flow and returns the TOTP
// secret and the authenticated subject of its session.
func (f *fixture) staff(email string, role so.Role) (string, access.Subject) {
	f.t.Helper()
	f.account(email, role)
	_, raw, err := f.svc.Sessions.Login(f.ctx, email, password, "", "192.0.2.1")
	if err != nil {
		f.t.Fatalf("first login %s: %v", email, err)
	}
	s, err := f.svc.Sessions.Authenticate(f.ctx, raw)
	if err != nil || !s.NeedsTOTPEnrolment {
		f.t.Fatalf("first session of %s: %+v, %v", email, s, err)
	}
	enr, err := f.svc.Accounts.BeginTOTP(f.ctx, s)
	if err != nil {
		f.t.Fatalf("begin TOTP %s: %v", email, err)
	}
	_, raw, err = f.svc.Sessions.ConfirmTOTP(f.ctx, raw, access.TOTPCode(enr.Secret, f.clock.Now()))
	if err != nil {
		f.t.Fatalf("confirm TOTP %s: %v", email, err)
	}
	s, err = f.svc.Sessions.Authenticate(f.ctx, raw)
	if err != nil || !s.TOTPSatisfied || s.NeedsTOTPEnrolment || s.Role != role {
		f.t.Fatalf("enrolled session of %s: %+v, %v", email, s, err)
	}
	return enr.Secret, s
}

// applicant adds an applicant and returns the subject of a password login.
func (f *fixture) applicant(email string) access.Subject {
	f.t.Helper()
	f.account(email, so.RoleApplicant)
	_, raw, err := f.svc.Sessions.Login(f.ctx, email, password, "", "192.0.2.1")
	if err != nil {
		f.t.Fatalf("login %s: %v", email, err)
	}
	return f.authenticate(raw)
}

func (f *fixture) authenticate(raw string) access.Subject {
	f.t.Helper()
	s, err := f.svc.Sessions.Authenticate(f.ctx, raw)
	if err != nil {
		f.t.Fatalf("authenticate: %v", err)
	}
	return s
}

// newCase opens a case owned by the applicant subject.
func (f *fixture) newCase(owner access.Subject, given string) string {
	f.t.Helper()
	c, err := f.cases.Create(f.ctx, owner, cases.CreateInput{
		Patient:               cases.Patient{GivenName: given, FamilyName: "Rossi", BirthDate: "1970-05-01"},
		ApplicantRelationship: "self", ConsultationTypes: []so.ConsultationType{"oncological"}, Language: "it",
	})
	if err != nil {
		f.t.Fatalf("create case: %v", err)
	}
	return c.ID
}

// document registers a document as the upload path would.
func (f *fixture) document(id, caseID, kind, uploadedBy, invitation string) {
	f.t.Helper()
	_, err := f.db.Runtime.ExecContext(f.ctx, `INSERT INTO documents (id, case_id, kind, filename, object_key, uploaded_by, uploaded_by_invitation, status, size, sha256, finished_at)
		VALUES ($1, $2, $3, 'scan.pdf', 'objects/' || $1, nullif($4, '')::uuid, nullif($5, '')::uuid, 'available', 1234, '\x00ff', now())`,
		id, caseID, kind, uploadedBy, invitation)
	if err != nil {
		f.t.Fatalf("register document: %v", err)
	}
}

// physician invites a physician to the case as inviter, redeems the mailed link and returns the
// physician's subject and raw session token.
func (f *fixture) physician(inviter access.Subject, caseID, email string) (access.Invitation, access.Subject, string) {
	f.t.Helper()
	inv, err := f.svc.Invitations.Invite(f.ctx, inviter, caseID, email)
	if err != nil {
		f.t.Fatalf("invite: %v", err)
	}
	m, ok := f.lastMail(email)
	if !ok {
		f.t.Fatal("no invitation mail")
	}
	_, raw, err := f.svc.Invitations.Redeem(f.ctx, tokenFromMail(f.t, m))
	if err != nil {
		f.t.Fatalf("redeem invitation: %v", err)
	}
	return inv, f.authenticate(raw), raw
}

// tokenFromMail finds the link in a mail and returns its token.
func tokenFromMail(t *testing.T, m mail.Email) string {
	t.Helper()
	for _, field := range strings.Fields(m.Body) {
		if strings.HasPrefix(field, "https://so.test/app/") {
			u, err := url.Parse(field)
			if err != nil {
				t.Fatal(err)
			}
			return u.Query().Get("token")
		}
	}
	t.Fatalf("no link in mail %q", m.Body)
	return ""
}
