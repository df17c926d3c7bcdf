package web

import (
	"github.com/gin-gonic/gin"
	so "github.com/secondopinion/secondopinion"
)

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	// Fields lists each invalid field of a 400 "invalid" answer.
	Fields []so.FieldError `json:"fields,omitempty"`
	// Status is the case's current status of a 409 "state" answer.
	Status so.CaseStatus `json:"status,omitempty"`
}

// writeError answers with the error JSON and stops the handler chain. Messages are for
// users: never an internal error's text (the request id correlates with the logs).
func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: code, Message: message, RequestID: requestIDOf(c)})
}
