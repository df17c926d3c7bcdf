package audit

import (
	"context"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// CSVHeader is the header row of ExportCSV, one column per Entry field plus the entry's
// record hash (hex), which ties each row to the Merkle tree.
var CSVHeader = []string{"seq", "recorded", "actor_id", "actor_role", "on_behalf_of", "action", "object_type",
	"object_id", "case_id", "client_ip", "user_agent", "request_id", "outcome", "purpose", "reason", "record_hash"}

// ExportCSV writes the entries matching f (oldest first, Before and Limit ignored) as RFC 4180
// CSV with CRLF line ends and the CSVHeader row. A text cell starting with =, +, -, @, tab
// or CR is prefixed with a single quote so spreadsheets do not run it as a formula; the
// record_hash column is computed from the unprefixed values.
func (r *Reader) ExportCSV(ctx context.Context, w io.Writer, f Filter) error {
	cw := csv.NewWriter(w)
	cw.UseCRLF = true
	if err := cw.Write(CSVHeader); err != nil {
		return fmt.Errorf("audit: export csv: %w", err)
	}
	err := r.Each(ctx, f, func(e Entry) error {
		h := e.Hash()
		row := []string{strconv.FormatInt(e.Seq, 10), e.Time.Format(timeFormat)}
		for _, s := range []string{e.ActorID, e.ActorRole, e.OnBehalfOf, e.Action, e.ObjectType, e.ObjectID,
			e.CaseID, e.ClientIP, e.UserAgent, e.RequestID} {
			row = append(row, csvSafe(s))
		}
		row = append(row, strconv.Itoa(int(e.Outcome)), csvSafe(e.Purpose), csvSafe(e.Reason), hex.EncodeToString(h[:]))
		return cw.Write(row)
	})
	cw.Flush()
	if err == nil {
		err = cw.Error()
	}
	if err != nil {
		return fmt.Errorf("audit: export csv: %w", err)
	}
	return nil
}

// timeFormat is RFC 3339 in UTC with microseconds, valid as a FHIR instant.
const timeFormat = "2006-01-02T15:04:05.000000Z07:00"

func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// ExportFHIR writes the entries matching f (oldest first, Before and Limit ignored) as FHIR
// R4 AuditEvent resources following IHE BALP: one JSON resource per line (NDJSON), or, if
// bundle is true, one Bundle of type collection whose entries' fullUrl is BundleFullURL (a
// Bundle without entries has no entry element: FHIR forbids empty arrays).
func (r *Reader) ExportFHIR(ctx context.Context, w io.Writer, f Filter, bundle bool) error {
	observer := r.Observer
	if observer == "" {
		observer = "secondopinion"
	}
	sep := `,"entry":[`
	if bundle {
		if _, err := io.WriteString(w, `{"resourceType":"Bundle","type":"collection"`); err != nil {
			return fmt.Errorf("audit: export fhir: %w", err)
		}
	}
	err := r.Each(ctx, f, func(e Entry) error {
		b, err := json.Marshal(NewAuditEvent(e, observer))
		if err != nil {
			return err
		}
		if bundle {
			_, err = fmt.Fprintf(w, `%s{"fullUrl":%q,"resource":%s}`, sep, BundleFullURL(e), b)
			sep = ","
		} else {
			_, err = fmt.Fprintf(w, "%s\n", b)
		}
		return err
	})
	if err == nil && bundle {
		end := "}\n"
		if sep == "," { // there was an entry
			end = "]}\n"
		}
		_, err = io.WriteString(w, end)
	}
	if err != nil {
		return fmt.Errorf("audit: export fhir: %w", err)
	}
	return nil
}

// BundleFullURL is the fullUrl of e's AuditEvent in an exported Bundle, which FHIR R4 requires
// in a collection: "urn:uuid:" and a version 8 UUID (RFC 9562) made of the first 16 bytes of
// the entry's record hash, less the 6 version and variant bits. It is unique to the entry, the
// same in every export, and ties the Bundle entry to the Merkle tree leaf `audit verify` checks.
func BundleFullURL(e Entry) string {
	h := e.Hash()
	var u [16]byte
	copy(u[:], h[:16])
	u[6] = u[6]&0x0f | 0x80 // version 8
	u[8] = u[8]&0x3f | 0x80 // variant 10
	return fmt.Sprintf("urn:uuid:%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// FHIR code systems used in AuditEvent.
const (
	sysEventType   = "http://terminology.hl7.org/CodeSystem/audit-event-type"
	sysDICOM       = "http://dicom.nema.org/resources/ontology/DCM"
	sysRESTful     = "http://hl7.org/fhir/restful-interaction"
	sysPurpose     = "http://terminology.hl7.org/CodeSystem/v3-ActReason"
	sysSourceType  = "http://terminology.hl7.org/CodeSystem/security-source-type"
	sysEntityType  = "http://terminology.hl7.org/CodeSystem/audit-entity-type"
	sysObjectRole  = "http://terminology.hl7.org/CodeSystem/object-role"
	sysBALPEntity  = "https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType"
	balpProfile    = "https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit."
	urnCase        = "urn:secondopinion:case"
	urnAccount     = "urn:secondopinion:account"
	urnObjectTypes = "urn:secondopinion:"
	urnAction      = "urn:secondopinion:action" // the log's own action, e.g. case.hold
)

// Coding is a FHIR Coding.
type Coding struct {
	System  string `json:"system,omitempty"`
	Code    string `json:"code,omitempty"`
	Display string `json:"display,omitempty"`
}

// CodeableConcept is a FHIR CodeableConcept.
type CodeableConcept struct {
	Coding []Coding `json:"coding,omitempty"`
	Text   string   `json:"text,omitempty"`
}

// Identifier is a FHIR Identifier.
type Identifier struct {
	System string `json:"system,omitempty"`
	Value  string `json:"value,omitempty"` // FHIR forbids empty strings (security review, finding 11)
}

// Reference is a FHIR Reference.
type Reference struct {
	Reference  string      `json:"reference,omitempty"`
	Type       string      `json:"type,omitempty"`
	Identifier *Identifier `json:"identifier,omitempty"`
	Display    string      `json:"display,omitempty"`
}

// AuditEvent is a FHIR R4 AuditEvent, the subset IHE BALP uses.
type AuditEvent struct {
	ResourceType   string            `json:"resourceType"`
	ID             string            `json:"id"`
	Meta           *Meta             `json:"meta,omitempty"`
	Type           Coding            `json:"type"`
	Subtype        []Coding          `json:"subtype,omitempty"`
	Action         string            `json:"action,omitempty"`
	Recorded       string            `json:"recorded"`
	Outcome        string            `json:"outcome"`
	OutcomeDesc    string            `json:"outcomeDesc,omitempty"`
	PurposeOfEvent []CodeableConcept `json:"purposeOfEvent,omitempty"`
	Agent          []AuditAgent      `json:"agent"`
	Source         AuditSource       `json:"source"`
	Entity         []AuditEntity     `json:"entity,omitempty"`
}

// Meta is a FHIR Meta.
type Meta struct {
	Profile []string `json:"profile,omitempty"`
}

// AuditAgent is AuditEvent.agent.
type AuditAgent struct {
	Type      *CodeableConcept  `json:"type,omitempty"`
	Role      []CodeableConcept `json:"role,omitempty"`
	Who       *Reference        `json:"who,omitempty"`
	Requestor bool              `json:"requestor"`
	Network   *AuditNetwork     `json:"network,omitempty"`
}

// AuditNetwork is AuditEvent.agent.network; Type "2" is an IP address.
type AuditNetwork struct {
	Address string `json:"address"`
	Type    string `json:"type"`
}

// AuditSource is AuditEvent.source.
type AuditSource struct {
	Observer Reference `json:"observer"`
	Type     []Coding  `json:"type,omitempty"`
}

// AuditEntity is AuditEvent.entity.
type AuditEntity struct {
	What *Reference `json:"what,omitempty"`
	Type *Coding    `json:"type,omitempty"`
	Role *Coding    `json:"role,omitempty"`
}

// eventKind maps an action to the AuditEvent type, subtype, action code and BALP profile
// name (without its patient variant).
func eventKind(action string) (typ Coding, sub *Coding, code, profile string) {
	rest := Coding{System: sysEventType, Code: "rest", Display: "RESTful Operation"}
	interaction := func(i string) *Coding { return &Coding{System: sysRESTful, Code: i} }
	switch action {
	case ActionLogin:
		return Coding{System: sysDICOM, Code: "110114", Display: "User Authentication"},
			&Coding{System: sysDICOM, Code: "110122", Display: "Login"}, "E", "Login"
	case ActionLogout:
		return Coding{System: sysDICOM, Code: "110114", Display: "User Authentication"},
			&Coding{System: sysDICOM, Code: "110123", Display: "Logout"}, "E", "Logout"
	case ActionDocumentOpen, ActionDocumentDownload:
		return rest, interaction("read"), "R", "Read"
	case ActionUploadCreate, ActionConsentSign:
		return rest, interaction("create"), "C", "Create"
	case ActionUploadFinish, ActionConsentCountersign, ActionConsentReject, ActionConsentWithdraw,
		ActionCaseAssign, ActionRoleChange, ActionAccountDisable, ActionCaseHold, ActionCaseHoldRelease:
		return rest, interaction("update"), "U", "Update"
	case ActionDocumentErase, ActionCaseErase, ActionUploadReject:
		return rest, interaction("delete"), "D", "Delete"
	case ActionAuditExport, ActionSubjectExport, ActionDocumentIdentity:
		return Coding{System: sysDICOM, Code: "110106", Display: "Export"}, nil, "R", ""
	case ActionAuditRead:
		return Coding{System: sysDICOM, Code: "110101", Display: "Audit Log Used"}, nil, "R", ""
	case ActionKeyRotate:
		return Coding{System: sysDICOM, Code: "110113", Display: "Security Alert"}, nil, "E", ""
	}
	return rest, nil, "E", ""
}

// NewAuditEvent maps an entry to a FHIR R4 AuditEvent following IHE BALP: the acting user
// as the requesting agent (with its network address), the service as the observing agent
// and source, the object and the case (the patient) as entities, the request id as a BALP
// XrequestId entity, the reason as outcomeDesc, the log's own action as a subtype coding
// (system urn:secondopinion:action) after the standard one. The user agent string is not carried.
func NewAuditEvent(e Entry, observer string) AuditEvent {
	typ, sub, code, profile := eventKind(e.Action)
	ev := AuditEvent{
		ResourceType: "AuditEvent",
		ID:           strconv.FormatInt(e.Seq, 10),
		Type:         typ,
		Action:       code,
		Recorded:     e.Time.UTC().Format(timeFormat),
		Outcome:      strconv.Itoa(int(e.Outcome)),
		OutcomeDesc:  e.Reason,
		Source: AuditSource{
			Observer: Reference{Display: observer},
			Type:     []Coding{{System: sysSourceType, Code: "4", Display: "Application Server"}},
		},
	}
	if sub != nil {
		ev.Subtype = []Coding{*sub}
	}
	// The log's own action too (after the standard coding): several actions share a DICOM or
	// RESTful code (a legal hold and a countersignature are both updates), and the DPO's
	// tools must tell them apart as the CSV does.
	if e.Action != "" {
		ev.Subtype = append(ev.Subtype, Coding{System: urnAction, Code: e.Action})
	}
	if profile != "" {
		if e.CaseID != "" && profile != "Login" && profile != "Logout" {
			profile = "Patient" + profile
		}
		ev.Meta = &Meta{Profile: []string{balpProfile + profile}}
	}
	if e.Purpose != "" {
		ev.PurposeOfEvent = []CodeableConcept{{Coding: []Coding{{System: sysPurpose, Code: e.Purpose}}}}
	}
	user := AuditAgent{
		Type:      &CodeableConcept{Coding: []Coding{{System: sysDICOM, Code: "110153", Display: "Source Role ID"}}},
		Who:       &Reference{Identifier: &Identifier{System: urnAccount, Value: e.ActorID}},
		Requestor: true,
	}
	if e.ActorID == "" {
		user.Who = &Reference{Display: "unauthenticated"}
	}
	if e.ActorRole != "" {
		user.Role = []CodeableConcept{{Coding: []Coding{{System: urnObjectTypes + "role", Code: e.ActorRole}}}}
	}
	if e.ClientIP != "" {
		user.Network = &AuditNetwork{Address: e.ClientIP, Type: "2"}
	}
	ev.Agent = []AuditAgent{user, {
		Type:      &CodeableConcept{Coding: []Coding{{System: sysDICOM, Code: "110152", Display: "Destination Role ID"}}},
		Who:       &Reference{Display: observer},
		Requestor: false,
	}}
	if e.OnBehalfOf != "" {
		ev.Agent = append(ev.Agent, AuditAgent{
			Type: &CodeableConcept{Text: "on behalf of"},
			Who:  &Reference{Identifier: &Identifier{Value: e.OnBehalfOf}},
		})
	}
	if e.ObjectID != "" || e.ObjectType != "" {
		what := &Reference{Identifier: &Identifier{System: urnObjectTypes + e.ObjectType, Value: e.ObjectID}}
		if e.ObjectID == "" { // a kind of object, none in particular (a listing, the log itself)
			what = &Reference{Display: e.ObjectType}
		}
		ev.Entity = append(ev.Entity, AuditEntity{
			What: what,
			Type: &Coding{System: sysEntityType, Code: "2", Display: "System Object"},
		})
	}
	if e.CaseID != "" {
		ev.Entity = append(ev.Entity, AuditEntity{
			What: &Reference{Identifier: &Identifier{System: urnCase, Value: e.CaseID}},
			Type: &Coding{System: sysEntityType, Code: "1", Display: "Person"},
			Role: &Coding{System: sysObjectRole, Code: "1", Display: "Patient"},
		})
	}
	if e.RequestID != "" {
		ev.Entity = append(ev.Entity, AuditEntity{
			What: &Reference{Identifier: &Identifier{Value: e.RequestID}},
			Type: &Coding{System: sysBALPEntity, Code: "XrequestId", Display: "HTTP request id"},
		})
	}
	return ev
}
