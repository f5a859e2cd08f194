package span

import "testing"

func TestPlaceholderAt(t *testing.T) {
	for _, typ := range []string{"EMAIL", "CREDIT_CARD", "US_SSN", "GENERIC_SECRET", "INJECTION"} {
		for _, n := range []int{1, 42, 1234567} {
			ph := Placeholder(typ, n)
			text := "x" + ph + "y"
			if got := PlaceholderAt(text, 1); got != 1+len(ph) {
				t.Errorf("PlaceholderAt(%q, 1) = %d, want %d", text, got, 1+len(ph))
			}
			if !PlaceholderBefore(text, 1+len(ph)) {
				t.Errorf("PlaceholderBefore(%q, %d) = false", text, 1+len(ph))
			}
		}
	}
	for _, text := range []string{"[phone_1]", "[PHONE]", "[PHONE_]", "[_1]", "[PHONE_1x]", "[PHONE_1", "[PH ONE_1]", "[1_1]", "PHONE_1]", "[" + string(make([]byte, 40)) + "_1]"} {
		if got := PlaceholderAt(text, 0); got != 0 {
			t.Errorf("PlaceholderAt(%q, 0) = %d, want 0", text, got)
		}
		if PlaceholderBefore(text, len(text)) {
			t.Errorf("PlaceholderBefore(%q) = true", text)
		}
	}
}
