package guard

import (
	"context"
	"runtime"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
)

// TestScanDenseTextMemoryBounded scans 2 MB of text that is nothing but
// detections under a redacting policy and bounds what the scan allocates
// per byte of text. Numbers no threshold keeps ("370 3911" with no phone
// cue, a confidence-0 span every ten bytes) leave the text as it is: the
// detector grew its span slice to five times its size and copied every
// number's surroundings, and the engine copied every span before dropping
// it, 44 bytes per byte of text (1.4 GB for one body of the default 32 MiB
// limit). Phone numbers, each redacted, cost their spans, the spans kept,
// the findings and the redacted text: 49 bytes per byte when the findings
// grew by append.
func TestScanDenseTextMemoryBounded(t *testing.T) {
	e, _ := newEngine(t)
	p := mustPolicy(t, "pii=redact,secrets=redact,injection=off")
	for _, tt := range []struct {
		unit     string
		findings bool
		perByte  uint64
	}{
		{"370 3911, ", false, 8},
		{"+1 415 555 0100, ", true, 16},
	} {
		t.Run(tt.unit, func(t *testing.T) {
			text := strings.Repeat(tt.unit, (2<<20)/len(tt.unit))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			out, findings, err := e.ScanText(context.Background(), text, p, Untrusted, nil)
			runtime.ReadMemStats(&after)
			if err != nil || (out == text) == tt.findings || (len(findings) > 0) != tt.findings {
				t.Fatalf("scan found %d and changed the text: %v (err %v)", len(findings), out != text, err)
			}
			n := after.TotalAlloc - before.TotalAlloc
			t.Logf("%d bytes allocated for %d bytes of text: %.1f per byte", n, len(text), float64(n)/float64(len(text)))
			if n > tt.perByte*uint64(len(text)) {
				t.Fatalf("scan allocated %.1f bytes per byte of text, want at most %d", float64(n)/float64(len(text)), tt.perByte)
			}
		})
	}
}

// BenchmarkScanAdversarial measures a redacting scan of 1 MB of texts
// built to make the detectors report a span every few bytes, and of the
// gateway benchmark's prose to compare with.
func BenchmarkScanAdversarial(b *testing.B) {
	e, err := New(nil, WithVerdictCache(0))
	if err != nil {
		b.Fatal(err)
	}
	p := mustPolicy(b, "pii=redact,secrets=redact,injection=off")
	units := []string{"370 3911, ", "+1 415 555 0100, ", "key=", guardtest.Prose}
	guardtest.BenchPerMiB(b, units, func(b *testing.B, text string) {
		for b.Loop() {
			if _, _, err := e.ScanText(context.Background(), text, p, Untrusted, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
}
