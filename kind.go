package secondopinion

import "slices"

// DocumentKind is what a document is to the checklist (DESIGN §8). Upload metadata names it in
// `kind`; the case's checklist is made of the kinds its request needs.
type DocumentKind string

// The document kinds.
const (
	KindIdentityDocument          DocumentKind = "identity_document"           // the patient's ID
	KindApplicantIdentityDocument DocumentKind = "applicant_identity_document" // a representative's own ID
	KindProofOfAuthority          DocumentKind = "proof_of_authority"          // parental authority, guardianship, power of attorney
	KindConsentForm               DocumentKind = "consent_form"                // the signed privacy consent form
	KindCoverLetter               DocumentKind = "cover_letter"                // the referring physician's letter
	KindClinicalHistory           DocumentKind = "clinical_history"
	KindHistologyReport           DocumentKind = "histology_report"
	KindImagingReport             DocumentKind = "imaging_report"
	KindImagingStudy              DocumentKind = "imaging_study" // DICOM images (a file or a ZIP of a CD)
	KindRadiotherapyPlan          DocumentKind = "radiotherapy_plan"
	KindReport                    DocumentKind = "report" // the specialist's second opinion
	KindOther                     DocumentKind = "other"
)

// Kinds lists every document kind, in checklist order.
var Kinds = []DocumentKind{KindIdentityDocument, KindApplicantIdentityDocument, KindProofOfAuthority, KindConsentForm,
	KindCoverLetter, KindClinicalHistory, KindHistologyReport, KindImagingReport, KindImagingStudy, KindRadiotherapyPlan,
	KindReport, KindOther}

// Valid reports whether k is one of Kinds.
func (k DocumentKind) Valid() bool { return slices.Contains(Kinds, k) }

// IdentityKind reports whether a case manager must read documents of this kind to countersign
// the consent, and so reads them without an active consent: the IDs, the proof of authority
// and the signed form. Every other kind waits for the consent.
func (k DocumentKind) IdentityKind() bool {
	switch k {
	case KindIdentityDocument, KindApplicantIdentityDocument, KindProofOfAuthority, KindConsentForm:
		return true
	}
	return false
}

// Clinical reports whether the kind is part of the clinical documentation a referring
// physician may send: the cover letter, histories, reports, images and plans, and "other".
func (k DocumentKind) Clinical() bool {
	switch k {
	case KindCoverLetter, KindClinicalHistory, KindHistologyReport, KindImagingReport, KindImagingStudy,
		KindRadiotherapyPlan, KindOther:
		return true
	}
	return false
}

// ChecklistRequest is what decides which documents a request needs.
type ChecklistRequest struct {
	Relationship      Relationship       // self, or the representative's relationship
	ConsultationTypes []ConsultationType // what was asked for
	ImagingRelevant   bool               // the patient has had imaging the specialist must see
}

// RequiredKinds returns the kinds a request needs before triage can accept it, in checklist
// order (DESIGN §1): the patient's ID; the applicant's ID and proof of authority when the
// applicant is not the patient; the cover letter, clinical history, histology report and
// imaging report; the imaging study when imaging is relevant; the radiotherapy plan for a
// radiotherapy consultation; the consent form.
func RequiredKinds(r ChecklistRequest) []DocumentKind {
	out := []DocumentKind{KindIdentityDocument}
	if r.Relationship != RelationshipSelf {
		out = append(out, KindApplicantIdentityDocument, KindProofOfAuthority)
	}
	out = append(out, KindConsentForm, KindCoverLetter, KindClinicalHistory, KindHistologyReport, KindImagingReport)
	if r.ImagingRelevant {
		out = append(out, KindImagingStudy)
	}
	if slices.Contains(r.ConsultationTypes, ConsultationRadiotherapy) {
		out = append(out, KindRadiotherapyPlan)
	}
	return out
}
