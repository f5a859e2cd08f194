package exectool

import (
	"strings"
	"testing"
)

// FuzzArgsMatcher checks that the anchoring cannot be escaped: whatever
// the argument, an accepted one is wholly letters or wholly digits.
func FuzzArgsMatcher(f *testing.F) {
	for _, s := range []string{"abc", "123", "abc;id", "1x", "-e", "", "a\x00b", "a\nid", "x|y"} {
		f.Add(s)
	}
	m, err := NewMatcher(`[a-z]+|[0-9]+`)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		if m.Match([]string{arg}) != nil {
			return
		}
		letters := arg != "" && strings.Trim(arg, "abcdefghijklmnopqrstuvwxyz") == ""
		digits := arg != "" && strings.Trim(arg, "0123456789") == ""
		if !letters && !digits {
			t.Fatalf("accepted %q", arg)
		}
	})
}
