package mail_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/secondopinion/secondopinion/mail"
)

// NewMailer parses configuration that holds a password: whatever it is given, it does not
// panic, answers a working Sender or ErrInvalid, and never repeats the password in an error.
func FuzzNewMailer(f *testing.F) {
	for _, s := range []string{"smtp://user:pw@mail.example.org?from=so@example.org", "smtps://h:465", "file:///tmp/x",
		"smtp://h?from=Eve%20%3Ce@x%3E", "::", "smtp://u:p@[::1]:25", "smtp://%zz", "file://"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		s, err := mail.NewMailer(raw)
		if err != nil {
			if !errors.Is(err, mail.ErrInvalid) {
				t.Fatalf("NewMailer(%q) = %v, not ErrInvalid", raw, err)
			}
			if u, perr := url.Parse(raw); perr == nil && u.User != nil {
				if pw, ok := u.User.Password(); ok && len(pw) >= 4 && strings.Contains(err.Error(), pw) {
					t.Fatalf("error %q shows the password", err)
				}
			}
			return
		}
		switch m := s.(type) {
		case *mail.SMTPMailer:
			if m.Addr == "" || m.From == "" {
				t.Fatalf("%q: %+v", raw, m)
			}
		case *mail.DirMailer:
			if m.Dir == "" || m.From == "" {
				t.Fatalf("%q: %+v", raw, m)
			}
		default:
			t.Fatalf("%q: %T", raw, s)
		}
	})
}

// A link that passes the check is an absolute http(s) URL of printable ASCII, that parses back
// to itself: no sentence can hide in it unencoded.
func FuzzLink(f *testing.F) {
	for _, s := range []string{"https://so.test/app/signin/link?token=sl_x", "http://h", "https://h/a b", "https://u@h/",
		"javascript:alert(1)", "https://h/è", "//h/x", "https://h/%zz", "HTTPS://h"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, link string) {
		if err := mail.CheckLink(link); err != nil {
			if !errors.Is(err, mail.ErrInvalid) {
				t.Fatalf("CheckLink(%q) = %v", link, err)
			}
			return
		}
		u, err := url.Parse(link)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil || u.String() != link ||
			strings.ContainsAny(link, " \t\r\n") {
			t.Fatalf("accepted %q", link)
		}
	})
}
