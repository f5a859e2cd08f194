package main

import (
	"bytes"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/eval"
	"github.com/bulwarkhq/bulwark/internal/guard/injection"
)

func TestRun(t *testing.T) {
	tests := []struct {
		name    string
		split   string
		want    []string
		wantErr bool
	}{
		{"held-out report", "held-out", []string{"held-out part", "| CREDIT_CARD |", "| notinject | negative (FPR) |", "macro-averaged FPR over 7 negative sources"}, false},
		{"unknown split", "all", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			err := run(&buf, tt.split)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(buf.String(), w) {
					t.Fatalf("output lacks %q:\n%s", w, buf.String())
				}
			}
			if strings.Contains(buf.String(), "tune part") && tt.split == "held-out" {
				t.Fatal("held-out report mixed in the tune part")
			}
		})
	}
}

// TestHeldOutInjectionClaim guards the figures docs/guardrails.md quotes
// for the held-out part: 212 of 231 injections flagged (TPR 0.918) at a
// macro-averaged FPR of 0.0166 over the seven negative sources. Any change
// to rules, features or weights that flags fewer positives or more
// negatives fails here, and the docs must be re-measured.
func TestHeldOutInjectionClaim(t *testing.T) {
	exs, err := eval.LoadInjection()
	if err != nil {
		t.Fatal(err)
	}
	det, err := injection.Default()
	if err != nil {
		t.Fatal(err)
	}
	rep := eval.ScoreInjection(exs, eval.HeldOut, func(s string) bool { return det.Detect(s).Score >= 0.5 })
	if rep.PosHits < 212 || rep.Pos != 231 {
		t.Errorf("held-out TPR %d/%d, documented 212/231", rep.PosHits, rep.Pos)
	}
	if rep.MacroFPR > 0.0167 {
		t.Errorf("held-out macro FPR %.4f, documented 0.0166", rep.MacroFPR)
	}
	if rep.TPR < 0.90 || rep.MacroFPR > 0.02 {
		t.Errorf("issue 8 target missed: TPR %.3f at macro FPR %.4f", rep.TPR, rep.MacroFPR)
	}
}
