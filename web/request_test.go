package web

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"
)

type loginBody struct {
	Email    string `json:"email"`
	Password string `json:"password"`
}

func decode(body string) (loginBody, error) {
	c, _ := gin.CreateTestContext(httptest.NewRecorder())
	c.Request = httptest.NewRequest("POST", "/", strings.NewReader(body))
	var v loginBody
	err := readJSON(c, &v)
	return v, err
}

func TestReadJSON(t *testing.T) {
	tests := []struct {
		body  string
		field string // "" and ok: accepted
		ok    bool
	}{
		{`{"email":"a@b.c","password":"x"}`, "", true},
		{` {"email":"a@b.c"} `, "", true},
		{`{"email":"a@b.c","role":"admin"}`, "", false}, // unknown field
		{`{"email":1}`, "email", false},
		{`{"email":"a"}{"email":"b"}`, "", false},
		{`[]`, "", false},
		{``, "", false},
		{`{"email":"` + strings.Repeat("a", maxJSONBody) + `"}`, "", false},
	}
	for _, tt := range tests {
		_, err := decode(tt.body)
		var ve *so.Error
		switch {
		case tt.ok && err != nil:
			t.Errorf("%.40q: %v", tt.body, err)
		case !tt.ok && !errors.As(err, &ve):
			t.Errorf("%.40q: %v, want a validation error", tt.body, err)
		case !tt.ok && ve.Fields[0].Field != tt.field:
			t.Errorf("%.40q: field %q, want %q", tt.body, ve.Fields[0].Field, tt.field)
		}
	}
}

// A validation error answers 400 with its fields, in the one error shape.
func TestFailValidation(t *testing.T) {
	s, _ := newTestServer(t)
	rec := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(rec)
	c.Request = httptest.NewRequest("POST", "/", nil)
	s.fail(c, invalid("patient.birth_date", "is in the future"))
	var body errorBody
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || rec.Code != 400 || body.Error != "invalid" ||
		len(body.Fields) != 1 || body.Fields[0].Field != "patient.birth_date" {
		t.Fatalf("%d %s", rec.Code, rec.Body)
	}
}

// readJSON never panics, and anything it accepts is one JSON object that decodes the same way.
func FuzzReadJSON(f *testing.F) {
	for _, s := range []string{`{"email":"a@b.c","password":"x"}`, `{"email":null}`, `{"e":1}`, `{}{}`, `"x"`, `{"password":"\u0000"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		v, err := decode(body)
		var ve *so.Error
		if err != nil && !errors.As(err, &ve) {
			t.Fatalf("error %v is not a validation error", err)
		}
		if err == nil {
			var again loginBody
			if json.Unmarshal([]byte(body), &again) != nil || again != v {
				t.Fatalf("accepted %q as %+v", body, v)
			}
		}
	})
}
