package web

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
	"github.com/secondopinion/secondopinion/upload"
)

// UnfinishedUploads lists the caller's uploads to resume: *upload.Store.
type UnfinishedUploads interface {
	Unfinished(ctx context.Context, caseID, account, invitation string) ([]upload.Unfinished, error)
}

// unfinishedView is one upload to resume, with the URL its tus client continues at.
type unfinishedView struct {
	upload.Unfinished
	URL string `json:"url"`
}

// uploadURL is where a tus upload lives, under the public URL (behind a TLS proxy the
// request's own scheme would be wrong), or relative when none is configured.
func (s *Server) uploadURL(id string) string {
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + uploadsPath + "/" + id
}

// GET /api/v1/uploads?case_id=: the caller's unfinished uploads to the case, with the bytes
// stored of each, so that a page reloaded mid-upload continues where it stopped.
func (s *Server) listUnfinished(c *gin.Context) {
	ctx, subj, caseID := c.Request.Context(), subjectOf(c), c.Query("case_id")
	if s.cfg.Unfinished == nil {
		s.fail(c, so.ErrNotFound)
		return
	}
	if !so.ValidID(caseID) {
		s.fail(c, invalid("case_id", "must be the case's id"))
		return
	}
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDocumentUpload, caseID); err != nil {
		s.fail(c, err)
		return
	}
	list, err := s.cfg.Unfinished.Unfinished(ctx, caseID, subj.AccountID, subj.InvitationID)
	if err != nil {
		s.fail(c, err)
		return
	}
	out := make([]unfinishedView, len(list))
	for i, u := range list {
		out[i] = unfinishedView{Unfinished: u, URL: s.uploadURL(u.ID)}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"uploads": out})
}

// uploadPage is the upload page's data.
type uploadPage struct {
	CaseID string
	Kinds  []so.DocumentKind // what the caller may upload, the missing first
	Chosen so.DocumentKind
	Built  bool // the upload bundle is in the binary
	Lang   string
	Docs   []cases.Document // what the caller uploaded (physician page)
	Open   bool             // the case takes documents now
	Back   string           // the case's page
}

// uploadKinds are the kinds a subject may upload to the case, the checklist's missing ones first.
func uploadKinds(subj access.Subject, missing []so.DocumentKind) []so.DocumentKind {
	var out []so.DocumentKind
	seen := map[so.DocumentKind]bool{so.KindReport: true}
	if subj.Role == so.RoleReviewer {
		return []so.DocumentKind{so.KindReport}
	}
	if subj.Role == so.RolePhysician {
		for _, k := range so.Kinds {
			if k.Clinical() {
				out = append(out, k)
			}
		}
		return out
	}
	for _, k := range missing {
		if !seen[k] {
			out, seen[k] = append(out, k), true
		}
	}
	for _, k := range so.Kinds {
		if !seen[k] {
			out, seen[k] = append(out, k), true
		}
	}
	return out
}

// GET /cases/:id/upload?kind=: the uploader.
func (s *Server) pageUpload(c *gin.Context) {
	cp, err := s.loadCase(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.upload.title", cp.Language)
	up := uploadPage{CaseID: cp.ID, Kinds: uploadKinds(subjectOf(c), cp.Missing), Built: s.bundle,
		Lang: p.L.Lang, Open: cp.CanUpload, Back: "/cases/" + cp.ID}
	if subjectOf(c).Role == so.RoleReviewer { // the specialist's report, while in review
		up.Open, up.Back, up.Chosen = cp.Status == so.StatusInReview, "/staff/cases/"+cp.ID, so.KindReport
	}
	if k := so.DocumentKind(c.Query("kind")); k.Valid() {
		up.Chosen = k
	} else if len(cp.Missing) > 0 {
		up.Chosen = cp.Missing[0]
	}
	p.Data = up
	s.render(c, http.StatusOK, "upload", p)
}

// GET /physician: a referring physician's one case: upload, and see what they sent.
func (s *Server) pagePhysician(c *gin.Context) {
	ctx, subj := c.Request.Context(), subjectOf(c)
	if subj.Role != so.RolePhysician {
		seeOther(c, "/")
		return
	}
	caseID := subj.ScopeCaseID
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDocumentList, caseID); err != nil {
		s.pageError(c, err)
		return
	}
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subj, caseID)
	if err != nil {
		s.pageError(c, err)
		return
	}
	open := s.cfg.Policy.Authorize(ctx, subj, access.ActionDocumentUpload, caseID) == nil
	p := s.newPage(c, "page.physician.title", "")
	p.Data = uploadPage{CaseID: caseID, Kinds: uploadKinds(subj, nil), Chosen: so.KindCoverLetter, Built: s.bundle,
		Lang: p.L.Lang, Docs: docs, Open: open}
	s.render(c, http.StatusOK, "physician", p)
}

// receipt is what the server recorded of each document the caller sent to the case.
type receipt struct {
	CaseID      string         `json:"case_id"`
	GeneratedAt time.Time      `json:"generated_at"`
	Documents   []receiptEntry `json:"documents"`
}

type receiptEntry struct {
	ID           string          `json:"id"`
	Kind         so.DocumentKind `json:"kind"`
	Filename     string          `json:"filename"`
	RelativePath string          `json:"relative_path,omitempty"`
	Size         int64           `json:"size"`
	SHA256       string          `json:"sha256"`
	UploadedAt   time.Time       `json:"uploaded_at"`
	Status       string          `json:"status"` // available, or rejected later by the case manager
}

// receiptOf lists the caller's own finished uploads to the case, newest last.
func (s *Server) receiptOf(c *gin.Context) (receipt, so.Language, error) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDocumentList, id); err != nil {
		return receipt{}, "", err
	}
	var lang so.Language
	if subj.Role != so.RolePhysician {
		v, err := s.cfg.Cases.View(ctx, subj, id)
		if err != nil {
			return receipt{}, "", err
		}
		if v.Case != nil {
			lang = v.Language
		}
	}
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subj, id)
	if err != nil {
		return receipt{}, "", err
	}
	r := receipt{CaseID: id, GeneratedAt: s.now().UTC(), Documents: []receiptEntry{}}
	for _, d := range docs {
		mine := d.UploadedBy != "" && d.UploadedBy == subj.AccountID ||
			d.UploadedByInvitation != "" && d.UploadedByInvitation == subj.InvitationID
		if !mine || d.Size == nil || d.UploadedAt == nil {
			continue
		}
		st := d.Status
		if d.Review != nil && d.Review.Decision == cases.DecisionRejected {
			st = "rejected"
		}
		r.Documents = append(r.Documents, receiptEntry{ID: d.ID, Kind: d.Kind, Filename: d.Filename,
			RelativePath: d.RelativePath, Size: *d.Size, SHA256: d.SHA256, UploadedAt: d.UploadedAt.UTC(), Status: st})
	}
	return r, lang, nil
}

// GET /cases/:id/receipt: the upload receipt as a page.
func (s *Server) pageReceipt(c *gin.Context) {
	r, lang, err := s.receiptOf(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.receipt.title", lang)
	p.Data = r
	s.render(c, http.StatusOK, "receipt", p)
}

// GET /cases/:id/receipt.json: the upload receipt to keep.
func (s *Server) receiptJSON(c *gin.Context) {
	r, _, err := s.receiptOf(c)
	if err != nil {
		s.pageError(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.Header("Content-Disposition", fmt.Sprintf(`attachment; filename="receipt-%s.json"`, r.GeneratedAt.Format("20060102-150405")))
	c.IndentedJSON(http.StatusOK, r)
}
