package web

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// Holds places and lifts legal holds, and reads them and erased cases' tombstones
// (*cases.Cases).
type Holds interface {
	PlaceHold(ctx context.Context, by cases.Actor, caseID string, in cases.HoldInput) (cases.Hold, error)
	ReleaseHold(ctx context.Context, by cases.Actor, caseID string) error
	HoldOf(ctx context.Context, caseID string) (*cases.Hold, error)
	TombstoneOf(ctx context.Context, caseID string) (cases.Tombstone, error)
}

// Eraser erases a case on request (*retention.Eraser).
type Eraser interface {
	Erase(ctx context.Context, by cases.Actor, caseID string, reason cases.ErasureReason, rule string) (cases.Tombstone, error)
}

// POST /api/v1/cases/{id}/hold {reason}: the DPO puts the case under legal hold (201); 409 when
// it is under hold already.
func (s *Server) placeHold(c *gin.Context) {
	if !s.authorize(c, access.ActionCaseHold) {
		return
	}
	var in cases.HoldInput
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := in.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	h, err := s.cfg.Holds.PlaceHold(c.Request.Context(), actor(c), id, in)
	if err != nil {
		s.failStep(c, audit.ActionCaseHold, "case", id, id, err)
		return
	}
	c.JSON(http.StatusCreated, h)
}

// GET /api/v1/cases/{id}/hold: the case's legal hold (404 when it has none).
func (s *Server) getHold(c *gin.Context) {
	if !s.authorize(c, access.ActionCaseHold) {
		return
	}
	h, err := s.cfg.Holds.HoldOf(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if h == nil {
		writeError(c, http.StatusNotFound, "not_found", "the case is not under legal hold")
		return
	}
	c.JSON(http.StatusOK, h)
}

// DELETE /api/v1/cases/{id}/hold: the DPO lifts the case's legal hold (204).
func (s *Server) releaseHold(c *gin.Context) {
	if !s.authorize(c, access.ActionCaseHold) {
		return
	}
	id := c.Param("id")
	if err := s.cfg.Holds.ReleaseHold(c.Request.Context(), actor(c), id); err != nil {
		s.failStep(c, audit.ActionCaseHoldRelease, "case", id, id, err)
		return
	}
	c.Status(http.StatusNoContent)
}

// POST /api/v1/cases/{id}/erasure {reference}: the DPO erases the case at the data subject's
// request (GDPR Art. 17): its documents crypto-shredded and deleted, its health data deleted,
// a tombstone kept (201). Refused under legal hold (409 conflict) or while a report is being
// written (409 state).
func (s *Server) eraseCase(c *gin.Context) {
	if !s.authorize(c, access.ActionErasure) {
		return
	}
	var in cases.ErasureInput
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	if err := in.Validate(); err != nil {
		s.fail(c, err)
		return
	}
	id := c.Param("id")
	t, err := s.cfg.Eraser.Erase(c.Request.Context(), actor(c), id, cases.ErasureRequest, in.Reference)
	if err != nil {
		s.failStep(c, audit.ActionCaseErase, "case", id, id, err)
		return
	}
	c.JSON(http.StatusCreated, t)
}

// GET /api/v1/cases/{id}/erasure: the tombstone of an erased case (the DPO; 404 when the case
// was not erased). The case itself is gone, so the DPO's global right to read the audit log is
// what is asked.
func (s *Server) getTombstone(c *gin.Context) {
	ctx := c.Request.Context()
	if err := s.cfg.Policy.Authorize(ctx, subjectOf(c), access.ActionAuditRead, ""); err != nil {
		s.fail(c, err)
		return
	}
	t, err := s.cfg.Holds.TombstoneOf(ctx, c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, t)
}
