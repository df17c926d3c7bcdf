package consent

import (
	"encoding/base64"
	"time"

	so "github.com/secondopinion/secondopinion"
)

// FHIR R4 Consent, the elements this service fills.
type (
	// FHIRConsent is a FHIR R4 Consent resource.
	FHIRConsent struct {
		ResourceType    string                `json:"resourceType"`
		ID              string                `json:"id"`
		Status          string                `json:"status"`
		Scope           FHIRCodeableConcept   `json:"scope"`
		Category        []FHIRCodeableConcept `json:"category"`
		Patient         FHIRReference         `json:"patient"`
		DateTime        string                `json:"dateTime"`
		Performer       []FHIRReference       `json:"performer"`
		SourceReference *FHIRReference        `json:"sourceReference,omitempty"`
		Policy          []FHIRPolicy          `json:"policy"`
		PolicyRule      FHIRCodeableConcept   `json:"policyRule"`
		Verification    []FHIRVerification    `json:"verification,omitempty"`
		Provision       FHIRProvision         `json:"provision"`
	}
	// FHIRCoding is a FHIR Coding.
	FHIRCoding struct {
		System  string `json:"system,omitempty"`
		Code    string `json:"code"`
		Display string `json:"display,omitempty"`
	}
	// FHIRCodeableConcept is a FHIR CodeableConcept.
	FHIRCodeableConcept struct {
		Coding []FHIRCoding `json:"coding,omitempty"`
		Text   string       `json:"text,omitempty"`
	}
	// FHIRIdentifier is a FHIR Identifier.
	FHIRIdentifier struct {
		System string `json:"system,omitempty"`
		Value  string `json:"value"`
	}
	// FHIRReference is a FHIR Reference.
	FHIRReference struct {
		Type       string          `json:"type,omitempty"`
		Identifier *FHIRIdentifier `json:"identifier,omitempty"`
		Display    string          `json:"display,omitempty"`
	}
	// FHIRPolicy is Consent.policy.
	FHIRPolicy struct {
		Authority string `json:"authority,omitempty"`
		URI       string `json:"uri,omitempty"`
	}
	// FHIRVerification is Consent.verification: the case manager's countersignature
	// (verified) or rejection (not verified). R4 allows only a Patient or RelatedPerson as
	// verifiedWith, so the countersigning case manager is listed among the performers.
	FHIRVerification struct {
		Verified         bool   `json:"verified"`
		VerificationDate string `json:"verificationDate,omitempty"`
	}
	// FHIRProvision is Consent.provision.
	FHIRProvision struct {
		Type    string       `json:"type"`
		Period  *FHIRPeriod  `json:"period,omitempty"`
		Purpose []FHIRCoding `json:"purpose"`
	}
	// FHIRPeriod is a FHIR Period.
	FHIRPeriod struct {
		Start string `json:"start,omitempty"`
		End   string `json:"end,omitempty"`
	}
)

const (
	urnCase    = "urn:secondopinion:case"
	urnAccount = "urn:secondopinion:account"
	urnForm    = "urn:secondopinion:consent-form"
)

func fhirTime(t time.Time) string { return t.UTC().Format(time.RFC3339Nano) }

// FHIR returns the consent as a FHIR R4 Consent: status proposed, active, rejected or
// inactive (withdrawn); scope patient-privacy; category LOINC 59284-0 (patient consent); the
// patient as the case identifier; the signer as performer (the patient, or a RelatedPerson
// for a representative), joined by the countersigning case manager (a Practitioner); the GDPR as policy and opt-in as policy rule; the signed form's
// version and SHA-256 (an RFC 6920 ni URI) as sourceReference; the case manager's decision
// as verification; and a provision permitting use for treatment (the second opinion) from
// countersignature to withdrawal.
func (c Consent) FHIR() FHIRConsent {
	status := map[Status]string{StatusProposed: "proposed", StatusActive: "active", StatusRejected: "rejected",
		StatusWithdrawn: "inactive"}[c.Status()]
	patient := FHIRReference{Type: "Patient", Identifier: &FHIRIdentifier{System: urnCase, Value: c.CaseID}}
	performer := FHIRReference{Type: "RelatedPerson", Display: c.SignerName + " (" + string(c.Relationship) + ")"}
	if c.Relationship == so.RelationshipSelf {
		performer = patient
		performer.Display = c.SignerName
	}
	r := FHIRConsent{
		ResourceType: "Consent",
		ID:           c.ID,
		Status:       status,
		Scope: FHIRCodeableConcept{Coding: []FHIRCoding{{
			System: "http://terminology.hl7.org/CodeSystem/consentscope", Code: "patient-privacy", Display: "Privacy Consent"}}},
		Category: []FHIRCodeableConcept{{Coding: []FHIRCoding{{
			System: "http://loinc.org", Code: "59284-0", Display: "Patient Consent"}}}},
		Patient:   patient,
		DateTime:  fhirTime(c.SignedAt),
		Performer: []FHIRReference{performer},
		SourceReference: &FHIRReference{
			Type:       "DocumentReference",
			Identifier: &FHIRIdentifier{System: "urn:ietf:rfc:3986", Value: "ni:///sha-256;" + base64.RawURLEncoding.EncodeToString(c.FormSHA256)},
			Display:    urnForm + ":" + c.FormVersion,
		},
		Policy: []FHIRPolicy{{Authority: "https://eur-lex.europa.eu", URI: "https://eur-lex.europa.eu/eli/reg/2016/679/oj"}},
		PolicyRule: FHIRCodeableConcept{Coding: []FHIRCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-ActCode", Code: "OPTIN", Display: "opt-in"}}},
		Provision: FHIRProvision{Type: "permit", Purpose: []FHIRCoding{{
			System: "http://terminology.hl7.org/CodeSystem/v3-ActReason", Code: "TREAT", Display: "treatment"}}},
	}
	switch {
	case c.CountersignedAt != nil:
		r.Verification = []FHIRVerification{{Verified: true, VerificationDate: fhirTime(*c.CountersignedAt)}}
		r.Performer = append(r.Performer, FHIRReference{Type: "Practitioner",
			Identifier: &FHIRIdentifier{System: urnAccount, Value: deref(c.CountersignedBy)}, Display: "countersigning case manager"})
		r.Provision.Period = &FHIRPeriod{Start: fhirTime(*c.CountersignedAt)}
		if c.WithdrawnAt != nil {
			r.Provision.Period.End = fhirTime(*c.WithdrawnAt)
		}
	case c.RejectedAt != nil:
		r.Verification = []FHIRVerification{{Verified: false, VerificationDate: fhirTime(*c.RejectedAt)}}
	}
	return r
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
