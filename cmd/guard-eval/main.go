// Command guard-eval measures Bulwark's guardrail detectors on the labelled
// corpora vendored in internal/guard/eval/testdata and prints per-entity
// precision/recall/F1 for PII and per-source TPR/FPR for prompt injection,
// for the tune part and the held-out part separately. Only the held-out
// numbers are the ones to quote: thresholds and weights were fitted on the
// tune part.
//
// Usage: go run ./cmd/guard-eval [-split held-out|tune|both]
package main

import (
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/bulwarkhq/bulwark/internal/guard/eval"
	"github.com/bulwarkhq/bulwark/internal/guard/pii"
	"github.com/bulwarkhq/bulwark/internal/guard/secrets"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

func main() {
	split := flag.String("split", "both", "which part to report: tune, held-out or both")
	flag.Parse()
	if err := run(os.Stdout, *split); err != nil {
		_, _ = fmt.Fprintln(os.Stderr, "guard-eval:", err) // nowhere left to report a stderr failure
		os.Exit(1)
	}
}

func run(w io.Writer, split string) error {
	var splits []string
	switch split {
	case "both":
		splits = []string{eval.Tune, eval.HeldOut}
	case eval.Tune, eval.HeldOut:
		splits = []string{split}
	default:
		return fmt.Errorf("unknown -split %q (want tune, held-out or both)", split)
	}
	exs, err := eval.LoadPII()
	if err != nil {
		return err
	}
	p := &report{w: w}
	for _, s := range splits {
		p.printf("\n## PII — presidio-research synth_dataset_v2, %s part\n\n", s)
		p.printf("| type | gold | predicted | TP | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range eval.ScorePII(exs, s, pii.Detect) {
			p.printf("| %s | %d | %d | %d | %.3f | %.3f | %.3f |\n", r.Type, r.Gold, r.Pred, r.TP, r.Precision(), r.Recall(), r.F1())
		}
	}
	if p.err != nil {
		return p.err
	}
	if err := synthetic(w); err != nil {
		return err
	}
	return injectionReport(w, splits)
}

// report writes the markdown report and keeps the first write error, so a
// report that did not reach its reader fails the run. Not safe for
// concurrent use.
type report struct {
	w   io.Writer
	err error
}

func (r *report) printf(format string, args ...any) {
	if r.err == nil {
		_, r.err = fmt.Fprintf(r.w, format, args...)
	}
}

// synthetic reports Bulwark's own generated cases: types the presidio set
// lacks or has too few of. Not independent data: see eval.Synthetic.
func synthetic(w io.Writer) error {
	const perType = 200
	p := &report{w: w}
	p.printf("\n## PII and secrets — Bulwark's generated cases (%d valid values per type, plus %d broken-checksum negatives per checksummed type; not independent data)\n\n", perType, perType)
	p.printf("| type | gold | predicted | TP | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|\n")
	detect := func(text string) []span.Span {
		return span.ResolveRanked(append(pii.Detect(text), secrets.Detect(text)...), predicted)
	}
	for _, r := range eval.ScorePII(eval.Synthetic(perType), eval.HeldOut, detect) {
		p.printf("| %s | %d | %d | %d | %.3f | %.3f | %.3f |\n", r.Type, r.Gold, r.Pred, r.TP, r.Precision(), r.Recall(), r.F1())
	}
	return p.err
}

// predicted ranks the spans that are predictions 1: a candidate of
// confidence 0 is none (see pii.Detect).
func predicted(s span.Span) int {
	if s.Confidence > 0 {
		return 1
	}
	return 0
}
