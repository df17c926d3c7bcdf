package web

import (
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/gin-gonic/gin"
)

// openAPIDocument is the OpenAPI 3.1 description of every route of routes.go, written by hand.
// openapi_test.go holds it to the route table both ways, and to the answers of the handlers.
//
//go:embed openapi.json
var openAPIDocument []byte

// openAPIETag is the entity tag of openAPIDocument: a new binary with a changed document gets
// a new tag, so caches revalidate.
var openAPIETag = func() string {
	sum := sha256.Sum256(openAPIDocument)
	return `"` + hex.EncodeToString(sum[:16]) + `"`
}()

// GET /api/v1/openapi.json: the document, to anyone. It may be cached for five minutes and
// then revalidated with If-None-Match.
func (s *Server) openAPI(c *gin.Context) {
	c.Header("Cache-Control", "public, max-age=300")
	c.Header("ETag", openAPIETag)
	if etagListed(c.GetHeader("If-None-Match"), openAPIETag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, "application/json", openAPIDocument)
}

// etagListed reports whether an If-None-Match value names tag: "*", or a list of entity tags
// compared weakly (RFC 9110, section 13.1.2).
func etagListed(header, tag string) bool {
	for t := range strings.SplitSeq(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == "*" || t == tag {
			return true
		}
	}
	return false
}
