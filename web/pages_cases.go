package web

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/consent"
)

// GET /cases: the applicant's requests.
func (s *Server) pageCases(c *gin.Context) {
	if subjectOf(c).Role == so.RolePhysician {
		seeOther(c, "/physician")
		return
	}
	list, err := s.cfg.Cases.List(c.Request.Context(), subjectOf(c), cases.ListOptions{})
	if err == nil {
		err = s.recordStaffList(c, list)
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.cases.title", "")
	p.Data = list
	s.render(c, http.StatusOK, "cases", p)
}

// newCaseForm is the new-request page's data.
type newCaseForm struct {
	Relationships     []so.Relationship
	ConsultationTypes []so.ConsultationType
	Chosen            map[so.ConsultationType]bool
	Imaging           bool
}

// GET /cases/new: the new request.
func (s *Server) pageNewCase(c *gin.Context) {
	if err := s.cfg.Policy.Authorize(c.Request.Context(), subjectOf(c), access.ActionCaseCreate, ""); err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.new.title", "")
	p.Form = map[string]string{"relationship": string(so.RelationshipSelf), "language": p.L.Lang}
	p.Data = newCaseForm{Relationships: so.Relationships, ConsultationTypes: so.ConsultationTypes,
		Chosen: map[so.ConsultationType]bool{}, Imaging: true}
	s.render(c, http.StatusOK, "new", p)
}

// POST /cases/new: creates the draft through POST /api/v1/cases, then shows it.
func (s *Server) pageNewCasePost(c *gin.Context) {
	types := []so.ConsultationType{}
	chosen := map[so.ConsultationType]bool{}
	for _, t := range c.PostFormArray("consultation_types") {
		types = append(types, so.ConsultationType(t))
		chosen[so.ConsultationType(t)] = true
	}
	imaging := c.PostForm("imaging") != "no"
	body := map[string]any{
		"patient": map[string]string{"given_name": c.PostForm("given_name"), "family_name": c.PostForm("family_name"),
			"birth_date": c.PostForm("birth_date")},
		"applicant_relationship": c.PostForm("relationship"), "consultation_types": types,
		"clinical_question": c.PostForm("clinical_question"), "language": c.PostForm("language"),
		"imaging_relevant": imaging,
	}
	a := s.callAPI(c, s.createCase, body)
	if a.OK() {
		var cs struct {
			ID string `json:"id"`
		}
		if err := json.Unmarshal(a.Body, &cs); err != nil || !so.ValidID(cs.ID) {
			s.pageError(c, errors.New("create case: no id in the answer"))
			return
		}
		setNotice(c, "page.case.created")
		seeOther(c, "/cases/"+cs.ID)
		return
	}
	p := s.newPage(c, "page.new.title", "")
	p.refused(a)
	// The API names nested fields with dots; the form's fields are flat.
	for k, v := range p.Fields {
		if f, ok := strings.CutPrefix(k, "patient."); ok {
			p.Fields[f] = v
		}
	}
	p.Form = map[string]string{}
	for _, k := range []string{"given_name", "family_name", "birth_date", "relationship", "clinical_question", "language"} {
		p.Form[k] = c.PostForm(k)
	}
	p.Data = newCaseForm{Relationships: so.Relationships, ConsultationTypes: so.ConsultationTypes, Chosen: chosen,
		Imaging: imaging}
	s.render(c, a.Status, "new", p)
}

// casePage is the case page's data.
type casePage struct {
	cases.Detail
	Steps        []step
	Documents    []cases.Document
	Report       *cases.Document
	Missing      []so.DocumentKind
	Consent      *consent.Consent
	ConsentKnown bool // the caller may read the consent (a specialist may not: they see it only as active)
	Invitations  []access.Invitation
	Extras       []cases.Extra // waiting for the applicant's decision
	Decided      []cases.Extra
	CanSubmit    bool
	CanWithdraw  bool
	CanUpload    bool
	CanSign      bool
	CanInvite    bool
}

// step is one line of the case's timeline.
type step struct {
	Name  string // message id
	State string // done, current, upcoming
	At    *time.Time
	Due   *time.Time // for the current step: when we will answer
}

// ConsentState is the consent's state for the page: none, proposed, active, rejected, withdrawn.
func (p casePage) ConsentState() string {
	if p.Consent == nil {
		return "none"
	}
	return string(p.Consent.Status())
}

// loadCase reads what the case page (and the pages beside it) show, as the API would answer it.
func (s *Server) loadCase(c *gin.Context) (casePage, error) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionCaseRead, id); err != nil {
		return casePage{}, err
	}
	d, err := s.cfg.Cases.Detail(ctx, subj, id)
	if err != nil {
		return casePage{}, err
	}
	if d.Redacted() {
		return casePage{}, so.ErrNotFound // pages for staff are issue 13's
	}
	p := casePage{Detail: d}
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subj, id)
	if err != nil {
		return casePage{}, err
	}
	for i := range docs {
		if docs[i].Kind == so.KindReport {
			if docs[i].Status == "available" {
				p.Report = &docs[i]
			}
			continue
		}
		p.Documents = append(p.Documents, docs[i])
	}
	for _, it := range d.Checklist {
		if it.Required && (it.State == cases.ItemMissing || it.State == cases.ItemRejected) {
			p.Missing = append(p.Missing, it.Kind)
		}
	}
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionConsentRead, id); err == nil {
		p.ConsentKnown = true
		cur, err := s.cfg.Consents.Current(ctx, id)
		switch {
		case err == nil:
			p.Consent = &cur
		case !errors.Is(err, consent.ErrNotFound):
			return casePage{}, err
		}
	}
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionInvite, id); err == nil {
		if p.Invitations, err = s.cfg.Invitations.List(ctx, subj, id); err != nil {
			return casePage{}, err
		}
		p.CanInvite = d.Status.OpenForDocuments()
	}
	if err := s.recordStaffRead(c, "case.read", "case", id); err != nil {
		return casePage{}, err
	}
	for _, x := range d.Extras {
		if x.Status == cases.ExtraProposed {
			p.Extras = append(p.Extras, x)
		} else {
			p.Decided = append(p.Decided, x)
		}
	}
	st := d.Status
	p.CanSubmit = st == so.StatusDraft || st == so.StatusDocumentsRequested
	p.CanWithdraw = !st.Final() && st != so.StatusInReview && st != so.StatusReportReleased
	p.CanUpload = st.OpenForDocuments()
	p.CanSign = p.Consent == nil || p.Consent.Status() == consent.StatusWithdrawn || p.Consent.Status() == consent.StatusRejected
	p.Steps = timeline(d)
	return p, nil
}

// timeline is the case's journey in words: each step done, the current one with when we will
// answer, and those still to come.
func timeline(d cases.Detail) []step {
	cs := d.Case
	order := []so.CaseStatus{so.StatusDraft, so.StatusSubmitted, so.StatusTriage, so.StatusAwaitingPayment,
		so.StatusInReview, so.StatusReportReleased, so.StatusClosed}
	at := map[so.CaseStatus]*time.Time{so.StatusDraft: &cs.CreatedAt, so.StatusSubmitted: cs.SubmittedAt,
		so.StatusAwaitingPayment: cs.AcceptedAt, so.StatusInReview: cs.PaidAt, so.StatusReportReleased: cs.ReleasedAt,
		so.StatusClosed: cs.ClosedAt}
	for _, e := range d.History { // the latest entry into each state
		e := e
		if _, ok := at[e.To]; !ok || at[e.To] == nil || e.At.After(*at[e.To]) {
			at[e.To] = &e.At
		}
	}
	cur := cs.Status
	if cur == so.StatusDocumentsRequested {
		cur = so.StatusTriage
	}
	idx := -1
	for i, st := range order {
		if st == cur {
			idx = i
		}
	}
	var out []step
	for i, st := range order {
		s := step{Name: "page.step." + string(st), At: at[st]}
		switch {
		case idx < 0: // withdrawn, refunded: the steps that happened
			if at[st] == nil {
				continue
			}
			s.State = "done"
		case i < idx:
			s.State = "done"
		case i == idx:
			s.State = "current"
		default:
			s.State, s.At = "upcoming", nil
		}
		if s.State == "current" {
			switch st {
			case so.StatusSubmitted, so.StatusTriage:
				s.Due = cs.TriageDueAt
			case so.StatusInReview:
				s.Due = cs.ReportDueAt
			}
		}
		out = append(out, s)
	}
	if idx < 0 {
		out = append(out, step{Name: "page.step." + string(cs.Status), State: "current", At: at[cs.Status]})
	}
	return out
}

// caseView shows a page of the case: the case page (GET /cases/:id), the warning before
// withdrawing it (GET /cases/:id/withdraw).
func (s *Server) caseView(name, title string) gin.HandlerFunc {
	return func(c *gin.Context) {
		cp, err := s.loadCase(c)
		if err != nil {
			s.pageError(c, err)
			return
		}
		p := s.newPage(c, title, cp.Language)
		p.Data = cp
		s.render(c, http.StatusOK, name, p)
	}
}

// caseForm posts a case page's form through an API handler, then goes back to the case page
// with a notice, or shows the page again with the reason.
func (s *Server) caseForm(c *gin.Context, h gin.HandlerFunc, body any, notice string) {
	a := s.callAPI(c, h, body)
	s.afterCaseForm(c, a, c.Param("id"), notice)
}

func (s *Server) afterCaseForm(c *gin.Context, a apiAnswer, caseID, notice string) {
	if a.OK() {
		setNotice(c, notice)
		seeOther(c, "/cases/"+caseID)
		return
	}
	if a.Status == http.StatusNotFound || !so.ValidID(caseID) {
		s.pageError(c, so.ErrNotFound)
		return
	}
	c.Params = append(c.Params[:0:0], gin.Param{Key: "id", Value: caseID})
	cp, err := s.loadCase(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.case.title", cp.Language)
	p.refused(a)
	p.Data = cp
	s.render(c, a.Status, "case", p)
}

// POST /cases/:id/submit
func (s *Server) pageSubmit(c *gin.Context) {
	s.caseForm(c, s.transition(cases.TransitionSubmit), map[string]any{}, "page.case.submitted")
}

// POST /cases/:id/withdraw {reason}
func (s *Server) pageWithdraw(c *gin.Context) {
	s.caseForm(c, s.transition(cases.TransitionWithdraw), map[string]any{"reason": c.PostForm("reason")},
		"page.case.withdrawn")
}

// POST /extras/:id/approve and /decline {case}: the case id comes with the form, to go back.
func (s *Server) pageDecideExtra(approve bool) gin.HandlerFunc {
	notice := "page.extras.declined"
	if approve {
		notice = "page.extras.approved"
	}
	return func(c *gin.Context) {
		a := s.callAPI(c, s.decideExtra(approve), map[string]any{})
		s.afterCaseForm(c, a, c.PostForm("case"), notice)
	}
}

// POST /cases/:id/invitations {email}
func (s *Server) pageInvite(c *gin.Context) {
	s.caseForm(c, s.invite, map[string]string{"email": c.PostForm("email")}, "page.invite.sent")
}

// POST /invitations/:id/revoke {case}
func (s *Server) pageRevokeInvitation(c *gin.Context) {
	a := s.callAPI(c, s.revokeInvitation, nil)
	s.afterCaseForm(c, a, c.PostForm("case"), "page.invite.revoked")
}

// GET /cases/:id/consent: the form's text in the case's language, to sign or withdraw.
func (s *Server) pageConsent(c *gin.Context) {
	cp, err := s.loadCase(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	s.renderConsent(c, cp, nil)
}

type consentPage struct {
	casePage
	Form consent.Form
}

func (s *Server) renderConsent(c *gin.Context, cp casePage, a *apiAnswer) {
	form, err := s.consentForm(c.Request.Context(), cp.Language)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.consent.title", cp.Language)
	status := http.StatusOK
	if a != nil {
		p.refused(*a)
		p.Form = map[string]string{"signer_name": c.PostForm("signer_name")}
		status = a.Status
	}
	p.Data = consentPage{casePage: cp, Form: form}
	s.render(c, status, "consent", p)
}

// POST /cases/:id/consent {signer_name}: signs, as the case's applicant relationship.
func (s *Server) pageSignConsent(c *gin.Context) {
	cp, err := s.loadCase(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	a := s.callAPI(c, s.signConsent, map[string]any{"signer_name": c.PostForm("signer_name"),
		"relationship": cp.ApplicantRelationship})
	if a.OK() {
		setNotice(c, "page.consent.signed")
		seeOther(c, "/cases/"+cp.ID)
		return
	}
	s.renderConsent(c, cp, &a)
}

// POST /cases/:id/consent/withdrawal
func (s *Server) pageWithdrawConsent(c *gin.Context) {
	s.caseForm(c, s.withdrawConsent, nil, "page.consent.withdrawn")
}
