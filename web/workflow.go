package web

import (
	"errors"
	"io"
	"net/http"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// transition is POST /api/v1/cases/{id}/{t}: the policy decides who (403/404), the state
// machine when (409 {error:"state", status}); the step, its history and its audit entry commit
// together.
func (s *Server) transition(t cases.Transition) gin.HandlerFunc {
	return func(c *gin.Context) {
		if !s.authorize(c, t.Action()) {
			return
		}
		body, _ := io.ReadAll(io.LimitReader(c.Request.Body, maxJSONBody+1))
		in, err := cases.ParseInput(t, body)
		if err != nil {
			s.fail(c, err)
			return
		}
		ctx, id := c.Request.Context(), c.Param("id")
		cs, err := s.cfg.Cases.Transition(ctx, actor(c), id, t, in)
		if err != nil {
			s.failStep(c, t.AuditAction(), "case", id, id, err)
			return
		}
		// The answer is the case as the caller may see it now.
		v, err := s.cfg.Cases.ViewOf(ctx, subjectOf(c), cs)
		if err != nil {
			s.fail(c, err)
			return
		}
		c.JSON(http.StatusOK, v)
	}
}

// failStep audits a refused workflow step (a state conflict, a missing precondition) and
// answers it; access refusals are audited by fail itself.
func (s *Server) failStep(c *gin.Context, action, objectType, objectID, caseID string, err error) {
	if reason := stepReason(err); reason != "" {
		e := entryFor(c, action, objectType, objectID, caseID, reason)
		e.Outcome = audit.OutcomeMinorFailure
		if aerr := s.record(c, e); aerr != nil {
			err = aerr
		}
	}
	s.fail(c, err)
}

// POST /api/v1/documents/{id}/review {decision, reason}: a case manager accepts or rejects a
// document of the checklist.
func (s *Server) reviewDocument(c *gin.Context) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	var d access.DocumentFacts
	rec, err := s.cfg.Documents.StoredDocument(ctx, id)
	switch {
	case err == nil:
		d = rec.Facts()
	case !isNotFound(err):
		s.fail(c, err)
		return
	}
	if err := s.cfg.Policy.AuthorizeDocumentFacts(ctx, subj, access.ActionDocumentRead, d); err != nil {
		s.fail(c, err)
		return
	}
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDocumentReview, d.CaseID); err != nil {
		s.fail(c, err)
		return
	}
	var in cases.ReviewInput
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	doc, err := s.cfg.Cases.ReviewDocument(ctx, actor(c), id, in)
	if err != nil {
		s.failStep(c, audit.ActionDocumentReview, "document", id, d.CaseID, err)
		return
	}
	c.JSON(http.StatusOK, doc)
}

// POST /api/v1/cases/{id}/extras {type, reason}: an assigned reviewer proposes an extra at the
// configured price.
func (s *Server) proposeExtra(c *gin.Context) {
	if !s.authorize(c, access.ActionExtrasPropose) {
		return
	}
	var in cases.ExtraInput
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	x, err := s.cfg.Cases.ProposeExtra(c.Request.Context(), actor(c), c.Param("id"), in)
	if err != nil {
		s.failStep(c, audit.ActionExtraPropose, "case", c.Param("id"), c.Param("id"), err)
		return
	}
	c.Header("Location", "/api/v1/extras/"+x.ID)
	c.JSON(http.StatusCreated, x)
}

// POST /api/v1/extras/{id}/approve and /decline: the applicant decides.
func (s *Server) decideExtra(approve bool) gin.HandlerFunc {
	action := audit.ActionExtraDecline
	if approve {
		action = audit.ActionExtraApprove
	}
	return func(c *gin.Context) {
		ctx, id := c.Request.Context(), c.Param("id")
		caseID, err := s.cfg.Cases.ExtraCase(ctx, id)
		if err != nil && !isNotFound(err) {
			s.fail(c, err)
			return
		}
		if err := s.cfg.Policy.Authorize(ctx, subjectOf(c), access.ActionExtrasDecide, caseID); err != nil {
			s.fail(c, err)
			return
		}
		if err := readJSON(c, &struct{}{}); err != nil && c.Request.ContentLength > 0 {
			s.fail(c, err)
			return
		}
		x, err := s.cfg.Cases.DecideExtra(ctx, actor(c), id, approve)
		if err != nil {
			s.failStep(c, action, "extra", id, caseID, err)
			return
		}
		c.JSON(http.StatusOK, x)
	}
}

func isNotFound(err error) bool { return errors.Is(err, so.ErrNotFound) }

// stepReason is the audit reason of a refused workflow step; "" for what is no refusal.
func stepReason(err error) string {
	switch so.ErrorCode(err) {
	case so.EState:
		return audit.ReasonState
	case so.EConflict:
		return "precondition"
	case so.EInvalid:
		return "invalid"
	}
	return ""
}
