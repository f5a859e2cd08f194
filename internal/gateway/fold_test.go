package gateway

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

// The duplicate-name check stays linear: every name compared with every
// other made one 520 KB body of 40 000 members cost seconds of CPU (and a
// 32 MiB one hours), from any key with the llm scope.
func TestExtractManyMembersIsLinear(t *testing.T) {
	for _, wrap := range []struct{ name, pre, post string }{
		{"top level", `{"model":"fast"`, `}`},
		{"stream_options", `{"model":"fast","stream":true,"stream_options":{"include_usage":true`, `}}`},
	} {
		var b strings.Builder
		b.WriteString(wrap.pre)
		for i := range 40000 {
			fmt.Fprintf(&b, `,"k%07d":0`, i)
		}
		b.WriteString(wrap.post)
		start := time.Now()
		if _, err := Extract([]byte(b.String())); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("%s: Extract of 40000 members (%d bytes) took %v", wrap.name, b.Len(), d)
		}
		// A repeat past the linear part is still found.
		dup := strings.TrimSuffix(b.String(), wrap.post) + `,"K0039999":1` + wrap.post
		if _, err := Extract([]byte(dup)); !errors.Is(err, ErrDuplicateField) {
			t.Errorf("%s: a case-folded repeat of the last member: %v", wrap.name, err)
		}
	}
}
