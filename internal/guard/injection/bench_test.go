package injection

import (
	"os"
	"testing"
)

// benchTurn returns the default detector and the user turn of
// bench/bodies/chat_bulwark.json, the ~550-byte clean ASCII prompt of the
// gateway benchmark.
func benchTurn(tb testing.TB) (*Detector, string) {
	tb.Helper()
	raw, err := os.ReadFile("testdata/bench_turn.txt")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := Default()
	if err != nil {
		tb.Fatal(err)
	}
	return d, string(raw)
}

// BenchmarkDetectBenchTurn measures Detect on the gateway benchmark's
// prompt.
func BenchmarkDetectBenchTurn(b *testing.B) {
	d, text := benchTurn(b)
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	for b.Loop() {
		d.Detect(text)
	}
}
