package web

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
)

const requestIDHeader = "X-Request-Id"

// requestID gives every request an id: the caller's X-Request-Id when it is short and plain,
// a fresh random one otherwise. It is echoed in the response and in every log line.
func (s *Server) requestID(c *gin.Context) {
	id := c.GetHeader(requestIDHeader)
	if !plainID(id) {
		b := make([]byte, 12)
		rand.Read(b)
		id = hex.EncodeToString(b)
	}
	c.Set(requestIDHeader, id)
	c.Header(requestIDHeader, id)
	c.Set(loggerKeyName, s.log.With("request_id", id))
	c.Request = c.Request.WithContext(context.WithValue(c.Request.Context(), requestMetaKey{},
		requestMeta{ID: id, ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent()}))
	c.Next()
}

const loggerKeyName = "so.logger"

// requestMeta is where a request came from, for audit entries written by code that sees only
// the request's context (the tus hooks).
type requestMeta struct{ ID, ClientIP, UserAgent string }

type requestMetaKey struct{}

func plainID(s string) bool {
	if len(s) < 8 || len(s) > 64 {
		return false
	}
	for _, ch := range s {
		if !(ch >= 'a' && ch <= 'z' || ch >= 'A' && ch <= 'Z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '_') {
			return false
		}
	}
	return true
}

func requestIDOf(c *gin.Context) string { return c.GetString(requestIDHeader) }

// loggerOf is the request's logger, carrying its request id.
func loggerOf(c *gin.Context) *slog.Logger {
	if l, ok := c.Get(loggerKeyName); ok {
		return l.(*slog.Logger)
	}
	return slog.Default()
}

// recoverPanics turns a panic into a 500 carrying the request id as correlation id.
func (s *Server) recoverPanics(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			loggerOf(c).Error("panic", "panic", v, "route", c.FullPath())
			if !c.Writer.Written() {
				writeError(c, http.StatusInternalServerError, "internal", "internal error; quote the request id to support")
			} else {
				c.Abort()
			}
		}
	}()
	c.Next()
}

// securityHeaders are sent on every response.
func (s *Server) securityHeaders(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	if strings.HasPrefix(s.cfg.PublicURL, "https://") {
		h.Set("Strict-Transport-Security", "max-age=63072000; includeSubDomains")
	}
	c.Next()
}

// jsonDeadlines bounds a JSON route's time to read its request and write its answer (security
// review, finding 5): a client that sends a body byte by byte, or reads the answer that way,
// loses its connection instead of holding a goroutine and a database connection. Uploads,
// document content and the audit log's export and verification stream for longer and are
// not under it; the server's own timeouts bound headers and idle connections.
func (s *Server) jsonDeadlines(c *gin.Context) {
	switch c.FullPath() {
	case "/api/v1/audit/export", "/api/v1/audit/verify":
		c.Next()
		return
	}
	d := s.cfg.RequestTimeout
	if d <= 0 {
		d = 30 * time.Second
	}
	rc := http.NewResponseController(c.Writer)
	now := time.Now()
	_ = rc.SetReadDeadline(now.Add(d))      // not supported by a recorder in unit tests: no deadline then
	_ = rc.SetWriteDeadline(now.Add(2 * d)) // the answer, after the handler's work
	c.Next()
}

// logRequests writes one line per request. It logs the route pattern, never the raw path
// or query (which may carry tokens), and nothing of the body.
func (s *Server) logRequests(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	elapsed := time.Since(start)
	s.m.requests.WithLabelValues(c.Request.Method, route, strconv.Itoa(status)).Inc()
	s.m.duration.WithLabelValues(c.Request.Method, route).Observe(elapsed.Seconds())
	level := slog.LevelInfo
	if status >= 500 {
		level = slog.LevelError
	}
	loggerOf(c).Log(c.Request.Context(), level, "request",
		"method", c.Request.Method, "route", route, "status", status,
		"bytes", c.Writer.Size(), "duration_ms", elapsed.Milliseconds())
}

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	// anonymous counts refusals of requests without a valid credential, by reason: they are
	// not audited one by one (security review, finding 1).
	anonymous *prometheus.CounterVec

	mu          sync.Mutex
	pending     map[string]int // anonymous refusals since the last summary, by reason
	lastSummary time.Time
}

// summaryEvery is how often at most the refusals of anonymous requests are logged together.
const summaryEvery = time.Minute

// anonymousDenial counts a refused request of nobody (or of a bad credential) and, at most
// once a minute, logs how many there were by reason: a summary, never one line per request.
func (s *Server) anonymousDenial(c *gin.Context, reason string) {
	s.m.anonymous.WithLabelValues(reason).Inc()
	m := s.m
	m.mu.Lock()
	m.pending[reason]++
	now := time.Now()
	if now.Sub(m.lastSummary) < summaryEvery {
		m.mu.Unlock()
		return
	}
	counts := m.pending
	m.pending, m.lastSummary = map[string]int{}, now
	m.mu.Unlock()
	args := []any{}
	for r, n := range counts {
		args = append(args, r, n)
	}
	loggerOf(c).Warn("anonymous requests refused since the last summary", args...)
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "secondopinion_http_requests_total", Help: "HTTP requests by method, route and status.",
		}, []string{"method", "route", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "secondopinion_http_request_duration_seconds", Help: "HTTP request duration by method and route.",
			Buckets: prometheus.DefBuckets,
		}, []string{"method", "route"}),
	}
	m.anonymous = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "secondopinion_anonymous_denials_total",
		Help: "Requests refused for want of a valid credential (not audited one by one), by reason.",
	}, []string{"reason"})
	m.pending = map[string]int{}
	reg.MustRegister(m.requests, m.duration, m.anonymous)
	return m
}
