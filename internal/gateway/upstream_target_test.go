package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// These tests hold the gateway to one rule: the upstream runs the model
// the key was authorised for, at the URL built for it, and reports usage
// when Bulwark asked it to — whatever the client's body says beside it.

// withProvider adds p to the env's provider source.
func withProvider(p provider.Config) envOpt {
	return func(_ *Config, d *Deps) { d.Providers = append(d.Providers.(mapSource), p) }
}

// A classic Azure OpenAI provider (base_url with api-version, see
// docs/providers.md) serves chat on the fast path: the model names the
// deployment, which goes in the URL.
func TestAzureDeploymentFastPath(t *testing.T) {
	e := newEnv(t, func(_ *Config, d *Deps) {
		src := d.Providers.(mapSource)
		base := strings.TrimSuffix(src[0].BaseURL, "/v1")
		d.Providers = append(src, provider.Config{Name: "azure", Type: provider.TypeOpenAI,
			BaseURL: base + "/openai?api-version=2024-10-21", Credential: src[0].Credential})
	})
	for _, stream := range []bool{false, true} {
		body := `{"model":"azure/my-dep","stream":` + map[bool]string{false: "false", true: "true"}[stream] + `,"messages":[{"role":"user","content":"hi"}]}`
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body, nil)
		last := e.openai.Last()
		if resp.StatusCode != http.StatusOK || last.Path != "/openai/deployments/my-dep/chat/completions" || last.RawQuery != "api-version=2024-10-21" {
			t.Fatalf("stream %v: status %d (%s); upstream got %q ? %q, want the deployment's chat URL", stream, resp.StatusCode, b, last.Path, last.RawQuery)
		}
		if got := last.Header.Get("Api-Key"); got != upstreamKey {
			t.Errorf("stream %v: Azure key header %q", stream, got)
		}
	}
	// A deployment name that would walk the URL is served by nobody.
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"azure/..","messages":[]}`, nil)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("deployment \"..\": %d %s", resp.StatusCode, b)
	}
}

// A model name given in another dialect and translated for a Gemini
// provider goes into the upstream URL path: it must not walk that path out
// of /v1beta/models/ with the provider's key.
func TestGeminiUpstreamPathStaysInModels(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	for _, model := range []string{"gemini/../../v1/tunedModels/x", "gemini/x/../../../upload/v1beta/files", "gemini/a b"} {
		for _, path := range []string{"/v1/chat/completions", "/v1/messages"} {
			resp, b := e.do(t, http.MethodPost, path, `{"model":"`+model+`","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("%s model %q: %d %s, want 404", path, model, resp.StatusCode, b)
			}
		}
	}
	if n := len(gem.Requests()); n != 0 {
		t.Fatalf("the Gemini upstream was called %d times; first path %q", n, gem.Requests()[0].Path)
	}
}

// Go's encoding/json matches member names without regard to case and
// keeps the last match, and Ollama decodes OpenAI requests with it: a
// "Model" beside the authorised "model" would be the model it runs.
func TestModelCaseVariantNotSmuggled(t *testing.T) {
	var (
		mu   sync.Mutex
		seen []string
	)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Model string `json:"model"`
		}
		_ = json.NewDecoder(r.Body).Decode(&req) // as Ollama's OpenAI endpoint does
		mu.Lock()
		seen = append(seen, req.Model)
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"id":"x","object":"chat.completion","model":"`+req.Model+`","choices":[]}`)
	}))
	t.Cleanup(up.Close)
	e := newEnv(t, withProvider(provider.Config{Name: "ollama", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1", Models: []string{"llama3"}}))
	e.identity.Models = []string{"ollama/llama3"}
	for _, smuggled := range []string{`"Model"`, `"MODEL"`, `"mOdel"`, `"Mod\u0065l"`} {
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions",
			`{"model":"ollama/llama3",`+smuggled+`:"forbidden-70b","messages":[{"role":"user","content":"hi"}]}`, nil)
		if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "repeats a top-level field") {
			t.Errorf("member %s: %d %s, want 400 as for a repeated model", smuggled, resp.StatusCode, b)
		}
	}
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"Model":"forbidden-70b","messages":[]}`, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), `\"Model\" is not \"model\"`) {
		t.Errorf("only \"Model\": %d %s", resp.StatusCode, b)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 0 {
		t.Fatalf("the upstream ran %q", seen)
	}
}

// Bulwark always asks an OpenAI upstream for a stream's usage. A client
// that repeats include_usage ({"include_usage":true,"include_usage":false})
// would be read as having asked while a last-wins upstream reads false
// and sends no usage: the row would be a local estimate of the client's
// choosing. Such a body is refused before it is forwarded.
func TestDuplicateIncludeUsageRefused(t *testing.T) {
	calls := 0
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls++
		w.WriteHeader(http.StatusInternalServerError)
	}))
	defer up.Close()
	e := newEnv(t, func(_ *Config, d *Deps) {
		d.Providers = mapSource{{Name: "openai", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
			Credential: func(context.Context) (string, error) { return upstreamKey, nil }}}
	})
	for _, opts := range []string{
		`{"include_usage":true,"include_usage":false}`,
		`{"include_usage":true,"include\u005fusage":false}`,
		`{"include_usage":true,"INCLUDE_USAGE":false}`,
	} {
		body := `{"model":"fast","stream":true,"stream_options":` + opts + `,"messages":[{"role":"user","content":"hi"}]}`
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body, nil)
		if resp.StatusCode != http.StatusBadRequest {
			t.Errorf("stream_options %s: %d %s, want 400", opts, resp.StatusCode, b)
		}
	}
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","stream":true,"stream_options":[1],"messages":[]}`, nil)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(string(b), "stream_options must be an object") {
		t.Errorf("stream_options [1]: %d %s, want 400", resp.StatusCode, b)
	}
	if calls != 0 {
		t.Fatalf("the upstream was called %d times", calls)
	}
}

// A spent budget is a 429 the SDKs must not retry in vain: it says so with
// x-should-retry: false (the official SDKs honour it), and no retry-after.
func TestBudgetDenialIsNotRetried(t *testing.T) {
	err := deniedError(&limit.Denied{Reason: limit.ReasonBudget, Subject: "key k", Err: errors.New("budget of key k exhausted")})
	e := apierr.From(err)
	if e.Status != http.StatusTooManyRequests || e.Code != "budget_exceeded" || e.Header.Get("X-Should-Retry") != "false" || e.RetryAfter != 0 {
		t.Fatalf("%+v, header %v", e, e.Header)
	}
	rate := apierr.From(deniedError(&limit.Denied{Reason: limit.ReasonRequests, Subject: "key k", Err: errors.New("rpm")}))
	if rate.Header.Get("X-Should-Retry") != "" || rate.RetryAfter == 0 {
		t.Fatalf("a rate limit must stay retryable: %+v", rate)
	}
}
