package web

import (
	"github.com/gin-gonic/gin"

	"github.com/secondopinion/secondopinion/cases"
)

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
	// Fields lists each invalid field of a 400 "invalid" answer.
	Fields []cases.FieldError `json:"fields,omitempty"`
}

// writeError answers with the error JSON and stops the handler chain. Messages are for
// users: never an internal error's text (the request id correlates with the logs).
func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: code, Message: message, RequestID: requestIDOf(c)})
}
