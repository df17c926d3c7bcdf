package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"

	so "github.com/secondopinion/secondopinion"

	"github.com/gin-gonic/gin"
)

// maxJSONBody bounds a JSON request body of the API.
const maxJSONBody = 64 << 10

// readJSON decodes the request body, one JSON object without unknown fields, into v. A bad
// body is an so.EInvalid error, answered 400 with the field it concerns.
func readJSON(c *gin.Context, v any) error {
	body, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxJSONBody))
	if err != nil {
		return invalid("", "body is missing or larger than 64 KiB")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return invalid(te.Field, "has the wrong JSON type")
		}
		return invalid("", "body must be one JSON object with the documented fields")
	}
	if _, err := dec.Token(); err != io.EOF {
		return invalid("", "body must be one JSON object")
	}
	return nil
}

// invalid is a 400 naming one field ("" for the body as a whole).
func invalid(field, message string) error {
	e := so.Invalid()
	e.AddField(field, "%s", message)
	return e
}

// fieldErr turns a bare so.ErrInvalid (a malformed email, say) into a 400 naming field;
// other errors pass unchanged.
func fieldErr(err error, field, message string) error {
	var e *so.Error
	if errors.As(err, &e) && e.Code == so.EInvalid && len(e.Fields) == 0 {
		return invalid(field, message)
	}
	return err
}
