package cases

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/lib/pq"

	"github.com/secondopinion/secondopinion/access"
)

// NewDocument is a finished, verified upload entering the registry.
type NewDocument struct {
	ID                   string
	CaseID               string
	Kind                 so.DocumentKind
	Filename             string // sanitized display name
	Filetype             string // the client's claim
	RelativePath         string // sanitized folder path of a file uploaded with its folder, or empty
	Language             string // optional
	DocumentDate         *time.Time
	UploadedBy           string // account id, or empty
	UploadedByInvitation string // invitation id, or empty
	ObjectKey            string
	Size                 int64 // plaintext bytes
	EncryptedSize        int64
	SHA256               [32]byte
	SniffedType          string
	Flags                []string
}

// Register records a finished document as available. Registering the same document again
// (the same id, object and SHA-256: an upload whose finishing is retried) changes nothing; an
// id registered for another object is an error.
func (c *Cases) Register(ctx context.Context, d NewDocument) error {
	if d.Flags == nil {
		d.Flags = []string{}
	}
	res, err := c.db.ExecContext(ctx, `INSERT INTO documents (id, case_id, kind, filename, filetype, language,
		document_date, uploaded_by, uploaded_by_invitation, status, size, encrypted_size, sha256, sniffed_type, flags,
		object_key, finished_at, relative_path)
		VALUES ($1, $2, $3, $4, $5, NULLIF($6, ''), $7, NULLIF($8, '')::uuid, NULLIF($9, '')::uuid, 'available',
		$10, $11, $12, $13, $14, $15, $16, $17)
		ON CONFLICT (id) DO NOTHING`,
		d.ID, d.CaseID, d.Kind, d.Filename, d.Filetype, d.Language, d.DocumentDate, d.UploadedBy,
		d.UploadedByInvitation, d.Size, d.EncryptedSize, d.SHA256[:], d.SniffedType, pq.StringArray(d.Flags),
		d.ObjectKey, c.Now(), d.RelativePath)
	if err != nil {
		return fmt.Errorf("register document: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return err
	}
	var same bool
	err = c.db.GetContext(ctx, &same, `SELECT object_key = $2 AND sha256 = $3 FROM documents WHERE id = $1`,
		d.ID, d.ObjectKey, d.SHA256[:])
	if err != nil || !same {
		return fmt.Errorf("register document: id %s is registered for another object (%v)", d.ID, err)
	}
	return nil
}

// DocumentBytes is the plaintext size of the case's registered documents (the upload path adds
// its unfinished uploads to check the case's quota).
func (c *Cases) DocumentBytes(ctx context.Context, caseID string) (int64, error) {
	var n int64
	err := c.db.GetContext(ctx, &n, `SELECT coalesce(sum(size), 0) FROM documents WHERE case_id = $1`, caseID)
	if err != nil {
		return 0, fmt.Errorf("case usage: %w", err)
	}
	return n, nil
}

// Stored is where and how a document's ciphertext is stored.
type Stored struct {
	ObjectKey     string
	EncryptedSize int64
	SniffedType   string
	Flags         []string
}

// StoredObject returns the storage facts of an available document; so.ErrNotFound otherwise.
func (c *Cases) StoredObject(ctx context.Context, id string) (Stored, error) {
	var r storedRow
	err := c.db.GetContext(ctx, &r, `SELECT object_key, encrypted_size, sniffed_type, flags FROM documents
		WHERE id = $1 AND status = 'available'`, id)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && r.value() == nil) {
		return Stored{}, so.ErrNotFound
	}
	if err != nil {
		return Stored{}, fmt.Errorf("stored object: %w", err)
	}
	return *r.value(), nil
}

// storedRow holds the storage columns of a documents row.
type storedRow struct {
	Key   string         `db:"object_key"`
	Size  sql.NullInt64  `db:"encrypted_size"`
	Type  sql.NullString `db:"sniffed_type"`
	Flags pq.StringArray `db:"flags"`
}

// value is the row's storage facts; nil while the document has no stored object.
func (r storedRow) value() *Stored {
	if !r.Size.Valid {
		return nil
	}
	return &Stored{ObjectKey: r.Key, EncryptedSize: r.Size.Int64, SniffedType: r.Type.String, Flags: r.Flags}
}

// DocumentRecord is what a request that opens or erases a document needs of the registry.
type DocumentRecord struct {
	Document
	Stored *Stored          // nil unless the document is available
	Case   access.CaseFacts // the facts of the document's case, for access.Policy
}

// Facts is what access.Policy needs to know about the document, with its case's facts.
func (r DocumentRecord) Facts() access.DocumentFacts {
	f := r.Document.Facts()
	c := r.Case
	f.Case = &c
	return f
}

var storedDocumentQuery = `SELECT ` + documentColumnsOf("d") + `, d.object_key, d.encrypted_size, d.sniffed_type,
	d.flags, c.owner_id, c.status AS case_status, ARRAY(SELECT a.reviewer_id::text FROM assignments a
		WHERE a.case_id = c.id AND a.reviewer_id IS NOT NULL) AS reviewers
	FROM documents d JOIN cases c ON c.id = d.case_id WHERE d.id = $1 AND c.erasing_at IS NULL`

// StoredDocument returns a document, its storage facts when it is available (where
// StoredObject answers so.ErrNotFound otherwise) and its case's facts (as CaseFacts), read in
// one query. so.ErrNotFound when there is no document.
func (c *Cases) StoredDocument(ctx context.Context, id string) (DocumentRecord, error) {
	var r struct {
		documentRow
		storedRow
		OwnerID    string         `db:"owner_id"`
		CaseStatus string         `db:"case_status"`
		Reviewers  pq.StringArray `db:"reviewers"`
	}
	err := c.stmts.Get(ctx, c.db, nil, &r, storedDocumentQuery, id)
	if errors.Is(err, sql.ErrNoRows) {
		return DocumentRecord{}, so.ErrNotFound
	}
	if err != nil {
		return DocumentRecord{}, fmt.Errorf("get document: %w", err)
	}
	rec := DocumentRecord{Document: r.documentRow.value(),
		Case: access.CaseFacts{ID: r.CaseID, OwnerID: r.OwnerID, Status: so.CaseStatus(r.CaseStatus),
			Reviewers: []string(r.Reviewers)}}
	if rec.Status == "available" {
		rec.Stored = r.storedRow.value()
	}
	return rec, nil
}

// Forget deletes a document's registry row (after its key was shredded and its object deleted).
func (c *Cases) Forget(ctx context.Context, id string) error {
	res, err := c.db.ExecContext(ctx, `DELETE FROM documents WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("forget document: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return so.ErrNotFound
	}
	return nil
}
