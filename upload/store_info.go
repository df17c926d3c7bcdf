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
