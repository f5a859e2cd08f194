// Package eval measures the guardrail detectors against the labelled
// corpora vendored in testdata/ (see testdata/SOURCES.md). It owns the
// deterministic tune/held-out split, the corpus loaders and the scoring, so
// that cmd/guard-eval (reporting) and cmd/guard-train (training on the tune
// part only) can never disagree about which record is in which part.
package eval

import (
	"crypto/sha256"
	"embed"
	"encoding/binary"
)

//go:embed testdata/pii/synth_dataset_v2.json testdata/injection/*.jsonl
var corpora embed.FS

// Split names.
const (
	Tune    = "tune"
	HeldOut = "held-out"
)

// SplitOf assigns a record to Tune (70 %) or HeldOut (30 %) by the SHA-256
// of its key, normally the record's text. Records that share a key (the four
// JailbreakBench attacks on one goal) therefore always land together, so no
// held-out goal is seen while tuning.
func SplitOf(key string) string {
	h := sha256.Sum256([]byte(key))
	if binary.BigEndian.Uint32(h[:4])%100 < 70 {
		return Tune
	}
	return HeldOut
}
