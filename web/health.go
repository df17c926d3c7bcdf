package web

import (
	"context"
	"net/http"
	"sync"

	"github.com/gin-gonic/gin"
)

// healthz answers while the process runs.
func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz runs every readiness check concurrently. It answers 200 only when all pass; the body
// names the failing checks (details go to the log, not to the caller).
func (s *Server) readyz(c *gin.Context) {
	results := make(map[string]string, len(s.cfg.Ready))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, chk := range s.cfg.Ready {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(c.Request.Context(), s.cfg.ReadyTimeout)
			defer cancel()
			res := "ok"
			if err := chk.Fn(ctx); err != nil {
				res = "failing"
				loggerOf(c).Warn("readiness check failed", "check", chk.Name, "err", err)
			}
			mu.Lock()
			results[chk.Name] = res
			mu.Unlock()
		}()
	}
	wg.Wait()
	status, code := "ready", http.StatusOK
	for _, r := range results {
		if r != "ok" {
			status, code = "unavailable", http.StatusServiceUnavailable
		}
	}
	c.JSON(code, gin.H{"status": status, "checks": results})
}
