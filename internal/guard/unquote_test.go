package guard

import (
	"encoding/json"
	"testing"
)

var unquoteCases = []struct {
	name, raw, want string
	ok              bool
}{
	{"plain", `hello`, "hello", true},
	{"simple escapes", `a\"b\\c\/d\be\ff\ng\rh\ti`, "a\"b\\c/d\be\ff\ng\rh\ti", true},
	{"unicode escape", `caf\u00e9 \u20AC`, "café €", true},
	{"surrogate pair", `\ud83d\ude00`, "😀", true},
	{"lone high surrogate", `\ud83dx`, "\uFFFDx", true},
	{"lone low surrogate", `\ude00`, "\uFFFD", true},
	{"high then non-low escape", `\ud83d\u0041`, "\uFFFDA", true},
	{"invalid utf-8 coerced", "a\xffb\\n", "a\uFFFDb\n", true},
	{"bad escape letter", `\x41`, "", false},
	{"no single-quote escape", `\'`, "", false},
	{"short unicode escape", `\u12`, "", false},
	{"non-hex unicode escape", `\u12G4`, "", false},
	{"trailing backslash", `ab\`, "", false},
}

func TestUnquote(t *testing.T) {
	for _, tt := range unquoteCases {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := unquote(tt.raw)
			if ok != tt.ok || got != tt.want {
				t.Fatalf("unquote(%q) = %q, %v; want %q, %v", tt.raw, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzUnquote checks unquote against encoding/json on any string token
// body json accepts, and that it never accepts one json refuses.
func FuzzUnquote(f *testing.F) {
	for _, tt := range unquoteCases {
		f.Add(tt.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		for i := 0; i < len(raw); i++ {
			switch {
			case raw[i] == '\\':
				i++ // the walk skips the escaped byte
			case raw[i] < 0x20 || raw[i] == '"':
				return // the walk rejects or ends the token here
			}
		}
		var want string
		err := json.Unmarshal([]byte(`"`+raw+`"`), &want)
		got, ok := unquote(raw)
		if (err == nil) != ok || ok && got != want {
			t.Fatalf("unquote(%q) = %q, %v; json: %q, %v", raw, got, ok, want, err)
		}
	})
}
