package main

import (
	"io"

	"github.com/bulwarkhq/bulwark/internal/guard/eval"
	"github.com/bulwarkhq/bulwark/internal/guard/injection"
)

// injection prints TPR per positive source, FPR per negative source and
// the pooled TPR / macro-averaged FPR, for the full detector (rules, model
// and decoding) at its default threshold of 0.5.
func injectionReport(w io.Writer, splits []string) error {
	exs, err := eval.LoadInjection()
	if err != nil {
		return err
	}
	det, err := injection.Default()
	if err != nil {
		return err
	}
	flag := func(t string) bool { return det.Detect(t).Score >= 0.5 }
	// JailbreakBench is also reported per attack method.
	var jbb []eval.InjExample
	for _, ex := range exs {
		if ex.Source == "jailbreakbench" {
			ex.Source += "/" + ex.Sub
			jbb = append(jbb, ex)
		}
	}
	p := &report{w: w}
	for _, s := range splits {
		rep := eval.ScoreInjection(exs, s, flag)
		p.printf("\n## Prompt injection — %s part (rules + model + decoding, threshold 0.5)\n\n", s)
		p.printf("| source | class | n | flagged | rate |\n|---|---|---:|---:|---:|\n")
		for _, r := range rep.Rates {
			class := "negative (FPR)"
			if r.Positive {
				class = "positive (TPR)"
			}
			p.printf("| %s | %s | %d | %d | %.3f |\n", r.Source, class, r.N, r.Hits, r.Value())
		}
		for _, r := range eval.ScoreInjection(jbb, s, flag).Rates {
			p.printf("| %s | positive (TPR) | %d | %d | %.3f |\n", r.Source, r.N, r.Hits, r.Value())
		}
		p.printf("\nPooled TPR %.3f (%d/%d); macro-averaged FPR over %d negative sources %.4f\n",
			rep.TPR, rep.PosHits, rep.Pos, negSources(rep), rep.MacroFPR)
	}
	return p.err
}

func negSources(rep eval.InjectionReport) int {
	n := 0
	for _, r := range rep.Rates {
		if !r.Positive {
			n++
		}
	}
	return n
}
