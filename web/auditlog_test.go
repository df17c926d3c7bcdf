package web

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// The export's failure modes, with fakes for the log (the real log is exercised end to end in
// cmd/secondopinion): an export that cannot be audited is not made; one that fails before its
// first byte is an error answer; one that fails midway is cut off, never passed off as whole.
func TestAuditExportFailureModes(t *testing.T) {
	tests := []struct {
		name      string
		auditErr  error
		written   string
		exportErr error
		status    int    // 0: the response is cut off
		ct        string // Content-Type prefix
		exported  bool
	}{
		{name: "whole", written: "seq\r\n1\r\n", status: 200, ct: "text/csv", exported: true},
		{name: "audit log down", auditErr: audit.ErrUnavailable, status: 503, ct: "application/json"},
		{name: "fails before writing", exportErr: errors.New("db gone"), status: 500, ct: "application/json", exported: true},
		{name: "fails midway", written: "seq\r\n1\r\n", exportErr: errors.New("db gone"), exported: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			log := &fakeAuditLog{written: tt.written, err: tt.exportErr}
			aud := &fakeAuditor{err: tt.auditErr}
			srv := httptest.NewServer(New(Config{
				Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
				Tokens: dpoTokens{}, Policy: dpoPolicy{}, Audit: aud, AuditLog: log,
			}))
			defer srv.Close()
			req, _ := http.NewRequest("GET", srv.URL+"/api/v1/audit/export?format=csv", nil)
			req.Header.Set("Authorization", "Bearer t")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, rerr := io.ReadAll(resp.Body)
			resp.Body.Close()
			if log.called.Load() != tt.exported {
				t.Fatalf("export called: %v, want %v", log.called.Load(), tt.exported)
			}
			if len(aud.entries) != 1 || aud.entries[0].Action != audit.ActionAuditExport || aud.entries[0].ObjectID != "csv" {
				t.Fatalf("audit entries %+v", aud.entries)
			}
			if tt.status == 0 {
				if rerr == nil {
					t.Fatalf("a broken export read as complete: %d %q", resp.StatusCode, body)
				}
				return
			}
			if rerr != nil || resp.StatusCode != tt.status || !strings.HasPrefix(resp.Header.Get("Content-Type"), tt.ct) {
				t.Fatalf("%d %q (%v), Content-Type %q", resp.StatusCode, body, rerr, resp.Header.Get("Content-Type"))
			}
			if tt.status != 200 && (resp.Header.Get("Content-Disposition") != "" || strings.Contains(string(body), "db gone")) {
				t.Fatalf("error answer %v %q", resp.Header, body)
			}
		})
	}
}

type dpoTokens struct{}

func (dpoTokens) Authenticate(context.Context, string) (access.Subject, error) {
	return access.Subject{Role: so.RoleDPO, AccountID: "a1", TOTPSatisfied: true}, nil
}

// dpoPolicy lets the DPO read and export the log, and nobody anything else.
type dpoPolicy struct{}

func (dpoPolicy) Authorize(_ context.Context, s access.Subject, a access.Action, _ string) error {
	if s.Role == so.RoleDPO && (a == access.ActionAuditRead || a == access.ActionAuditExport) {
		return nil
	}
	return so.ErrForbidden
}

func (dpoPolicy) AuthorizeUpload(context.Context, access.Subject, string, so.DocumentKind) error {
	return so.ErrForbidden
}

func (dpoPolicy) AuthorizeDocumentFacts(context.Context, access.Subject, access.Action, access.DocumentFacts) error {
	return so.ErrForbidden
}

type fakeAuditor struct {
	mu      sync.Mutex
	err     error
	entries []audit.Entry
}

func (f *fakeAuditor) Log(_ context.Context, e audit.Entry) (int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.entries = append(f.entries, e)
	return int64(len(f.entries) - 1), f.err
}

func (f *fakeAuditor) LogAll(ctx context.Context, entries []audit.Entry) error {
	for _, e := range entries {
		if _, err := f.Log(ctx, e); err != nil {
			return err
		}
	}
	return nil
}

// fakeAuditLog's exports write written, flushed to the client, then fail with err.
type fakeAuditLog struct {
	written string
	err     error
	called  atomic.Bool
}

func (f *fakeAuditLog) Query(context.Context, audit.Filter) ([]audit.Entry, error) { return nil, f.err }

func (f *fakeAuditLog) ExportCSV(_ context.Context, w io.Writer, _ audit.Filter) error {
	f.called.Store(true)
	if f.written != "" {
		io.WriteString(w, f.written)
		w.(http.Flusher).Flush()
	}
	return f.err
}

func (f *fakeAuditLog) ExportFHIR(ctx context.Context, w io.Writer, flt audit.Filter, _ bool) error {
	return f.ExportCSV(ctx, w, flt)
}
