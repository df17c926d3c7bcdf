package upload

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tus/tusd/v2/pkg/handler"
)

// UploadInfo is what the web layer checks before it lets a request touch an existing upload:
// whose it is, where it goes, and until when it may be resumed.
type UploadInfo struct {
	CaseID             string
	Kind               string
	UploaderAccount    string // set for account holders
	UploaderInvitation string // set for physicians
	ExpiresAt          time.Time
	Finished           bool
}

// Info returns the upload's UploadInfo; handler.ErrNotFound when there is no such upload.
func (s *Store) Info(ctx context.Context, id string) (UploadInfo, error) {
	var r struct {
		CaseID     sql.NullString `db:"case_id"`
		Kind       sql.NullString `db:"kind"`
		Account    sql.NullString `db:"account"`
		Invitation sql.NullString `db:"invitation"`
		ExpiresAt  time.Time      `db:"expires_at"`
		FinishedAt sql.NullTime   `db:"finished_at"`
	}
	err := s.cfg.DB.GetContext(ctx, &r, `SELECT metadata->>'case_id' AS case_id, metadata->>'kind' AS kind,
		metadata->>'`+metaUploaderAccount+`' AS account, metadata->>'`+metaUploaderInvitation+`' AS invitation,
		expires_at, finished_at FROM uploads WHERE id = $1`, id)
	if errors.Is(err, sql.ErrNoRows) {
		return UploadInfo{}, handler.ErrNotFound
	}
	if err != nil {
		return UploadInfo{}, fmt.Errorf("upload: info: %w", err)
	}
	return UploadInfo{CaseID: r.CaseID.String, Kind: r.Kind.String, UploaderAccount: r.Account.String,
		UploaderInvitation: r.Invitation.String, ExpiresAt: r.ExpiresAt, Finished: r.FinishedAt.Valid}, nil
}

// PendingBytes is the declared length of the case's unfinished uploads, counted against the
// case's quota while they run.
func (s *Store) PendingBytes(ctx context.Context, caseID string) (int64, error) {
	var n int64
	err := s.cfg.DB.GetContext(ctx, &n, `SELECT coalesce(sum(size), 0) FROM uploads WHERE finished_at IS NULL
		AND metadata->>'case_id' = $1::text`, caseID)
	if err != nil {
		return 0, fmt.Errorf("pending uploads: %w", err)
	}
	return n, nil
}

// Unfinished is an upload its uploader may still resume: what a page shows to find the file
// again after a reload, and how much of it is stored.
type Unfinished struct {
	ID           string    `json:"id"`
	Kind         string    `json:"kind"`
	Filename     string    `json:"filename"`
	RelativePath string    `json:"relative_path,omitempty"`
	Fingerprint  string    `json:"fingerprint,omitempty"`
	Size         *int64    `json:"size"` // nil while the length is deferred
	Offset       int64     `json:"offset"`
	ExpiresAt    time.Time `json:"expires_at"`
}

// maxUnfinished bounds one listing: each entry asks MinIO for its stored parts.
const maxUnfinished = 500

// Unfinished lists the uploads to the case that the uploader (an account, or a physician's
// invitation) began and has not finished, and that have not expired, oldest first, with the
// bytes stored of each. It does not authorize: the caller may see the case.
func (s *Store) Unfinished(ctx context.Context, caseID, account, invitation string) ([]Unfinished, error) {
	var ids []string
	err := s.cfg.DB.SelectContext(ctx, &ids, `SELECT id FROM uploads WHERE finished_at IS NULL AND expires_at > $1
		AND metadata->>'case_id' = $2::text
		AND (metadata->>'`+metaUploaderAccount+`' = NULLIF($3, '') OR metadata->>'`+metaUploaderInvitation+`' = NULLIF($4, ''))
		ORDER BY created_at, id LIMIT `+fmt.Sprint(maxUnfinished), s.cfg.Now(), caseID, account, invitation)
	if err != nil {
		return nil, fmt.Errorf("upload: unfinished uploads: %w", err)
	}
	out := make([]Unfinished, 0, len(ids))
	for _, id := range ids {
		u, err := s.GetUpload(ctx, id)
		if errors.Is(err, handler.ErrNotFound) {
			continue // finished, expired or terminated meanwhile
		}
		if err != nil {
			return nil, err
		}
		info, err := u.GetInfo(ctx)
		if err != nil {
			return nil, fmt.Errorf("upload: unfinished upload %s: %w", id, err)
		}
		if info.Offset == info.Size && !info.SizeIsDeferred {
			continue // its last PATCH is finishing it
		}
		md := info.MetaData
		un := Unfinished{ID: id, Kind: md["kind"], Filename: md["filename"], RelativePath: md["relative_path"],
			Fingerprint: md["fingerprint"], Offset: info.Offset, ExpiresAt: u.(*storeUpload).row.ExpiresAt}
		if !info.SizeIsDeferred {
			un.Size = &info.Size
		}
		out = append(out, un)
	}
	return out, nil
}
