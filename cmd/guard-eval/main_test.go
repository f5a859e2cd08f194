package main

import (
	"bytes"
	"strings"
	"testing"
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
