package mail

import "time"

// RenderWith renders m with the catalogue c, times in loc, without validating it.
func RenderWith(c *Catalogue, m Message, loc *time.Location) (subject, body string, err error) {
	return c.render(m, loc)
}

// CheckLink is the check of Params.Link without a public URL.
func CheckLink(link string) error { return checkLink(link, nil) }
