package web

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
)

// The staff desks (issue 13): case managers' queue and triage, reviewers' workspace, the DPO's
// audit desk and the admin's accounts, under /staff. Like the applicant's pages, every form
// posts through the API's own handler.

// Directory lists enabled accounts by role: *access.Accounts.
type Directory interface {
	EnabledEmails(ctx context.Context, role so.Role) ([]string, error)
}

// pageStaff lets only staff through: a staff session still to enrol TOTP goes to enrolment,
// anyone else is answered as if the page did not exist.
func (s *Server) pageStaff(c *gin.Context) {
	subj := subjectOf(c)
	switch {
	case !subj.Role.Staff():
		s.pageError(c, so.ErrNotFound)
		c.Abort()
	case subj.NeedsTOTPEnrolment:
		seeOther(c, "/staff/totp")
		c.Abort()
	case !subj.TOTPSatisfied:
		setNotice(c, "page.signin.totp")
		seeOther(c, "/signin")
		c.Abort()
	default:
		c.Next()
	}
}

// GET /staff: each role's desk.
func (s *Server) staffHome(c *gin.Context) {
	switch subjectOf(c).Role {
	case so.RoleCaseManager, so.RoleReviewer:
		seeOther(c, "/staff/cases")
	case so.RoleDPO:
		seeOther(c, "/staff/audit")
	case so.RoleAdmin:
		seeOther(c, "/staff/admin")
	default:
		s.pageError(c, so.ErrNotFound)
	}
}

// totpPage is the enrolment page's data.
type totpPage struct {
	Secret string
	URI    string
	QR     any // template.HTML
}

// GET /staff/totp: a staff member's first sign-in: set up the authenticator app.
func (s *Server) staffTOTP(c *gin.Context) {
	if !subjectOf(c).Role.Staff() || !subjectOf(c).NeedsTOTPEnrolment {
		seeOther(c, "/staff")
		return
	}
	s.render(c, http.StatusOK, "staff-totp", s.newPage(c, "page.totp.title", ""))
}

// POST /staff/totp: a new secret, shown as a QR code and as text.
func (s *Server) staffTOTPBegin(c *gin.Context) {
	a := s.callAPI(c, s.beginTOTP, nil)
	p := s.newPage(c, "page.totp.title", "")
	if !a.OK() {
		p.refused(a)
		s.render(c, a.Status, "staff-totp", p)
		return
	}
	var e struct{ Secret, URI string }
	if err := json.Unmarshal(a.Body, &e); err != nil {
		s.pageError(c, err)
		return
	}
	s.renderTOTP(c, p, http.StatusOK, e.Secret, e.URI)
}

func (s *Server) renderTOTP(c *gin.Context, p *page, status int, secret, uri string) {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "otpauth" {
		s.pageError(c, so.ErrInvalid)
		return
	}
	qr, err := qrSVG(uri, p.L.T("page.totp.qr"))
	if err != nil {
		s.pageError(c, err)
		return
	}
	p.Data = totpPage{Secret: secret, URI: uri, QR: qr}
	s.render(c, status, "staff-totp", p)
}

// POST /staff/totp/confirm {code, secret, uri}: the first code confirms the enrolment; the
// session is rotated. The secret and URI come back only to show them again after a wrong code.
func (s *Server) staffTOTPConfirm(c *gin.Context) {
	a := s.callAPI(c, s.confirmTOTP, map[string]string{"code": strings.TrimSpace(c.PostForm("code"))})
	if a.OK() {
		setNotice(c, "page.totp.done")
		seeOther(c, "/staff")
		return
	}
	p := s.newPage(c, "page.totp.title", "")
	p.refused(a)
	p.Error = p.L.T("page.totp.wrong")
	p.Fields = map[string]string{"code": p.Error}
	s.renderTOTP(c, p, a.Status, c.PostForm("secret"), c.PostForm("uri"))
}

// queuePage is the staff case list's data.
type queuePage struct {
	Cases     []cases.View
	Counts    map[so.CaseStatus]int
	Statuses  []so.CaseStatus
	Languages []so.Language
	Types     []so.ConsultationType
	Reviewers []string
	Filter    map[string]string
	Overdue   int
}

// GET /staff/cases?status=&language=&consultation=&reviewer=&overdue=&q=: the queue, overdue
// first then by due date; the counts per state; search by case id.
func (s *Server) staffQueue(c *gin.Context) {
	if q := strings.TrimSpace(strings.ToLower(c.Query("q"))); q != "" {
		if so.ValidID(q) {
			seeOther(c, "/staff/cases/"+q)
			return
		}
	}
	ctx, subj := c.Request.Context(), subjectOf(c)
	opt, err := listOptions(c)
	p := s.newPage(c, "page.queue.title", "")
	if err != nil {
		p.Error = err.Error()
		opt = cases.ListOptions{}
	}
	opt.Sort = cases.SortDue
	shown, err := s.cfg.Cases.List(ctx, subj, opt)
	if err == nil {
		err = s.recordStaffList(c, shown)
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	counts, overdue, err := s.cfg.Cases.Counts(ctx, subj)
	if err != nil {
		s.pageError(c, err)
		return
	}
	qp := queuePage{Cases: shown, Counts: counts, Overdue: overdue, Statuses: so.Statuses, Languages: so.Languages,
		Types: so.ConsultationTypes, Filter: map[string]string{"status": string(opt.Status), "language": string(opt.Language),
			"consultation": string(opt.Consultation), "reviewer": opt.Reviewer, "overdue": c.Query("overdue"), "q": c.Query("q")}}
	if subj.Role == so.RoleCaseManager && s.cfg.Reviewers != nil {
		if qp.Reviewers, err = s.cfg.Reviewers.EnabledEmails(ctx, so.RoleReviewer); err != nil {
			s.pageError(c, err)
			return
		}
	}
	if c.Query("q") != "" {
		p.Error = p.L.T("page.queue.bad_id")
	}
	p.Data = qp
	s.render(c, http.StatusOK, "staff-queue", p)
}

// staffCasePage is the staff case page's data.
type staffCasePage struct {
	casePage
	Kinds      []so.DocumentKind // what documents may be asked for
	Reviewers  []string
	ExtraTypes []so.ExtraType
	Built      bool
	Lang       string
	CanReview  bool // a case manager deciding on documents
	DPO        bool // the DPO: legal hold, erasure, the applicant's data export
	Hold       *cases.Hold
	OwnerID    string // the applicant's account, for the export on their behalf
}

// GET /staff/cases/:id: the case for staff: a case manager's triage, a reviewer's workspace.
func (s *Server) staffCase(c *gin.Context) {
	s.renderStaffCase(c, nil)
}

func (s *Server) renderStaffCase(c *gin.Context, a *apiAnswer) {
	ctx, subj := c.Request.Context(), subjectOf(c)
	v, err := s.cfg.Cases.View(ctx, subj, c.Param("id"))
	if err == nil && v.Redacted() {
		// A reviewer before consent: only that the case waits for it, as the API answers.
		if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionCaseRead, c.Param("id")); err != nil {
			s.pageError(c, err)
			return
		}
		p := s.newPage(c, "page.staffcase.title", "")
		p.Data = staffCasePage{casePage: casePage{Detail: cases.Detail{View: v}}}
		s.render(c, http.StatusOK, "staff-case", p)
		return
	}
	cp, err := s.loadCase(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.staffcase.title", "")
	status := http.StatusOK
	if a != nil {
		p.refused(*a)
		status = a.Status
	}
	sp := staffCasePage{casePage: cp, ExtraTypes: so.ExtraTypes, Built: s.bundle, Lang: p.L.Lang,
		CanReview: subj.Role == so.RoleCaseManager}
	for _, k := range so.Kinds {
		if k != so.KindReport {
			sp.Kinds = append(sp.Kinds, k)
		}
	}
	if subj.Role == so.RoleDPO && s.cfg.Holds != nil {
		sp.DPO = true
		if cp.Case != nil {
			sp.OwnerID = cp.Case.OwnerID
		}
		if sp.Hold, err = s.cfg.Holds.HoldOf(ctx, cp.ID); err != nil {
			s.pageError(c, err)
			return
		}
	}
	if subj.Role == so.RoleCaseManager && s.cfg.Reviewers != nil {
		if sp.Reviewers, err = s.cfg.Reviewers.EnabledEmails(ctx, so.RoleReviewer); err != nil {
			s.pageError(c, err)
			return
		}
	}
	p.Data = sp
	s.render(c, status, "staff-case", p)
}

// staffForm posts a staff case page's form through an API handler, then goes back to the case
// with a notice, or shows it again with the reason.
func (s *Server) staffForm(c *gin.Context, h gin.HandlerFunc, body any, caseID, notice string) {
	a := s.callAPI(c, h, body)
	if a.OK() {
		setNotice(c, notice)
		seeOther(c, "/staff/cases/"+caseID)
		return
	}
	if !so.ValidID(caseID) {
		s.pageError(c, so.ErrNotFound)
		return
	}
	c.Params = append(c.Params[:0:0], gin.Param{Key: "id", Value: caseID})
	s.renderStaffCase(c, &a)
}

// POST /staff/cases/:id/{transition}: the workflow's steps from the staff case page.
func (s *Server) staffTransition(t cases.Transition) gin.HandlerFunc {
	return func(c *gin.Context) {
		body := map[string]any{}
		switch t {
		case cases.TransitionRequestDocuments:
			body["message"] = c.PostForm("message")
			body["kinds"] = c.PostFormArray("kinds")
		case cases.TransitionPayment:
			for _, k := range []string{"amount", "currency", "method", "reference"} {
				body[k] = strings.TrimSpace(c.PostForm(k))
			}
		case cases.TransitionRefund, cases.TransitionWithdraw:
			body["reason"] = c.PostForm("reason")
		}
		s.staffForm(c, s.transition(t), body, c.Param("id"), "page.staffcase.done."+string(t))
	}
}

// POST /staff/documents/:id/review {case, decision, reason}
func (s *Server) staffReview(c *gin.Context) {
	s.staffForm(c, s.reviewDocument, map[string]string{"decision": c.PostForm("decision"), "reason": c.PostForm("reason")},
		c.PostForm("case"), "page.staffcase.done.review")
}

// POST /staff/cases/:id/countersign
func (s *Server) staffCountersign(c *gin.Context) {
	s.staffForm(c, s.countersignConsent, map[string]string{}, c.Param("id"), "page.staffcase.done.countersign")
}

// POST /staff/cases/:id/assign {reviewer_email}
func (s *Server) staffAssign(c *gin.Context) {
	s.staffForm(c, s.assignReviewer, map[string]string{"reviewer_email": c.PostForm("reviewer_email")}, c.Param("id"),
		"page.staffcase.done.assign")
}

// POST /staff/cases/:id/extras {type, reason}
func (s *Server) staffProposeExtra(c *gin.Context) {
	s.staffForm(c, s.proposeExtra, map[string]string{"type": c.PostForm("type"), "reason": c.PostForm("reason")},
		c.Param("id"), "page.staffcase.done.extra")
}

// POST /staff/cases/:id/hold {reason}: the DPO places a legal hold.
func (s *Server) staffHold(c *gin.Context) {
	s.staffForm(c, s.placeHold, map[string]string{"reason": c.PostForm("reason")}, c.Param("id"), "page.staffcase.done.hold")
}

// POST /staff/cases/:id/hold/release: the DPO lifts it.
func (s *Server) staffReleaseHold(c *gin.Context) {
	s.staffForm(c, s.releaseHold, nil, c.Param("id"), "page.staffcase.done.unhold")
}

// POST /staff/cases/:id/erasure {reference}: the DPO erases the case; the queue follows, since
// the case is gone.
func (s *Server) staffErase(c *gin.Context) {
	id := c.Param("id")
	a := s.callAPI(c, s.eraseCase, map[string]string{"reference": c.PostForm("reference")})
	if a.OK() {
		setNotice(c, "page.staffcase.done.erased")
		seeOther(c, "/staff/cases")
		return
	}
	c.Params = append(c.Params[:0:0], gin.Param{Key: "id", Value: id})
	s.renderStaffCase(c, &a)
}

// viewerPage is the document viewer's data.
type viewerPage struct {
	Doc    cases.Document
	CaseID string
	Kind   string // pdf, image, other
	Flags  []string
	Built  bool
}

// GET /staff/documents/:id: a document in the page. The policy and the consent gate decide as
// for the content route (which the viewer reads, with Range requests); nothing is read here.
func (s *Server) staffViewer(c *gin.Context) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	rec, err := s.cfg.Documents.StoredDocument(ctx, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	if err := s.cfg.Policy.AuthorizeDocumentFacts(ctx, subj, access.ActionDocumentRead, rec.Facts()); err != nil {
		s.pageError(c, err)
		return
	}
	// The consent gate, as for the content route: before consent not even the document's name.
	if err := s.cfg.Consent.Check(ctx, rec.CaseID, subj.Role, rec.Kind); err != nil {
		reason := audit.ReasonConsent
		switch {
		case errors.Is(err, consent.ErrNoConsent):
		case errors.Is(err, consent.ErrRoleNotAllowed):
			reason = audit.ReasonRole
		default:
			s.pageError(c, errors.Join(so.ErrUnavailable, err)) // the gate cannot answer: fail closed
			return
		}
		e := entryFor(c, audit.ActionDocumentOpen, "document", id, rec.CaseID, reason)
		e.Outcome = audit.OutcomeMinorFailure
		if err := s.record(c, e); err != nil {
			s.pageError(c, err)
			return
		}
		p := s.newPage(c, "page.error.title", "")
		p.Error = p.L.T("page.viewer.consent")
		s.render(c, http.StatusForbidden, "error", p)
		return
	}
	// The registry row read above is the document: the policy allowed reading it.
	vp := viewerPage{Doc: rec.Document, CaseID: rec.CaseID, Kind: "other", Built: s.bundle}
	if rec.Stored != nil {
		vp.Flags = rec.Stored.Flags
		switch rec.Stored.SniffedType {
		case "pdf":
			vp.Kind = "pdf"
		case "jpeg", "png":
			vp.Kind = "image"
		case "tiff":
			vp.Kind = "tiff" // drawn by the server as PNG: browsers do not show TIFF
		}
	}
	p := s.newPage(c, "page.viewer.title", "")
	p.Data = vp
	s.render(c, http.StatusOK, "staff-viewer", p)
}
