package audit

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/tlog"
)

// Outcome is the FHIR AuditEvent outcome code of an event.
type Outcome int

// The four FHIR R4 AuditEvent outcome codes.
const (
	OutcomeSuccess        Outcome = 0  // the action succeeded
	OutcomeMinorFailure   Outcome = 4  // refused: denied access, invalid request
	OutcomeSeriousFailure Outcome = 8  // the action failed (e.g. storage error)
	OutcomeMajorFailure   Outcome = 12 // the service could not continue
)

// Valid reports whether o is one of the four FHIR codes.
func (o Outcome) Valid() bool {
	return o == OutcomeSuccess || o == OutcomeMinorFailure || o == OutcomeSeriousFailure || o == OutcomeMajorFailure
}

// String returns the code's name: success, minor_failure, serious_failure or major_failure.
func (o Outcome) String() string {
	switch o {
	case OutcomeSuccess:
		return "success"
	case OutcomeMinorFailure:
		return "minor_failure"
	case OutcomeSeriousFailure:
		return "serious_failure"
	case OutcomeMajorFailure:
		return "major_failure"
	}
	return fmt.Sprintf("outcome(%d)", int(o))
}

// Actions recorded by the service. An action names what was attempted; a denial is the same
// action with OutcomeMinorFailure and a Reason.
const (
	ActionLogin              = "auth.login"
	ActionLogout             = "auth.logout"
	ActionUploadCreate       = "upload.create"
	ActionUploadFinish       = "upload.finish"
	ActionUploadReject       = "upload.reject"
	ActionDocumentOpen       = "document.open"
	ActionDocumentDownload   = "document.download"
	ActionDocumentErase      = "document.erase"
	ActionDocumentIdentity   = "document.identity" // admin escrow of a document identity
	ActionConsentSign        = "consent.sign"
	ActionConsentCountersign = "consent.countersign"
	ActionConsentReject      = "consent.reject"
	ActionConsentWithdraw    = "consent.withdraw"
	ActionCaseAssign         = "case.assign"
	ActionCaseList           = "case.list"     // a staff member listed cases (names, questions)
	ActionCaseRead           = "case.read"     // a staff member read a case's record
	ActionDocumentList       = "document.list" // a staff member read a case's document list
	ActionDocumentReview     = "document.review"
	ActionExtraPropose       = "extra.propose"
	ActionExtraApprove       = "extra.approve"
	ActionExtraDecline       = "extra.decline"
	ActionInvitationCreate   = "invitation.create"
	ActionInvitationRevoke   = "invitation.revoke"
	ActionCaseErase          = "case.erase"
	ActionCaseHold           = "case.hold"         // the DPO placed a legal hold
	ActionCaseHoldRelease    = "case.hold_release" // the DPO lifted it
	ActionRetentionRun       = "retention.run"     // a run of the retention job or command (counts only)
	ActionRoleChange         = "account.role_change"
	ActionAccountDisable     = "account.disable"
	ActionAccountCreate      = "account.create"
	ActionAccountTOTPReset   = "account.totp_reset"
	ActionAccountsRead       = "accounts.read" // the admin listed accounts, tokens or keys
	ActionTokenIssue         = "token.issue"
	ActionTokenRevoke        = "token.revoke"
	ActionPasswordLink       = "account.password_link" // the admin mailed a password set-up link
	ActionKeyRotate          = "keys.rotate"
	ActionAuditExport        = "audit.export"
	ActionAuditRead          = "audit.read"
	ActionSubjectExport      = "subject.export" // a subject-access export (GDPR Art. 15), by the person or the DPO
)

// Purposes of use (HL7 v3 PurposeOfUse codes, system http://terminology.hl7.org/CodeSystem/v3-ActReason).
const (
	PurposeTreatment   = "TREAT"     // reviewing a case for the second opinion
	PurposeOperations  = "HOPERAT"   // triage, case management
	PurposePayment     = "HPAYMT"    // recording payment
	PurposeCompliance  = "HCOMPL"    // the DPO reading the audit log
	PurposeSysAdmin    = "HSYSADMIN" // accounts, keys
	PurposePatientReq  = "PATRQT"    // the patient's own request
	PurposeRepresented = "PWATRNY"   // a legal representative acting for the patient
	PurposeLegal       = "HLEGAL"    // erasure, legal hold, the DPO's subject-access export on behalf of a data subject
)

// Reasons explain a denial or failure in one short code.
const (
	ReasonConsent       = "consent"         // no active countersigned consent
	ReasonNotAssigned   = "not_assigned"    // reviewer not assigned to the case
	ReasonNotOwner      = "not_owner"       // not the applicant of the case
	ReasonRole          = "role"            // the role may never do this
	ReasonState         = "state"           // not allowed in the case's current state
	ReasonCredentials   = "bad_credentials" // failed sign-in
	ReasonThrottled     = "throttled"       // too many attempts
	ReasonNotFound      = "not_found"       // object does not exist
	ReasonRejectedType  = "rejected_type"   // upload content not allowed for its kind
	ReasonStorage       = "storage"         // object storage failed
	ReasonAuditDown     = "audit_unavailable"
	ReasonTokenExpired  = "token_expired"
	ReasonCSRF          = "csrf"
	ReasonSessionExpiry = "session_expired"
)

// Entry is one security-relevant event. It holds identifiers only: never document content,
// file names, patient names or other health data.
type Entry struct {
	Seq        int64     `json:"seq"`          // position in the log and the Merkle tree, from 0
	Time       time.Time `json:"time"`         // UTC, microseconds
	ActorID    string    `json:"actor_id"`     // account id, or "invitation:<id>", or "" when unknown
	ActorRole  string    `json:"actor_role"`   // applicant, case_manager, reviewer, dpo, admin, physician, system
	OnBehalfOf string    `json:"on_behalf_of"` // the patient's case when a representative acts, or a principal
	Action     string    `json:"action"`       // e.g. document.open
	ObjectType string    `json:"object_type"`  // e.g. document, case, account, consent, key
	ObjectID   string    `json:"object_id"`
	CaseID     string    `json:"case_id"`
	ClientIP   string    `json:"client_ip"`
	UserAgent  string    `json:"user_agent"`
	RequestID  string    `json:"request_id"`
	Outcome    Outcome   `json:"outcome"`
	Purpose    string    `json:"purpose"` // v3 PurposeOfUse code
	Reason     string    `json:"reason"`  // short code explaining a denial or failure
}

// ErrInvalidEntry is returned for an entry the log refuses (no action, unknown outcome).
var ErrInvalidEntry = errors.New("audit: invalid entry")

// Field limits in bytes. Longer values are cut at a UTF-8 boundary; the stored and hashed
// value is the cut one.
const (
	maxField     = 256
	maxUserAgent = 512
)

// clean makes s storable as PostgreSQL text and bounded: invalid UTF-8 becomes U+FFFD,
// NUL bytes are dropped, and the result is at most max bytes.
func clean(s string, max int) string {
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	s = strings.ReplaceAll(s, "\x00", "")
	if len(s) <= max {
		return s
	}
	cut := max
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut]
}

// normalize returns e as it will be stored: UTC microseconds, cleaned fields.
func normalize(e Entry) (Entry, error) {
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
	for _, f := range []*string{&e.ActorID, &e.ActorRole, &e.OnBehalfOf, &e.Action, &e.ObjectType,
		&e.ObjectID, &e.CaseID, &e.ClientIP, &e.RequestID, &e.Purpose, &e.Reason} {
		*f = clean(*f, maxField)
	}
	e.UserAgent = clean(e.UserAgent, maxUserAgent)
	if e.Action == "" {
		return e, fmt.Errorf("%w: no action", ErrInvalidEntry)
	}
	if !e.Outcome.Valid() {
		return e, fmt.Errorf("%w: outcome %d is not a FHIR outcome code", ErrInvalidEntry, int(e.Outcome))
	}
	return e, nil
}

// canonicalMagic starts every serialized entry; a new serialization gets a new version.
const canonicalMagic = "secondopinion/audit-entry/v1\n"

// Canonical returns the entry's canonical serialization, the bytes its record hash covers:
// the magic line "secondopinion/audit-entry/v1\n", then Seq and Time (Unix microseconds) as
// 8-byte big-endian integers, Outcome as one byte, then the twelve text fields in declaration
// order (ActorID … Reason), each as a uvarint byte length followed by its bytes.
func (e Entry) Canonical() []byte {
	fields := [...]string{e.ActorID, e.ActorRole, e.OnBehalfOf, e.Action, e.ObjectType, e.ObjectID,
		e.CaseID, e.ClientIP, e.UserAgent, e.RequestID, e.Purpose, e.Reason}
	n := len(canonicalMagic) + 17
	for _, f := range fields {
		n += binary.MaxVarintLen64 + len(f)
	}
	b := make([]byte, 0, n)
	b = append(b, canonicalMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Seq)) // #nosec G115 -- seq is never negative (CHECK seq >= 0)
	b = binary.BigEndian.AppendUint64(b, uint64(e.Time.UnixMicro()))
	b = append(b, byte(e.Outcome)) // #nosec G115 -- an outcome is 0, 4, 8 or 12
	for _, f := range fields {
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b
}

// Hash returns the entry's RFC 6962 leaf hash, tlog.RecordHash(e.Canonical()).
func (e Entry) Hash() tlog.Hash {
	return tlog.RecordHash(e.Canonical())
}
