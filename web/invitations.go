package web

import (
	"context"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// Invitations invites referring physicians to one case: *access.Invitations. Invite, List and
// Revoke ask the Policy (access.ActionInvite on the invitation's case) before they act.
type Invitations interface {
	Invite(ctx context.Context, inviter access.Subject, caseID, email string) (access.Invitation, error)
	List(ctx context.Context, s access.Subject, caseID string) ([]access.Invitation, error)
	AuthorizeRevoke(ctx context.Context, s access.Subject, invitationID string) (caseID string, err error)
	Revoke(ctx context.Context, s access.Subject, invitationID string) error
	Redeem(ctx context.Context, token string) (*access.Session, string, error)
}

// POST /api/v1/cases/{id}/invitations {email}: mails the link; the answer says it was sent,
// without the link.
func (s *Server) invite(c *gin.Context) {
	if !s.authorize(c, access.ActionInvite) {
		return
	}
	var in struct {
		Email string `json:"email"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	var inv access.Invitation
	err := s.audited(c, entryFor(c, audit.ActionInvitationCreate, "case", c.Param("id"), c.Param("id")), func() (err error) {
		inv, err = s.cfg.Invitations.Invite(c.Request.Context(), subjectOf(c), c.Param("id"), in.Email)
		return err
	})
	if err != nil {
		s.fail(c, fieldErr(err, "email", "is not a valid email address"))
		return
	}
	// The link is the physician's credential: it goes to them by mail only (access.Invitation
	// never marshals it). An inviter who saw it could upload as the physician (security
	// review, finding 6).
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, inv)
}

// GET /api/v1/cases/{id}/invitations
func (s *Server) listInvitations(c *gin.Context) {
	list, err := s.cfg.Invitations.List(c.Request.Context(), subjectOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"invitations": list})
}

// DELETE /api/v1/invitations/{id}: revokes it and ends the physician's sessions.
func (s *Server) revokeInvitation(c *gin.Context) {
	// Authorized before anything is recorded as done (security review, finding 7): a refusal is
	// audited as a denial by fail, never as a revocation.
	caseID, err := s.cfg.Invitations.AuthorizeRevoke(c.Request.Context(), subjectOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.audited(c, entryFor(c, audit.ActionInvitationRevoke, "invitation", c.Param("id"), caseID), func() error {
		return s.cfg.Invitations.Revoke(c.Request.Context(), subjectOf(c), c.Param("id"))
	}); err != nil {
		s.fail(c, err)
		return
	}
	c.Status(http.StatusNoContent)
}
