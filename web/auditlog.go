package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// AuditLog reads and exports the audit log: *audit.Reader.
type AuditLog interface {
	Query(ctx context.Context, f audit.Filter) ([]audit.Entry, error)
	ExportCSV(ctx context.Context, w io.Writer, f audit.Filter) error
	ExportFHIR(ctx context.Context, w io.Writer, f audit.Filter, bundle bool) error
}

// AuditVerifier recomputes the whole log and checks it against its stored hashes and signed
// checkpoints (audit.Verify over the database and the checkpoint sink).
type AuditVerifier interface {
	Verify(ctx context.Context) (audit.Report, error)
}

// auditLogObject is the object type of the DPO's own reads and exports in the log.
const auditLogObject = "audit_log"

// authorizeAuditLog asks the policy for a global audit action; a refusal is audited as the
// audit action it refused, then answered. It reports whether the handler may go on.
func (s *Server) authorizeAuditLog(c *gin.Context, policyAction access.Action, auditAction, objectID string) bool {
	err := s.cfg.Policy.Authorize(c.Request.Context(), subjectOf(c), policyAction, "")
	switch reason := denialReason(err); {
	case err == nil:
		return true
	case reason != "":
		s.deny(c, auditAction, auditLogObject, objectID, "", reason, err)
	default:
		s.fail(c, err)
	}
	return false
}

// auditFilter reads the filter parameters of the query string; a bad one is a 400.
func auditFilter(c *gin.Context) (audit.Filter, error) {
	f, err := audit.ParseFilter(c.Request.URL.Query())
	if err != nil {
		return f, invalid("", strings.TrimPrefix(err.Error(), "audit: "))
	}
	return f, nil
}

// GET /api/v1/audit?case_id&actor&action&outcome&from&to&before&limit: one page of entries,
// newest first. next_before, when present, is the before= of the next page.
func (s *Server) listAudit(c *gin.Context) {
	if !s.authorizeAuditLog(c, access.ActionAuditRead, audit.ActionAuditRead, "query") {
		return
	}
	f, err := auditFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.record(c, entryFor(c, audit.ActionAuditRead, auditLogObject, "query", "")); err != nil {
		s.fail(c, err)
		return
	}
	entries, err := s.cfg.AuditLog.Query(c.Request.Context(), f)
	if err != nil {
		s.fail(c, err)
		return
	}
	if entries == nil {
		entries = []audit.Entry{}
	}
	body := gin.H{"entries": entries}
	limit := f.Limit
	if limit <= 0 {
		limit = audit.DefaultLimit
	}
	if n := len(entries); n == limit && entries[n-1].Seq > 0 {
		body["next_before"] = entries[n-1].Seq
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, body)
}

// GET /api/v1/audit/verify: recomputes the log; {ok, size, checkpoints, latest, problem}.
// The answer is 200 whatever the verdict; 503 when the log could not be read.
func (s *Server) verifyAudit(c *gin.Context) {
	if !s.authorizeAuditLog(c, access.ActionAuditRead, audit.ActionAuditRead, "verify") {
		return
	}
	if err := s.record(c, entryFor(c, audit.ActionAuditRead, auditLogObject, "verify", "")); err != nil {
		s.fail(c, err)
		return
	}
	rep, err := s.cfg.AuditVerify.Verify(c.Request.Context())
	if err != nil {
		s.fail(c, errors.Join(so.ErrUnavailable, err))
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, rep)
}

// GET /api/v1/audit/export?format=csv|fhir[&bundle=1] and the filters of /audit: every
// matching entry, oldest first, streamed as CSV (text/csv), FHIR R4 AuditEvent NDJSON
// (application/fhir+ndjson) or one FHIR Bundle (application/fhir+json).
func (s *Server) exportAudit(c *gin.Context) {
	format := c.Query("format")
	if !s.authorizeAuditLog(c, access.ActionAuditExport, audit.ActionAuditExport, "export") {
		return
	}
	bundle := c.Query("bundle") == "1" || c.Query("bundle") == "true"
	var ct, ext string
	switch {
	case format == "csv" && !bundle:
		ct, ext = "text/csv; charset=utf-8; header=present", "csv"
	case format == "fhir" && bundle:
		ct, ext = fhirJSON+"; charset=utf-8", "json"
	case format == "fhir":
		ct, ext = "application/fhir+ndjson; charset=utf-8", "ndjson"
	default:
		s.fail(c, invalid("format", "must be csv or fhir (bundle=1 only with fhir)"))
		return
	}
	f, err := auditFilter(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.record(c, entryFor(c, audit.ActionAuditExport, auditLogObject, format, "")); err != nil {
		s.fail(c, err)
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", contentDisposition("attachment", "audit-log."+ext, "audit-log"))
	h.Set("Cache-Control", "no-store")
	ctx := c.Request.Context()
	if format == "csv" {
		err = s.cfg.AuditLog.ExportCSV(ctx, c.Writer, f)
	} else {
		err = s.cfg.AuditLog.ExportFHIR(ctx, c.Writer, f, bundle)
	}
	if err == nil {
		return
	}
	if !c.Writer.Written() {
		h.Del("Content-Type")
		h.Del("Content-Disposition")
		s.fail(c, err)
		return
	}
	// Part of the export is out: end the response abruptly so it is never taken for a whole one.
	loggerOf(c).Error("audit export failed mid-stream", "err", err)
	panic(http.ErrAbortHandler)
}
