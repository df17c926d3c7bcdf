package web

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// routes is the single route table of the service.
func (s *Server) routes() {
	e := s.engine
	e.Use(s.requestID, s.recoverPanics, s.securityHeaders, s.logRequests)
	e.NoRoute(func(c *gin.Context) { writeError(c, http.StatusNotFound, "not_found", "no such resource") })
	e.NoMethod(func(c *gin.Context) {
		writeError(c, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
	})

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", s.readyz)
	e.GET("/metrics", gin.WrapH(promhttp.HandlerFor(s.cfg.Registry, promhttp.HandlerOpts{})))

	api := e.Group("/api/v1", s.authenticate)
	s.mountUploads(api)
	authed := api.Group("", s.requireSubject)
	authed.GET("/documents/:id/content", s.documentContent)
	authed.DELETE("/documents/:id", s.deleteDocument)
}
