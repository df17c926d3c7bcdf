package web

import (
	"context"
	"io"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// CaseStore is the case registry: *cases.Cases. It does not authorize; handlers ask Policy first.
type CaseStore interface {
	Create(ctx context.Context, owner access.Subject, in cases.CreateInput) (cases.Case, error)
	Get(ctx context.Context, id string) (cases.Case, error)
	ListForSubject(ctx context.Context, s access.Subject) ([]cases.Case, error)
	DocumentsFor(ctx context.Context, s access.Subject, caseID string) ([]cases.Document, error)
	Assign(ctx context.Context, by access.Subject, caseID, reviewerEmail string) (string, error)
}

// caseView is GET /api/v1/cases/{id}: the case, its checklist and its deadlines.
type caseView struct {
	cases.Case
	Checklist   []checklistItem `json:"checklist"`
	TriageDueAt *time.Time      `json:"triage_due_at"` // the SLA clock is not kept yet: null
	ReportDueAt *time.Time      `json:"report_due_at"`
}

// checklistItem says whether the case has an available document of one kind.
type checklistItem struct {
	Kind    string `json:"kind"`
	Present bool   `json:"present"`
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

// GET /api/v1/cases: the cases the caller may read, newest first.
func (s *Server) listCases(c *gin.Context) {
	list, err := s.cfg.Cases.ListForSubject(c.Request.Context(), subjectOf(c))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.JSON(http.StatusOK, gin.H{"cases": list})
}

// GET /api/v1/cases/{id}
func (s *Server) getCase(c *gin.Context) {
	if !s.authorize(c, access.ActionCaseRead) {
		return
	}
	ctx, id := c.Request.Context(), c.Param("id")
	cs, err := s.cfg.Cases.Get(ctx, id)
	if err != nil {
		s.fail(c, err)
		return
	}
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subjectOf(c), id)
	if err != nil {
		s.fail(c, err)
		return
	}
	v := caseView{Case: cs, Checklist: make([]checklistItem, len(cases.Kinds))}
	for i, k := range cases.Kinds {
		v.Checklist[i].Kind = k
		for _, d := range docs {
			if d.Kind == k && d.Status == "available" {
				v.Checklist[i].Present = true
			}
		}
	}
	c.JSON(http.StatusOK, v)
}

// GET /api/v1/cases/{id}/documents: the documents the caller can see (a physician: their own).
func (s *Server) listDocuments(c *gin.Context) {
	if !s.authorize(c, access.ActionDocumentList) {
		return
	}
	docs, err := s.cfg.Cases.DocumentsFor(c.Request.Context(), subjectOf(c), c.Param("id"))
	if err != nil {
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
	var id string
	err := s.audited(c, entryFor(c, audit.ActionCaseAssign, "case", c.Param("id"), c.Param("id")), func() (err error) {
		id, err = s.cfg.Cases.Assign(c.Request.Context(), subjectOf(c), c.Param("id"), in.ReviewerEmail)
		return err
	})
	if err != nil {
		s.fail(c, err)
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
