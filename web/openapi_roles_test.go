package web

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/jmoiron/sqlx"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
)

// The roles an operation of the OpenAPI document names are held to the real policy.

// handlerDecides lists the signed-in operations whose roles the handler decides rather than
// one question to the policy: the session's own routes, and the listing, which shows each
// role the cases it may read.
var handlerDecides = []string{"getSession", "beginTOTPEnrolment", "confirmTOTPEnrolment", "listCases"}

// policyActions is the question each other signed-in operation's handler asks the policy.
var policyActions = map[string]access.Action{
	"createCase": access.ActionCaseCreate, "getCase": access.ActionCaseRead,
	"listCaseDocuments": access.ActionDocumentList, "assignReviewer": access.ActionAssignReviewer,
	"reviewDocument": access.ActionDocumentReview, "proposeExtra": access.ActionExtrasPropose,
	"approveExtra": access.ActionExtrasDecide, "declineExtra": access.ActionExtrasDecide,
	"createInvitation": access.ActionInvite, "listInvitations": access.ActionInvite, "revokeInvitation": access.ActionInvite,
	"signConsent": access.ActionConsentSign, "countersignConsent": access.ActionConsentCountersign,
	"withdrawConsent": access.ActionConsentWithdraw, "getConsent": access.ActionConsentRead,
	"listAuditEntries": access.ActionAuditRead, "verifyAuditLog": access.ActionAuditRead,
	"exportAuditLog": access.ActionAuditExport,
	"exportOwnData":  access.ActionDataExport, "exportSubjectData": access.ActionSubjectExport,
	"getDocumentContent": access.ActionDocumentRead, "deleteDocument": access.ActionDocumentDelete,
	"getDocumentPreview": access.ActionDocumentRead,
	"createUpload":       access.ActionDocumentUpload, "createUploadSlash": access.ActionDocumentUpload,
	"listUnfinishedUploads": access.ActionDocumentUpload,
	"listAccounts":          access.ActionAccountsManage, "addAccount": access.ActionAccountsManage,
	"disableAccount": access.ActionAccountsManage, "resetAccountTOTP": access.ActionAccountsManage,
	"listTokens": access.ActionAccountsManage, "issueToken": access.ActionAccountsManage,
	"revokeToken": access.ActionAccountsManage, "listKeys": access.ActionAccountsManage,
	"sendPasswordLink": access.ActionAccountsManage,
	"placeLegalHold":   access.ActionCaseHold, "getLegalHold": access.ActionCaseHold, "releaseLegalHold": access.ActionCaseHold,
	"eraseCase": access.ActionErasure, "getErasure": access.ActionAuditRead,
	"getUploadOffset": access.ActionDocumentUpload, "appendUpload": access.ActionDocumentUpload,
	"terminateUpload": access.ActionDocumentUpload, "overrideUploadMethod": access.ActionDocumentUpload,
}

// Each operation's x-roles are the roles the real policy lets do its action on a case they
// can see (the owner, the invited physician, an assigned reviewer, any staff member).
func TestOpenAPIRolesMatchPolicy(t *testing.T) {
	doc := loadOpenAPI(t)
	policy := realPolicy(t)
	for name, op := range operations(doc) {
		roles := op.Extensions["x-roles"].([]any)
		action, ok := policyActions[op.OperationID]
		if tr, isStep := op.Extensions["x-transition"].(string); isStep {
			action, ok = access.Transitions[tr], true
		}
		switch {
		case ok:
			if got, want := allowedRoles(t, policy, action), strs(roleList(roles)); !slices.Equal(got, want) {
				t.Errorf("%s: x-roles %v, the policy allows %s to %v", name, want, action, got)
			}
		case len(roles) > 0 && !slices.Contains(handlerDecides, op.OperationID):
			t.Errorf("%s (%s): which policy action decides who may call it?", name, op.OperationID)
		}
	}
}

func roleList(vs []any) []so.Role {
	out := make([]so.Role, len(vs))
	for i, v := range vs {
		out[i] = so.Role(v.(string))
	}
	return out
}

// allowedRoles are the roles, in so.Roles order, that the policy lets do action on the sample
// case or on its document.
func allowedRoles(t *testing.T, p *access.Policy, action access.Action) []string {
	t.Helper()
	var out []string
	for _, r := range so.Roles {
		s := subjectFor(r)
		var err error
		switch {
		case slices.Contains(access.DocumentActions, action):
			err = p.AuthorizeDocumentFacts(context.Background(), s, action, sampleDocumentFacts())
		case slices.Contains(access.GlobalActions, action):
			err = p.Authorize(context.Background(), s, action, "")
		default:
			err = p.Authorize(context.Background(), s, action, sampleCaseID)
		}
		switch {
		case err == nil:
			out = append(out, string(r))
		case !errors.Is(err, so.ErrForbidden):
			t.Fatalf("%s as %s: %v", action, r, err)
		}
	}
	return out
}

// subjectFor is a subject of role who can see the sample case and has passed TOTP.
func subjectFor(r so.Role) access.Subject {
	switch r {
	case so.RolePhysician:
		return access.Subject{Role: r, InvitationID: sampleInvitationID, ScopeCaseID: sampleCaseID}
	case so.RoleReviewer:
		return access.Subject{Role: r, AccountID: sampleReviewerID, TOTPSatisfied: true}
	}
	return access.Subject{Role: r, AccountID: sampleAccountID, TOTPSatisfied: true}
}

// sampleDocumentFacts are those of a document the sample case's physician uploaded.
func sampleDocumentFacts() access.DocumentFacts {
	return access.DocumentFacts{ID: sampleDocumentID, CaseID: sampleCaseID, Kind: so.KindCoverLetter,
		UploadedByInvitation: sampleInvitationID}
}

// oneCase is a directory of the sample case (owned by sampleAccountID, reviewed by
// sampleReviewerID) and its physician's document.
type oneCase struct{}

func (oneCase) CaseFacts(_ context.Context, id string) (access.CaseFacts, error) {
	if id != sampleCaseID {
		return access.CaseFacts{}, so.ErrNotFound
	}
	return access.CaseFacts{ID: id, Status: so.StatusInReview, OwnerID: sampleAccountID,
		Reviewers: []string{sampleReviewerID}}, nil
}

func (oneCase) DocumentFacts(context.Context, string) (access.DocumentFacts, error) {
	return sampleDocumentFacts(), nil
}

// noOutbox is never asked: the policy sends no mail.
type noOutbox struct{ access.Outbox }

// realPolicy is access's policy over oneCase. Its database handle never connects: the policy
// reads nothing but the directory.
func realPolicy(t *testing.T) *access.Policy {
	t.Helper()
	db, err := sqlx.Open("postgres", "host=/nonexistent")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	svc, err := access.New(access.Config{DB: db, Directory: oneCase{}, Outbox: noOutbox{},
		PublicURL: "https://so.example.org", TOTPKey: make([]byte, access.TOTPKeyLen),
		Argon2: access.Argon2Params{Memory: 8, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	return svc.Policy
}
