package cases

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	so "github.com/secondopinion/secondopinion"
)

const (
	maxBody      = 64 << 10 // bytes of a create request
	maxName      = 100      // characters of a patient name
	maxQuestion  = 4000     // characters of the clinical question
	minSelfAge   = 16       // a younger patient needs a representative to apply
	birthDateFmt = "2006-01-02"
)

// Patient names the person the second opinion is about.
type Patient struct {
	GivenName  string `json:"given_name"`
	FamilyName string `json:"family_name"`
	BirthDate  string `json:"birth_date"` // YYYY-MM-DD
}

// CreateInput is the body of POST /api/v1/cases.
type CreateInput struct {
	Patient               Patient               `json:"patient"`
	ApplicantRelationship so.Relationship       `json:"applicant_relationship"`
	ConsultationTypes     []so.ConsultationType `json:"consultation_types"`
	ClinicalQuestion      string                `json:"clinical_question"`
	Language              so.Language           `json:"language"`
	// ImagingRelevant says whether the patient has had imaging the specialist must see, so
	// that the checklist asks for the imaging study; true when absent.
	ImagingRelevant *bool `json:"imaging_relevant,omitempty"`
	// PreviousCaseID makes the request an update of an earlier case of the same patient whose
	// report was released within the last 12 months (priced as an update when the same
	// specialist takes it).
	PreviousCaseID string `json:"previous_case_id,omitempty"`
}

// ParseCreateInput decodes and validates the body of POST /api/v1/cases: one JSON object of at
// most 64 KiB, no unknown fields, then every rule of Validate, as of now. The error is a
// *ValidationError naming the fields.
func ParseCreateInput(body []byte, now time.Time) (CreateInput, error) {
	var in CreateInput
	ve := so.Invalid()
	if len(body) > maxBody {
		ve.AddField("", "body is larger than %d bytes", maxBody)
		return in, ve
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		ve.Fields = append(ve.Fields, jsonError(err))
		return CreateInput{}, ve
	}
	if _, err := dec.Token(); err != io.EOF {
		ve.AddField("", "body must hold one JSON object")
		return CreateInput{}, ve
	}
	return in, in.Validate(now)
}

func jsonError(err error) so.FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return so.FieldError{Message: "body must be a JSON object"}
		}
		return so.FieldError{Field: te.Field, Message: "must be a JSON " + jsonType(te.Type.Kind().String())}
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return so.FieldError{Message: "body is not valid JSON"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return so.FieldError{Field: strings.Trim(name, `"`), Message: "unknown field"}
	}
	return so.FieldError{Message: "body is not valid JSON"}
}

func jsonType(kind string) string {
	switch kind {
	case "slice":
		return "array"
	case "struct":
		return "object"
	}
	return kind
}

// Validate checks every field as of now (birth date in the past, age) and returns a
// *ValidationError listing all problems, or nil. It trims the names and the question first.
func (in *CreateInput) Validate(now time.Time) error {
	ve := so.Invalid()
	in.Patient.GivenName = strings.TrimSpace(in.Patient.GivenName)
	in.Patient.FamilyName = strings.TrimSpace(in.Patient.FamilyName)
	in.ClinicalQuestion = strings.TrimSpace(in.ClinicalQuestion)
	checkText(ve, "patient.given_name", in.Patient.GivenName, maxName, true, false)
	checkText(ve, "patient.family_name", in.Patient.FamilyName, maxName, true, false)
	checkText(ve, "clinical_question", in.ClinicalQuestion, maxQuestion, false, true)

	birth, err := time.Parse(birthDateFmt, in.Patient.BirthDate)
	today := civilDate(now)
	birthOK := false
	switch {
	case in.Patient.BirthDate == "":
		ve.AddField("patient.birth_date", "is required")
	case err != nil:
		ve.AddField("patient.birth_date", "must be a date as YYYY-MM-DD")
	case birth.After(today):
		ve.AddField("patient.birth_date", "is in the future")
	case birth.Year() < 1900:
		ve.AddField("patient.birth_date", "is before 1900")
	default:
		birthOK = true
	}

	switch {
	case in.ApplicantRelationship == "":
		ve.AddField("applicant_relationship", "is required")
	case !in.ApplicantRelationship.Valid():
		ve.AddField("applicant_relationship", "must be one of %s", list(so.Relationships))
	case in.ApplicantRelationship == so.RelationshipSelf && birthOK && age(birth, today) < minSelfAge:
		ve.AddField("applicant_relationship", "a patient under %d applies through a parent, guardian or legal representative", minSelfAge)
	}

	if len(in.ConsultationTypes) == 0 {
		ve.AddField("consultation_types", "needs at least one of %s", list(so.ConsultationTypes))
	}
	for i, t := range in.ConsultationTypes {
		switch {
		case !t.Valid():
			ve.AddField(fmt.Sprintf("consultation_types[%d]", i), "must be one of %s", list(so.ConsultationTypes))
		case slices.Index(in.ConsultationTypes, t) < i:
			ve.AddField(fmt.Sprintf("consultation_types[%d]", i), "is repeated")
		}
	}

	switch {
	case in.Language == "":
		ve.AddField("language", "is required")
	case !in.Language.Valid():
		ve.AddField("language", "must be one of %s", list(so.Languages))
	}
	if in.PreviousCaseID != "" && !so.ValidID(in.PreviousCaseID) {
		ve.AddField("previous_case_id", "must be the id of an earlier case")
	}
	return ve.OrNil()
}

func checkText(ve *so.Error, field, s string, max int, required, multiline bool) {
	switch {
	case !utf8.ValidString(s):
		ve.AddField(field, "is not valid UTF-8")
	case required && s == "":
		ve.AddField(field, "is required")
	case utf8.RuneCountInString(s) > max:
		ve.AddField(field, "must have at most %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}) >= 0:
		ve.AddField(field, "contains control characters")
	}
}

// civilDate is the calendar date of t in UTC, at midnight.
func civilDate(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// age is the age in whole years on the date today of someone born on birth.
func age(birth, today time.Time) int {
	a := today.Year() - birth.Year()
	if today.Month() < birth.Month() || (today.Month() == birth.Month() && today.Day() < birth.Day()) {
		a--
	}
	return a
}

// list joins the values of a closed set for a message.
func list[T ~string](vs []T) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = string(v)
	}
	return strings.Join(out, ", ")
}
