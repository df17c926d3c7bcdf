package secondopinion

import "slices"

// Language is a language the centre answers in, and the language of a case's mails and pages.
type Language string

// The accepted languages (DESIGN §1).
const (
	LanguageEnglish Language = "en"
	LanguageItalian Language = "it"
	LanguageSpanish Language = "es"
)

// Languages lists the accepted languages; the first is the default.
var Languages = []Language{LanguageEnglish, LanguageItalian, LanguageSpanish}

// Valid reports whether l is one of Languages.
func (l Language) Valid() bool { return slices.Contains(Languages, l) }

// ConsultationType is a kind of specialist consultation a request asks for; a request may ask
// for several.
type ConsultationType string

// The consultation types (DESIGN §1).
const (
	ConsultationSurgical         ConsultationType = "surgical"
	ConsultationOncological      ConsultationType = "oncological"
	ConsultationCardioOncologial ConsultationType = "cardio_oncological"
	ConsultationRadiotherapy     ConsultationType = "radiotherapy" // incl. proton and carbon-ion therapy
)

// ConsultationTypes lists them.
var ConsultationTypes = []ConsultationType{ConsultationSurgical, ConsultationOncological,
	ConsultationCardioOncologial, ConsultationRadiotherapy}

// Valid reports whether t is one of ConsultationTypes.
func (t ConsultationType) Valid() bool { return slices.Contains(ConsultationTypes, t) }

// Relationship is the applicant's relationship to the patient.
type Relationship string

// The relationships (DESIGN §1): the patient (16 or older), or a representative, who must add
// their own ID and a proof of authority.
const (
	RelationshipSelf                Relationship = "self"
	RelationshipParent              Relationship = "parent"
	RelationshipGuardian            Relationship = "guardian"
	RelationshipLegalRepresentative Relationship = "legal_representative"
)

// Relationships lists them.
var Relationships = []Relationship{RelationshipSelf, RelationshipParent, RelationshipGuardian,
	RelationshipLegalRepresentative}

// Valid reports whether r is one of Relationships.
func (r Relationship) Valid() bool { return slices.Contains(Relationships, r) }

// ExtraType is an extra a specialist may propose, which the applicant approves or declines
// before it is done (DESIGN §1).
type ExtraType string

// The extras.
const (
	ExtraSlideReview       ExtraType = "slide_review"      // histological slide review
	ExtraImagingReread     ExtraType = "imaging_reread"    // re-reading of the images
	ExtraInDepth           ExtraType = "in_depth"          // in-depth consultation
	ExtraMultidisciplinary ExtraType = "multidisciplinary" // multidisciplinary consultation
)

// ExtraTypes lists them.
var ExtraTypes = []ExtraType{ExtraSlideReview, ExtraImagingReread, ExtraInDepth, ExtraMultidisciplinary}

// Valid reports whether t is one of ExtraTypes.
func (t ExtraType) Valid() bool { return slices.Contains(ExtraTypes, t) }
