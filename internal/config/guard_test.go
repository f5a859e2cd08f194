package config

import (
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard"
)

func TestGuardSection(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		tenant  string
		want    string // substrings of the tenant's Policy.String()
		wantErr string
	}{
		{name: "no section is the built-in default", tenant: "any",
			want: "pii=log,secrets=redact,injection=log,unscannable=log,injection_scope=untrusted,reversible=false"},
		{name: "default applies to every tenant", tenant: "any",
			yaml: "guard:\n  default: {pii: redact, injection: block}\n", want: "pii=redact,secrets=redact,injection=block"},
		{name: "tenant overrides default setting by setting", tenant: "acme",
			yaml: "guard:\n  default: {pii: redact, injection: block}\n  tenants:\n    acme: {secrets: block, unscannable: block, injection_scope: all, reversible: true, pii_threshold: 0.7}\n",
			want: "pii=redact,secrets=block,injection=block,unscannable=block,injection_scope=all,reversible=true,pii_threshold=0.7"},
		{name: "other tenants keep the default", tenant: "other",
			yaml: "guard:\n  default: {pii: redact}\n  tenants:\n    acme: {pii: off}\n", want: "pii=redact"},
		{name: "a default with every detector off is refused",
			yaml: "guard:\n  default: {pii: off, secrets: off, injection: off}\n", wantErr: "all off"},
		{name: "a tenant may turn everything off explicitly", tenant: "lab",
			yaml: "guard:\n  tenants:\n    lab: {pii: off, secrets: off, injection: off}\n", want: "pii=off,secrets=off,injection=off"},
		{name: "bad action", yaml: "guard:\n  tenants:\n    acme: {pii: sometimes}\n", wantErr: "guard.tenants.acme"},
		{name: "bad threshold", yaml: "guard:\n  default: {injection_threshold: 1.5}\n", wantErr: "guard.default"},
		{name: "unscannable cannot redact", yaml: "guard:\n  default: {unscannable: redact}\n", wantErr: "unscannable"},
		{name: "unknown field", yaml: "guard:\n  default: {pll: log}\n", wantErr: "pll"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := Default()
			err := Decode([]byte(tt.yaml), c)
			if err == nil {
				err = c.Validate()
			}
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			p, err := c.Guard.TenantPolicy(tt.tenant)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(p.String(), tt.want) {
				t.Fatalf("policy %s lacks %s", p, tt.want)
			}
			if p.PII == guard.Off && p.Secrets == guard.Off && p.Injection == guard.Off && tt.tenant != "lab" {
				t.Fatal("a tenant got an all-off policy without asking for it")
			}
		})
	}
}
