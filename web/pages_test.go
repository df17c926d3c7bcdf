package web

import (
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
	"github.com/secondopinion/secondopinion/mail"
)

// The language switch sends back only to a path of this site.
func TestLocalPath(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"/cases/7f0e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b", "/cases/7f0e2c9a-7f3d-4e21-9a1c-5d6e7f809a1b"},
		{"/signin/link?token=abc", "/signin/link?token=abc"},
		{"", "/"},
		{"cases", "/"},
		{"//evil.example/x", "/"},
		{"https://evil.example/", "/"},
		{`/\evil.example`, "/"},
		{"javascript:alert(1)", "/"},
		{"/%2F%2Fevil.example", "/%2F%2Fevil.example"}, // stays a path of this site
		{"/%5Cevil.example", "/%5Cevil.example"},
	} {
		got := localPath(c.in)
		if got != c.want {
			t.Errorf("localPath(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// The visitor's choice outranks the case's language, which outranks the browser's.
func TestPageLanguage(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	s := &Server{}
	for _, c := range []struct {
		name, cookie, accept string
		caseLang             so.Language
		want                 string
	}{
		{name: "browser", accept: "es-ES,es;q=0.9,en;q=0.5", want: "es"},
		{name: "browser, regional Italian", accept: "it-CH", want: "it"},
		{name: "unknown browser language", accept: "de-DE", want: "en"},
		{name: "case", accept: "es", caseLang: so.LanguageItalian, want: "it"},
		{name: "choice", cookie: "es", accept: "it", caseLang: so.LanguageItalian, want: "es"},
		{name: "bad choice", cookie: "xx", caseLang: so.LanguageItalian, want: "it"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c2, _ := gin.CreateTestContext(httptest.NewRecorder())
			c2.Request = httptest.NewRequest(http.MethodGet, "/", nil)
			c2.Request.Header.Set("Accept-Language", c.accept)
			if c.cookie != "" {
				c2.Request.AddCookie(&http.Cookie{Name: langCookie, Value: c.cookie})
			}
			if got := s.pageLang(c2, c.caseLang); got != c.want {
				t.Errorf("got %s, want %s", got, c.want)
			}
		})
	}
}

// The timeline marks what is done, the current step with when we answer, and what is to come.
func TestTimeline(t *testing.T) {
	at := time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)
	due := at.Add(72 * time.Hour)
	states := func(steps []step) string {
		var b []string
		for _, s := range steps {
			b = append(b, strings.TrimPrefix(s.Name, "page.step.")+":"+s.State)
		}
		return strings.Join(b, " ")
	}
	for _, c := range []struct {
		name string
		cs   cases.Case
		want string
		due  *time.Time
	}{
		{"draft", cases.Case{Status: so.StatusDraft, CreatedAt: at},
			"draft:current submitted:upcoming triage:upcoming awaiting_payment:upcoming in_review:upcoming report_released:upcoming closed:upcoming", nil},
		{"submitted", cases.Case{Status: so.StatusSubmitted, CreatedAt: at, SubmittedAt: &at, TriageDueAt: &due},
			"draft:done submitted:current triage:upcoming awaiting_payment:upcoming in_review:upcoming report_released:upcoming closed:upcoming", &due},
		{"documents requested is the check", cases.Case{Status: so.StatusDocumentsRequested, CreatedAt: at, SubmittedAt: &at},
			"draft:done submitted:done triage:current awaiting_payment:upcoming in_review:upcoming report_released:upcoming closed:upcoming", nil},
		{"in review", cases.Case{Status: so.StatusInReview, CreatedAt: at, SubmittedAt: &at, ReportDueAt: &due},
			"draft:done submitted:done triage:done awaiting_payment:done in_review:current report_released:upcoming closed:upcoming", &due},
		{"withdrawn", cases.Case{Status: so.StatusWithdrawn, CreatedAt: at, SubmittedAt: &at},
			"draft:done submitted:done withdrawn:current", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			steps := timeline(cases.Detail{View: cases.View{ID: "x", Status: c.cs.Status, Case: &c.cs}})
			if got := states(steps); got != c.want {
				t.Errorf("got  %s\nwant %s", got, c.want)
			}
			for _, s := range steps {
				if s.State == "current" && (s.Due == nil) != (c.due == nil) {
					t.Errorf("current step %s due %v, want %v", s.Name, s.Due, c.due)
				}
			}
		})
	}
}

var messageIDRE = regexp.MustCompile(`"(page\.[a-z_]+(?:\.[a-z_]+)+)"`)

// Every message a template or handler names, and every value of the vocabulary a page shows,
// exists in every language (a missing one would show its id).
func TestPageMessagesInEveryLanguage(t *testing.T) {
	cat, err := mail.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	fs.WalkDir(templateFS, "templates", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, _ := fs.ReadFile(templateFS, p)
			for _, m := range messageIDRE.FindAllStringSubmatch(string(b), -1) {
				ids[m[1]] = true
			}
		}
		return nil
	})
	if len(ids) < 100 {
		t.Fatalf("found only %d message ids in the templates", len(ids))
	}
	enums := map[string][]string{}
	add := func(group string, vs ...any) {
		for _, v := range vs {
			enums[group] = append(enums[group], strings.TrimPrefix((&loc{}).enumKey(group, v), "page."+group+"."))
		}
	}
	for _, v := range so.Statuses {
		add("status", v)
		add("step", v)
	}
	for _, v := range so.Kinds {
		add("kind", v)
	}
	for _, v := range so.Relationships {
		add("relationship", v)
	}
	for _, v := range so.ConsultationTypes {
		add("consultation", v)
	}
	for _, v := range so.ExtraTypes {
		add("extra", v)
	}
	for _, v := range so.Languages {
		add("langname", v)
	}
	add("item", cases.ItemMissing, cases.ItemUploaded, cases.ItemAccepted, cases.ItemRejected)
	add("decision", cases.DecisionAccepted, cases.DecisionRejected)
	add("docstate", "uploading", "available", "rejected")
	add("staffconsent", "none", consent.StatusProposed, consent.StatusActive, consent.StatusRejected, consent.StatusWithdrawn)
	add("consentstate", "none", consent.StatusProposed, consent.StatusActive, consent.StatusRejected, consent.StatusWithdrawn)
	for d := time.Sunday; d <= time.Saturday; d++ {
		add("weekday", strings.ToLower(d.String()))
	}
	for m := time.January; m <= time.December; m++ {
		add("month", strings.ToLower(m.String()))
	}
	for _, r := range []so.Role{so.RoleApplicant, so.RolePhysician, so.RoleCaseManager, so.RoleReviewer, so.RoleDPO, so.RoleAdmin} {
		add("role", r)
	}
	for _, t := range cases.Transitions {
		ids["page.staffcase.done."+string(t)] = true
	}
	for _, k := range []string{"review", "countersign", "assign", "extra"} {
		ids["page.staffcase.done."+k] = true
	}
	for _, x := range []string{"extra_approved", "extra_declined"} {
		ids["page.staffcase."+x] = true
	}
	for _, a := range accessActions {
		ids["page.act."+strings.ReplaceAll(a, ".", "_")] = true
	}
	for _, r := range accessReasons {
		ids["page.reason."+r] = true
	}
	for _, o := range []string{"case", "consent", "session", "extra", "invitation", "token", "upload", "document",
		"document_other", "account", "account_you", "person", "page"} {
		ids["page.accesses.obj_"+o] = true
	}
	for _, k := range []string{"you", "other_applicant", "operator", "service", "unknown"} {
		ids["page.accesses."+k] = true
	}
	for _, k := range []string{"title", "generated", "behalf", "contents", "readme", "cases", "consent", "documents",
		"accesses", "check", "questions"} {
		ids["page.export.readme_"+k] = true
	}
	for _, code := range uploadRefusals {
		ids["page.upload.reason."+code] = true
	}
	for group, keys := range enums {
		for _, k := range keys {
			ids["page."+group+"."+k] = true
		}
	}
	for _, lang := range so.Languages {
		l := &loc{Lang: string(lang), cat: cat, zone: time.UTC}
		for id := range ids {
			if strings.HasSuffix(id, ".") || strings.HasSuffix(id, "_") {
				continue
			}
			if _, err := cat.Localize(string(lang), id, nil); err != nil && !strings.Contains(err.Error(), "map has no entry") {
				t.Errorf("%s: %s: %v", lang, id, err)
			}
		}
		if got := l.Day(time.Date(2027, 1, 14, 12, 0, 0, 0, time.UTC)); got == "" || strings.Contains(got, "page.") {
			t.Errorf("%s: a date reads %q", lang, got)
		}
	}
	en := &loc{Lang: "en", cat: cat, zone: time.UTC}
	if got := en.Day(time.Date(2027, 1, 14, 12, 0, 0, 0, time.UTC)); got != "Thursday 14 January 2027" {
		t.Errorf("English date %q", got)
	}
	it := &loc{Lang: "it", cat: cat, zone: time.UTC}
	if got := it.Day(time.Date(2027, 1, 14, 12, 0, 0, 0, time.UTC)); got != "giovedì 14 gennaio 2027" {
		t.Errorf("Italian date %q", got)
	}
	es := &loc{Lang: "es", cat: cat, zone: time.UTC}
	if got := es.Day(time.Date(2027, 1, 14, 12, 0, 0, 0, time.UTC)); got != "jueves, 14 de enero de 2027" {
		t.Errorf("Spanish date %q", got)
	}
}

// A form posted from another site is refused before any page handler runs; the same form from
// this site reaches it. Pages carry the strict CSP and are never cached.
func TestPageFormsRefuseOtherSites(t *testing.T) {
	cat, err := mail.NewCatalogue()
	if err != nil {
		t.Fatal(err)
	}
	s := New(Config{Logger: slog.New(slog.DiscardHandler), Catalogue: cat, PublicURL: "https://so.example.org"})
	for _, c := range []struct {
		site string
		want int
	}{{"cross-site", http.StatusForbidden}, {"same-origin", http.StatusSeeOther}} {
		req := httptest.NewRequest(http.MethodPost, "/language", strings.NewReader("lang=it&next=/signin"))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Sec-Fetch-Site", c.site)
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, req)
		if rec.Code != c.want {
			t.Errorf("%s form post: %d, want %d", c.site, rec.Code, c.want)
		}
	}
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/signin", nil))
	h := rec.Header()
	if rec.Code != http.StatusOK || !strings.Contains(h.Get("Content-Security-Policy"), "default-src 'self'") ||
		strings.Contains(h.Get("Content-Security-Policy"), "unsafe") || h.Get("Cache-Control") != "no-store" ||
		!strings.HasPrefix(h.Get("Strict-Transport-Security"), "max-age=") || h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("sign-in page: %d, headers %v", rec.Code, h)
	}
	if strings.Contains(rec.Body.String(), "style=") || strings.Contains(rec.Body.String(), "<script>") {
		t.Error("the page has inline style or script")
	}
}
