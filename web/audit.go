package web

import (
	"context"
	"errors"
	"fmt"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
)

// Auditor appends entries to the audit log and returns once the entry is committed (*audit.Writer).
type Auditor interface {
	Log(ctx context.Context, e audit.Entry) (int64, error)
	LogAll(ctx context.Context, entries []audit.Entry) error
}

// purposeOf is the purpose of use a role acts under.
func purposeOf(s access.Subject) string {
	switch s.Role {
	case so.RoleReviewer, so.RolePhysician:
		return audit.PurposeTreatment
	case so.RoleCaseManager:
		return audit.PurposeOperations
	case so.RoleDPO:
		return audit.PurposeCompliance
	case so.RoleAdmin:
		return audit.PurposeSysAdmin
	case so.RoleApplicant:
		return audit.PurposePatientReq
	}
	return ""
}

// entryFor fills who, where and why from the request; reason is for refusals.
func entryFor(c *gin.Context, action, objectType, objectID, caseID string, reason ...string) audit.Entry {
	s := subjectOf(c)
	e := audit.Entry{
		Action: action, ObjectType: objectType, ObjectID: objectID, CaseID: caseID,
		ActorRole: string(s.Role), Purpose: purposeOf(s),
		ClientIP: c.ClientIP(), UserAgent: c.Request.UserAgent(), RequestID: requestIDOf(c),
	}
	if s.Authenticated() {
		e.ActorID = s.Actor()
	}
	if len(reason) > 0 {
		e.Reason = reason[0]
	}
	return e
}

// record writes e to the audit log before the answer. It returns so.ErrUnavailable (503, fail
// closed) when the log cannot be written.
func (s *Server) record(c *gin.Context, e audit.Entry) error {
	if s.cfg.Audit == nil {
		return fmt.Errorf("%w: no audit log configured", so.ErrUnavailable)
	}
	if _, err := s.cfg.Audit.Log(c.Request.Context(), e); err != nil {
		return fmt.Errorf("%w: audit log: %w", so.ErrUnavailable, err)
	}
	c.Set(auditedKey, true)
	return nil
}

// recordAll is record for several entries, committed together in the writer's batches.
func (s *Server) recordAll(c *gin.Context, entries []audit.Entry) error {
	if len(entries) == 0 {
		return nil
	}
	if s.cfg.Audit == nil {
		return fmt.Errorf("%w: no audit log configured", so.ErrUnavailable)
	}
	if err := s.cfg.Audit.LogAll(c.Request.Context(), entries); err != nil {
		return fmt.Errorf("%w: audit log: %w", so.ErrUnavailable, err)
	}
	return nil
}

const auditedKey = "so.audited"

// denialReason is the audit reason code of an access refusal; "" for errors that are no denial.
func denialReason(err error) string {
	switch {
	case errors.Is(err, so.ErrNotFound):
		return audit.ReasonNotFound
	case errors.Is(err, so.ErrForbidden):
		return audit.ReasonRole
	case errors.Is(err, so.ErrTOTPRequired):
		return "totp_required"
	case errors.Is(err, so.ErrUnauthenticated):
		return "unauthenticated"
	}
	return ""
}

// deny audits a refusal of action on an object, then answers it. If the refusal cannot be
// audited the answer is 503.
func (s *Server) deny(c *gin.Context, action, objectType, objectID, caseID, reason string, outcome error) {
	e := entryFor(c, action, objectType, objectID, caseID)
	e.Outcome, e.Reason = audit.OutcomeMinorFailure, reason
	if err := s.record(c, e); err != nil {
		s.fail(c, err)
		return
	}
	s.fail(c, outcome)
}

// recordSignIn audits a sign-in (password, sign-in link or invitation): its success, as the
// new session's subject, or its refusal (bad credentials, throttled). Other errors are the
// service failing, not an attempt refused, and are not recorded here. An error means the
// sign-in could not be audited: the caller must not hand out the session (fail closed).
func (s *Server) recordSignIn(c *gin.Context, sess *access.Session, err error) error {
	e := entryFor(c, audit.ActionLogin, "session", "", "")
	switch {
	case err == nil && sess != nil:
		subj := sess.Subject
		e.ActorID, e.ActorRole, e.Purpose = subj.Actor(), string(subj.Role), purposeOf(subj)
		e.ObjectID, e.CaseID = sess.ID, subj.ScopeCaseID
	case errors.Is(err, so.ErrInvalidCredentials):
		e.Outcome, e.Reason = audit.OutcomeMinorFailure, audit.ReasonCredentials
		var te *access.ThrottledError
		if errors.As(err, &te) {
			e.Reason = audit.ReasonThrottled
		}
	default:
		return nil
	}
	return s.record(c, e)
}

// audited records e and then does the action: an action that cannot be audited is not done.
// If the action fails, its failure is recorded too (best effort) and its error returned.
func (s *Server) audited(c *gin.Context, e audit.Entry, do func() error) error {
	if err := s.record(c, e); err != nil {
		return err
	}
	if err := do(); err != nil {
		e.Outcome, e.Reason = audit.OutcomeMinorFailure, denialReason(err)
		if e.Reason == "" {
			e.Reason = stepReason(err)
		}
		if e.Reason == "" {
			e.Reason = "failed"
		}
		s.record(c, e) // #nosec G104 -- best effort: the failure being recorded is answered anyway
		return err
	}
	return nil
}
