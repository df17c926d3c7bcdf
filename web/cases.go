package web

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// CaseStore is the case store: *cases.Cases. It does not authorize; handlers ask Policy first.
type CaseStore interface {
	Create(ctx context.Context, owner access.Subject, in cases.CreateInput) (cases.Case, error)
	List(ctx context.Context, s access.Subject, opt cases.ListOptions) ([]cases.View, error)
	Counts(ctx context.Context, s access.Subject) (byStatus map[so.CaseStatus]int, overdue int, err error)
	View(ctx context.Context, s access.Subject, id string) (cases.View, error)
	ViewOf(ctx context.Context, s access.Subject, cs cases.Case) (cases.View, error)
	Detail(ctx context.Context, s access.Subject, id string) (cases.Detail, error)
	DocumentsFor(ctx context.Context, s access.Subject, caseID string) ([]cases.Document, error)
	Assign(ctx context.Context, by cases.Actor, caseID, reviewerEmail string) (string, error)
	Transition(ctx context.Context, by cases.Actor, caseID string, t cases.Transition, in cases.Input) (cases.Case, error)
	ReviewDocument(ctx context.Context, by cases.Actor, docID string, in cases.ReviewInput) (cases.Document, error)
	PrepareDeletion(ctx context.Context, by cases.Actor, docID string) error
	ProposeExtra(ctx context.Context, by cases.Actor, caseID string, in cases.ExtraInput) (cases.Extra, error)
	ExtraCase(ctx context.Context, extraID string) (string, error)
	DecideExtra(ctx context.Context, by cases.Actor, extraID string, approve bool) (cases.Extra, error)
}

// authorize asks the policy about the case in the path and answers the refusal; it reports
// whether the handler may go on.
func (s *Server) authorize(c *gin.Context, action access.Action) bool {
	if err := s.cfg.Policy.Authorize(c.Request.Context(), subjectOf(c), action, c.Param("id")); err != nil {
		s.fail(c, err)
		return false
	}
	return true
}

// actor is the subject of the request with the audit entry of where it came from, for a
// domain method that writes its audit entry in its own transaction.
func actor(c *gin.Context) cases.Actor {
	return cases.Actor{Subject: subjectOf(c), Entry: entryFor(c, "", "", "", "")}
}

// recordStaffRead audits a staff member's read of health data (a case record, a listing, a
// document list) before the answer is sent: a read of health data is an access. Applicants
// reading their own cases are not staff and are not recorded here.
func (s *Server) recordStaffRead(c *gin.Context, action, objectType, caseID string) error {
	if !subjectOf(c).Role.Staff() {
		return nil
	}
	return s.record(c, entryFor(c, action, objectType, caseID, caseID))
}

// recordStaffList audits a staff member's listing with one entry per case it shows (its
// patient's name is a read of their data, which the DPO must be able to trace per patient).
// A listing that shows no health data (a reviewer's cases waiting for consent) is not one.
func (s *Server) recordStaffList(c *gin.Context, list []cases.View) error {
	if !subjectOf(c).Role.Staff() {
		return nil
	}
	var entries []audit.Entry
	for _, v := range list {
		if !v.Redacted() {
			entries = append(entries, entryFor(c, audit.ActionCaseList, "case", v.ID, v.ID))
		}
	}
	return s.recordAll(c, entries)
}

// POST /api/v1/cases: an applicant opens a draft.
func (s *Server) createCase(c *gin.Context) {
	subj := subjectOf(c)
	if err := s.cfg.Policy.Authorize(c.Request.Context(), subj, access.ActionCaseCreate, ""); err != nil {
		s.fail(c, err)
		return
	}
	// ParseCreateInput refuses a body over its limit, and a truncated one as invalid JSON.
	body, _ := io.ReadAll(io.LimitReader(c.Request.Body, maxJSONBody+1))
	in, err := cases.ParseCreateInput(body, s.now())
	if err != nil {
		s.fail(c, err)
		return
	}
	cs, err := s.cfg.Cases.Create(c.Request.Context(), subj, in)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/api/v1/cases/"+cs.ID)
	c.JSON(http.StatusCreated, cs)
}

// listOptions reads a listing's filters from the query: status, overdue, language,
// consultation, reviewer (an email), sort.
func listOptions(c *gin.Context) (cases.ListOptions, error) {
	opt := cases.ListOptions{Status: so.CaseStatus(c.Query("status")), Sort: cases.Sort(c.Query("sort")),
		Language: so.Language(c.Query("language")), Consultation: so.ConsultationType(c.Query("consultation")),
		Reviewer: strings.TrimSpace(c.Query("reviewer"))}
	if opt.Status != "" && !opt.Status.Valid() {
		return opt, invalid("status", "must be one of the case states")
	}
	if opt.Language != "" && !opt.Language.Valid() {
		return opt, invalid("language", "must be en, it or es")
	}
	if opt.Consultation != "" && !slices.Contains(so.ConsultationTypes, opt.Consultation) {
		return opt, invalid("consultation", "must be one of the consultation types")
	}
	switch c.Query("overdue") {
	case "", "false":
	case "true":
		opt.Overdue = true
	default:
		return opt, invalid("overdue", "must be true or false")
	}
	switch opt.Sort {
	case "", cases.SortCreated, cases.SortDue:
	default:
		return opt, invalid("sort", "must be created or due")
	}
	return opt, nil
}

// GET /api/v1/cases?status=&overdue=true&language=&consultation=&reviewer=&sort=created|due:
// the cases the caller may read.
func (s *Server) listCases(c *gin.Context) {
	opt, err := listOptions(c)
	if err != nil {
		s.fail(c, err)
		return
	}
	list, err := s.cfg.Cases.List(c.Request.Context(), subjectOf(c), opt)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.recordStaffList(c, list); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cases": list})
}

// GET /api/v1/cases/{id}: the case as the caller may see it, its checklist, history, extras
// and balance. A reviewer without an active consent sees only that it waits for consent.
func (s *Server) getCase(c *gin.Context) {
	if !s.authorize(c, access.ActionCaseRead) {
		return
	}
	d, err := s.cfg.Cases.Detail(c.Request.Context(), subjectOf(c), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.recordStaffRead(c, audit.ActionCaseRead, "case", c.Param("id")); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, d)
}

// GET /api/v1/cases/{id}/documents: the documents the caller can see (a physician: their own;
// a reviewer: nothing before consent).
func (s *Server) listDocuments(c *gin.Context) {
	if !s.authorize(c, access.ActionDocumentList) {
		return
	}
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	if subj.Role == so.RoleReviewer {
		v, err := s.cfg.Cases.View(ctx, subj, id)
		if err != nil {
			s.fail(c, err)
			return
		}
		if v.Redacted() {
			s.deny(c, audit.ActionDocumentList, "case", id, id, audit.ReasonConsent, errConsentRequired)
			return
		}
	}
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subj, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	if err := s.recordStaffRead(c, audit.ActionDocumentList, "case", id); err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"documents": docs})
}

// POST /api/v1/cases/{id}/assignments {reviewer_email}
func (s *Server) assignReviewer(c *gin.Context) {
	if !s.authorize(c, access.ActionAssignReviewer) {
		return
	}
	var in struct {
		ReviewerEmail string `json:"reviewer_email"`
	}
	if err := readJSON(c, &in); err != nil {
		s.fail(c, err)
		return
	}
	id, err := s.cfg.Cases.Assign(c.Request.Context(), actor(c), c.Param("id"), in.ReviewerEmail)
	if err != nil {
		// A refused grant of access is recorded, whatever the reason.
		s.failStep(c, audit.ActionCaseAssign, "case", c.Param("id"), c.Param("id"), err)
		return
	}
	c.JSON(http.StatusCreated, gin.H{"case_id": c.Param("id"), "reviewer_id": id, "reviewer_email": in.ReviewerEmail})
}

func (s *Server) now() time.Time {
	if s.cfg.Now != nil {
		return s.cfg.Now()
	}
	return time.Now()
}
