// Package llmtest holds test helpers for the llm codecs: golden files with
// an -update flag, an SSE frame splitter, and a registry of the three
// dialect codecs so cross-dialect tests can iterate over them. It is
// imported only by tests.
package llmtest

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/ with the current output")

// Golden compares got with the file at path, or rewrites the file when the
// test runs with -update.
func Golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden %s (run with -update to create): %v", path, err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run with -update if intended)\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// Indent pretty-prints compact JSON for readable golden files.
func Indent(t *testing.T, raw []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := json.Indent(&buf, raw, "", "  "); err != nil {
		t.Fatalf("indent: %v\n%s", err, raw)
	}
	buf.WriteByte('\n')
	return buf.Bytes()
}

// MustJSON marshals v indented, failing the test on error.
func MustJSON(t *testing.T, v any) []byte {
	t.Helper()
	raw, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(raw, '\n')
}

// Frame is one SSE event.
type Frame struct {
	Event string
	Data  []byte
}

// SplitSSE splits an SSE body into events (blank-line separated; event and
// data fields; comments skipped). It is a test aid, not the gateway's parser.
func SplitSSE(body []byte) []Frame {
	var out []Frame
	for _, block := range strings.Split(strings.ReplaceAll(string(body), "\r\n", "\n"), "\n\n") {
		var f Frame
		var data []string
		for _, line := range strings.Split(block, "\n") {
			switch {
			case strings.HasPrefix(line, "event:"):
				f.Event = strings.TrimSpace(line[len("event:"):])
			case strings.HasPrefix(line, "data:"):
				data = append(data, strings.TrimPrefix(line[len("data:"):], " "))
			}
		}
		if data != nil {
			f.Data = []byte(strings.Join(data, "\n"))
			out = append(out, f)
		}
	}
	return out
}
