package secondopinion

import (
	"errors"
	"fmt"
	"strings"
)

// Code classifies an Error. The web layer maps each code to one HTTP status, in one place.
type Code string

// The codes, with the HTTP status the API answers them with.
const (
	EUnauthenticated    Code = "unauthenticated"     // 401: no valid session or token
	EInvalidCredentials Code = "invalid_credentials" // #nosec G101 -- an error code, not a credential. 401: login, link or invitation refused (one answer for every reason)
	ETOTPRequired       Code = "totp_required"       // 403: a staff subject without a passed second factor
	EForbidden          Code = "forbidden"           // 403: visible case or document, action not allowed
	ENotFound           Code = "not_found"           // 404: missing, or invisible to the caller: indistinguishable on purpose
	EExists             Code = "exists"              // 409: it exists already (an account with this email)
	EState              Code = "state"               // 409: not allowed in the case's current state (Error.Status)
	EConflict           Code = "conflict"            // 409: the state allows it, but something is missing first (the message says what)
	EInvalid            Code = "invalid"             // 400: malformed input (Error.Fields names the fields)
	EUnavailable        Code = "unavailable"         // 503: a dependency that must answer (audit, consent) cannot: fail closed
)

// Error is the one error type the domain returns to its callers. Other errors are internal:
// logged, never shown.
type Error struct {
	Code    Code
	Message string // for the user: never internal detail, never health data

	// Fields lists each invalid field of an EInvalid error.
	Fields []FieldError
	// Status is the case's current status of an EState error.
	Status CaseStatus
}

// FieldError is one problem with one field, named by its JSON path ("patient.birth_date",
// "consultation_types[1]"); Field is empty for a problem with the body as a whole.
type FieldError struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Sentinels, for errors.Is: an *Error matches the sentinel of its code, whatever its message.
var (
	ErrUnauthenticated    = &Error{Code: EUnauthenticated, Message: "sign in first"}
	ErrInvalidCredentials = &Error{Code: EInvalidCredentials, Message: "the credentials are not valid"}
	ErrTOTPRequired       = &Error{Code: ETOTPRequired, Message: "enrol and pass the second factor first"}
	ErrForbidden          = &Error{Code: EForbidden, Message: "you may not do this"}
	ErrNotFound           = &Error{Code: ENotFound, Message: "no such resource"}
	ErrExists             = &Error{Code: EExists, Message: "already exists"}
	ErrState              = &Error{Code: EState, Message: "not allowed in the case's current state"}
	ErrInvalid            = &Error{Code: EInvalid, Message: "invalid input"}
	ErrUnavailable        = &Error{Code: EUnavailable, Message: "temporarily unavailable; nothing was done"}
)

// Errorf returns an *Error of code with a formatted message for the user.
func Errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// StateError is the EState error of a case in status.
func StateError(status CaseStatus) *Error {
	return &Error{Code: EState, Message: fmt.Sprintf("not allowed while the case is %s", status), Status: status}
}

func (e *Error) Error() string {
	if e.Code == EInvalid && len(e.Fields) > 0 {
		parts := make([]string, len(e.Fields))
		for i, f := range e.Fields {
			if f.Field == "" {
				parts[i] = f.Message
			} else {
				parts[i] = f.Field + ": " + f.Message
			}
		}
		return "invalid input: " + strings.Join(parts, "; ")
	}
	if e.Message == "" {
		return string(e.Code)
	}
	return e.Message
}

// Is makes an *Error match every *Error of the same code, so that errors.Is(err, ErrNotFound)
// holds for any not-found error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// AddField records a problem with one field of an EInvalid error.
func (e *Error) AddField(field, format string, args ...any) {
	e.Fields = append(e.Fields, FieldError{Field: field, Message: fmt.Sprintf(format, args...)})
}

// Invalid returns an empty EInvalid error to collect field problems into with AddField; OrNil
// returns it only when it holds some.
func Invalid() *Error { return &Error{Code: EInvalid, Message: "the request is not valid; see fields"} }

// OrNil returns nil for an EInvalid error without fields, else e.
func (e *Error) OrNil() error {
	if e == nil || (e.Code == EInvalid && len(e.Fields) == 0) {
		return nil
	}
	return e
}

// ErrorCode returns the code of the first *Error in err's chain, or "" when there is none
// (an internal error).
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}
