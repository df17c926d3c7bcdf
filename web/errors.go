package web

import (
	"github.com/gin-gonic/gin"
)

// errorBody is the JSON shape of every error answer.
type errorBody struct {
	Error     string `json:"error"`
	Message   string `json:"message"`
	RequestID string `json:"request_id"`
}

// writeError answers with the error JSON and stops the handler chain. Messages are for
// users: never an internal error's text (the request id correlates with the logs).
func writeError(c *gin.Context, status int, code, message string) {
	c.AbortWithStatusJSON(status, errorBody{Error: code, Message: message, RequestID: requestIDOf(c)})
}
