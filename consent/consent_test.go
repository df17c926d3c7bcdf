package consent

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/internal/testenv"
)

const defaultForm = "2025-01-en"

type fixture struct {
	db                                *testenv.DB
	s                                 *Store
	g                                 *Gate
	applicant, manager, reviewer, cm2 string
	clock                             time.Time
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	db := testenv.NewDB(t)
	f := &fixture{db: db, s: NewStore(db.Runtime, caseRows{db.Runtime}), g: NewGate(db.Runtime), clock: time.Date(2025, 6, 1, 9, 0, 0, 0, time.UTC)}
	f.s.Now = func() time.Time { f.clock = f.clock.Add(time.Minute); return f.clock }
	f.applicant = f.account(t, "applicant", false)
	f.manager = f.account(t, "case_manager", false)
	f.reviewer = f.account(t, "reviewer", false)
	f.cm2 = f.account(t, "case_manager", true)
	return f
}

func (f *fixture) account(t *testing.T, role string, disabled bool) string {
	t.Helper()
	var id string
	err := f.db.Runtime.GetContext(context.Background(), &id, `INSERT INTO accounts (email, role, disabled_at)
		VALUES (gen_random_uuid()::text || '@example.org', $1, CASE WHEN $2 THEN now() END) RETURNING id`, role, disabled)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func (f *fixture) newCase(t *testing.T, relationship so.Relationship) string {
	t.Helper()
	var id string
	err := f.db.Runtime.GetContext(context.Background(), &id, `INSERT INTO cases (owner_id, patient_given_name, patient_family_name,
		patient_birth_date, applicant_relationship, consultation_types, language)
		VALUES ($1, 'Ada', 'Rossi', '1970-01-01', $2, '{oncological}', 'en') RETURNING id`, f.applicant, relationship)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

var allKinds = []so.DocumentKind{"identity_document", "applicant_identity_document", "proof_of_authority", "consent_form",
	"cover_letter", "clinical_history", "histology_report", "imaging_report", "imaging_study", "radiotherapy_plan",
	"report", "other", "some_future_kind"}

// Every role against every kind in every consent state.
func TestGate(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	sign := func(c string) {
		must[Consent](t)(f.s.Sign(ctx, c, defaultForm, "Ada Rossi", so.RelationshipSelf, "192.0.2.1"))
	}
	counter := func(c string) { must[Consent](t)(f.s.Countersign(ctx, c, f.manager)) }
	states := []struct {
		name   string
		active bool
		setup  func(c string)
	}{
		{"none", false, func(string) {}},
		{"signed", false, sign},
		{"active", true, func(c string) { sign(c); counter(c) }},
		{"withdrawn", false, func(c string) { sign(c); counter(c); must[Consent](t)(f.s.Withdraw(ctx, c)) }},
		{"withdrawn before countersignature", false, func(c string) { sign(c); must[Consent](t)(f.s.Withdraw(ctx, c)) }},
		{"rejected", false, func(c string) { sign(c); must[Consent](t)(f.s.Reject(ctx, c, f.manager, "name differs from ID")) }},
		{"signed again after withdrawal", false, func(c string) {
			sign(c)
			counter(c)
			must[Consent](t)(f.s.Withdraw(ctx, c))
			sign(c)
		}},
		{"active again after withdrawal", true, func(c string) {
			sign(c)
			counter(c)
			must[Consent](t)(f.s.Withdraw(ctx, c))
			sign(c)
			counter(c)
		}},
	}
	identity := map[so.DocumentKind]bool{"identity_document": true, "applicant_identity_document": true, "proof_of_authority": true, "consent_form": true}
	for _, st := range states {
		caseID := f.newCase(t, so.RelationshipSelf)
		st.setup(caseID)
		for _, role := range []so.Role{so.RoleReviewer, so.RoleCaseManager, so.RoleApplicant, so.RolePhysician, so.RoleDPO, so.RoleAdmin, "", "superuser"} {
			for _, kind := range allKinds {
				var want error
				switch {
				case role == so.RoleReviewer && !st.active:
					want = ErrNoConsent
				case role == so.RoleCaseManager && !st.active && !identity[kind]:
					want = ErrNoConsent
				case role == so.RoleDPO || role == so.RoleAdmin || role == "" || role == "superuser":
					want = ErrRoleNotAllowed
				}
				err := f.g.Check(ctx, caseID, role, kind)
				if want == nil && err != nil || want != nil && !errors.Is(err, want) {
					t.Errorf("%s: %q reads %s: %v, want %v", st.name, role, kind, err, want)
				}
			}
		}
	}
	// A malformed or unknown case has no consent.
	for _, id := range []string{"", "not-a-uuid", "00000000-0000-0000-0000-000000000000"} {
		if err := f.g.Check(ctx, id, so.RoleReviewer, "imaging_study"); !errors.Is(err, ErrNoConsent) {
			t.Errorf("case %q: %v", id, err)
		}
	}
}

// When the database cannot answer, the gate says so with an error: the caller denies.
func TestGateFailsClosed(t *testing.T) {
	f := newFixture(t)
	caseID := f.newCase(t, so.RelationshipSelf)
	f.db.Runtime.Close()
	err := f.g.Check(context.Background(), caseID, so.RoleReviewer, "imaging_study")
	if err == nil || errors.Is(err, ErrNoConsent) {
		t.Fatalf("check on a closed database: %v, want a database error", err)
	}
	if err := f.g.Check(context.Background(), caseID, so.RoleCaseManager, "identity_document"); err != nil {
		t.Fatalf("a check that needs no consent should not touch the database: %v", err)
	}
}

// The whole life of a consent, with withdrawal taking effect at the next check and the
// earlier record left exactly as it was.
func TestLifecycle(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	caseID := f.newCase(t, so.RelationshipParent)

	for _, c := range []struct {
		name                string
		caseID, form, name2 string
		rel                 so.Relationship
		ip                  string
		want                error
	}{
		{"empty name", caseID, defaultForm, "  ", so.RelationshipParent, "", ErrInvalid},
		{"control character", caseID, defaultForm, "Ada\nRossi", so.RelationshipParent, "", ErrInvalid},
		{"unknown relationship", caseID, defaultForm, "Ada Rossi", "friend", "", ErrInvalid},
		{"relationship not the case's", caseID, defaultForm, "Ada Rossi", so.RelationshipSelf, "", ErrInvalid},
		{"bad ip", caseID, defaultForm, "Ada Rossi", so.RelationshipParent, "10.0.0.300", ErrInvalid},
		{"unknown form", caseID, "1999-01-xx", "Ada Rossi", so.RelationshipParent, "", ErrNotFound},
		{"unknown case", "00000000-0000-0000-0000-000000000000", defaultForm, "Ada Rossi", so.RelationshipParent, "", ErrNotFound},
		{"malformed case", "x", defaultForm, "Ada Rossi", so.RelationshipParent, "", ErrNotFound},
	} {
		if _, err := f.s.Sign(ctx, c.caseID, c.form, c.name2, c.rel, c.ip); !errors.Is(err, c.want) {
			t.Errorf("sign, %s: %v, want %v", c.name, err, c.want)
		}
	}
	if _, err := f.s.Current(ctx, caseID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("current before signing: %v", err)
	}
	if _, err := f.s.Countersign(ctx, caseID, f.manager); !errors.Is(err, ErrNotFound) {
		t.Fatalf("countersign before signing: %v", err)
	}

	signed := must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, " Maria Rossi ", so.RelationshipParent, "2001:db8::1"))
	form := must[Form](t)(f.s.Form(ctx, defaultForm))
	if signed.Status() != StatusProposed || signed.SignerName != "Maria Rossi" || signed.SignedIP != "2001:db8::1" ||
		string(signed.FormSHA256) != string(form.SHA256) || signed.Relationship != so.RelationshipParent {
		t.Fatalf("signed: %+v", signed)
	}
	if _, err := f.s.Sign(ctx, caseID, defaultForm, "Maria Rossi", so.RelationshipParent, ""); !errors.Is(err, ErrConflict) {
		t.Fatalf("second signature: %v", err)
	}
	// Who may countersign is access.Policy's to decide (case managers only; a disabled
	// account has no session); the store only refuses what cannot name an account.
	for _, who := range []string{"", "x"} {
		if _, err := f.s.Countersign(ctx, caseID, who); !errors.Is(err, ErrInvalid) {
			t.Errorf("countersign by %q: %v, want ErrInvalid", who, err)
		}
	}
	if err := f.g.Check(ctx, caseID, so.RoleReviewer, "imaging_study"); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("gate before countersignature: %v", err)
	}
	active := must[Consent](t)(f.s.Countersign(ctx, caseID, f.manager))
	if active.Status() != StatusActive || *active.CountersignedBy != f.manager || !active.CountersignedAt.After(active.SignedAt) {
		t.Fatalf("countersigned: %+v", active)
	}
	if err := f.g.Check(ctx, caseID, so.RoleReviewer, "imaging_study"); err != nil {
		t.Fatalf("gate after countersignature: %v", err)
	}
	if _, err := f.s.Countersign(ctx, caseID, f.manager); !errors.Is(err, ErrConflict) {
		t.Fatalf("second countersignature: %v", err)
	}
	if _, err := f.s.Reject(ctx, caseID, f.manager, "late"); !errors.Is(err, ErrConflict) {
		t.Fatalf("reject after countersignature: %v", err)
	}

	withdrawn := must[Consent](t)(f.s.Withdraw(ctx, caseID))
	if withdrawn.Status() != StatusWithdrawn {
		t.Fatalf("withdrawn: %+v", withdrawn)
	}
	if err := f.g.Check(ctx, caseID, so.RoleReviewer, "imaging_study"); !errors.Is(err, ErrNoConsent) {
		t.Fatalf("gate right after withdrawal: %v", err)
	}
	if _, err := f.s.Withdraw(ctx, caseID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second withdrawal: %v", err)
	}
	if _, err := f.s.Countersign(ctx, caseID, f.manager); !errors.Is(err, ErrNotFound) {
		t.Fatalf("countersign after withdrawal: %v", err)
	}

	again := must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, "Maria Rossi", so.RelationshipParent, ""))
	rejected := must[Consent](t)(f.s.Reject(ctx, caseID, f.manager, "proof of authority missing"))
	if rejected.ID != again.ID || rejected.Status() != StatusRejected || rejected.RejectionReason != "proof of authority missing" {
		t.Fatalf("rejected: %+v", rejected)
	}
	third := must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, "Maria Rossi", so.RelationshipParent, ""))
	current := must[Consent](t)(f.s.Current(ctx, caseID))
	if current.ID != third.ID {
		t.Fatalf("current is %s, want the newest %s", current.ID, third.ID)
	}
	history := must[[]Consent](t)(f.s.History(ctx, caseID))
	if len(history) != 3 || !reflect.DeepEqual(history[0], withdrawn) || !reflect.DeepEqual(history[1], rejected) {
		t.Fatalf("history changed: %+v", history)
	}
}

// The runtime role cannot rewrite a signature, reopen a closed consent, replace a
// countersignature or delete a consent; erasing the case removes its consents with it.
func TestConsentRowsAreProtected(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	caseID := f.newCase(t, so.RelationshipSelf)
	must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, "Ada Rossi", so.RelationshipSelf, ""))
	must[Consent](t)(f.s.Countersign(ctx, caseID, f.manager))
	for _, stmt := range []string{
		`UPDATE case_consents SET signer_name = 'Someone Else'`,
		`UPDATE case_consents SET form_version = '2025-01-en', form_sha256 = form_sha256`,
		`UPDATE case_consents SET countersigned_by = '` + f.cm2 + `'`,
		`DELETE FROM case_consents`,
		`UPDATE consent_forms SET text = 'changed'`,
		`DELETE FROM consent_forms`,
	} {
		if _, err := f.db.Runtime.ExecContext(ctx, stmt); err == nil {
			t.Errorf("runtime role: %s succeeded", stmt)
		}
	}
	must[Consent](t)(f.s.Withdraw(ctx, caseID))
	if _, err := f.db.Runtime.ExecContext(ctx, `UPDATE case_consents SET withdrawn_at = NULL`); err == nil {
		t.Error("a withdrawn consent was reopened")
	}
	// An erased case leaves its tombstone (cases.FinishErasure does both in one transaction).
	if _, err := f.db.Runtime.ExecContext(ctx, `INSERT INTO case_tombstones (case_id, last_status, created_at, erased_at,
		reason, documents) VALUES ($1, 'withdrawn', now(), now(), 'request', 0)`, caseID); err != nil {
		t.Fatalf("tombstone: %v", err)
	}
	if _, err := f.db.Runtime.ExecContext(ctx, `DELETE FROM cases WHERE id = $1`, caseID); err != nil {
		t.Fatalf("erase case: %v", err)
	}
	if h := must[[]Consent](t)(f.s.History(ctx, caseID)); len(h) != 0 {
		t.Fatalf("consents outlive their case: %d", len(h))
	}
}

func TestForms(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	seeded := must[Form](t)(f.s.LatestForm(ctx, "en"))
	sum := sha256.Sum256([]byte(seeded.Text))
	if seeded.Version != defaultForm || string(seeded.SHA256) != string(sum[:]) || !strings.Contains(seeded.Text, "withdraw") {
		t.Fatalf("seeded form: %s %x", seeded.Version, seeded.SHA256)
	}
	it := must[Form](t)(f.s.AddForm(ctx, "2025-02-it", "it", "Consenso al trattamento dei dati."))
	if got := must[Form](t)(f.s.Form(ctx, "2025-02-it")); got.Text != it.Text || string(got.SHA256) != string(it.SHA256) {
		t.Fatalf("form read back: %+v", got)
	}
	for _, c := range []struct{ version, lang, text string }{
		{"Bad Version", "en", "x"}, {"2025-03-de", "de", "x"}, {"2025-03-en", "en", ""},
	} {
		if _, err := f.s.AddForm(ctx, c.version, c.lang, c.text); !errors.Is(err, ErrInvalid) {
			t.Errorf("add %+v: %v, want ErrInvalid", c, err)
		}
	}
	if _, err := f.s.AddForm(ctx, defaultForm, "en", "other text"); !errors.Is(err, ErrConflict) {
		t.Fatalf("replace a form: %v", err)
	}
	// Spanish (and Italian) are seeded too, so that every case signs in its own language.
	if got, err := f.s.LatestForm(ctx, "es"); err != nil || got.Version != "2025-01-es" || !strings.Contains(got.Text, "consentimiento") {
		t.Fatalf("latest es: %s, %v", got.Version, err)
	}
}

// The FHIR Consent of each state, and of each signer's relationship, is valid FHIR R4
// (testenv.FHIRValid: the R4 JSON schema, the R4 StructureDefinitions, no empty element,
// ppc-1..5) and has what this service promises (patient, performer, form hash, provision
// period from countersignature to withdrawal).
func TestFHIR(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	caseID := f.newCase(t, so.RelationshipLegalRepresentative)
	form := must[Form](t)(f.s.Form(ctx, defaultForm))
	proposed := must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, "Luca Bianchi", so.RelationshipLegalRepresentative, "192.0.2.9"))
	active := must[Consent](t)(f.s.Countersign(ctx, caseID, f.manager))
	withdrawn := must[Consent](t)(f.s.Withdraw(ctx, caseID))
	must[Consent](t)(f.s.Sign(ctx, caseID, defaultForm, "Luca Bianchi", so.RelationshipLegalRepresentative, ""))
	rejected := must[Consent](t)(f.s.Reject(ctx, caseID, f.manager, "unreadable ID"))

	for _, c := range []struct {
		consent Consent
		status  string
		period  bool
	}{{proposed, "proposed", false}, {active, "active", true}, {withdrawn, "inactive", true}, {rejected, "rejected", false}} {
		b, err := json.Marshal(c.consent.FHIR())
		if err != nil {
			t.Fatal(err)
		}
		var m map[string]any
		if err := json.Unmarshal(b, &m); err != nil {
			t.Fatal(err)
		}
		testenv.FHIRValid(t, b)
		for _, k := range []string{"resourceType", "id", "status", "scope", "category", "patient", "dateTime", "performer", "policyRule", "provision", "sourceReference"} {
			if _, ok := m[k]; !ok {
				t.Fatalf("%s: missing %s in %s", c.status, k, b)
			}
		}
		if m["resourceType"] != "Consent" || m["status"] != c.status {
			t.Fatalf("%s: %v %v", c.status, m["resourceType"], m["status"])
		}
		if code := m["scope"].(map[string]any)["coding"].([]any)[0].(map[string]any)["code"]; code != "patient-privacy" {
			t.Fatalf("scope %v", code)
		}
		if v := m["patient"].(map[string]any)["identifier"].(map[string]any)["value"]; v != caseID {
			t.Fatalf("patient %v", v)
		}
		if p := m["performer"].([]any)[0].(map[string]any); p["type"] != "RelatedPerson" || !strings.Contains(p["display"].(string), "Luca Bianchi") {
			t.Fatalf("performer %v", p)
		}
		ni := m["sourceReference"].(map[string]any)["identifier"].(map[string]any)["value"].(string)
		hash, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(ni, "ni:///sha-256;"))
		if err != nil || string(hash) != string(form.SHA256) {
			t.Fatalf("source %q does not name the form hash", ni)
		}
		if _, err := time.Parse(time.RFC3339, m["dateTime"].(string)); err != nil {
			t.Fatalf("dateTime: %v", err)
		}
		_, hasPeriod := m["provision"].(map[string]any)["period"]
		if hasPeriod != c.period {
			t.Fatalf("%s: provision period present %v", c.status, hasPeriod)
		}
	}
	// Every relationship of the signer gives a valid resource, before and after countersignature.
	for _, rel := range []so.Relationship{so.RelationshipSelf, so.RelationshipParent, so.RelationshipGuardian, so.RelationshipLegalRepresentative} {
		id := f.newCase(t, rel)
		signed := must[Consent](t)(f.s.Sign(ctx, id, defaultForm, "Ana García", rel, "2001:db8::1"))
		countersigned := must[Consent](t)(f.s.Countersign(ctx, id, f.manager))
		for _, c := range []Consent{signed, countersigned} {
			b, err := json.Marshal(c.FHIR())
			if err != nil {
				t.Fatal(err)
			}
			testenv.FHIRValid(t, b)
		}
	}

	wf := withdrawn.FHIR()
	if wf.Provision.Period.Start != fhirTime(*active.CountersignedAt) || wf.Provision.Period.End != fhirTime(*withdrawn.WithdrawnAt) {
		t.Fatalf("withdrawn period %+v", wf.Provision.Period)
	}
	if len(wf.Performer) != 2 || wf.Performer[1].Identifier.Value != f.manager || !wf.Verification[0].Verified {
		t.Fatalf("countersignature not shown: %+v %+v", wf.Performer, wf.Verification)
	}
}

// caseRows reads a case's relationship from the rows these tests insert (package cases owns
// the table and answers this in the service).
type caseRows struct{ db *sqlx.DB }

func (c caseRows) Relationship(ctx context.Context, id string) (so.Relationship, error) {
	if !so.ValidID(id) {
		return "", so.ErrNotFound
	}
	var r so.Relationship
	err := c.db.GetContext(ctx, &r, `SELECT applicant_relationship FROM cases WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return "", so.ErrNotFound
	}
	return r, err
}
