package sysmon

import (
	"slices"
	"strings"
	"testing"
)

var envCases = []struct {
	name    string
	in      []string
	want    []string
	changed bool
}{
	{"no GODEBUG", []string{"A=1", "B=2"}, []string{"A=1", "B=2", "GODEBUG=" + Setting}, true},
	{"empty environment", nil, []string{"GODEBUG=" + Setting}, true},
	{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + Setting, "A=1"}, true},
	{"other settings kept in place", []string{"A=1", "GODEBUG=http2client=0,madvdontneed=1", "B=2"},
		[]string{"A=1", "GODEBUG=http2client=0,madvdontneed=1," + Setting, "B=2"}, true},
	{"explicit default kept", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
	{"explicit value kept", []string{"GODEBUG=gctrace=1,schedtrace=1000"}, []string{"GODEBUG=gctrace=1,schedtrace=1000"}, false},
	{"already set by a re-exec", []string{"GODEBUG=" + Setting}, []string{"GODEBUG=" + Setting}, false},
	// The runtime reads the first GODEBUG; a later one must not survive to
	// confuse a reader of /proc/<pid>/environ.
	{"later GODEBUG dropped", []string{"GODEBUG=gctrace=1", "A=1", "GODEBUG=schedtrace=0"},
		[]string{"GODEBUG=gctrace=1," + Setting, "A=1"}, true},
	{"a later schedtrace does not count", []string{"GODEBUG=x=1", "GODEBUG=schedtrace=5"},
		[]string{"GODEBUG=x=1," + Setting}, true},
	{"a field without a value is ignored, as the runtime ignores it", []string{"GODEBUG=schedtrace"}, []string{"GODEBUG=schedtrace," + Setting}, true},
	{"key, not substring", []string{"GODEBUG=noschedtrace=1,schedtraced=2"}, []string{"GODEBUG=noschedtrace=1,schedtraced=2," + Setting}, true},
	{"not the GODEBUG variable", []string{"XGODEBUG=schedtrace=0", "GODEBUGX=1"},
		[]string{"XGODEBUG=schedtrace=0", "GODEBUGX=1", "GODEBUG=" + Setting}, true},
}

func TestEnv(t *testing.T) {
	for _, c := range envCases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.in)
			got, changed := Env(in)
			if changed != c.changed || !slices.Equal(got, c.want) {
				t.Fatalf("Env(%q) = %q, %v; want %q, %v", c.in, got, changed, c.want, c.changed)
			}
			if !slices.Equal(in, c.in) {
				t.Fatalf("Env modified its argument: %q", in)
			}
		})
	}
}

// FuzzEnv: whatever the environment, Env keeps every other variable in
// order; when it changes anything it leaves exactly one GODEBUG, ending in
// Setting; and it is a fixed point on its own output (a re-executed serve
// does not re-execute again).
func FuzzEnv(f *testing.F) {
	for _, c := range envCases {
		f.Add(strings.Join(c.in, "\n"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		in := strings.Split(joined, "\n")
		got, changed := Env(in)
		var debug []string
		var others, othersIn []string
		for _, kv := range got {
			if strings.HasPrefix(kv, "GODEBUG=") {
				debug = append(debug, kv)
			} else {
				others = append(others, kv)
			}
		}
		for _, kv := range in {
			if !strings.HasPrefix(kv, "GODEBUG=") {
				othersIn = append(othersIn, kv)
			}
		}
		if !slices.Equal(others, othersIn) {
			t.Fatalf("Env(%q) changed other variables: %q", in, got)
		}
		if changed && (len(debug) != 1 || !strings.HasSuffix(debug[0], "="+Setting) && !strings.HasSuffix(debug[0], ","+Setting)) {
			t.Fatalf("Env(%q) left GODEBUG entries %q", in, debug)
		}
		if !changed && !slices.Equal(got, in) {
			t.Fatalf("Env(%q) reported no change but returned %q", in, got)
		}
		if _, again := Env(got); again {
			t.Fatalf("Env is not a fixed point on %q", got)
		}
	})
}
