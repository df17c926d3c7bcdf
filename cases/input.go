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
)

// Values accepted in a new request (DESIGN §1, §9).
var (
	Relationships     = []string{"self", "parent", "guardian", "legal_representative"}
	ConsultationTypes = []string{"surgical", "oncological", "cardio_oncological", "radiotherapy"}
	Languages         = []string{"en", "it", "es"}
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
	Patient               Patient  `json:"patient"`
	ApplicantRelationship string   `json:"applicant_relationship"`
	ConsultationTypes     []string `json:"consultation_types"`
	ClinicalQuestion      string   `json:"clinical_question"`
	Language              string   `json:"language"`
}

// FieldError is one problem with one field, named by its JSON path ("patient.birth_date",
// "consultation_types[1]"); Field is empty for a problem with the body as a whole.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// ValidationError lists every problem found in an input. It matches ErrInvalid.
type ValidationError struct {
	Fields []FieldError
}

func (e *ValidationError) Error() string {
	parts := make([]string, len(e.Fields))
	for i, f := range e.Fields {
		if f.Field == "" {
			parts[i] = f.Message
		} else {
			parts[i] = f.Field + ": " + f.Message
		}
	}
	return "cases: invalid input: " + strings.Join(parts, "; ")
}

// Is makes a ValidationError match ErrInvalid.
func (e *ValidationError) Is(target error) bool { return target == ErrInvalid }

func (e *ValidationError) add(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

func (e *ValidationError) err() error {
	if len(e.Fields) == 0 {
		return nil
	}
	return e
}

// ParseCreateInput decodes and validates the body of POST /api/v1/cases: one JSON object of at
// most 64 KiB, no unknown fields, then every rule of Validate, as of now. The error is a
// *ValidationError naming the fields.
func ParseCreateInput(body []byte, now time.Time) (CreateInput, error) {
	var in CreateInput
	ve := &ValidationError{}
	if len(body) > maxBody {
		ve.add("", "body is larger than %d bytes", maxBody)
		return in, ve
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		ve.Fields = append(ve.Fields, jsonError(err))
		return CreateInput{}, ve
	}
	if _, err := dec.Token(); err != io.EOF {
		ve.add("", "body must hold one JSON object")
		return CreateInput{}, ve
	}
	return in, in.Validate(now)
}

func jsonError(err error) FieldError {
	var te *json.UnmarshalTypeError
	var se *json.SyntaxError
	switch {
	case errors.As(err, &te):
		if te.Field == "" {
			return FieldError{Message: "body must be a JSON object"}
		}
		return FieldError{Field: te.Field, Message: "must be a JSON " + jsonType(te.Type.Kind().String())}
	case errors.As(err, &se), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return FieldError{Message: "body is not valid JSON"}
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return FieldError{Field: strings.Trim(name, `"`), Message: "unknown field"}
	}
	return FieldError{Message: "body is not valid JSON"}
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
	ve := &ValidationError{}
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
		ve.add("patient.birth_date", "is required")
	case err != nil:
		ve.add("patient.birth_date", "must be a date as YYYY-MM-DD")
	case birth.After(today):
		ve.add("patient.birth_date", "is in the future")
	case birth.Year() < 1900:
		ve.add("patient.birth_date", "is before 1900")
	default:
		birthOK = true
	}

	switch {
	case in.ApplicantRelationship == "":
		ve.add("applicant_relationship", "is required")
	case !slices.Contains(Relationships, in.ApplicantRelationship):
		ve.add("applicant_relationship", "must be one of %s", strings.Join(Relationships, ", "))
	case in.ApplicantRelationship == "self" && birthOK && age(birth, today) < minSelfAge:
		ve.add("applicant_relationship", "a patient under %d applies through a parent, guardian or legal representative", minSelfAge)
	}

	if len(in.ConsultationTypes) == 0 {
		ve.add("consultation_types", "needs at least one of %s", strings.Join(ConsultationTypes, ", "))
	}
	for i, t := range in.ConsultationTypes {
		switch {
		case !slices.Contains(ConsultationTypes, t):
			ve.add(fmt.Sprintf("consultation_types[%d]", i), "must be one of %s", strings.Join(ConsultationTypes, ", "))
		case slices.Index(in.ConsultationTypes, t) < i:
			ve.add(fmt.Sprintf("consultation_types[%d]", i), "is repeated")
		}
	}

	switch {
	case in.Language == "":
		ve.add("language", "is required")
	case !slices.Contains(Languages, in.Language):
		ve.add("language", "must be one of %s", strings.Join(Languages, ", "))
	}
	return ve.err()
}

func checkText(ve *ValidationError, field, s string, max int, required, multiline bool) {
	switch {
	case !utf8.ValidString(s):
		ve.add(field, "is not valid UTF-8")
	case required && s == "":
		ve.add(field, "is required")
	case utf8.RuneCountInString(s) > max:
		ve.add(field, "must have at most %d characters", max)
	case strings.IndexFunc(s, func(r rune) bool {
		return unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t'))
	}) >= 0:
		ve.add(field, "contains control characters")
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
