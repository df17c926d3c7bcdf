package upload

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	so "github.com/secondopinion/secondopinion"

	"github.com/tus/tusd/v2/pkg/handler"

	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/cases"
)

// Metadata keys the server sets on every upload, after the client's are validated. A client
// cannot set them: the hook replaces the whole metadata map.
const (
	metaUploaderAccount    = "uploader_account"
	metaUploaderInvitation = "uploader_invitation"
	metaUploaderRole       = "uploader_role"
	// MetaMaxSize bounds an upload whose length is deferred: the kind's limit or the room
	// left in the case, whichever is smaller, when the upload was created.
	MetaMaxSize = "max_size"
)

// Authorizer decides whether a subject may upload a kind of document to a case (*access.Policy).
type Authorizer interface {
	AuthorizeUpload(ctx context.Context, s access.Subject, caseID string, kind so.DocumentKind) error
}

// Registry is the document registry (*cases.Cases).
type Registry interface {
	// UploadAllowed says whether the case takes a document of kind from role in its current
	// state (a so.EState error when not).
	UploadAllowed(ctx context.Context, caseID string, role so.Role, kind so.DocumentKind) error
	// DocumentBytes is the plaintext size of the case's registered documents.
	DocumentBytes(ctx context.Context, caseID string) (int64, error)
	Register(ctx context.Context, d cases.NewDocument) error
}

// Pending tells the bytes of a case's unfinished uploads at their declared length (*Store).
type Pending interface {
	PendingBytes(ctx context.Context, caseID string) (int64, error)
}

// Event is an upload event for the audit log. It names no file and no content.
type Event struct {
	Action     string // "upload.create", "upload.finish", "upload.reject"
	Subject    access.Subject
	CaseID     string
	DocumentID string // the upload id, which becomes the document id
	Kind       so.DocumentKind
	Outcome    error  // nil on success; the refusal otherwise
	Reason     string // a short code for a refusal (not_found, invalid_metadata, file_type_not_allowed, ...)
}

// Recorder writes upload events to the audit log before the answer is sent. An error fails
// the request closed.
type Recorder interface {
	RecordUpload(ctx context.Context, e Event) error
}

// Hooks are the tusd callbacks that guard uploads: PreCreate authorizes and validates,
// Finish (the Store's OnFinish) inspects the content and registers the document.
type Hooks struct {
	Policy   Authorizer
	Registry Registry
	Pending  Pending
	Recorder Recorder
	Limits   Limits
	Logger   *slog.Logger
	Now      func() time.Time
}

func (h *Hooks) now() time.Time {
	if h.Now != nil {
		return h.Now()
	}
	return time.Now()
}

// PreCreate is tusd's PreUploadCreateCallback. The caller must be allowed to upload that kind
// to that case (an invisible case answers 404 like a missing one); the metadata must be valid;
// the size must fit the kind's limit and the case's quota. The stored metadata is the
// validated, sanitized form plus who uploads.
func (h *Hooks) PreCreate(ev handler.HookEvent) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	ctx := ev.Context
	s := access.SubjectFrom(ctx)
	if !s.Authenticated() {
		return handler.HTTPResponse{}, handler.FileInfoChanges{}, handler.NewError("unauthenticated", "sign in first", http.StatusUnauthorized)
	}
	md, err := ParseMetadataAt(ev.Upload.MetaData, h.now())
	if err != nil {
		return h.refuse(ctx, s, "", "", err)
	}
	if err := h.Policy.AuthorizeUpload(ctx, s, md.CaseID, md.Kind); err != nil {
		return h.refuse(ctx, s, md.CaseID, md.Kind, err)
	}
	if err := h.Registry.UploadAllowed(ctx, md.CaseID, s.Role, md.Kind); err != nil {
		return h.refuse(ctx, s, md.CaseID, md.Kind, err)
	}
	used, err := h.caseUsage(ctx, md.CaseID)
	if err != nil {
		return h.refuse(ctx, s, md.CaseID, md.Kind, err)
	}
	if err := h.Limits.Check(md.Kind, ev.Upload.Size, ev.Upload.SizeIsDeferred, used); err != nil {
		return h.refuse(ctx, s, md.CaseID, md.Kind, err)
	}
	meta := handler.MetaData{
		"case_id": md.CaseID, "kind": string(md.Kind), "filename": md.Filename, "filetype": md.Filetype,
	}
	if md.Language != "" {
		meta["language"] = md.Language
	}
	if !md.DocumentDate.IsZero() {
		meta["document_date"] = md.DocumentDate.Format(time.DateOnly)
	}
	if md.RelativePath != "" {
		meta["relative_path"] = md.RelativePath
	}
	if md.Fingerprint != "" {
		meta["fingerprint"] = md.Fingerprint
	}
	meta[metaUploaderRole] = string(s.Role)
	meta[MetaMaxSize] = strconv.FormatInt(h.Limits.Remaining(md.Kind, used), 10)
	if s.Role == so.RolePhysician {
		meta[metaUploaderInvitation] = s.InvitationID
	} else {
		meta[metaUploaderAccount] = s.AccountID
	}
	if h.Recorder != nil {
		if err := h.Recorder.RecordUpload(ctx, Event{Action: "upload.create", Subject: s, CaseID: md.CaseID, Kind: md.Kind}); err != nil {
			return handler.HTTPResponse{}, handler.FileInfoChanges{}, h.unavailable(ctx, err)
		}
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{MetaData: meta}, nil
}

// stillAllowed asks again, when an upload finishes, what PreCreate asked when it began: may
// the uploader upload this kind to this case, and does the case take it in its current state.
// A refusal is a rejection (the upload is erased and the uploader told why); other errors fail
// the request.
func (h *Hooks) stillAllowed(ctx context.Context, uploader access.Subject, caseID string, kind so.DocumentKind) (*RejectError, error) {
	uploader.TOTPSatisfied = true // passed when the upload was created
	err := h.Policy.AuthorizeUpload(ctx, uploader, caseID, kind)
	if err == nil {
		err = h.Registry.UploadAllowed(ctx, caseID, uploader.Role, kind)
	}
	if err == nil {
		return nil, nil
	}
	switch so.ErrorCode(err) {
	case so.EState, so.EConflict:
		return &RejectError{Status: http.StatusConflict, Code: "state",
			Message: "the case no longer takes this document: it moved on while the upload ran"}, nil
	case so.ENotFound, so.EForbidden:
		return &RejectError{Status: http.StatusForbidden, Code: "forbidden",
			Message: "you may no longer upload this document to this case"}, nil
	}
	// Not a refusal (the database or the consent gate could not answer): keep the upload,
	// so that finishing it again can succeed.
	return nil, fmt.Errorf("authorize finished upload: %w", err)
}

// caseUsage is the bytes the case holds: its documents and its unfinished uploads.
func (h *Hooks) caseUsage(ctx context.Context, caseID string) (int64, error) {
	docs, err := h.Registry.DocumentBytes(ctx, caseID)
	if err != nil {
		return 0, err
	}
	var pending int64
	if h.Pending != nil {
		if pending, err = h.Pending.PendingBytes(ctx, caseID); err != nil {
			return 0, err
		}
	}
	return docs + pending, nil
}

// refuse audits a refused creation and answers it.
func (h *Hooks) refuse(ctx context.Context, s access.Subject, caseID string, kind so.DocumentKind, cause error) (handler.HTTPResponse, handler.FileInfoChanges, error) {
	answer, reason := tusAnswer(cause)
	if answer.HTTPResponse.StatusCode >= 500 {
		h.log().ErrorContext(ctx, "upload creation failed", "err", cause)
	}
	if h.Recorder != nil {
		if err := h.Recorder.RecordUpload(ctx, Event{Action: "upload.create", Subject: s, CaseID: caseID, Kind: kind, Outcome: cause, Reason: reason}); err != nil {
			return handler.HTTPResponse{}, handler.FileInfoChanges{}, h.unavailable(ctx, err)
		}
	}
	return handler.HTTPResponse{}, handler.FileInfoChanges{}, answer
}

// tusAnswer maps a refusal to what the uploader is told, and a reason code for the audit log.
func tusAnswer(err error) (handler.Error, string) {
	var rej *RejectError
	switch {
	case errors.As(err, &rej):
		return rej.TusError(), rej.Code
	case errors.Is(err, so.ErrNotFound):
		return handler.NewError("not_found", "no such case", http.StatusNotFound), "not_found"
	case errors.Is(err, so.ErrTOTPRequired):
		return handler.NewError("totp_required", "enrol and pass the second factor first", http.StatusForbidden), "totp_required"
	case errors.Is(err, so.ErrForbidden):
		return handler.NewError("forbidden", "you may not upload this kind of document to this case", http.StatusForbidden), "forbidden"
	case errors.Is(err, so.ErrUnauthenticated):
		return handler.NewError("unauthenticated", "sign in first", http.StatusUnauthorized), "unauthenticated"
	case errors.Is(err, so.ErrState):
		return handler.NewError("state", "the case does not take this document in its current state", http.StatusConflict), "state"
	case so.ErrorCode(err) == so.EConflict:
		return handler.NewError("conflict", err.Error(), http.StatusConflict), "precondition"
	case errors.Is(err, so.ErrUnavailable):
		return handler.NewError("unavailable", "temporarily unavailable; try again", http.StatusServiceUnavailable), "unavailable"
	default:
		return handler.NewError("internal", "internal error", http.StatusInternalServerError), "internal"
	}
}

// unavailable fails closed when the audit log cannot record the event.
func (h *Hooks) unavailable(ctx context.Context, err error) error {
	h.log().ErrorContext(ctx, "audit log unavailable; upload refused", "err", err)
	return handler.NewError("unavailable", "temporarily unavailable; try again", http.StatusServiceUnavailable)
}

func (h *Hooks) log() *slog.Logger {
	if h.Logger != nil {
		return h.Logger
	}
	return slog.New(slog.DiscardHandler)
}

// Finish is the Store's OnFinish: it inspects the verified plaintext through its random-access
// reader (sniffed type against the kind's allowlist, archives, active PDF content) and
// registers the document. A rejection erases the upload and tells the uploader why.
func (h *Hooks) Finish(ctx context.Context, f FinishedUpload) error {
	md := f.MetaData
	uploader := access.Subject{Role: so.Role(md[metaUploaderRole]), AccountID: md[metaUploaderAccount],
		InvitationID: md[metaUploaderInvitation]}
	if uploader.InvitationID != "" {
		uploader.Role, uploader.ScopeCaseID = so.RolePhysician, md["case_id"]
	}
	ev := Event{Action: "upload.finish", Subject: uploader, CaseID: md["case_id"], DocumentID: f.ID, Kind: so.DocumentKind(md["kind"])}
	v, err := Inspect(ctx, f.Content, f.Size, so.DocumentKind(md["kind"]))
	if err != nil {
		return fmt.Errorf("inspect upload: %w", err)
	}
	if v.Reject == nil {
		// The case may have moved on, or the uploader lost access, since the upload began.
		if v.Reject, err = h.stillAllowed(ctx, uploader, ev.CaseID, ev.Kind); err != nil {
			return err
		}
	}
	if v.Reject != nil {
		ev.Action, ev.Outcome, ev.Reason = "upload.reject", v.Reject, v.Reject.Code
		if h.Recorder != nil {
			if err := h.Recorder.RecordUpload(ctx, ev); err != nil {
				return h.unavailable(ctx, err)
			}
		}
		return v.Reject.TusError()
	}
	doc := cases.NewDocument{
		ID: f.ID, CaseID: md["case_id"], Kind: so.DocumentKind(md["kind"]), Filename: md["filename"], Filetype: md["filetype"],
		RelativePath: md["relative_path"],
		Language:     md["language"], UploadedBy: uploader.AccountID, UploadedByInvitation: uploader.InvitationID,
		ObjectKey: f.ObjectKey, Size: f.Size, EncryptedSize: f.EncryptedSize, SHA256: f.SHA256,
		SniffedType: v.Type, Flags: v.Flags,
	}
	if d, err := time.Parse(time.DateOnly, md["document_date"]); err == nil {
		doc.DocumentDate = &d
	}
	if h.Recorder != nil {
		if err := h.Recorder.RecordUpload(ctx, ev); err != nil {
			return h.unavailable(ctx, err)
		}
	}
	if err := h.Registry.Register(ctx, doc); err != nil {
		return fmt.Errorf("register document: %w", err)
	}
	return nil
}
