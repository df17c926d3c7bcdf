package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/audit"
)

// auditPage is the DPO's audit desk's data.
type auditPage struct {
	Entries    []audit.Entry
	Filter     map[string]string
	Next       string // the query of the next page, "" at the end
	Query      string // the filters as a query, for the exports
	Outcomes   []audit.Outcome
	Report     *audit.Report
	VerifyDone bool
}

var auditFilterKeys = []string{"case_id", "actor", "action", "outcome", "from", "to"}

// GET /staff/audit?case_id&actor&action&outcome&from&to&before: the audit log, newest first,
// through GET /api/v1/audit (its filters, its paging, its audit entry of the DPO's read).
func (s *Server) staffAudit(c *gin.Context) {
	a := s.callAPI(c, s.listAudit, nil)
	p := s.newPage(c, "page.audit.title", "")
	ap := auditPage{Filter: map[string]string{}, Outcomes: []audit.Outcome{audit.OutcomeSuccess,
		audit.OutcomeMinorFailure, audit.OutcomeSeriousFailure, audit.OutcomeMajorFailure}}
	q := url.Values{}
	for _, k := range auditFilterKeys {
		if v := c.Query(k); v != "" {
			ap.Filter[k] = v
			q.Set(k, v)
		}
	}
	ap.Query = q.Encode()
	status := http.StatusOK
	if !a.OK() {
		if a.Status == http.StatusNotFound || a.Status == http.StatusForbidden || a.Status == http.StatusUnauthorized {
			s.pageError(c, errFromAnswer(a))
			return
		}
		p.refused(a)
		status = a.Status
	} else {
		var body struct {
			Entries    []audit.Entry `json:"entries"`
			NextBefore *int64        `json:"next_before"`
		}
		if err := json.Unmarshal(a.Body, &body); err != nil {
			s.pageError(c, err)
			return
		}
		ap.Entries = body.Entries
		if body.NextBefore != nil {
			n := url.Values{}
			for k, v := range q {
				n[k] = v
			}
			n.Set("before", strconv.FormatInt(*body.NextBefore, 10))
			ap.Next = n.Encode()
		}
	}
	p.Data = ap
	s.render(c, status, "staff-audit", p)
}

// GET /staff/audit/verify: the whole log recomputed against its signed checkpoints, through
// GET /api/v1/audit/verify.
func (s *Server) staffAuditVerify(c *gin.Context) {
	a := s.callAPI(c, s.verifyAudit, nil)
	p := s.newPage(c, "page.audit.verify_title", "")
	if !a.OK() {
		if a.Status == http.StatusForbidden || a.Status == http.StatusNotFound {
			s.pageError(c, errFromAnswer(a))
			return
		}
		p.refused(a)
		s.render(c, a.Status, "staff-audit-verify", p)
		return
	}
	var rep audit.Report
	if err := json.Unmarshal(a.Body, &rep); err != nil {
		s.pageError(c, err)
		return
	}
	p.Data = auditPage{Report: &rep, VerifyDone: true}
	s.render(c, http.StatusOK, "staff-audit-verify", p)
}
