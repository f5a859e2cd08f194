package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// TestReproducesEmbeddedWeights retrains with the default settings and
// requires the committed model.bin byte for byte: the weights are what
// `go run ./cmd/guard-train` produces from the tune part, and a change to
// features, rules or training that is not followed by a retrain fails here.
func TestReproducesEmbeddedWeights(t *testing.T) {
	out := filepath.Join(t.TempDir(), "model.bin")
	if err := run(out, 0.015, 40, 3); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile("../../internal/guard/injection/model.bin")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("retrained weights differ from internal/guard/injection/model.bin: run go run ./cmd/guard-train")
	}
}
