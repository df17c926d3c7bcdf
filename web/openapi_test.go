package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/cases"
)

// The OpenAPI document is loaded and checked with kin-openapi, which validates OpenAPI 3.1
// documents as such: the document's structure (unknown fields included), every $ref, the path
// parameters of every operation, unique operation ids, the formats named, and each schema and
// example under JSON Schema 2020-12. The tests below hold it to the route table, the root
// vocabulary, the state machine, the policy and the handlers' real answers.

// loadOpenAPI parses and validates the embedded document, failing the test on any problem.
func loadOpenAPI(t *testing.T) *openapi3.T {
	t.Helper()
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(openAPIDocument)
	if err != nil {
		t.Fatalf("load openapi.json: %v", err)
	}
	if !doc.IsOpenAPI31OrLater() || doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi.json is OpenAPI %q, want 3.1.0", doc.OpenAPI)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableMultiError(), openapi3.EnableSchemaFormatValidation()); err != nil {
		t.Fatalf("openapi.json is not a valid OpenAPI 3.1 document:\n%v", err)
	}
	return doc
}

// operations lists the document's operations as "METHOD /path".
func operations(doc *openapi3.T) map[string]*openapi3.Operation {
	ops := map[string]*openapi3.Operation{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			ops[method+" "+path] = op
		}
	}
	return ops
}

// Every operation says what it is, who may call it and what it answers: an operation id, a
// summary, a description, a tag, x-roles (roles; empty only when no sign-in is needed), and
// documented responses.
func TestOpenAPIDocumentIsComplete(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, op := range operations(doc) {
		if op.OperationID == "" || op.Summary == "" || op.Description == "" || len(op.Tags) == 0 {
			t.Errorf("%s: needs operationId, summary, description and tags", name)
		}
		if op.Responses == nil || op.Responses.Len() == 0 {
			t.Errorf("%s: no responses", name)
		}
		roles, ok := op.Extensions["x-roles"].([]any)
		if !ok {
			t.Errorf("%s: no x-roles", name)
			continue
		}
		for _, r := range roles {
			if s, _ := r.(string); !slices.Contains(so.Roles, so.Role(s)) {
				t.Errorf("%s: x-roles names %v, not a role", name, r)
			}
		}
		if public := op.Security != nil && !requiresCredential(*op.Security); public != (len(roles) == 0) {
			t.Errorf("%s: x-roles %v disagree with its security (sign-in optional: %v)", name, roles, public)
		}
	}
}

// requiresCredential reports whether a security requirement list has no anonymous alternative.
func requiresCredential(reqs openapi3.SecurityRequirements) bool {
	for _, r := range reqs {
		if len(r) == 0 {
			return false
		}
	}
	return len(reqs) > 0
}

// nopTus stands in for tusd, so that New mounts the upload routes.
type nopTus struct{}

func (nopTus) Middleware(h http.Handler) http.Handler       { return h }
func (nopTus) PostFile(http.ResponseWriter, *http.Request)  {}
func (nopTus) HeadFile(http.ResponseWriter, *http.Request)  {}
func (nopTus) PatchFile(http.ResponseWriter, *http.Request) {}
func (nopTus) DelFile(http.ResponseWriter, *http.Request)   {}

// openAPIPath writes a gin route pattern as an OpenAPI path template: ":id" and "*rest"
// segments become "{id}" and "{rest}".
func openAPIPath(ginPath string) string {
	segs := strings.Split(ginPath, "/")
	for i, s := range segs {
		if len(s) > 1 && (s[0] == ':' || s[0] == '*') {
			segs[i] = "{" + s[1:] + "}"
		}
	}
	return strings.Join(segs, "/")
}

// The document describes every route gin registers, and nothing else. The router is the real
// route table, with the upload routes mounted.
func TestOpenAPIDescribesEveryRoute(t *testing.T) {
	doc := loadOpenAPI(t)
	s := New(Config{Logger: slog.New(slog.DiscardHandler), Tus: nopTus{}})
	registered := map[string]bool{}
	for _, r := range s.engine.Routes() {
		if isPageRoute(r.Path) {
			continue // the pages are HTML, not the API
		}
		registered[r.Method+" "+openAPIPath(r.Path)] = true
	}
	documented := operations(doc)
	var undocumented, unrouted []string
	for r := range registered {
		if documented[r] == nil {
			undocumented = append(undocumented, r)
		}
	}
	for r := range documented {
		if !registered[r] {
			unrouted = append(unrouted, r)
		}
	}
	slices.Sort(undocumented)
	slices.Sort(unrouted)
	if len(undocumented)+len(unrouted) > 0 {
		t.Errorf("routes.go and openapi.json differ:\nregistered, not documented:\n\t%s\ndocumented, not registered:\n\t%s",
			strings.Join(undocumented, "\n\t"), strings.Join(unrouted, "\n\t"))
	}
	if !registered["PATCH /api/v1/uploads/{id}"] {
		t.Error("the upload routes are not mounted: the comparison misses them")
	}
}

// GET /api/v1/openapi.json serves exactly the embedded document, as JSON, to anyone, with the
// security headers, briefly cacheable and revalidated by its entity tag.
func TestOpenAPIServed(t *testing.T) {
	s, _ := newTestServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil))
	h := rec.Header()
	if rec.Code != http.StatusOK || !bytes.Equal(rec.Body.Bytes(), openAPIDocument) {
		t.Fatalf("status %d, %d bytes; want 200 and the %d embedded bytes", rec.Code, rec.Body.Len(), len(openAPIDocument))
	}
	if ct := h.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	if h.Get("Cache-Control") != "public, max-age=300" || h.Get("ETag") != openAPIETag {
		t.Errorf("Cache-Control %q, ETag %q", h.Get("Cache-Control"), h.Get("ETag"))
	}
	if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Content-Security-Policy") == "" || h.Get("X-Request-Id") == "" {
		t.Errorf("security headers missing: %v", h)
	}
	for _, inm := range []string{openAPIETag, `"other", W/` + openAPIETag, "*"} {
		rec = httptest.NewRecorder()
		req := httptest.NewRequest(http.MethodGet, "/api/v1/openapi.json", nil)
		req.Header.Set("If-None-Match", inm)
		s.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 {
			t.Errorf("If-None-Match %s: status %d, %d bytes", inm, rec.Code, rec.Body.Len())
		}
	}
}

// The document's vocabulary is the root package's, its error codes are every code the API
// answers, and its transitions are the state machine's.
func TestOpenAPIVocabulary(t *testing.T) {
	doc := loadOpenAPI(t)
	for name, want := range map[string][]string{
		"Role":             strs(so.Roles),
		"CaseStatus":       strs(so.Statuses),
		"DocumentKind":     strs(so.Kinds),
		"Language":         strs(so.Languages),
		"ConsultationType": strs(so.ConsultationTypes),
		"Relationship":     strs(so.Relationships),
		"ExtraType":        strs(so.ExtraTypes),
	} {
		if got := enumOf(t, doc, name); !slices.Equal(got, want) {
			t.Errorf("schema %s: enum %v, want %v", name, got, want)
		}
	}
	codes := enumOf(t, doc, "ErrorCode")
	answered := []string{errConsentRequired.code, errConsentState.code, errNoConsent.code, "internal",
		"method_not_allowed", "cross_origin"}
	for c := range codeStatus {
		answered = append(answered, string(c))
	}
	slices.Sort(codes)
	slices.Sort(answered)
	if !slices.Equal(codes, answered) {
		t.Errorf("ErrorCode enum %v, the API answers %v", codes, answered)
	}
	var documented []string
	for _, op := range operations(doc) {
		if tr, ok := op.Extensions["x-transition"].(string); ok {
			documented = append(documented, tr)
		}
	}
	slices.Sort(documented)
	if want := slices.Sorted(slices.Values(strs(cases.Transitions))); !slices.Equal(documented, want) {
		t.Errorf("x-transition operations %v, the state machine has %v", documented, want)
	}
}

func strs[T ~string](vs []T) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return out
}

// enumOf is the enum of a component schema, as strings.
func enumOf(t *testing.T, doc *openapi3.T, name string) []string {
	t.Helper()
	ref := doc.Components.Schemas[name]
	if ref == nil || ref.Value == nil {
		t.Fatalf("no schema %s", name)
	}
	var out []string
	for _, v := range ref.Value.Enum {
		out = append(out, v.(string))
	}
	return out
}

// Each transition's documented body has exactly the fields cases.ParseInput lets it have:
// every documented property is accepted, every other field of cases.Input is refused.
func TestOpenAPITransitionBodies(t *testing.T) {
	doc := loadOpenAPI(t)
	ops := operations(doc)
	for _, tr := range cases.Transitions {
		op := ops["POST /api/v1/cases/{id}/"+string(tr)]
		if op == nil || op.RequestBody == nil {
			t.Errorf("%s: not documented with a request body", tr)
			continue
		}
		body := op.RequestBody.Value.Content.Get("application/json").Schema.Value
		documented := slices.Sorted(maps.Keys(body.Properties))
		if got := acceptedFields(tr); !slices.Equal(documented, got) {
			t.Errorf("%s: documented fields %v, ParseInput accepts %v", tr, documented, got)
		}
		if !refersTo(op.Responses.Status(http.StatusConflict), "State", "StateConflict") {
			t.Errorf("%s: 409 is not the state conflict response", tr)
		}
	}
}

// acceptedFields are the JSON fields of cases.Input that ParseInput does not refuse as
// unknown for tr.
func acceptedFields(tr cases.Transition) []string {
	var out []string
	typ := reflect.TypeFor[cases.Input]()
	for i := range typ.NumField() {
		name, _, _ := strings.Cut(typ.Field(i).Tag.Get("json"), ",")
		body, _ := json.Marshal(map[string]any{name: nil})
		_, err := cases.ParseInput(tr, body)
		var e *so.Error
		refused := errors.As(err, &e) && slices.ContainsFunc(e.Fields, func(f so.FieldError) bool {
			return f.Field == name && strings.HasPrefix(f.Message, "unknown field")
		})
		if !refused {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// refersTo reports whether a response is a $ref to one of the named component responses.
func refersTo(r *openapi3.ResponseRef, names ...string) bool {
	return r != nil && slices.ContainsFunc(names, func(n string) bool { return r.Ref == "#/components/responses/"+n })
}

// exchange is one request to the server and what the document must say of its answer.
type exchange struct {
	name    string
	method  string
	target  string
	token   so.Role // "" for no credential
	header  http.Header
	body    string
	bad     bool // the request itself is malformed on purpose: its answer is checked, not it
	status  int
	errCode string // the error code of a JSON error answer
}

// The server's real answers, from its handlers over fakes of the domain, match the document:
// the status is documented for the operation, the headers it requires are there, and the body
// validates against the response's schema. Well-formed requests validate too.
func TestOpenAPIAnswersMatchDocument(t *testing.T) {
	doc := loadOpenAPI(t)
	openapi3filter.RegisterBodyDecoder("application/offset+octet-stream", openapi3filter.FileBodyDecoder)
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	srv := newFakeServer(t)
	for _, x := range fakeExchanges() {
		t.Run(x.name, func(t *testing.T) {
			req := httptest.NewRequest(x.method, x.target, strings.NewReader(x.body))
			maps.Copy(req.Header, x.header)
			if x.body != "" && req.Header.Get("Content-Type") == "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if x.token != "" {
				req.Header.Set("Authorization", "Bearer "+string(x.token))
			}
			route, params, err := router.FindRoute(req)
			if err != nil {
				t.Fatalf("%s %s: no operation: %v", x.method, x.target, err)
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
			if !x.bad {
				if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
					t.Fatalf("the request does not match the document: %v", err)
				}
				req.Body = io.NopCloser(strings.NewReader(x.body))
			}
			rec := httptest.NewRecorder()
			srv.ServeHTTP(rec, req)
			checkAnswer(t, x, in, rec)
		})
	}
}

// checkAnswer checks an answer against the exchange and the document.
func checkAnswer(t *testing.T, x exchange, in *openapi3filter.RequestValidationInput, rec *httptest.ResponseRecorder) {
	t.Helper()
	if rec.Code != x.status {
		t.Fatalf("status %d, want %d: %s", rec.Code, x.status, rec.Body)
	}
	if x.errCode != "" {
		var e errorBody
		if json.Unmarshal(rec.Body.Bytes(), &e) != nil || e.Error != x.errCode {
			t.Fatalf("error %q, want %q: %s", e.Error, x.errCode, rec.Body)
		}
	}
	out := &openapi3filter.ResponseValidationInput{RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
		Options: &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true}}
	out.SetBodyBytes(rec.Body.Bytes())
	if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
		t.Fatalf("the answer does not match the document: %v\n%s", err, rec.Body)
	}
}

// The schemas match the JSON of the domain's values, built here with every optional field
// set and with none: a field added to a type, or a value that changes form, fails here.
func TestOpenAPISchemasMatchDomainValues(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, v := range domainValues() {
		t.Run(v.name, func(t *testing.T) {
			b, err := json.Marshal(v.value)
			if err != nil {
				t.Fatal(err)
			}
			var value any
			if err := json.Unmarshal(b, &value); err != nil {
				t.Fatal(err)
			}
			ref := doc.Components.Schemas[v.schema]
			if ref == nil {
				t.Fatalf("no schema %s", v.schema)
			}
			if err := doc.ValidateSchemaJSON(ref.Value, value, openapi3.EnableJSONSchema2020()); err != nil {
				t.Fatalf("%s does not validate against %s: %v", b, v.schema, err)
			}
		})
	}
}

// The document's schemas are no decoration: values that break them are refused.
func TestOpenAPISchemasRefuse(t *testing.T) {
	doc := loadOpenAPI(t)
	for _, c := range []struct{ schema, value string }{
		{"Error", `{"error":"state","message":"m","request_id":"r"}`},
		{"Error", `{"error":"teapot","message":"m","request_id":"r"}`},
		{"Money", `{"amount":"500","currency":"EUR"}`},
		{"Case", `{"id":"x"}`},
		{"CaseDetail", `{"id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","status":"triage","awaiting_consent":true,"patient":{}}`},
		{"ReviewInput", `{"decision":"rejected"}`},
		{"RequestDocumentsInput", `{"message":"m","kinds":["report"]}`},
		{"Document", `{"id":"d","case_id":"3fa85f64-5717-4562-b3fc-2c963f66afa6","kind":"other","filename":"f","filetype":"t","status":"available","size":1,"created_at":"2026-01-01T00:00:00Z","uploaded_at":null,"review":null,"extra":1}`},
	} {
		var value any
		if err := json.Unmarshal([]byte(c.value), &value); err != nil {
			t.Fatal(err)
		}
		if doc.ValidateSchemaJSON(doc.Components.Schemas[c.schema].Value, value, openapi3.EnableJSONSchema2020()) == nil {
			t.Errorf("%s accepts %s", c.schema, c.value)
		}
	}
}

// isPageRoute reports whether path is a page (or its static files) rather than the API.
func isPageRoute(path string) bool {
	return !strings.HasPrefix(path, "/api/") && path != "/healthz" && path != "/readyz" && path != "/metrics"
}
