package cases

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/secondopinion/secondopinion/access"
)

// Document is an entry of the document registry. Rows are written by the upload path; this
// package reads them.
type Document struct {
	ID                   string          `json:"id"`
	CaseID               string          `json:"case_id"`
	Kind                 so.DocumentKind `json:"kind"`
	Filename             string          `json:"filename"`
	Filetype             string          `json:"filetype"`
	RelativePath         string          `json:"relative_path,omitempty"` // in the folder it was uploaded with
	Status               string          `json:"status"`                  // uploading, available, rejected
	Size                 *int64          `json:"size"`                    // nil until the upload finished
	SHA256               string          `json:"sha256,omitempty"`
	UploadedBy           string          `json:"-"` // account, or empty
	UploadedByInvitation string          `json:"-"` // physician's invitation, or empty
	CreatedAt            time.Time       `json:"created_at"`
	UploadedAt           *time.Time      `json:"uploaded_at"` // when the upload finished
	Review               *DocumentReview `json:"review"`      // the case manager's decision, or null
}

// DocumentReview is a case manager's decision on a document.
type DocumentReview struct {
	Decision   Decision  `json:"decision"`
	Reason     string    `json:"reason,omitempty"`
	ReviewedBy string    `json:"reviewed_by"`
	ReviewedAt time.Time `json:"reviewed_at"`
}

// Facts is what access.Policy needs to know about the document.
func (d Document) Facts() access.DocumentFacts {
	return access.DocumentFacts{ID: d.ID, CaseID: d.CaseID, Kind: d.Kind, UploadedBy: d.UploadedBy,
		UploadedByInvitation: d.UploadedByInvitation}
}

type documentRow struct {
	ID                   string         `db:"id"`
	CaseID               string         `db:"case_id"`
	Kind                 string         `db:"kind"`
	Filename             string         `db:"filename"`
	Filetype             string         `db:"filetype"`
	RelativePath         string         `db:"relative_path"`
	Status               string         `db:"status"`
	Size                 sql.NullInt64  `db:"size"`
	SHA256               []byte         `db:"sha256"`
	UploadedBy           sql.NullString `db:"uploaded_by"`
	UploadedByInvitation sql.NullString `db:"uploaded_by_invitation"`
	CreatedAt            time.Time      `db:"created_at"`
	FinishedAt           sql.NullTime   `db:"finished_at"`
	Review               sql.NullString `db:"review"`
	ReviewReason         string         `db:"review_reason"`
	ReviewedBy           sql.NullString `db:"reviewed_by"`
	ReviewedAt           sql.NullTime   `db:"reviewed_at"`
}

const documentColumns = `id, case_id, kind, filename, filetype, relative_path, status, size, sha256, uploaded_by,
	uploaded_by_invitation, created_at, finished_at, review, review_reason, reviewed_by, reviewed_at`

// documentColumnsOf is documentColumns qualified with a table alias.
func documentColumnsOf(alias string) string {
	cols := strings.Split(documentColumns, ",")
	for i, c := range cols {
		cols[i] = alias + "." + strings.TrimSpace(c)
	}
	return strings.Join(cols, ", ")
}

func (r documentRow) value() Document {
	d := Document{ID: r.ID, CaseID: r.CaseID, Kind: so.DocumentKind(r.Kind), Filename: r.Filename, Filetype: r.Filetype,
		RelativePath: r.RelativePath, Status: r.Status,
		SHA256: hex.EncodeToString(r.SHA256), UploadedBy: r.UploadedBy.String,
		UploadedByInvitation: r.UploadedByInvitation.String, CreatedAt: r.CreatedAt}
	if r.Size.Valid {
		d.Size = &r.Size.Int64
	}
	if r.FinishedAt.Valid {
		d.UploadedAt = &r.FinishedAt.Time
	}
	if r.Review.Valid {
		d.Review = &DocumentReview{Decision: Decision(r.Review.String), Reason: r.ReviewReason,
			ReviewedBy: r.ReviewedBy.String, ReviewedAt: r.ReviewedAt.Time}
	}
	return d
}

// Documents returns every document of the case, oldest first. It does not authorize: ask
// access.Policy first, and show a subject only DocumentsFor.
func (c *Cases) Documents(ctx context.Context, caseID string) ([]Document, error) {
	if !so.ValidID(caseID) {
		return nil, so.ErrNotFound
	}
	var rows []documentRow
	if err := c.db.SelectContext(ctx, &rows, `SELECT `+documentColumns+` FROM documents WHERE case_id = $1 ORDER BY created_at, id`, caseID); err != nil {
		return nil, fmt.Errorf("list documents: %w", err)
	}
	out := make([]Document, len(rows))
	for i, r := range rows {
		out[i] = r.value()
	}
	return out, nil
}

// DocumentsFor returns the documents of the case that s can see (access.CanSeeDocument): all of
// them, except for a physician, who sees what their invitation uploaded, and the report, which
// only the reviewers see before it is released. The caller has been allowed
// access.ActionDocumentList on the case.
func (c *Cases) DocumentsFor(ctx context.Context, s access.Subject, caseID string) ([]Document, error) {
	facts, err := c.CaseFacts(ctx, caseID)
	if err != nil {
		return nil, err
	}
	all, err := c.Documents(ctx, caseID)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(d Document) bool { return !access.CanSeeDocument(s, facts, d.Facts()) }), nil
}

// Document returns one document; so.ErrNotFound when there is none.
func (c *Cases) Document(ctx context.Context, id string) (Document, error) {
	var r documentRow
	err := c.stmts.Get(ctx, c.db, nil, &r, `SELECT `+documentColumns+` FROM documents WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return Document{}, so.ErrNotFound
	}
	if err != nil {
		return Document{}, fmt.Errorf("get document: %w", err)
	}
	return r.value(), nil
}

// DocumentFacts tells access.Policy which case a document belongs to and who uploaded it.
func (c *Cases) DocumentFacts(ctx context.Context, id string) (access.DocumentFacts, error) {
	d, err := c.Document(ctx, id)
	if err != nil {
		return access.DocumentFacts{}, err
	}
	return d.Facts(), nil
}
