package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	so "github.com/secondopinion/secondopinion"
	"github.com/secondopinion/secondopinion/access"
	"github.com/secondopinion/secondopinion/audit"
	"github.com/secondopinion/secondopinion/cases"
)

// The audit entries about a person, in the words they read: the "who opened my files" page
// (GET /cases/{id}/accesses) and accesses.csv of their export.

// accessActions are the audit actions that have words (page.act.<action with _ for .>); any
// other shows its code.
var accessActions = []string{audit.ActionLogin, audit.ActionLogout, audit.ActionUploadCreate, audit.ActionUploadFinish,
	audit.ActionUploadReject, audit.ActionDocumentOpen, audit.ActionDocumentDownload, audit.ActionDocumentErase,
	audit.ActionDocumentIdentity, audit.ActionConsentSign, audit.ActionConsentCountersign, audit.ActionConsentReject,
	audit.ActionConsentWithdraw, audit.ActionCaseAssign, audit.ActionCaseList, audit.ActionCaseRead,
	audit.ActionDocumentList, audit.ActionDocumentReview, audit.ActionExtraPropose, audit.ActionExtraApprove,
	audit.ActionExtraDecline, audit.ActionInvitationCreate, audit.ActionInvitationRevoke, audit.ActionCaseErase,
	audit.ActionCaseHold, audit.ActionCaseHoldRelease,
	audit.ActionRoleChange, audit.ActionAccountDisable, audit.ActionAccountCreate, audit.ActionAccountTOTPReset,
	audit.ActionPasswordLink, audit.ActionTokenIssue, audit.ActionSubjectExport, "access.denied",
	"case.submit", "case.triage", "case.request_documents", "case.accept", "case.payment", "case.release",
	"case.close", "case.withdraw", "case.refund"}

// accessReasons are the refusal reasons that have words (page.reason.<reason>).
var accessReasons = []string{audit.ReasonConsent, audit.ReasonNotAssigned, audit.ReasonNotOwner, audit.ReasonRole,
	audit.ReasonState, audit.ReasonCredentials, audit.ReasonThrottled, audit.ReasonNotFound, audit.ReasonRejectedType,
	audit.ReasonStorage, audit.ReasonAuditDown, "totp_required", "unauthenticated", "accepted", "rejected"}

// accessRow is one audit entry in words.
type accessRow struct {
	Seq     int64
	Time    time.Time
	Who     string // "You", a staff member's name or email, the invited physician's email, or a role
	Role    string // the actor's role in words
	Action  string
	Object  string
	Outcome string
	Reason  string // why it was refused or failed, in words; "" on success
	Failed  bool
	// ShowRole: the page shows the role beside the name (not for "you", nor for another
	// applicant, whose role is all the page says of them).
	ShowRole bool
}

// actorNames turns audit entries about a person into rows: it knows the person, the names of
// their documents and the emails of the physicians they invited, and looks staff names up once
// each.
type actorNames struct {
	people      People
	self        string   // the person's actor id
	selfObjects []string // the person's account id and email, as account entries name them
	accounts    map[string]string
	invitations map[string]string // "invitation:<id>" → email
	docs        map[string]string // document id → the name the person gave it
}

func newActorNames(people People, ds dataSubject) *actorNames {
	return &actorNames{people: people, self: ds.person.Actor(), selfObjects: ds.about(nil).ObjectIDs,
		accounts: map[string]string{}, invitations: map[string]string{}, docs: map[string]string{}}
}

// displayName is the name a document is shown under: its place in the folder it came with,
// else its file name.
func displayName(d cases.Document) string {
	if d.RelativePath != "" {
		return d.RelativePath
	}
	return d.Filename
}

// optional is message id in l's language, or false when the catalogue has none (no log).
func (l *loc) optional(id string) (string, bool) {
	if l.cat == nil {
		return "", false
	}
	s, err := l.cat.Localize(l.Lang, id, nil)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(s), true
}

// row is e in l's words.
func (n *actorNames) row(ctx context.Context, l *loc, e audit.Entry) (accessRow, error) {
	who, err := n.who(ctx, l, e)
	if err != nil {
		return accessRow{}, err
	}
	r := accessRow{Seq: e.Seq, Time: e.Time, Who: who, Action: e.Action, Object: n.object(ctx, l, e),
		Outcome: l.Enum("outcome", strconv.Itoa(int(e.Outcome))), Failed: e.Outcome != audit.OutcomeSuccess}
	r.ShowRole = e.ActorRole != "" && e.ActorID != n.self && e.ActorRole != string(so.RoleApplicant)
	if e.ActorRole != "" {
		r.Role = e.ActorRole
		if w, ok := l.optional("page.role." + e.ActorRole); ok {
			r.Role = w
		}
	}
	if w, ok := l.optional("page.act." + strings.ReplaceAll(e.Action, ".", "_")); ok {
		r.Action = w
	}
	if e.Reason != "" {
		r.Reason = e.Reason
		if w, ok := l.optional("page.reason." + e.Reason); ok {
			r.Reason = w
		}
	}
	return r, nil
}

// who names the actor of e: the person is "you"; staff are named (their display name, else
// their email); the physician by the email the person invited; another applicant, who has no
// business with the person's data and whose identity is not theirs to learn, by role only.
func (n *actorNames) who(ctx context.Context, l *loc, e audit.Entry) (string, error) {
	switch id := e.ActorID; {
	case id == n.self:
		return l.T("page.accesses.you"), nil
	case strings.HasPrefix(id, "invitation:"):
		if m := n.invitations[id]; m != "" {
			return m, nil
		}
		return l.Enum("role", so.RolePhysician), nil
	case strings.HasPrefix(id, "cli:"):
		return l.T("page.accesses.operator"), nil
	case strings.HasPrefix(id, "account:"):
		role := so.Role(e.ActorRole)
		if !role.Staff() {
			return l.T("page.accesses.other_applicant"), nil
		}
		name, err := n.account(ctx, strings.TrimPrefix(id, "account:"))
		if err != nil || name != "" {
			return name, err
		}
		return l.Enum("role", role), nil
	case id == "" && e.ActorRole == "system":
		return l.T("page.accesses.service"), nil
	}
	return l.T("page.accesses.unknown"), nil
}

// account is a staff account's display name, else its email ("" when there is no such account).
func (n *actorNames) account(ctx context.Context, id string) (string, error) {
	if name, ok := n.accounts[id]; ok {
		return name, nil
	}
	if n.people == nil || !so.ValidID(id) {
		return "", nil
	}
	names, err := n.people.AccountNames(ctx, []string{id})
	if err != nil {
		return "", err
	}
	name := names[id].Name
	if name == "" {
		name = names[id].Email
	}
	n.accounts[id] = name
	return name, nil
}

// object names what e was about.
func (n *actorNames) object(ctx context.Context, l *loc, e audit.Entry) string {
	switch e.ObjectType {
	case "document", "upload":
		if e.ObjectID == "" { // an upload refused or begun before it had an id
			return l.T("page.accesses.obj_upload")
		}
		if name, ok := n.docs[e.ObjectID]; ok {
			return l.T("page.accesses.obj_document", "Name", name)
		}
		return l.T("page.accesses.obj_document_other")
	case "case", "consent", "session", "extra", "invitation", "token":
		return l.T("page.accesses.obj_" + e.ObjectType)
	case "account":
		for _, id := range n.selfObjects {
			if strings.EqualFold(e.ObjectID, id) {
				return l.T("page.accesses.obj_account_you")
			}
		}
		if name, err := n.account(ctx, e.ObjectID); err == nil && name != "" { // a specialist assigned
			return l.T("page.accesses.obj_person", "Name", name)
		}
		return l.T("page.accesses.obj_account")
	}
	if strings.HasPrefix(e.ObjectType, "route:") || strings.HasPrefix(e.ObjectType, "page:") {
		return l.T("page.accesses.obj_page")
	}
	return e.ObjectType
}

// accessPageLimit is how many entries the accesses page shows, newest first; the export has
// them all.
const accessPageLimit = 500

// accessesPage is the accesses page's data.
type accessesPage struct {
	CaseID  string
	Patient string
	Rows    []accessRow
	More    bool // older entries exist: they are in the export
}

// GET /cases/{id}/accesses: "who opened my files": every audit entry of the applicant's own
// request, newest first, in their words. Only the applicant who owns the request (the case's
// visibility first: another's request is 404; staff, who read the audit log itself, 403).
func (s *Server) pageAccesses(c *gin.Context) {
	ctx, subj, id := c.Request.Context(), subjectOf(c), c.Param("id")
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionCaseRead, id); err != nil {
		s.pageError(c, err)
		return
	}
	if err := s.cfg.Policy.Authorize(ctx, subj, access.ActionDataExport, ""); err != nil {
		s.pageError(c, err)
		return
	}
	if s.cfg.Accesses == nil {
		s.pageError(c, so.ErrNotFound)
		return
	}
	v, err := s.cfg.Cases.View(ctx, subj, id)
	if err == nil && v.Redacted() {
		err = so.ErrNotFound
	}
	if err != nil {
		s.pageError(c, err)
		return
	}
	ds := dataSubject{person: subj, account: access.Account{ID: subj.AccountID, Email: subj.Email}}
	names := newActorNames(s.cfg.People, ds)
	docs, err := s.cfg.Cases.DocumentsFor(ctx, subj, id)
	if err != nil {
		s.pageError(c, err)
		return
	}
	for _, d := range docs {
		names.docs[d.ID] = displayName(d)
	}
	if s.cfg.Invitations != nil {
		invs, err := s.cfg.Invitations.List(ctx, subj, id)
		if err != nil {
			s.pageError(c, err)
			return
		}
		for _, inv := range invs {
			names.invitations["invitation:"+inv.ID] = inv.Email
		}
	}
	entries, more, err := s.cfg.Accesses.LatestAbout(ctx, audit.About{CaseIDs: []string{id}}, accessPageLimit)
	if err != nil {
		s.pageError(c, err)
		return
	}
	p := s.newPage(c, "page.accesses.title", v.Language)
	ap := accessesPage{CaseID: id, Patient: v.Patient.GivenName + " " + v.Patient.FamilyName, More: more}
	for _, e := range entries {
		r, err := names.row(ctx, p.L, e)
		if err != nil {
			s.pageError(c, err)
			return
		}
		ap.Rows = append(ap.Rows, r)
	}
	p.Data = ap
	s.render(c, http.StatusOK, "accesses", p)
}
