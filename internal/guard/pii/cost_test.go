package pii

import (
	"runtime"
	"strings"
	"testing"
	"unsafe"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// adversarial are texts that make Detect report a span every few bytes:
// ambiguous numbers with no cue (spans of confidence 0), phones, one digit
// run of a million groups, IPv4, e-mail and IPv6 addresses, and a mix that
// the three scanners report in turn.
var adversarial = []string{"370 3911, ", "+1 415 555 0100, ", "1-", "1.2.", "a@b.co,", "1::2:3 ", "370 3911, a@b.co, "}

// amplifying are the adversarial texts whose spans take less room than 8
// times the text (a span is 56 bytes; "a@b.co," holds one every 7 bytes).
var amplifying = adversarial[:4]

// allocated returns the bytes allocated by the fewest-allocating of three
// calls of fn, and what fn returned then.
func allocated(fn func() []span.Span) (uint64, []span.Span) {
	best, spans := ^uint64(0), []span.Span(nil)
	for range 3 {
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		got := fn()
		runtime.ReadMemStats(&after)
		if n := after.TotalAlloc - before.TotalAlloc; n < best {
			best, spans = n, got
		}
	}
	return best, spans
}

// TestDetectMemoryBoundedByText holds Detect to allocating at most 8 bytes
// per byte of text on texts that are nothing but detections: one request
// body of 32 MiB made Detect allocate 1.2 GB of "370 3911, " (38 bytes per
// byte: a confidence-0 span every ten bytes, its slice grown by append and
// a lower-cased copy of every number's surroundings) and 2 GB of "1-" (the
// run's million groups held at once).
func TestDetectMemoryBoundedByText(t *testing.T) {
	for _, unit := range amplifying {
		t.Run(unit, func(t *testing.T) {
			text := strings.Repeat(unit, (2<<20)/len(unit))
			n, _ := allocated(func() []span.Span { return Detect(text) })
			t.Logf("%d bytes allocated for %d bytes of text: %.2f per byte", n, len(text), float64(n)/float64(len(text)))
			if n > 8*uint64(len(text)) {
				t.Fatalf("Detect allocated %d bytes for %d bytes of %q: %.1f per byte, want at most 8", n, len(text), unit, float64(n)/float64(len(text)))
			}
		})
	}
}

// TestDetectAllocatesLittleBeyondItsSpans holds Detect to allocating little
// more than the spans it returns, whatever the text: at most twice their
// bytes (a text dense with two scanners' spans grows the slice twice),
// plus a fixed 64 KiB. append grew the slice to five times its final size.
func TestDetectAllocatesLittleBeyondItsSpans(t *testing.T) {
	for _, unit := range append(adversarial, guardtest.Prose) {
		t.Run(unit, func(t *testing.T) {
			text := strings.Repeat(unit, (1<<20)/len(unit))
			n, spans := allocated(func() []span.Span { return Detect(text) })
			size := uint64(len(spans)) * uint64(unsafe.Sizeof(span.Span{}))
			t.Logf("%d bytes allocated for %d spans of %d bytes: %.2f×", n, len(spans), size, float64(n)/float64(max(size, 1)))
			if n > 2*size+64<<10 {
				t.Fatalf("Detect allocated %d bytes to return %d spans (%d bytes)", n, len(spans), size)
			}
		})
	}
}

// BenchmarkDetectAdversarial measures Detect on 1 MB of each adversarial
// text, and of the gateway benchmark's prose to compare with.
func BenchmarkDetectAdversarial(b *testing.B) {
	guardtest.BenchPerMiB(b, append(adversarial, guardtest.Prose), func(b *testing.B, text string) {
		for b.Loop() {
			Detect(text)
		}
	})
}
