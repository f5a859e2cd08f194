package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

var bearerCases = []struct {
	name    string
	values  []string
	want    string
	wantErr error
}{
	{"plain", []string{"Bearer abc.def-ghi_~+/="}, "abc.def-ghi_~+/=", nil},
	{"scheme case-insensitive", []string{"bearer sk-bw-x"}, "sk-bw-x", nil},
	{"missing", nil, "", errNoCredentials},
	{"basic scheme", []string{"Basic dXNlcjpwYXNz"}, "", errBadCredentials},
	{"no token", []string{"Bearer "}, "", errBadCredentials},
	{"two spaces", []string{"Bearer  abc"}, "", errBadCredentials},
	{"space inside", []string{"Bearer abc def"}, "", errBadCredentials},
	{"comma smuggles a second credential", []string{"Bearer abc,Bearer def"}, "", errBadCredentials},
	{"two headers", []string{"Bearer a", "Bearer b"}, "", errBadCredentials},
	{"CRLF", []string{"Bearer a\r\nX: y"}, "", errBadCredentials},
	{"NUL", []string{"Bearer a\x00b"}, "", errBadCredentials},
	{"too long", []string{"Bearer " + strings.Repeat("a", maxBearerLen+1)}, "", errBadCredentials},
}

func TestParseBearer(t *testing.T) {
	for _, tt := range bearerCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBearer(tt.values)
			if !errors.Is(err, tt.wantErr) || got != tt.want {
				t.Fatalf("parseBearer = %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func FuzzParseBearer(f *testing.F) {
	for _, tt := range bearerCases {
		if len(tt.values) == 1 {
			f.Add(tt.values[0])
		}
	}
	f.Fuzz(func(t *testing.T, h string) {
		tok, err := parseBearer([]string{h})
		if err != nil {
			return
		}
		if tok == "" || len(tok) > maxBearerLen || strings.ContainsAny(tok, " ,\t\r\n\x00\"") {
			t.Fatalf("accepted %q from %q", tok, h)
		}
	})
}

var originCases = []struct {
	name string
	in   string
	want string // "" = refused
}{
	{"https", "https://app.example.com", "https://app.example.com"},
	{"default port dropped", "https://app.example.com:443", "https://app.example.com"},
	{"case folded", "HTTPS://APP.Example.COM", "https://app.example.com"},
	{"explicit port kept", "http://localhost:3000", "http://localhost:3000"},
	{"ipv6", "http://[::1]:8080", "http://[::1]:8080"},
	{"trailing slash tolerated", "https://app.example.com/", "https://app.example.com"},
	{"null", "null", ""},
	{"path", "https://app.example.com/x", ""},
	{"userinfo", "https://a@app.example.com", ""},
	{"query", "https://app.example.com?x", ""},
	{"fragment", "https://app.example.com#x", ""},
	{"file scheme", "file://app.example.com", ""},
	{"no scheme", "app.example.com", ""},
	{"space", " https://app.example.com", ""},
	{"control", "https://app.example.com\x00", ""},
	{"non-ascii", "https://äpp.example.com", ""},
	{"empty", "", ""},
}

func TestCanonicalOrigin(t *testing.T) {
	for _, tt := range originCases {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalOrigin(tt.in)
			if (err != nil) != (tt.want == "") || got != tt.want {
				t.Fatalf("canonicalOrigin(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
			}
		})
	}
}

func FuzzCanonicalOrigin(f *testing.F) {
	for _, tt := range originCases {
		f.Add(tt.in)
	}
	p, err := newOriginPolicy([]string{"https://app.example.com"})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := canonicalOrigin(in)
		if err != nil {
			if p.allow([]string{in}) {
				t.Fatalf("unparsable origin %q allowed", in)
			}
			return
		}
		// Canonical form is a fixed point and is all the policy compares.
		again, err := canonicalOrigin(got)
		if err != nil || again != got {
			t.Fatalf("canonical form %q of %q is not stable: %q %v", got, in, again, err)
		}
		if p.allow([]string{in}) != (got == "https://app.example.com") {
			t.Fatalf("policy and canonical form disagree on %q (%q)", in, got)
		}
	})
}

func TestSummarizeArgsRedacts(t *testing.T) {
	tests := []struct {
		name      string
		args      string
		keep      []string
		forbidden []string
	}{
		{"secret-named fields", `{"password":"hunter2","apiKey":"k1","client_secret":"s","X-Auth-Token":"t","path":"a.txt"}`, []string{"a.txt", "[REDACTED]"}, []string{"hunter2", `"k1"`, `"s"`, `"t"`}},
		{"key-shaped values", `{"note":"use sk-proj-abcdefghijklmnop now","gh":"ghp_abcdefghijklmnopqrstuvwxyz0123"}`, []string{"use", "now"}, []string{"sk-proj-abc", "ghp_abc"}},
		{"high-entropy string", `{"blob":"q9XvT2mL8rB4nK7wZ1cF6hJ3"}`, []string{"blob"}, []string{"q9XvT2mL8rB4nK7wZ1cF6hJ3"}},
		{"url credentials and token param", `{"url":"https://u:p4ss@example.com/a?token=zzz&page=2"}`, []string{"example.com/a", "page=2"}, []string{"p4ss", "zzz"}},
		{"jwt", `{"h":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"}`, nil, []string{"eyJhbGciOi"}},
		{"ordinary words kept", `{"query":"select name from users where id = 1","monkey":"banana"}`, []string{"select name from users", "banana"}, nil},
		{"long value truncated", `{"text":"` + strings.Repeat("a ", 500) + `"}`, []string{"…"}, []string{strings.Repeat("a ", 60)}},
		{"invalid json not copied", `{"password":"hunter2"`, []string{"unparsable"}, []string{"hunter2"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := summarizeArgs(json.RawMessage(tt.args))
			for _, k := range tt.keep {
				if !strings.Contains(got, k) {
					t.Errorf("summary %q lost %q", got, k)
				}
			}
			for _, f := range tt.forbidden {
				if strings.Contains(got, f) {
					t.Errorf("summary %q keeps %q", got, f)
				}
			}
			if len(got) > maxSummaryBytes+len("…") {
				t.Errorf("summary is %d bytes", len(got))
			}
		})
	}
}

func FuzzSummarizeArgs(f *testing.F) {
	f.Add(`{"password":"hunter2","path":"a"}`, "hunter2")
	f.Add(`{"url":"https://u:p@h/?token=x"}`, "p")
	f.Add(`[1,2,{"a":["b"]}]`, "sk-abc")
	f.Fuzz(func(t *testing.T, args, secret string) {
		if got := summarizeArgs(json.RawMessage(args)); len(got) > maxSummaryBytes+len("…") {
			t.Fatalf("summary of %d bytes", len(got))
		}
		// Whatever the value of a secret-named field, it never reaches the summary.
		enc, _ := json.Marshal(map[string]any{"path": "a.txt", "db_password": secret, "nested": map[string]string{"apiToken": secret}})
		got := summarizeArgs(enc)
		quoted, _ := json.Marshal(secret)
		inner := string(quoted[1 : len(quoted)-1])
		if inner != "" && strings.Contains(got, inner) && !strings.Contains(`{"db_password":"[REDACTED]","nested":{"apiToken":"[REDACTED]"},"path":"a.txt"}`, inner) {
			t.Fatalf("secret %q kept in %q", secret, got)
		}
	})
}

func TestDecodeArgs(t *testing.T) {
	type in struct {
		Path string `json:"path"`
	}
	tests := []struct {
		name    string
		args    string
		wantErr bool
	}{
		{"ok", `{"path":"a"}`, false},
		{"empty means no arguments", ``, false},
		{"smuggled tool", `{"path":"a","tool":"fs_write"}`, true},
		{"smuggled scope", `{"path":"a","scope":"tools:*"}`, true},
		{"array", `["a"]`, true},
		{"trailing object", `{"path":"a"}{"path":"b"}`, true},
		{"wrong type", `{"path":1}`, true},
		{"too large", `{"path":"` + strings.Repeat("a", maxArgsBytes) + `"}`, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var v in
			err := DecodeArgs(json.RawMessage(tt.args), &v)
			if (err != nil) != tt.wantErr || (err != nil && !errors.Is(err, ErrBadArguments)) {
				t.Fatalf("DecodeArgs err = %v", err)
			}
			if err != nil && strings.Contains(err.Error(), "fs_write") {
				t.Fatalf("error echoes input values: %v", err)
			}
		})
	}
}

func TestRegistryRefusesBadTools(t *testing.T) {
	ok := Tool{Name: "good", Scope: "tools:good", InputSchema: json.RawMessage(`{"type":"object"}`),
		Handler: func(context.Context, *identity.Identity, json.RawMessage) (Result, error) { return Result{}, nil }}
	tests := []struct {
		name string
		mut  func(*Tool)
	}{
		{"wildcard scope", func(t *Tool) { t.Scope = "tools:*" }},
		{"non-tool scope", func(t *Tool) { t.Scope = "admin" }},
		{"bad name", func(t *Tool) { t.Name = "Fs Write" }},
		{"no handler", func(t *Tool) { t.Handler = nil }},
		{"schema not object", func(t *Tool) { t.InputSchema = json.RawMessage(`{"type":"string"}`) }},
		{"negative timeout", func(t *Tool) { t.Timeout = -time.Second }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bad := ok
			tt.mut(&bad)
			if _, err := newRegistry([]Tool{bad}); err == nil {
				t.Fatal("registry accepted a bad tool")
			}
		})
	}
	if _, err := newRegistry([]Tool{ok, ok}); err == nil {
		t.Fatal("registry accepted a duplicate name")
	}
}

func TestMemoryLimiter(t *testing.T) {
	l, err := NewMemoryLimiter(2, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	ctx := context.Background()
	for i, want := range []bool{true, true, false} {
		ok, retry, err := l.Allow(ctx, "tool:echo:acme:k1")
		if err != nil || ok != want || (!ok && retry != time.Minute) {
			t.Fatalf("call %d: ok=%v retry=%v err=%v", i, ok, retry, err)
		}
	}
	if ok, _, _ := l.Allow(ctx, "tool:echo:acme:k2"); !ok {
		t.Fatal("another key was limited")
	}
	now = now.Add(time.Minute)
	if ok, _, _ := l.Allow(ctx, "tool:echo:acme:k1"); !ok {
		t.Fatal("window did not reset")
	}
	if len(l.windows) != 1 {
		t.Fatalf("idle windows not swept: %d", len(l.windows))
	}
}
