package web

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
)

func newTestServer(t *testing.T, checks ...Check) (*Server, *bytes.Buffer) {
	t.Helper()
	var logs bytes.Buffer
	s := New(Config{Logger: slog.New(slog.NewJSONHandler(&logs, nil)), Ready: checks})
	return s, &logs
}

func TestPanicBecomes500WithCorrelationID(t *testing.T) {
	s, logs := newTestServer(t)
	s.engine.GET("/boom", func(c *gin.Context) { panic("secret internal detail") })
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest("GET", "/boom", nil))
	if rec.Code != 500 {
		t.Fatalf("status %d", rec.Code)
	}
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", rec.Body, err)
	}
	if body.Error != "internal" || body.RequestID == "" || body.RequestID != rec.Header().Get("X-Request-Id") {
		t.Fatalf("body %+v, header id %q", body, rec.Header().Get("X-Request-Id"))
	}
	if strings.Contains(rec.Body.String(), "secret internal detail") {
		t.Fatal("panic text leaked to the client")
	}
	if !strings.Contains(logs.String(), body.RequestID) {
		t.Fatal("the correlation id is not in the logs")
	}
}

func TestRequestLogsCarryIDAndNoQuery(t *testing.T) {
	s, logs := newTestServer(t)
	rec := httptest.NewRecorder()
	req := httptest.NewRequest("GET", "/healthz?token=so_supersecret", nil)
	req.Header.Set("X-Request-Id", "client-supplied-id-123")
	s.ServeHTTP(rec, req)
	if rec.Header().Get("X-Request-Id") != "client-supplied-id-123" {
		t.Fatalf("request id not echoed: %q", rec.Header().Get("X-Request-Id"))
	}
	if !strings.Contains(logs.String(), `"request_id":"client-supplied-id-123"`) {
		t.Fatalf("log lacks request id: %s", logs)
	}
	if strings.Contains(logs.String(), "supersecret") {
		t.Fatalf("query string logged: %s", logs)
	}
	// An id with odd characters is replaced, not echoed into logs.
	rec = httptest.NewRecorder()
	req = httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-Id", "bad\nid injected")
	s.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Request-Id"); got == "" || strings.Contains(got, "injected") {
		t.Fatalf("unsafe request id accepted: %q", got)
	}
}

func TestReadyzAndSecurityHeaders(t *testing.T) {
	fail := errors.New("down")
	tests := []struct {
		name   string
		checks []Check
		want   int
	}{
		{"all pass", []Check{{"a", func(context.Context) error { return nil }}}, 200},
		{"one fails", []Check{{"a", func(context.Context) error { return nil }}, {"b", func(context.Context) error { return fail }}}, 503},
		{"one hangs", []Check{{"slow", func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }}}, 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, _ := newTestServer(t, tt.checks...)
			s.cfg.ReadyTimeout = 50e6
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
			if rec.Code != tt.want {
				t.Fatalf("status %d, want %d: %s", rec.Code, tt.want, rec.Body)
			}
			if strings.Contains(rec.Body.String(), "down") {
				t.Fatal("check error text leaked")
			}
			if rec.Header().Get("X-Content-Type-Options") != "nosniff" || rec.Header().Get("Content-Security-Policy") == "" {
				t.Fatalf("security headers missing: %v", rec.Header())
			}
		})
	}
}

func TestUnknownRouteIsJSON404(t *testing.T) {
	s, _ := newTestServer(t)
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/v1/nothing", nil))
	var body errorBody
	if rec.Code != 404 || json.Unmarshal(rec.Body.Bytes(), &body) != nil || body.Error != "not_found" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}
