package reqid

import (
	"context"
	"strings"
	"testing"
)

// Ids are "req_" and 24 lowercase hex digits, acceptable when echoed back
// by a client, and do not repeat.
func TestNew(t *testing.T) {
	seen := make(map[string]bool, 100000)
	for range 100000 {
		id := New()
		hexPart, ok := strings.CutPrefix(id, "req_")
		if !ok || len(hexPart) != 24 || strings.Trim(hexPart, "0123456789abcdef") != "" || !Valid(id) {
			t.Fatalf("malformed id %q", id)
		}
		if seen[id] {
			t.Fatalf("id %q repeated", id)
		}
		seen[id] = true
	}
}

func TestContextRoundTrip(t *testing.T) {
	if got := FromContext(context.Background()); got != "" {
		t.Fatalf("empty context: %q", got)
	}
	if got := FromContext(NewContext(context.Background(), "req_x")); got != "req_x" {
		t.Fatalf("got %q", got)
	}
}

func TestValid(t *testing.T) {
	for _, tt := range []struct {
		id   string
		want bool
	}{
		{"req_0123abcd", true}, {"a.b_c:d-E9", true}, {strings.Repeat("a", 128), true},
		{"", false}, {strings.Repeat("a", 129), false}, {"a b", false}, {"a\r\nX-Evil: 1", false}, {"é", false}, {"a/b", false},
	} {
		if got := Valid(tt.id); got != tt.want {
			t.Errorf("Valid(%q) = %v, want %v", tt.id, got, tt.want)
		}
	}
}

func BenchmarkNew(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		_ = New()
	}
}
