package testenv

import (
	"fmt"
	"strings"
	"testing"
)

// recorder is a testing.TB that keeps the failures FHIRValid reports instead of failing.
type recorder struct {
	testing.TB
	errs []string
}

type fatal struct{}

func (r *recorder) Helper() {}
func (r *recorder) Errorf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
}
func (r *recorder) Error(a ...any) { r.errs = append(r.errs, fmt.Sprint(a...)) }
func (r *recorder) Fatalf(format string, a ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, a...))
	panic(fatal{})
}
func (r *recorder) Fatal(a ...any) { r.errs = append(r.errs, fmt.Sprint(a...)); panic(fatal{}) }

// validate runs FHIRValid on doc with a recorder and returns what it reported.
func validate(t *testing.T, doc string) (errs []string) {
	r := &recorder{TB: t}
	defer func() {
		if v := recover(); v != nil {
			if _, ok := v.(fatal); !ok {
				panic(v)
			}
		}
		errs = r.errs
	}()
	FHIRValid(r, []byte(doc))
	return r.errs
}

const (
	validEvent = `{"resourceType":"AuditEvent","id":"7","type":{"system":"http://dicom.nema.org/resources/ontology/DCM","code":"110114"},` +
		`"recorded":"2025-03-01T10:00:00.000000Z","outcome":"0",` +
		`"agent":[{"who":{"identifier":{"system":"urn:secondopinion:account","value":"a-1"}},"requestor":true}],` +
		`"source":{"observer":{"display":"so"}},` +
		`"entity":[{"what":{"identifier":{"value":"req-1"}}}]}`
	validConsent = `{"resourceType":"Consent","id":"c-1","status":"active",` +
		`"scope":{"coding":[{"system":"http://terminology.hl7.org/CodeSystem/consentscope","code":"patient-privacy"}]},` +
		`"category":[{"coding":[{"system":"http://loinc.org","code":"59284-0"}]}],` +
		`"patient":{"identifier":{"value":"case-1"}},"policyRule":{"text":"opt-in"}}`
)

// bundleOf is a collection Bundle of the resources, each entry with the given fullUrl.
func bundleOf(fullURL string, resources ...string) string {
	var entries []string
	for _, r := range resources {
		e := `{"resource":` + r + `}`
		if fullURL != "" {
			e = `{"fullUrl":"` + fullURL + `","resource":` + r + `}`
		}
		entries = append(entries, e)
	}
	return `{"resourceType":"Bundle","type":"collection","entry":[` + strings.Join(entries, ",") + `]}`
}

// FHIRValid accepts valid resources, single, as NDJSON and in a Bundle, and rejects each kind of
// invalidity with the check that should see it: the JSON schema (unknown element, wrong
// type, bad instant, code outside a required binding), the StructureDefinitions (a required
// primitive missing), and the rules neither expresses (empty elements, Bundle fullUrl,
// invariants). Every invalid case would pass if that check were not run.
func TestFHIRValid(t *testing.T) {
	for _, doc := range []string{
		validEvent,
		validConsent,
		validEvent + "\n" + validEvent + "\n",
		bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", validEvent),
		bundleOf("https://so.example/fhir/AuditEvent/7", validEvent),
		`{"resourceType":"Bundle","type":"collection"}`,
	} {
		if errs := validate(t, doc); len(errs) != 0 {
			t.Errorf("valid %.80s…: %v", doc, errs)
		}
	}
	if n := FHIRValid(t, []byte(validEvent+"\n"+validConsent+"\n")); n != 2 {
		t.Errorf("FHIRValid counted %d resources in two lines", n)
	}

	event := func(from, to string) string {
		if !strings.Contains(validEvent, from) {
			t.Fatalf("%q is not in the event", from)
		}
		return strings.Replace(validEvent, from, to, 1)
	}
	for _, c := range []struct{ name, doc, want string }{
		{"empty identifier value", event(`"value":"req-1"`, `"value":""`), "ele-1"},
		{"empty entity list", event(`"entity":[{"what":{"identifier":{"value":"req-1"}}}]`, `"entity":[]`), "ele-1"},
		{"unknown element", event(`"outcome":"0"`, `"outcome":"0","severity":"high"`), "JSON schema"},
		{"outcome not a code of the value set", event(`"outcome":"0"`, `"outcome":"3"`), "JSON schema"},
		{"recorded without time zone", event(`00.000000Z"`, `00.000000"`), "JSON schema"},
		{"requestor as a string", event(`"requestor":true`, `"requestor":"true"`), "JSON schema"},
		{"recorded missing", event(`"recorded":"2025-03-01T10:00:00.000000Z",`, ``), "StructureDefinition"},
		{"requestor missing", event(`,"requestor":true`, ``), "StructureDefinition"},
		{"entity with name and query", event(`{"what":{"identifier":{"value":"req-1"}}}`, `{"name":"x","query":"eA=="}`), "sev-1"},
		{"not a resource type", `{"resourceType":"AuditEvents","id":"1"}`, "not an R4 resource"},
		{"consent without status", strings.Replace(validConsent, `"status":"active",`, "", 1), "StructureDefinition"},
		{"consent without policy", strings.Replace(validConsent, `,"policyRule":{"text":"opt-in"}`, "", 1), "ppc-1"},
		{"privacy consent without patient", strings.Replace(validConsent, `"patient":{"identifier":{"value":"case-1"}},`, "", 1), "ppc-2..5"},
		{"bundle without type", strings.Replace(bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", validEvent), `"type":"collection",`, "", 1), "type is missing"},
		{"bundle entry without fullUrl", bundleOf("", validEvent), "fullUrl is missing"},
		{"fullUrl not absolute", bundleOf("AuditEvent/7", validEvent), "not an absolute URL"},
		{"fullUrl disagreeing with the id", bundleOf("https://so.example/fhir/AuditEvent/8", validEvent), "disagrees"},
		{"fullUrl not unique", bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", validEvent, validEvent), "bdl-7"},
		{"upper-case uuid", bundleOf("urn:uuid:0B9E4C1A-6F63-5C2E-9D1A-3E1F2A4B5C6D", validEvent), "urn:uuid"},
		{"search in a collection", strings.Replace(bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", validEvent), `{"fullUrl"`, `{"search":{"mode":"match"},"fullUrl"`, 1), "bdl-2"},
		{"invalid resource in a bundle", bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", event(`"outcome":"0"`, `"outcome":"3"`)), "JSON schema"},
		{"resource in a bundle lacking a required primitive", bundleOf("urn:uuid:0b9e4c1a-6f63-5c2e-9d1a-3e1f2a4b5c6d", event(`,"requestor":true`, ``)), "StructureDefinition"},
		{"not JSON", `{"resourceType":`, "not JSON"},
		{"nothing", ``, "no resource"},
	} {
		errs := validate(t, c.doc)
		if !strings.Contains(strings.Join(errs, "\n"), c.want) {
			t.Errorf("%s: got %q, want an error with %q", c.name, errs, c.want)
		}
	}
}
