package secrets

import (
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
)

// assignments are texts of one assignment to a secret-looking name every
// few bytes, whose values run on: each is judged on its first 512 bytes,
// which the next assignments' values share. Upper case and non-ASCII
// values made strings.ToLower copy each window.
var assignments = []string{"key=", "key:", "KEY=", "Key=\u0130"}

// TestAssignmentsCostNearProse holds Detect on 2 MB of assignments to at
// most 100 times its cost on 2 MB of prose. Judging 512 bytes afresh per
// assignment cost about 300 times as much (3 s for 8 MB of "key=").
func TestAssignmentsCostNearProse(t *testing.T) {
	prose := strings.Repeat(guardtest.Prose, (2<<20)/len(guardtest.Prose))
	for _, unit := range assignments {
		t.Run(unit, func(t *testing.T) {
			text := strings.Repeat(unit, (2<<20)/len(unit))
			guardtest.CheckCost(t, func() { Detect(prose) }, func() { Detect(text) }, 100, 20*time.Millisecond)
		})
	}
}

// TestAssignmentsAllocateNothingPerValue holds Detect on 2 MB of
// assignments to allocating less than 64 KiB: 8 MB of "KEY=" made it
// allocate a 512-byte lower-cased copy per assignment, 1 GB in all.
func TestAssignmentsAllocateNothingPerValue(t *testing.T) {
	for _, unit := range assignments {
		t.Run(unit, func(t *testing.T) {
			text := strings.Repeat(unit, (2<<20)/len(unit))
			runtime.GC()
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			Detect(text)
			runtime.ReadMemStats(&after)
			if n := after.TotalAlloc - before.TotalAlloc; n > 64<<10 {
				t.Fatalf("Detect allocated %d bytes for %d bytes of %q", n, len(text), unit)
			}
		})
	}
}

// BenchmarkDetectAdversarial measures Detect on 1 MB of each text of
// assignments, and of the gateway benchmark's prose to compare with.
func BenchmarkDetectAdversarial(b *testing.B) {
	guardtest.BenchPerMiB(b, append(assignments, guardtest.Prose), func(b *testing.B, text string) {
		for b.Loop() {
			Detect(text)
		}
	})
}
