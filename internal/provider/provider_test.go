package provider_test

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

const key = "sk-test-SECRET-abcdef0123456789"

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  provider.Config
		ok   bool
	}{
		{"openai", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "https://api.openai.com/v1"}, true},
		{"anthropic", provider.Config{Name: "a", Type: provider.TypeAnthropic, BaseURL: "https://api.anthropic.com"}, true},
		{"mock needs no url", provider.Config{Name: "m", Type: provider.TypeMock}, true},
		{"no name", provider.Config{Type: provider.TypeMock}, false},
		{"unknown type", provider.Config{Name: "g", Type: "bedrock"}, false},
		{"gemini", provider.Config{Name: "g", Type: provider.TypeGemini, BaseURL: "https://generativelanguage.googleapis.com"}, true},
		{"relative url", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "/v1"}, false},
		{"ftp url", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "ftp://x/v1"}, false},
		{"credentials in url", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "https://u:p@x/v1"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.cfg.Validate(); (err == nil) != tt.ok {
				t.Errorf("Validate = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}

func TestNewRequestHeaderHygiene(t *testing.T) {
	in := http.Header{}
	for k, v := range map[string]string{"Authorization": "Bearer client", "X-Api-Key": "client", "Cookie": "a=b",
		"X-Forwarded-For": "1.2.3.4", "Connection": "close", "Anthropic-Beta": "claude-code-20250219, evil-beta", "Anthropic-Version": "1999-01-01"} {
		in.Set(k, v)
	}
	cred := func(context.Context) (string, error) { return key, nil }
	tests := []struct {
		name string
		cfg  provider.Config
		fam  provider.Family
		path string
		url  string
		want map[string]string
	}{
		{"openai", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "http://h/v1/", Credential: cred}, provider.FamilyOpenAI, "/chat/completions",
			"http://h/v1/chat/completions", map[string]string{"Authorization": "Bearer " + key, "X-Api-Key": "", "Cookie": "", "X-Forwarded-For": "", "Anthropic-Beta": ""}},
		{"anthropic", provider.Config{Name: "a", Type: provider.TypeAnthropic, BaseURL: "http://h/v1", Credential: cred}, provider.FamilyAnthropic, "/v1/messages",
			"http://h/v1/messages", map[string]string{"Authorization": "", "X-Api-Key": key, "Anthropic-Version": "2023-06-01", "Anthropic-Beta": "claude-code-20250219", "Cookie": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := provider.NewRequest(context.Background(), tt.cfg, provider.Call{Family: tt.fam, Method: "POST", Path: tt.path,
				Body: []byte("{}"), In: in, Betas: map[string]bool{"claude-code-20250219": true}})
			if err != nil {
				t.Fatal(err)
			}
			if req.URL.String() != tt.url {
				t.Errorf("url = %s, want %s", req.URL, tt.url)
			}
			for k, v := range tt.want {
				if got := req.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
		})
	}
}

func TestCredentialErrorHidesNothingSecret(t *testing.T) {
	cfg := provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "http://h/v1",
		Credential: func(context.Context) (string, error) { return "", errors.New("env OPENAI_KEY unset") }}
	_, err := provider.NewRequest(context.Background(), cfg, provider.Call{Method: "GET", Path: "/models", In: http.Header{}})
	if !errors.Is(err, provider.ErrCredential) {
		t.Fatalf("err = %v", err)
	}
}

func TestTest(t *testing.T) {
	up := upstreamtest.New()
	defer up.Close()
	good := func(context.Context) (string, error) { return key, nil }
	tests := []struct {
		name  string
		cfg   provider.Config
		fault upstreamtest.Fault
		want  error
	}{
		{"openai ok", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1", Credential: good}, upstreamtest.Fault{}, nil},
		{"anthropic ok", provider.Config{Name: "a", Type: provider.TypeAnthropic, BaseURL: up.URL, Credential: good}, upstreamtest.Fault{}, nil},
		{"mock ok", provider.Config{Name: "m", Type: provider.TypeMock}, upstreamtest.Fault{}, nil},
		{"upstream 500", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1", Credential: good}, upstreamtest.Fault{Kind: upstreamtest.Status500}, provider.ErrUpstreamStatus},
		{"unreachable", provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "http://127.0.0.1:1/v1", Credential: good}, upstreamtest.Fault{}, provider.ErrUpstreamUnreachable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up.SetFault(tt.fault)
			err := provider.Test(context.Background(), tt.cfg)
			if !errors.Is(err, tt.want) {
				t.Fatalf("Test = %v, want %v", err, tt.want)
			}
			if err != nil && strings.Contains(err.Error(), key) {
				t.Error("error names the credential")
			}
		})
	}
	if r := up.Requests()[0]; r.Path != "/v1/models" || r.Header.Get("Authorization") != "Bearer "+key {
		t.Errorf("openai test call = %s %v", r.Path, r.Header)
	}
}

// Upstream requests share their constant header values: changing one
// request's headers must not change the next one's.
func TestNewRequestHeadersIndependent(t *testing.T) {
	cfg := provider.Config{Name: "o", Type: provider.TypeOpenAI, BaseURL: "http://h/v1"}
	build := func(accept string) http.Header {
		t.Helper()
		req, err := provider.NewRequest(context.Background(), cfg, provider.Call{Family: provider.FamilyOpenAI, Method: "POST",
			Path: "/chat/completions", Body: []byte("{}"), In: http.Header{"Accept": {accept}}})
		if err != nil {
			t.Fatal(err)
		}
		return req.Header
	}
	a := build("text/event-stream")
	a.Add("Accept", "application/xml")
	a.Set("Content-Type", "text/plain")
	a.Add("User-Agent", "x")
	for _, tt := range []struct{ accept, want string }{{"text/event-stream", "text/event-stream"}, {"*/*", "application/json"}} {
		b := build(tt.accept)
		if got := b.Values("Accept"); len(got) != 1 || got[0] != tt.want {
			t.Errorf("Accept = %q, want [%s]", got, tt.want)
		}
		if got := b.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := b.Values("User-Agent"); len(got) != 1 || got[0] != "bulwark" {
			t.Errorf("User-Agent = %q", got)
		}
	}
}

// Serves answers for the provider's models list, and refuses names that
// would walk an upstream URL where the model goes in the path (Gemini's
// model path, an Azure deployment), whatever the list says.
func TestServes(t *testing.T) {
	azure := "https://r.openai.azure.com/openai?api-version=2024-10-21"
	tests := []struct {
		cfg   provider.Config
		model string
		want  bool
	}{
		{provider.Config{Type: provider.TypeOpenAI}, "anything/at all", true},
		{provider.Config{Type: provider.TypeOpenAI, Models: []string{"a"}}, "a", true},
		{provider.Config{Type: provider.TypeOpenAI, Models: []string{"a"}}, "b", false},
		{provider.Config{Type: provider.TypeGemini}, "gemini-2.5-flash", true},
		{provider.Config{Type: provider.TypeGemini}, "tunedModels/x-1", true},
		{provider.Config{Type: provider.TypeGemini}, "../../v1/tunedModels/x", false},
		{provider.Config{Type: provider.TypeGemini, Models: []string{"a/../b"}}, "a/../b", false},
		{provider.Config{Type: provider.TypeOpenAI, BaseURL: azure}, "my-deployment", true},
		{provider.Config{Type: provider.TypeOpenAI, BaseURL: azure}, "..", false},
		{provider.Config{Type: provider.TypeOpenAI, BaseURL: "http://127.0.0.1:11434/v1"}, "..", true}, // in the body, not the URL
	}
	for _, tt := range tests {
		if got := tt.cfg.Serves(tt.model); got != tt.want {
			t.Errorf("%s %q serves %q = %v, want %v", tt.cfg.Type, tt.cfg.BaseURL, tt.model, got, tt.want)
		}
	}
}
