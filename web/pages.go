package web

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/text/language"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/mail"
)

// The pages (DESIGN §14): html/template files embedded here, parsed once, one handler per
// page. Every form posts to a page route that hands the same JSON to the API's own handler
// (formAction), so a page can never do what the API would refuse, and is audited as the API
// is. Messages come from the mail catalogue's [page] tables (Catalogue), never from templates.

//go:embed templates
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Catalogue translates message ids: *mail.Catalogue.
type Catalogue interface {
	Localize(lang, id string, data any) (string, error)
}

// langCookie keeps the language a visitor chose with the switch.
const langCookie = "so_lang"

// pageLanguages are the languages of the pages, in the switch's order.
var pageLanguages = []so.Language{so.LanguageEnglish, so.LanguageItalian, so.LanguageSpanish}

var langMatcher = language.NewMatcher([]language.Tag{language.English, language.Italian, language.Spanish})

// pages holds each page's parsed template set (the layout plus the page).
type pages struct {
	sets map[string]*template.Template
}

func parsePages() (*pages, error) {
	base, err := template.New("layout").Funcs(template.FuncMap{
		"dict": func(kv ...any) map[string]any {
			m := map[string]any{}
			for i := 0; i+1 < len(kv); i += 2 {
				m[fmt.Sprint(kv[i])] = kv[i+1]
			}
			return m
		},
	}).ParseFS(templateFS, "templates/layout/*.html")
	if err != nil {
		return nil, fmt.Errorf("page layout: %w", err)
	}
	files, err := fs.Glob(templateFS, "templates/pages/*.html")
	if err != nil {
		return nil, err
	}
	p := &pages{sets: map[string]*template.Template{}}
	for _, f := range files {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return nil, fmt.Errorf("page %s: %w", f, err)
		}
		p.sets[strings.TrimSuffix(path.Base(f), ".html")] = t
	}
	return p, nil
}

// loc writes a page's messages, dates and amounts in one language.
type loc struct {
	Lang string
	cat  Catalogue
	zone *time.Location
	miss func(id string, err error)
}

// T is message id with its placeholders given as name, value pairs: {{.L.T "page.x" "Name" .Name}}.
// A missing message shows its id (and is logged): tests check every id exists in every language.
func (l *loc) T(id string, kv ...any) string {
	var data map[string]any
	if len(kv) > 0 {
		data = map[string]any{}
		for i := 0; i+1 < len(kv); i += 2 {
			data[fmt.Sprint(kv[i])] = kv[i+1]
		}
	}
	s, err := l.cat.Localize(l.Lang, id, data)
	if err != nil {
		if l.miss != nil {
			l.miss(id, err)
		}
		return id
	}
	return strings.TrimSpace(s)
}

// Enum translates a value of the vocabulary: page.<group>.<value>, with "_" after a value that
// go-i18n reserves for plural forms and message fields (other, one, id, …).
func (l *loc) Enum(group string, v any) string { return l.T(l.enumKey(group, v)) }

func (l *loc) enumKey(group string, v any) string {
	key := fmt.Sprint(v)
	if i18nReserved[key] {
		key += "_"
	}
	return "page." + group + "." + key
}

var i18nReserved = map[string]bool{"id": true, "description": true, "hash": true, "leftdelim": true, "rightdelim": true,
	"zero": true, "one": true, "two": true, "few": true, "many": true, "other": true}

// Day writes a date in words, with the weekday: "Tuesday 14 January 2027".
func (l *loc) Day(t any) string {
	tt, ok := timeOf(t)
	if !ok {
		return ""
	}
	if _, dateOnly := t.(string); !dateOnly {
		tt = tt.In(l.zone)
	}
	return l.T("page.date", "Weekday", l.T("page.weekday."+strings.ToLower(tt.Weekday().String())),
		"Day", tt.Day(), "Month", l.T("page.month."+strings.ToLower(tt.Month().String())), "Year", tt.Year())
}

// uploadRefusals are the codes of the upload refusals the uploader shows in the page's words.
var uploadRefusals = []string{"file_type_not_allowed", "file_too_large", "case_quota_exceeded", "unsafe_archive",
	"unreadable_file", "state", "forbidden", "invalid_metadata"}

// UploadReasons is the uploader's refusals in the page's language, as a JSON object by code.
func (l *loc) UploadReasons() string {
	m := map[string]string{}
	for _, code := range uploadRefusals {
		m[code] = l.T("page.upload.reason." + code)
	}
	b, _ := json.Marshal(m)
	return string(b)
}

// Money writes an amount as people of the page's language write it: "EUR 1,500.00", "1.500,00 EUR".
func (l *loc) Money(m cases.Money) string { return mail.FormatMoney(l.Lang, m.String(), m.Currency) }

// When writes a date and time in words: "Tuesday 14 January 2027, 15:04".
func (l *loc) When(t any) string {
	tt, ok := timeOf(t)
	if !ok {
		return ""
	}
	tt = tt.In(l.zone)
	return l.Day(tt) + ", " + tt.Format("15:04")
}

// Bytes writes a size for people: "3.4 MB" (decimal units, as file managers show them).
func (l *loc) Bytes(n any) string {
	var v int64
	switch x := n.(type) {
	case int64:
		v = x
	case *int64:
		if x == nil {
			return ""
		}
		v = *x
	case int:
		v = int64(x)
	}
	units := []string{"B", "kB", "MB", "GB", "TB"}
	f, i := float64(v), 0
	for f >= 1000 && i < len(units)-1 {
		f /= 1000
		i++
	}
	s := fmt.Sprintf("%.1f", f)
	if i == 0 {
		s = fmt.Sprint(v)
	}
	if l.Lang != string(so.LanguageEnglish) {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s + "\u00a0" + units[i]
}

func timeOf(t any) (time.Time, bool) {
	switch x := t.(type) {
	case time.Time:
		return x, !x.IsZero()
	case *time.Time:
		if x == nil {
			return time.Time{}, false
		}
		return *x, true
	case string: // a date as YYYY-MM-DD (a birth date): that day, wherever the reader is
		d, err := time.Parse(time.DateOnly, x)
		return d, err == nil
	}
	return time.Time{}, false
}

// page is what every template receives.
type page struct {
	L       *loc
	Title   string // a message id
	Subject access.Subject
	Path    string // the page's own path, for the language switch
	Langs   []so.Language
	Notice  string // a message id, shown once at the top (after a redirect)
	Error   string // a sentence: why the form was refused
	Fields  map[string]string
	Form    map[string]string // the values to show again in a refused form
	Data    any
}

// FieldError is the message of one refused field, "" when none.
func (p page) FieldError(name string) string { return p.Fields[name] }

// Value is a refused form's value of name, to show it again.
func (p page) Value(name string) string { return p.Form[name] }

// pageLang picks the language of a page: the visitor's choice, else the case's, else the
// browser's.
func (s *Server) pageLang(c *gin.Context, caseLang so.Language) string {
	if ck, err := c.Request.Cookie(langCookie); err == nil && so.Language(ck.Value).Valid() {
		return ck.Value
	}
	if caseLang.Valid() {
		return string(caseLang)
	}
	tags, _, _ := language.ParseAcceptLanguage(c.GetHeader("Accept-Language"))
	_, i, _ := langMatcher.Match(tags...)
	return string(pageLanguages[i])
}

// newPage starts a page's data in its language.
func (s *Server) newPage(c *gin.Context, title string, caseLang so.Language) *page {
	lang := s.pageLang(c, caseLang)
	log := loggerOf(c)
	return &page{
		L: &loc{Lang: lang, cat: s.cfg.Catalogue, zone: s.zone(), miss: func(id string, err error) {
			log.Error("page message missing", "id", id, "err", err)
		}},
		Title: title, Subject: subjectOf(c), Path: c.Request.URL.Path, Langs: pageLanguages,
		Notice: noticeOf(c),
	}
}

func (s *Server) zone() *time.Location {
	if s.cfg.Zone != nil {
		return s.cfg.Zone
	}
	return time.UTC
}

// render writes the page with status. Pages are never cached: they show health data.
func (s *Server) render(c *gin.Context, status int, name string, p *page) {
	t, ok := s.pages.sets[name]
	if !ok {
		s.fail(c, fmt.Errorf("no page template %q", name))
		return
	}
	var b bytes.Buffer
	if err := t.ExecuteTemplate(&b, "layout", p); err != nil {
		loggerOf(c).Error("rendering a page", "page", name, "err", err)
		c.Data(http.StatusInternalServerError, "text/plain; charset=utf-8", []byte("internal error; quote the request id to support"))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Language", p.L.Lang)
	c.Data(status, "text/html; charset=utf-8", b.Bytes())
}

// notice is a message id carried across a redirect by a short-lived cookie (never in the URL).
const noticeCookie = "so_notice"

func setNotice(c *gin.Context, id string) {
	http.SetCookie(c.Writer, &http.Cookie{Name: noticeCookie, Value: id, Path: "/", MaxAge: 60, Secure: true,
		HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

func noticeOf(c *gin.Context) string {
	ck, err := c.Request.Cookie(noticeCookie)
	if err != nil || !strings.HasPrefix(ck.Value, "page.") || len(ck.Value) > 80 {
		return ""
	}
	http.SetCookie(c.Writer, &http.Cookie{Name: noticeCookie, Path: "/", MaxAge: -1, Secure: true, HttpOnly: true,
		SameSite: http.SameSiteLaxMode})
	return ck.Value
}

// seeOther ends a form post with a redirect to a local path.
func seeOther(c *gin.Context, to string) { c.Redirect(http.StatusSeeOther, to) }

// localPath is next when it is a path of this site, else "/".
func localPath(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.IsAbs() || u.Host != "" || !strings.HasPrefix(u.Path, "/") || strings.HasPrefix(next, "//") ||
		strings.Contains(next, "\\") {
		return "/"
	}
	out := u.EscapedPath() // never the decoded path: "/%2F%2Fevil.example" must not become "//evil.example"
	if strings.HasPrefix(out, "//") || strings.HasPrefix(out, "/\\") {
		return "/"
	}
	if u.RawQuery != "" {
		out += "?" + u.RawQuery
	}
	return out
}

// POST /language {lang, next}: the language switch.
func (s *Server) pageLanguage(c *gin.Context) {
	lang := so.Language(c.PostForm("lang"))
	if lang.Valid() {
		http.SetCookie(c.Writer, &http.Cookie{Name: langCookie, Value: string(lang), Path: "/", MaxAge: 365 * 24 * 3600,
			Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
	}
	seeOther(c, localPath(c.PostForm("next")))
}

// pageSession resolves the session cookie for a page. A stale or revoked cookie makes the
// visitor nobody (and is cleared) instead of an error: the page then asks them to sign in.
func (s *Server) pageSession(c *gin.Context) {
	if ck, err := c.Request.Cookie(access.SessionCookie); err == nil && s.cfg.Sessions != nil {
		subj, err := s.cfg.Sessions.Authenticate(c.Request.Context(), ck.Value)
		if err == nil {
			c.Request = c.Request.WithContext(access.WithSubject(c.Request.Context(), subj))
		} else {
			setSessionCookie(c, "")
		}
	}
	c.Next()
}

// pageSignedIn sends nobody to the sign-in page.
func (s *Server) pageSignedIn(c *gin.Context) {
	if !subjectOf(c).Authenticated() {
		setNotice(c, "page.signin.needed")
		seeOther(c, "/signin")
		c.Abort()
		return
	}
	c.Next()
}

// apiAnswer is what an API handler answered to a form's post.
type apiAnswer struct {
	Status int
	Body   []byte
	Err    errorBody
}

// OK reports a 2xx answer.
func (a apiAnswer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// captured keeps an API handler's answer from the client; its headers (a new session's
// cookie) still reach it.
type captured struct {
	gin.ResponseWriter
	status int
	body   bytes.Buffer
}

func (w *captured) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}
func (w *captured) WriteHeaderNow()                   {}
func (w *captured) Write(b []byte) (int, error)       { w.WriteHeader(http.StatusOK); return w.body.Write(b) }
func (w *captured) WriteString(s string) (int, error) { return w.Write([]byte(s)) }
func (w *captured) Status() int                       { return w.status }
func (w *captured) Written() bool                     { return w.status != 0 }
func (w *captured) Size() int                         { return w.body.Len() }
func (w *captured) Flush()                            {}

// callAPI runs an API handler with body as its JSON request, and returns its answer. The
// handler authorizes, validates and audits exactly as for an API client.
func (s *Server) callAPI(c *gin.Context, h gin.HandlerFunc, body any) apiAnswer {
	b, err := json.Marshal(body)
	if err != nil {
		return apiAnswer{Status: http.StatusInternalServerError}
	}
	orig, origReq := c.Writer, c.Request
	w := &captured{ResponseWriter: orig}
	req := c.Request.Clone(c.Request.Context())
	req.Body = http.NoBody
	if body != nil {
		req.Body = readCloser{bytes.NewReader(b)}
		req.ContentLength = int64(len(b))
	}
	req.Header.Set("Content-Type", "application/json")
	c.Writer, c.Request = w, req
	h(c)
	c.Writer, c.Request = orig, origReq
	orig.Header().Del("Location")
	orig.Header().Del("Content-Type")
	a := apiAnswer{Status: w.status, Body: w.body.Bytes()}
	if a.Status == 0 {
		a.Status = http.StatusOK
	}
	if !a.OK() {
		json.Unmarshal(a.Body, &a.Err) // #nosec G104 -- a refusal without a JSON body keeps its status
	}
	return a
}

type readCloser struct{ *bytes.Reader }

func (readCloser) Close() error { return nil }

// refused fills p from a refused API answer: the message in words and each field's error.
func (p *page) refused(a apiAnswer) {
	p.Fields = map[string]string{}
	for _, f := range a.Err.Fields {
		p.Fields[f.Field] = f.Message
	}
	switch {
	case a.Err.Error == string(so.EInvalid) && len(a.Err.Fields) > 0:
		p.Error = p.L.T("page.error.fields")
	case a.Err.Error == string(so.EUnavailable) || a.Status >= 500:
		p.Error = p.L.T("page.error.unavailable", "RequestID", a.Err.RequestID)
	default:
		p.Error = a.Err.Message
	}
}

// errFromAnswer turns a refused API answer back into the domain's error, for pageError.
func errFromAnswer(a apiAnswer) error {
	switch a.Status {
	case http.StatusNotFound:
		return so.ErrNotFound
	case http.StatusForbidden:
		return so.ErrForbidden
	case http.StatusUnauthorized:
		return so.ErrUnauthenticated
	case http.StatusServiceUnavailable:
		return so.ErrUnavailable
	}
	return fmt.Errorf("API answered %d %s", a.Status, a.Err.Error)
}

// pageError answers a page that cannot be shown: not found (also when not allowed to see),
// or a failure, in words.
func (s *Server) pageError(c *gin.Context, err error) {
	status := http.StatusInternalServerError
	msg := "page.error.internal"
	switch {
	case isNotFound(err):
		status, msg = http.StatusNotFound, "page.error.notfound"
	case errors.Is(err, so.ErrForbidden):
		status, msg = http.StatusForbidden, "page.error.forbidden"
	case errors.Is(err, so.ErrUnavailable):
		status, msg = http.StatusServiceUnavailable, "page.error.unavailable"
	}
	if reason := denialReason(err); reason != "" && s.cfg.Audit != nil {
		e := entryFor(c, "access.denied", "page:"+c.FullPath(), c.Param("id"), routeCaseID(c), reason)
		if aerr := s.record(c, e); aerr != nil {
			status, msg = http.StatusServiceUnavailable, "page.error.unavailable"
		}
	}
	if status == http.StatusInternalServerError {
		loggerOf(c).Error("page failed", "err", err, "route", c.FullPath())
	}
	p := s.newPage(c, "page.error.title", "")
	p.Error = p.L.T(msg, "RequestID", requestIDOf(c))
	s.render(c, status, "error", p)
}

// staticFiles serves the stylesheet and the built bundles. The bundles are built by make
// (web/ui) before the binary; without them the upload page says uploads need them.
func (s *Server) staticFiles() http.Handler {
	sub, _ := fs.Sub(staticFS, "static")
	fsrv := http.StripPrefix("/static/", http.FileServerFS(sub))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/") {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Cache-Control", "public, max-age=3600")
		fsrv.ServeHTTP(w, r)
	})
}

// bundleBuilt reports whether the browser bundles are in the binary (asked once, in New).
func bundleBuilt() bool {
	_, err := fs.Stat(staticFS, "static/dist/uploader.js")
	return err == nil
}
