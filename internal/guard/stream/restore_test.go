package stream

import (
	"fmt"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard"
)

func TestRestorerAcrossChunks(t *testing.T) {
	p := redactAll
	p.Reversible = true
	m := guard.NewMask(true)
	redacted, _, err := Redact("mail jane.doe@example.org and card "+card, p, m)
	if err != nil {
		t.Fatal(err)
	}
	reply := "Sure: I will write to " + "[EMAIL_1]" + " and charge [CREDIT_CARD_1]. [not a placeholder"
	want := m.Restore(reply)
	if !strings.Contains(want, "jane.doe@example.org") || !strings.Contains(redacted, "[EMAIL_1]") {
		t.Fatalf("setup: %q / %q", want, redacted)
	}
	for _, size := range []int{1, 2, 3, 5, 8, 13, 100} {
		t.Run(fmt.Sprintf("chunk %d", size), func(t *testing.T) {
			r := NewRestorer(m)
			var out strings.Builder
			for i := 0; i < len(reply); i += size {
				out.WriteString(r.Write(reply[i:min(len(reply), i+size)]))
			}
			out.WriteString(r.Flush())
			if out.String() != want {
				t.Fatalf("got %q, want %q", out.String(), want)
			}
		})
	}
}

// FuzzRestorerAcrossChunks: however a text is cut into chunks, the
// restorer's output is mask.Restore of the whole text.
func FuzzRestorerAcrossChunks(f *testing.F) {
	m := guard.NewMask(true)
	for i := range 12 {
		m.Placeholder("EMAIL", fmt.Sprintf("u%d@example.com", i))
	}
	m.Placeholder("GENERIC_SECRET", "s3cr3t]with[brackets")
	f.Add("Sure: [EMAIL_1] and [EMAIL_12], not [EMAIL_13]. [GENERIC_SECRET_1] [[EMAIL_2]", uint8(3))
	f.Add("[EMAIL_"+strings.Repeat("1", 60)+"] [x [EMAIL_3", uint8(1))
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		size := int(n%16) + 1
		r := NewRestorer(m)
		var out strings.Builder
		for i := 0; i < len(text); i += size {
			out.WriteString(r.Write(text[i:min(len(text), i+size)]))
		}
		out.WriteString(r.Flush())
		if want := m.Restore(text); out.String() != want {
			t.Fatalf("chunks of %d: %q, want %q", size, out.String(), want)
		}
	})
}
