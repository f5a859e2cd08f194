package guard

import (
	"errors"
	"testing"
)

var policyCases = []struct {
	name    string
	in      string
	want    func(Policy) bool
	wantErr bool
}{
	{"empty is the tenant default", "", func(p Policy) bool { return p == DefaultPolicy() }, false},
	{"issue example", "pii=redact,secrets=block,injection=block", func(p Policy) bool {
		return p.PII == Redact && p.Secrets == Block && p.Injection == Block
	}, false},
	{"spaces and case", " pii = REDACT , reversible=true", func(p Policy) bool { return p.PII == Redact && p.Reversible }, false},
	{"thresholds and scope", "injection_threshold=0.8,injection_scope=all,unscannable=block", func(p Policy) bool {
		return p.InjectionThreshold == 0.8 && p.InjectionScope == ScopeAll && p.Unscannable == Block
	}, false},
	{"unknown key", "pi=redact", nil, true},
	{"unknown action", "pii=mask", nil, true},
	{"duplicate key", "pii=log,pii=block", nil, true},
	{"missing value", "pii=", nil, true},
	{"no equals", "pii", nil, true},
	{"empty item", "pii=log,,secrets=block", nil, true},
	{"threshold out of range", "pii_threshold=1.5", nil, true},
	{"threshold zero", "pii_threshold=0", nil, true},
	{"threshold nan", "pii_threshold=NaN", nil, true},
	{"unscannable cannot redact", "unscannable=redact", nil, true},
	{"bad scope", "injection_scope=some", nil, true},
	{"bad bool", "reversible=maybe", nil, true},
}

func TestParsePolicy(t *testing.T) {
	for _, tt := range policyCases {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePolicy(tt.in)
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPolicy) {
					t.Fatalf("ParsePolicy(%q) err = %v, want ErrInvalidPolicy", tt.in, err)
				}
				return
			}
			if err != nil || !tt.want(p) {
				t.Fatalf("ParsePolicy(%q) = %+v, %v", tt.in, p, err)
			}
			// String round-trips.
			again, err := ParsePolicy(p.String())
			if err != nil || again != p {
				t.Fatalf("round trip %q: %+v, %v", p.String(), again, err)
			}
		})
	}
}

func TestDefaultPolicyIsNeverAllOff(t *testing.T) {
	p := DefaultPolicy()
	if p.PII != Log || p.Secrets != Redact || p.Injection != Log {
		t.Fatalf("default = %v, want pii=log,secrets=redact,injection=log", p)
	}
}

func FuzzParsePolicy(f *testing.F) {
	for _, tt := range policyCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePolicy(s)
		if err != nil {
			return
		}
		if p.Validate() != nil {
			t.Fatalf("accepted an invalid policy from %q", s)
		}
		again, err := ParsePolicy(p.String())
		if err != nil || again != p {
			t.Fatalf("round trip of %q failed: %v", s, err)
		}
	})
}
