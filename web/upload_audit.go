package web

import (
	"context"
	"fmt"

	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/upload"
)

// UploadRecorder writes the tus hooks' events to the audit log (it implements upload.Recorder).
type UploadRecorder struct {
	Audit Auditor
}

// RecordUpload commits the event's entry; an error makes the hook fail closed.
func (u UploadRecorder) RecordUpload(ctx context.Context, ev upload.Event) error {
	meta, _ := ctx.Value(requestMetaKey{}).(requestMeta)
	e := audit.Entry{
		Action: ev.Action, ObjectType: "upload", ObjectID: ev.DocumentID, CaseID: ev.CaseID,
		ActorRole: string(ev.Subject.Role), Purpose: purposeOf(ev.Subject),
		ClientIP: meta.ClientIP, UserAgent: meta.UserAgent, RequestID: meta.ID, Reason: ev.Reason,
	}
	if ev.DocumentID != "" {
		e.ObjectType = "document"
	}
	if ev.Subject.Authenticated() || ev.Subject.AccountID != "" || ev.Subject.InvitationID != "" {
		e.ActorID = ev.Subject.Actor()
	}
	if ev.Outcome != nil {
		e.Outcome = audit.OutcomeMinorFailure
	}
	if _, err := u.Audit.Log(ctx, e); err != nil {
		return fmt.Errorf("audit upload event: %w", err)
	}
	return nil
}
