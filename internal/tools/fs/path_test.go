package fs

import (
	"errors"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"unicode"
)

var pathCases = []struct {
	name string
	in   string
	want string // "" means refused
}{
	{"plain file", "a.txt", "a.txt"},
	{"nested", "dir/sub/a.txt", "dir/sub/a.txt"},
	{"dot root", ".", "."},
	{"inner dotdot stays inside", "a/../b.txt", "b.txt"},
	{"trailing slash", "dir/", "dir"},
	{"dot dot dot name", ".../x", ".../x"},
	{"percent encoded is literal", "%2e%2e%2fetc", "%2e%2e%2fetc"},
	{"unicode name", "café/ñ.txt", "café/ñ.txt"},
	{"empty", "", ""},
	{"absolute", "/etc/passwd", ""},
	{"double slash absolute", "//etc/passwd", ""},
	{"parent", "..", ""},
	{"parent file", "../x", ""},
	{"escape after descent", "a/../../x", ""},
	{"deep escape", "a/b/../../../../etc/passwd", ""},
	{"backslash traversal", `..\..\windows\win.ini`, ""},
	{"backslash absolute", `\etc\passwd`, ""},
	{"nul byte", "a.txt\x00.png", ""},
	{"newline", "a\nb", ""},
	{"tab", "a\tb", ""},
	{"del", "a\x7fb", ""},
	{"c1 control", "a\u0085b", ""},
	{"invalid utf8", "a\xffb", ""},
	{"too long", strings.Repeat("a/", 600) + "x", ""},
	{"long component", strings.Repeat("x", 256), ""},
	{"too deep", strings.Repeat("d/", 70) + "x", ""},
}

func TestValidatePath(t *testing.T) {
	for _, tt := range pathCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ValidatePath(tt.in)
			if tt.want == "" {
				if !errors.Is(err, ErrInvalidPath) {
					t.Fatalf("ValidatePath(%q) = %q, %v; want ErrInvalidPath", tt.in, got, err)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ValidatePath(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestInGitDir(t *testing.T) {
	tests := []struct {
		in   string
		want bool
	}{
		{".git/config", true},
		{".GIT/config", true},
		{"sub/.Git/hooks/pre-commit", true},
		{".git./config", true},
		{".git /config", true},
		{".git", true},
		{".gitignore", false},
		{"git/config", false},
		{"a.git/x", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if got := inGitDir(tt.in); got != tt.want {
				t.Fatalf("inGitDir(%q) = %v, want %v", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzValidatePath(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := ValidatePath(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v does not wrap ErrInvalidPath", err)
			}
			return
		}
		if !filepath.IsLocal(got) || path.Clean(got) != got {
			t.Fatalf("ValidatePath(%q) = %q: not a clean local path", in, got)
		}
		if strings.HasPrefix(got, "/") || strings.Contains(got, "\\") || got == ".." || strings.HasPrefix(got, "../") {
			t.Fatalf("ValidatePath(%q) = %q escapes", in, got)
		}
		for _, r := range got {
			if unicode.IsControl(r) {
				t.Fatalf("ValidatePath(%q) kept a control character", in)
			}
		}
	})
}
