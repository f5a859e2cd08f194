package openai

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

var azureTests = []struct {
	name, base, deployment, path string
	azure                        bool
	want                         string // "" means an error
}{
	{"classic deployment", "https://res.openai.azure.com/openai?api-version=2024-10-21", "gpt-4o", PathChat, true,
		"https://res.openai.azure.com/openai/deployments/gpt-4o/chat/completions?api-version=2024-10-21"},
	{"trailing slash", "https://res.openai.azure.com/openai/?api-version=2024-10-21", "emb", PathEmbeddings, true,
		"https://res.openai.azure.com/openai/deployments/emb/embeddings?api-version=2024-10-21"},
	{"other query params dropped", "http://127.0.0.1:9/openai?api-version=v&key=x", "d", PathChat, true,
		"http://127.0.0.1:9/openai/deployments/d/chat/completions?api-version=v"},
	{"v1 style", "https://res.openai.azure.com/openai/v1", "gpt-4o", PathChat, true,
		"https://res.openai.azure.com/openai/v1/chat/completions"},
	{"models list", "https://res.openai.azure.com/openai?api-version=2024-10-21", "", PathModels, true,
		"https://res.openai.azure.com/openai/models?api-version=2024-10-21"},
	{"slash in deployment is escaped", "https://r.openai.azure.com/openai?api-version=1", "a/../b", PathChat, true,
		"https://r.openai.azure.com/openai/deployments/a%2F..%2Fb/chat/completions?api-version=1"},
	{"dot-dot deployment refused", "https://r.openai.azure.com/openai?api-version=1", "..", PathChat, true, ""},
	{"empty deployment refused", "https://r.openai.azure.com/openai?api-version=1", "", PathChat, true, ""},
	{"plain openai is not azure", "https://api.openai.com/v1", "gpt-4o", PathChat, false, "https://api.openai.com/v1/chat/completions"},
	{"cognitiveservices host", "https://x.cognitiveservices.azure.com/openai/v1", "m", PathChat, true, "https://x.cognitiveservices.azure.com/openai/v1/chat/completions"},
}

func TestAzureURL(t *testing.T) {
	for _, tt := range azureTests {
		t.Run(tt.name, func(t *testing.T) {
			for range 2 { // computed, then remembered
				if got := IsAzure(tt.base); got != tt.azure {
					t.Errorf("IsAzure = %v, want %v", got, tt.azure)
				}
			}
			if !tt.azure {
				return
			}
			got, err := AzureURL(tt.base, tt.deployment, tt.path)
			if tt.want == "" {
				if err == nil {
					t.Fatalf("AzureURL = %s, want an error", got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Errorf("AzureURL = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestSetAzureAuth(t *testing.T) {
	h := http.Header{}
	SetAzureAuth(h, "k")
	if h.Get("Api-Key") != "k" || h.Get("Authorization") != "" {
		t.Errorf("headers = %v", h)
	}
}

// FuzzAzureURL checks that no model name moves the call to another host,
// out of the deployments collection, or carries another query parameter.
func FuzzAzureURL(f *testing.F) {
	for _, tt := range azureTests {
		f.Add(tt.deployment)
	}
	const base = "https://res.openai.azure.com/openai?api-version=2024-10-21"
	f.Fuzz(func(t *testing.T, deployment string) {
		got, err := AzureURL(base, deployment, PathChat)
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("unparsable url %q", got)
		}
		if u.Host != "res.openai.azure.com" || u.RawQuery != "api-version=2024-10-21" || u.User != nil {
			t.Fatalf("url %q escapes the resource", got)
		}
		rest, ok := strings.CutPrefix(u.EscapedPath(), "/openai/deployments/")
		seg, tail, _ := strings.Cut(rest, "/")
		if !ok || tail != "chat/completions" || strings.Trim(seg, ".") == "" {
			t.Fatalf("url %q leaves the deployment route", got)
		}
	})
}
