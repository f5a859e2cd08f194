package main

import (
	"bytes"
	"testing"
	"time"
)

// TestWord checks the -unique words: always eight lowercase letters (same
// body length for every request, nothing a PII detector reads as a number)
// and different for different requests.
func TestWord(t *testing.T) {
	tests := []struct {
		name string
		n    uint64
		want string
	}{
		{"zero", 0, "aaaaaaaa"},
		{"one", 1, "aaaaaaab"},
		{"carry", 26, "aaaaaaba"},
		{"wraps past 26^8", 208827064576, "aaaaaaaa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := string(word(tt.n)); got != tt.want {
				t.Fatalf("word(%d) = %q, want %q", tt.n, got, tt.want)
			}
		})
	}
	seen := map[string]bool{}
	for n := range uint64(100_000) {
		w := word(n)
		if len(w) != 8 || bytes.IndexFunc(w, func(r rune) bool { return r < 'a' || r > 'z' }) >= 0 {
			t.Fatalf("word(%d) = %q", n, w)
		}
		if seen[string(w)] {
			t.Fatalf("word(%d) = %q repeats", n, w)
		}
		seen[string(w)] = true
	}
}

// TestPacer checks the open-loop schedule: connection i of conc sends at
// begin + (i + k·conc)/rate, so all connections together offer rate.
func TestPacer(t *testing.T) {
	const rate, conc = 1000.0, 4
	begin := time.Now()
	pace := pacer(begin, rate, conc, 2)
	for k := range 3 {
		pace()
		want := begin.Add(time.Duration(float64(time.Second) * float64(2+k*conc) / rate))
		if now := time.Now(); now.Before(want) {
			t.Fatalf("send %d at %v, before its slot %v", k, now.Sub(begin), want.Sub(begin))
		}
	}
	if d := time.Since(begin); d > time.Second {
		t.Fatalf("three sends at 4 ms spacing took %v", d)
	}
	closed := pacer(begin, 0, conc, 0)
	start := time.Now()
	for range 1000 {
		closed()
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Fatalf("closed loop pacer waited %v", d)
	}
}
