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
		fmt.Fprintln(os.Stderr, "guard-eval:", err)
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
	for _, s := range splits {
		fmt.Fprintf(w, "\n## PII — presidio-research synth_dataset_v2, %s part\n\n", s)
		fmt.Fprintf(w, "| type | gold | predicted | TP | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|\n")
		for _, r := range eval.ScorePII(exs, s, pii.Detect) {
			fmt.Fprintf(w, "| %s | %d | %d | %d | %.3f | %.3f | %.3f |\n", r.Type, r.Gold, r.Pred, r.TP, r.Precision(), r.Recall(), r.F1())
		}
	}
	synthetic(w)
	return injectionReport(w, splits)
}

// synthetic reports Bulwark's own generated cases: types the presidio set
// lacks or has too few of. Not independent data: see eval.Synthetic.
func synthetic(w io.Writer) {
	const perType = 200
	fmt.Fprintf(w, "\n## PII and secrets — Bulwark's generated cases (%d valid values per type, plus %d broken-checksum negatives per checksummed type; not independent data)\n\n", perType, perType)
	fmt.Fprintf(w, "| type | gold | predicted | TP | precision | recall | F1 |\n|---|---:|---:|---:|---:|---:|---:|\n")
	detect := func(text string) []span.Span {
		return span.Resolve(append(pii.Detect(text), secrets.Detect(text)...))
	}
	for _, r := range eval.ScorePII(eval.Synthetic(perType), eval.HeldOut, detect) {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %.3f | %.3f | %.3f |\n", r.Type, r.Gold, r.Pred, r.TP, r.Precision(), r.Recall(), r.F1())
	}
}
