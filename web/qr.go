package web

import (
	"fmt"
	"html/template"
	"strings"

	"github.com/boombuler/barcode/qr"
)

// qrSVG draws text as a QR code in inline SVG: one path of dark modules, no style, no script,
// nothing fetched (the CSP allows it as it is). The TOTP enrolment page shows the otpauth URI
// this way, so the secret never leaves the page for a QR service or an image URL.
func qrSVG(text, label string) (template.HTML, error) {
	code, err := qr.Encode(text, qr.M, qr.Auto)
	if err != nil {
		return "", fmt.Errorf("QR code: %w", err)
	}
	b := code.Bounds()
	const quiet = 4 // modules of white border, as the standard asks
	w := b.Dx() + 2*quiet
	var d strings.Builder
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			if r, _, _, _ := code.At(x, y).RGBA(); r == 0 {
				fmt.Fprintf(&d, "M%d %dh1v1h-1z", x-b.Min.X+quiet, y-b.Min.Y+quiet)
			}
		}
	}
	return template.HTML(fmt.Sprintf(`<svg class="qr" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" role="img" aria-label="%s" shape-rendering="crispEdges"><rect width="%d" height="%d" fill="#fff"/><path d="%s" fill="#000"/></svg>`, // #nosec G203 -- only numbers and the HTML-escaped label go into this SVG
		w, w, template.HTMLEscapeString(label), w, w, d.String())), nil
}
