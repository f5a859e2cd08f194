package guard

import (
	"errors"
	"slices"
	"testing"
)

var skipCases = []struct {
	name    string
	in      string
	want    []string
	wantErr bool
}{
	{"all three", "pii,secrets,injection", []string{"pii", "secrets", "injection"}, false},
	{"spaces and case", " PII , Secrets", []string{"pii", "secrets"}, false},
	{"empty", "", nil, true},
	{"unknown family", "pii,all", nil, true},
	{"repeated", "pii,pii", nil, true},
	{"trailing comma", "pii,", nil, true},
}

func TestParseSkip(t *testing.T) {
	for _, tt := range skipCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSkip(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("err = %v", err)
				}
				return
			}
			if err != nil || !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, %v", got, err)
			}
		})
	}
}

func TestWithout(t *testing.T) {
	p := mustPolicy(t, "pii=block,secrets=block,injection=block,unscannable=block")
	q := p.Without("pii", "injection")
	if q.PII != Off || q.Injection != Off || q.Secrets != Block || q.Unscannable != Block {
		t.Fatalf("Without = %v", q)
	}
}

func FuzzParseSkip(f *testing.F) {
	for _, tt := range skipCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		fams, err := ParseSkip(s)
		if err != nil {
			return
		}
		if len(fams) == 0 || len(fams) > 3 {
			t.Fatalf("ParseSkip(%q) = %v", s, fams)
		}
	})
}
