package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

var droppedTests = []struct {
	name    string
	in      []string
	header  string
	feature string // a metric label that must be counted
}{
	{"known features", []string{"thinking", "cache_control"}, "cache_control,thinking", "cache_control"},
	{"client extension key kept when plain", []string{"context_management"}, "context_management", "context_management"},
	{"odd extension key hidden", []string{"x\r\nSet-Cookie: a=b"}, "extension", "extension"},
	{"unknown plain key counted as extension", []string{"my_field"}, "my_field", "extension"},
	{"content part type bounded", []string{"content_part_audio"}, "content_part_audio", "content_part"},
	{"overlong name hidden", []string{strings.Repeat("a", 65)}, "extension", "extension"},
	{"nothing dropped", nil, "", ""},
}

func TestDroppedHeaderAndMetric(t *testing.T) {
	for _, tt := range droppedTests {
		t.Run(tt.name, func(t *testing.T) {
			var d llm.Dropped
			for _, f := range tt.in {
				d.Add(f)
			}
			h := http.Header{}
			setDropped(h, d)
			if got := h.Get(HeaderDropped); got != tt.header {
				t.Errorf("header = %q, want %q", got, tt.header)
			}
			reg := prometheus.NewRegistry()
			c, err := newDroppedCounter(reg)
			if err != nil {
				t.Fatal(err)
			}
			g := &Gateway{dropped: c}
			g.countDropped(d)
			if tt.feature != "" && counterValue(t, reg, "bulwark_translation_dropped_total", tt.feature) != 1 {
				t.Errorf("feature %q not counted once", tt.feature)
			}
		})
	}
}

// FuzzSetDropped checks that whatever feature names a client's body
// produces, the header holds only plain names, at most maxDroppedListed.
func FuzzSetDropped(f *testing.F) {
	for _, tt := range droppedTests {
		f.Add(strings.Join(tt.in, ","))
	}
	f.Fuzz(func(t *testing.T, names string) {
		var d llm.Dropped
		for n := range strings.SplitSeq(names, ",") {
			d.Add(n)
		}
		h := http.Header{}
		setDropped(h, d)
		v := h.Get(HeaderDropped)
		if v == "" {
			return
		}
		parts := strings.Split(v, ",")
		if len(parts) > maxDroppedListed {
			t.Fatalf("%d names listed", len(parts))
		}
		for _, p := range parts {
			if !plainName(p) {
				t.Fatalf("header carries %q", p)
			}
		}
	})
}
