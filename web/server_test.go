package web

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

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

// A JSON route does not wait for ever for a body sent byte by byte (security review, finding
// 5): once RequestTimeout passes, the read fails and the client gets its answer.
func TestSlowBodyIsCut(t *testing.T) {
	s := New(Config{Logger: slog.New(slog.DiscardHandler), RequestTimeout: 300 * time.Millisecond})
	srv := httptest.NewServer(s)
	defer srv.Close()
	conn, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "POST /api/v1/signin-links HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"email\":")
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer to a stalled body: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("a stalled body answered %s, want 400", resp.Status)
	}
}
