package web

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/netip"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/consent"
)

// ConsentStore records consent signatures, countersignatures and withdrawals: *consent.Store.
// It does not authorize; handlers ask Policy first.
type ConsentStore interface {
	LatestForm(ctx context.Context, language string) (consent.Form, error)
	Sign(ctx context.Context, caseID, formVersion, signerName string, relationship so.Relationship, ip string) (consent.Consent, error)
	Countersign(ctx context.Context, caseID, caseManagerID string) (consent.Consent, error)
	Withdraw(ctx context.Context, caseID string) (consent.Consent, error)
	Current(ctx context.Context, caseID string) (consent.Consent, error)
	History(ctx context.Context, caseID string) ([]consent.Consent, error)
}

// fallbackFormLanguage is the form language used when none exists in the case's language.
const fallbackFormLanguage = "en"

// consentForm is the newest consent form in the case's language, else in English.
func (s *Server) consentForm(ctx context.Context, lang so.Language) (consent.Form, error) {
	form, err := s.cfg.Consents.LatestForm(ctx, string(lang))
	if errors.Is(err, consent.ErrNotFound) {
		form, err = s.cfg.Consents.LatestForm(ctx, fallbackFormLanguage)
	}
	return form, err
}

// fhirJSON is the media type of FHIR resources in JSON.
const fhirJSON = "application/fhir+json"

// consentView is the plain JSON answer of the consent routes.
type consentView struct {
	ID              string          `json:"id"`
	CaseID          string          `json:"case_id"`
	Status          consent.Status  `json:"status"`
	FormVersion     string          `json:"form_version"`
	FormSHA256      string          `json:"form_sha256"` // hex
	SignerName      string          `json:"signer_name"`
	Relationship    so.Relationship `json:"relationship"`
	SignedAt        time.Time       `json:"signed_at"`
	SignedIP        string          `json:"signed_ip"`
	CountersignedBy *string         `json:"countersigned_by,omitempty"`
	CountersignedAt *time.Time      `json:"countersigned_at,omitempty"`
	RejectedAt      *time.Time      `json:"rejected_at,omitempty"`
	RejectionReason string          `json:"rejection_reason,omitempty"`
	WithdrawnAt     *time.Time      `json:"withdrawn_at,omitempty"`
}

func viewOfConsent(c consent.Consent) consentView {
	return consentView{ID: c.ID, CaseID: c.CaseID, Status: c.Status(), FormVersion: c.FormVersion,
		FormSHA256: hex.EncodeToString(c.FormSHA256), SignerName: c.SignerName, Relationship: c.Relationship,
		SignedAt: c.SignedAt, SignedIP: c.SignedIP, CountersignedBy: c.CountersignedBy, CountersignedAt: c.CountersignedAt,
		RejectedAt: c.RejectedAt, RejectionReason: c.RejectionReason, WithdrawnAt: c.WithdrawnAt}
}

var (
	errNoConsent = &codedError{status: http.StatusNotFound, code: "no_consent",
		msg: "this case has no consent yet"}
	errConsentState = &codedError{status: http.StatusConflict, code: "consent_state",
		msg: "the case's consent is not in a state that allows this"}
)

// authorizeConsent asks the policy about action on the case in the path; a refusal is audited
// as the consent action it refused, then answered. It reports whether the handler may go on.
func (s *Server) authorizeConsent(c *gin.Context, policyAction access.Action, auditAction string) bool {
	id := c.Param("id")
	err := s.cfg.Policy.Authorize(c.Request.Context(), subjectOf(c), policyAction, id)
	switch reason := denialReason(err); {
	case err == nil:
		return true
	case reason != "":
		s.deny(c, auditAction, "consent", "", id, reason, err)
	default:
		s.fail(c, err)
	}
	return false
}

// finishConsent audits a consent change (done, refused or failed) and then answers it: the
// consent with status, or the refusal. A change that cannot be audited is answered 503.
func (s *Server) finishConsent(c *gin.Context, action string, got consent.Consent, err error, status int) {
	caseID := c.Param("id")
	e := entryFor(c, action, "consent", got.ID, caseID)
	var answer error
	switch {
	case err == nil:
	case errors.Is(err, consent.ErrConflict):
		e.Outcome, e.Reason, answer = audit.OutcomeMinorFailure, audit.ReasonState, errConsentState
	case errors.Is(err, consent.ErrNotFound):
		// The case is visible (the policy said so): what is missing is a consent in the needed state.
		e.Outcome, e.Reason, answer = audit.OutcomeMinorFailure, audit.ReasonState, errConsentState
	case errors.Is(err, consent.ErrInvalid):
		e.Outcome, e.Reason, answer = audit.OutcomeMinorFailure, "invalid", invalid("signer_name",
			"is required: the signer's full name as typed, at most 200 characters, no control characters")
	default:
		e.Outcome, e.Reason, answer = audit.OutcomeSeriousFailure, "error", err
	}
	if aerr := s.record(c, e); aerr != nil {
		s.fail(c, aerr)
		return
	}
	if answer != nil {
		s.fail(c, answer)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(status, viewOfConsent(got))
}

// POST /api/v1/cases/{id}/consent/signature {signer_name, relationship}: the applicant signs
// the newest consent form in the case's language, from their address.
func (s *Server) signConsent(c *gin.Context) {
	const action = audit.ActionConsentSign
	if !s.authorizeConsent(c, access.ActionConsentSign, action) {
		return
	}
	var in struct {
		SignerName   string          `json:"signer_name"`
		Relationship so.Relationship `json:"relationship"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	ctx, id := c.Request.Context(), c.Param("id")
	v, err := s.cfg.Cases.View(ctx, subjectOf(c), id)
	if err == nil && v.Redacted() {
		err = so.ErrNotFound
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	cs := v.Case
	if in.Relationship != cs.ApplicantRelationship {
		s.fail(c, invalid("relationship", "must be the case's applicant relationship, "+string(cs.ApplicantRelationship)))
		return
	}
	if strings.TrimSpace(in.SignerName) == "" {
		s.fail(c, invalid("signer_name", "is required: the signer's full name as typed"))
		return
	}
	form, err := s.consentForm(ctx, cs.Language)
	if err != nil {
		s.fail(c, err)
		return
	}
	var ip string
	if a, perr := netip.ParseAddr(c.ClientIP()); perr == nil {
		ip = a.String()
	}
	got, err := s.cfg.Consents.Sign(ctx, id, form.Version, in.SignerName, in.Relationship, ip)
	s.finishConsent(c, action, got, err, http.StatusCreated)
}

// POST /api/v1/cases/{id}/consent/countersignature {}: a case manager, having checked the
// identity documents and the signed form, makes the consent active.
func (s *Server) countersignConsent(c *gin.Context) {
	const action = audit.ActionConsentCountersign
	if !s.authorizeConsent(c, access.ActionConsentCountersign, action) {
		return
	}
	if err := readOptionalEmptyJSON(c); err != nil {
		s.fail(c, err)
		return
	}
	got, err := s.cfg.Consents.Countersign(c.Request.Context(), c.Param("id"), subjectOf(c).AccountID)
	s.finishConsent(c, action, got, err, http.StatusOK)
}

// POST /api/v1/cases/{id}/consent/withdrawal {}: the applicant withdraws the consent; reviewers
// lose access with their next request.
func (s *Server) withdrawConsent(c *gin.Context) {
	const action = audit.ActionConsentWithdraw
	if !s.authorizeConsent(c, access.ActionConsentWithdraw, action) {
		return
	}
	if err := readOptionalEmptyJSON(c); err != nil {
		s.fail(c, err)
		return
	}
	got, err := s.cfg.Consents.Withdraw(c.Request.Context(), c.Param("id"))
	s.finishConsent(c, action, got, err, http.StatusOK)
}

// GET /api/v1/cases/{id}/consent: the case's current consent, as a FHIR R4 Consent when the
// client accepts application/fhir+json, else as plain JSON.
func (s *Server) getConsent(c *gin.Context) {
	if !s.authorize(c, access.ActionConsentRead) {
		return
	}
	got, err := s.cfg.Consents.Current(c.Request.Context(), c.Param("id"))
	if errors.Is(err, consent.ErrNotFound) {
		err = errNoConsent
	}
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Vary", "Accept")
	if strings.Contains(c.GetHeader("Accept"), fhirJSON) {
		b, err := json.Marshal(got.FHIR())
		if err != nil {
			s.fail(c, err)
			return
		}
		c.Data(http.StatusOK, fhirJSON+"; charset=utf-8", b)
		return
	}
	c.JSON(http.StatusOK, viewOfConsent(got))
}

// readOptionalEmptyJSON accepts an empty body or the empty JSON object {}.
func readOptionalEmptyJSON(c *gin.Context) error {
	if c.Request.ContentLength == 0 {
		return nil
	}
	var in struct{}
	return readJSON(c, &in)
}
