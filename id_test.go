package secondopinion_test

import (
	"strings"
	"testing"

	so "github.com/secondopinion/secondopinion"
)

func TestValidID(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"123e4567-e89b-12d3-a456-426614174000", true},
		{"123E4567-E89B-12D3-A456-426614174000", false}, // only the lower-case form this service prints
		{"123e4567e89b12d3a456426614174000", false},
		{"123e4567-e89b-12d3-a456-42661417400", false},
		{"123e4567-e89b-12d3-a456-4266141740000", false},
		{"123e4567-e89b-12d3-a456_426614174000", false},
		{"123e4567-e89b-12d3-a456-42661417400g", false},
		{"", false},
	} {
		if got := so.ValidID(tt.id); got != tt.want {
			t.Errorf("ValidID(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func FuzzValidID(f *testing.F) {
	f.Add("123e4567-e89b-12d3-a456-426614174000")
	f.Add("123e4567e89b12d3a456426614174000")
	f.Fuzz(func(t *testing.T, s string) {
		if !so.ValidID(s) {
			return
		}
		if len(s) != 36 || strings.Count(s, "-") != 4 || strings.Trim(strings.ReplaceAll(s, "-", ""), "0123456789abcdef") != "" {
			t.Fatalf("accepted %q", s)
		}
	})
}
