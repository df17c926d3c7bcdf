package cases

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	so "github.com/secondopinion/secondopinion"
)

var today = time.Date(2025, 3, 10, 15, 0, 0, 0, time.UTC)

const validBody = `{"patient":{"given_name":" Maria ","family_name":"Rossi","birth_date":"1970-05-01"},
	"applicant_relationship":"self","consultation_types":["surgical","radiotherapy"],
	"clinical_question":"Is surgery still an option?\r\nSecond line.","language":"it"}`

func TestParseCreateInputValid(t *testing.T) {
	in, err := ParseCreateInput([]byte(validBody), today)
	if err != nil {
		t.Fatal(err)
	}
	want := CreateInput{Patient: Patient{GivenName: "Maria", FamilyName: "Rossi", BirthDate: "1970-05-01"},
		ApplicantRelationship: "self", ConsultationTypes: []so.ConsultationType{"surgical", "radiotherapy"},
		ClinicalQuestion: "Is surgery still an option?\r\nSecond line.", Language: "it"}
	if !reflect.DeepEqual(in, want) {
		t.Errorf("got %+v\nwant %+v", in, want)
	}
}

func TestParseCreateInputErrors(t *testing.T) {
	// edit replaces one fragment of validBody.
	edit := func(old, new string) string {
		if !strings.Contains(validBody, old) {
			t.Fatalf("fragment %q not in the valid body", old)
		}
		return strings.Replace(validBody, old, new, 1)
	}
	tests := []struct {
		name   string
		body   string
		fields []string // the fields named, in order ("" for the body)
	}{
		{"not JSON", `{"patient":`, []string{""}},
		{"an array", `[]`, []string{""}},
		{"two objects", validBody + `{}`, []string{""}},
		{"unknown field", edit(`"language":"it"`, `"language":"it","owner_id":"x"`), []string{"owner_id"}},
		{"wrong type", edit(`["surgical","radiotherapy"]`, `"surgical"`), []string{"consultation_types"}},
		{"nested wrong type", edit(`"birth_date":"1970-05-01"`, `"birth_date":19700501`), []string{"patient.birth_date"}},
		{"empty object", `{}`, []string{"patient.given_name", "patient.family_name", "patient.birth_date",
			"applicant_relationship", "consultation_types", "language"}},
		{"blank name", edit(`" Maria "`, `"   "`), []string{"patient.given_name"}},
		{"control character", edit(`"Rossi"`, `"Ros\u0007si"`), []string{"patient.family_name"}},
		{"long name", edit(`"Rossi"`, `"`+strings.Repeat("R", 101)+`"`), []string{"patient.family_name"}},
		{"bad date", edit(`"1970-05-01"`, `"01/05/1970"`), []string{"patient.birth_date"}},
		{"impossible date", edit(`"1970-05-01"`, `"1970-02-30"`), []string{"patient.birth_date"}},
		{"future birth", edit(`"1970-05-01"`, `"2025-03-11"`), []string{"patient.birth_date"}},
		{"before 1900", edit(`"1970-05-01"`, `"1899-12-31"`), []string{"patient.birth_date"}},
		{"a 15-year-old applying alone", edit(`"1970-05-01"`, `"2009-03-11"`), []string{"applicant_relationship"}},
		{"bad relationship", edit(`"self"`, `"friend"`), []string{"applicant_relationship"}},
		{"no consultation", edit(`["surgical","radiotherapy"]`, `[]`), []string{"consultation_types"}},
		{"unknown consultation", edit(`["surgical","radiotherapy"]`, `["surgical","dermatology"]`), []string{"consultation_types[1]"}},
		{"repeated consultation", edit(`["surgical","radiotherapy"]`, `["surgical","surgical"]`), []string{"consultation_types[1]"}},
		{"long question", edit(`"Is surgery still an option?\r\nSecond line."`, `"`+strings.Repeat("q", 4001)+`"`), []string{"clinical_question"}},
		{"bad language", edit(`"it"`, `"de"`), []string{"language"}},
		{"too large", `{"clinical_question":"` + strings.Repeat("x", 70000) + `"}`, []string{""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseCreateInput([]byte(tt.body), today)
			var ve *so.Error
			if !errors.As(err, &ve) || !errors.Is(err, so.ErrInvalid) {
				t.Fatalf("error %v, want an so.EInvalid error", err)
			}
			var got []string
			for _, f := range ve.Fields {
				got = append(got, f.Field)
				if f.Message == "" {
					t.Errorf("field %q without a message", f.Field)
				}
			}
			if !reflect.DeepEqual(got, tt.fields) {
				t.Errorf("fields %q, want %q (%v)", got, tt.fields, err)
			}
		})
	}
}

// A 16th birthday today is old enough to apply alone; a representative may apply for anyone.
func TestAgeBoundary(t *testing.T) {
	in := CreateInput{Patient: Patient{GivenName: "A", FamilyName: "B", BirthDate: "2009-03-10"},
		ApplicantRelationship: "self", ConsultationTypes: []so.ConsultationType{"oncological"}, Language: "en"}
	if err := in.Validate(today); err != nil {
		t.Errorf("16 today: %v", err)
	}
	in.Patient.BirthDate = "2025-03-10"
	in.ApplicantRelationship = "parent"
	if err := in.Validate(today); err != nil {
		t.Errorf("a newborn through a parent: %v", err)
	}
}

func FuzzParseCreateInput(f *testing.F) {
	f.Add([]byte(validBody))
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"patient":null,"consultation_types":[null]}`))
	f.Add([]byte(`{"patient":{"birth_date":"2009-03-10"},"applicant_relationship":"self"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		in, err := ParseCreateInput(body, today)
		if err != nil {
			var ve *so.Error
			if !errors.As(err, &ve) || len(ve.Fields) == 0 {
				t.Fatalf("error %v is not an so.EInvalid error with fields", err)
			}
			return
		}
		// What is accepted survives a round trip unchanged and still validates.
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCreateInput(b, today)
		if err != nil || !reflect.DeepEqual(again, in) {
			t.Fatalf("round trip of %s: %+v, %v", b, again, err)
		}
	})
}
