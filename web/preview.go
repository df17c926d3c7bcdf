package web

import (
	"bufio"
	"errors"
	"image/png"
	"io"
	"net/http"

	"github.com/gin-gonic/gin"
	"golang.org/x/image/tiff"
)

// maxPreviewPixels bounds the TIFF a preview decodes: a scan of a few A4 pages at 300 dpi.
// Larger images are downloaded instead (decoding holds every pixel in memory).
const maxPreviewPixels = 40_000_000

var errNoPreview = &codedError{status: http.StatusUnprocessableEntity, code: "no_preview",
	msg: "this document has no preview: download it"}

// GET /api/v1/documents/{id}/preview: a TIFF image (which browsers do not show) as a PNG, for
// the document viewer. The same promise as the content route (policy, consent gate, storage,
// audit entry before anything flows); the image is decoded in memory, never written anywhere.
// Other types answer 422 no_preview.
func (s *Server) documentPreview(c *gin.Context) {
	doc, stored, content, size, ok := s.openDocument(c)
	if !ok {
		return
	}
	if closer, ok := content.(io.Closer); ok {
		defer closer.Close()
	}
	if stored.SniffedType != "tiff" {
		s.fail(c, errNoPreview)
		return
	}
	r := io.NewSectionReader(content, 0, size)
	cfg, err := tiff.DecodeConfig(bufio.NewReader(r))
	if err != nil || cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > maxPreviewPixels {
		s.fail(c, errNoPreview)
		return
	}
	img, err := tiff.Decode(io.NewSectionReader(content, 0, size))
	if err != nil {
		s.fail(c, errors.Join(errNoPreview, err))
		return
	}
	h := c.Writer.Header()
	h.Set("Content-Type", "image/png")
	h.Set("Content-Disposition", contentDisposition("inline", doc.Filename+".png", "preview.png"))
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	c.Status(http.StatusOK)
	if err := png.Encode(c.Writer, img); err != nil {
		loggerOf(c).Warn("preview cut short", "err", err)
	}
}
