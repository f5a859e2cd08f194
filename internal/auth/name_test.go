package auth

import (
	"regexp"
	"strings"
	"testing"
)

// nameRef is the definition validName implements.
var nameRef = regexp.MustCompile(`^[\p{L}\p{N} ._:@/-]{1,128}$`)

var nameCases = []struct {
	name string
	in   string
	want bool
}{
	{"plain", "ci deploy", true},
	{"punctuation allowed", "team.a_b:c@d/e-f", true},
	{"unicode letters and numbers", "Équipe ñ 東京 ٣", true},
	{"empty", "", false},
	{"128 runes", strings.Repeat("é", 128), true},
	{"129 runes", strings.Repeat("é", 129), false},
	{"newline", "a\nb", false},
	{"trailing newline", "ab\n", false},
	{"quote", `a"b`, false},
	{"invalid utf-8", "a\xffb", false},
	{"control", "a\x00", false},
	{"emoji", "ok 👍", false},
}

func TestValidName(t *testing.T) {
	for _, tt := range nameCases {
		t.Run(tt.name, func(t *testing.T) {
			if got := validName(tt.in); got != tt.want {
				t.Fatalf("validName(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if ref := nameRef.MatchString(tt.in); ref != tt.want {
				t.Fatalf("reference regexp disagrees with the table on %q", tt.in)
			}
		})
	}
}

// FuzzValidName checks validName against the regular expression it replaces.
func FuzzValidName(f *testing.F) {
	for _, tt := range nameCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := validName(s), nameRef.MatchString(s); got != want {
			t.Fatalf("validName(%q) = %v, regexp %v", s, got, want)
		}
	})
}
