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
