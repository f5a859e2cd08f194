package gateway

import (
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// withGeminiRouting adds routing aliases over the test providers —
// "groute" (a Gemini deployment), "ocount" (an OpenAI deployment, then
// an Anthropic one), "oonly" (OpenAI alone) — and an idempotency store.
func withGeminiRouting(t *testing.T) envOpt {
	return func(_ *Config, d *Deps) {
		rtr, err := router.New(router.Config{
			Deployments: []router.Deployment{
				{Name: "g-east", Provider: "gemini", Model: "gemini-2.5-flash"},
				{Name: "o-east", Provider: "openai", Model: "gpt-4o-mini"},
				{Name: "a-west", Provider: "anthropic", Model: "claude-sonnet-4-5"},
			},
			Aliases: []router.Alias{
				{Name: "groute", Strategy: router.Fallback, Deployments: []string{"g-east"}},
				{Name: "ocount", Strategy: router.Fallback, Deployments: []string{"o-east", "a-west"}},
				{Name: "oonly", Strategy: router.Fallback, Deployments: []string{"o-east"}},
			},
		}, router.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy},
			Idempotency: idempotency.NewMemory(idempotency.Options{})}
	}
}

// geminiEnv is a gateway with a fake Gemini upstream beside the OpenAI and
// Anthropic ones, routing and idempotency.
func geminiEnv(t *testing.T) (*env, *upstreamtest.Server) {
	t.Helper()
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	return newEnv(t, withGemini(gem, prometheus.NewRegistry()), withGeminiRouting(t)), gem
}

const countContents = `{"contents":[{"role":"user","parts":[{"text":"How many tokens is this sentence?"}]}]}`

func TestGeminiCountTokens(t *testing.T) {
	wrapped := `{"generateContentRequest":{"model":"models/flash","systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}]}}`
	tests := []struct {
		name, model, body string
		hdr               map[string]string
		scopes, models    []string
		noAuth            bool
		wantStatus        int
		wantErr           string // error.status of a refusal
		// up is the upstream that must have counted ("gemini", "anthropic"
		// or "" for none), upPath its path, upBody a gjson path=value its
		// body must hold.
		up, upPath, upBody string
		wantDeployment     string
		wantDropped        string
	}{
		{name: "gemini upstream counts contents", model: "flash", body: countContents, wantStatus: 200,
			up: "gemini", upPath: "/v1beta/models/gemini-2.5-flash:countTokens", upBody: "contents.0.parts.0.text=How many tokens is this sentence?"},
		{name: "gemini upstream counts a generateContentRequest", model: "flash", body: wrapped, wantStatus: 200,
			up: "gemini", upPath: "/v1beta/models/gemini-2.5-flash:countTokens", upBody: "generateContentRequest.model=models/gemini-2.5-flash"},
		{name: "bare gemini name through provider addressing", model: "gemini/gemini-2.5-pro", body: countContents, wantStatus: 200,
			up: "gemini", upPath: "/v1beta/models/gemini-2.5-pro:countTokens"},
		{name: "anthropic upstream counts the translated prompt", model: "smart", body: wrapped, wantStatus: 200,
			up: "anthropic", upPath: "/v1/messages/count_tokens", upBody: "system=be brief"},
		{name: "generation settings are not dropped features of a count", model: "smart", hdr: map[string]string{HeaderStrict: "true"},
			body:       `{"generateContentRequest":{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"generationConfig":{"seed":4,"presencePenalty":0.5,"maxOutputTokens":9}}}`,
			wantStatus: 200, up: "anthropic", upPath: "/v1/messages/count_tokens"},
		{name: "a gemini-only field is listed as dropped", model: "smart",
			body:       `{"generateContentRequest":{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[]}}`,
			wantStatus: 200, up: "anthropic", upPath: "/v1/messages/count_tokens", wantDropped: "safetySettings"},
		{name: "strict mode refuses a dropped field", model: "smart", hdr: map[string]string{HeaderStrict: "true"},
			body:       `{"generateContentRequest":{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"safetySettings":[]}}`,
			wantStatus: 400, wantErr: "INVALID_ARGUMENT"},
		{name: "routed gemini", model: "groute", body: countContents, wantStatus: 200,
			up: "gemini", upPath: "/v1beta/models/gemini-2.5-flash:countTokens", wantDeployment: "g-east"},
		{name: "routed skips a deployment that cannot count", model: "ocount", body: countContents, wantStatus: 200,
			up: "anthropic", upPath: "/v1/messages/count_tokens", wantDeployment: "a-west"},
		{name: "openai upstream has no count endpoint", model: "fast", body: countContents, wantStatus: 400, wantErr: "INVALID_ARGUMENT"},
		{name: "routed alias with no deployment that can count", model: "oonly", body: countContents, wantStatus: 400, wantErr: "INVALID_ARGUMENT"},
		{name: "no key", model: "flash", body: countContents, noAuth: true, wantStatus: 401, wantErr: "UNAUTHENTICATED"},
		{name: "no llm scope", model: "flash", body: countContents, scopes: []string{"mcp"}, wantStatus: 403, wantErr: "PERMISSION_DENIED"},
		{name: "model not allowed", model: "flash", body: countContents, models: []string{"fast"}, wantStatus: 403, wantErr: "PERMISSION_DENIED"},
		{name: "routed model not allowed", model: "groute", body: countContents, models: []string{"flash"}, wantStatus: 403, wantErr: "PERMISSION_DENIED"},
		{name: "unknown model", model: "nope", body: countContents, wantStatus: 404, wantErr: "NOT_FOUND"},
		{name: "both forms", model: "flash", body: `{"contents":[],"generateContentRequest":{"contents":[]}}`, wantStatus: 400, wantErr: "INVALID_ARGUMENT"},
		{name: "upstream error keeps its status, not its text", model: "gemini/error-429", body: countContents, wantStatus: 429, wantErr: "RESOURCE_EXHAUSTED",
			up: "gemini", upPath: "/v1beta/models/error-429:countTokens"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, gem := geminiEnv(t)
			if tt.scopes != nil {
				e.identity.Scopes = tt.scopes
			}
			e.identity.Models = tt.models
			hdr := map[string]string{"Idempotency-Key": "count-1"}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if tt.noAuth {
				hdr["Authorization"] = ""
			}
			resp, b := e.do(t, http.MethodPost, "/v1beta/models/"+tt.model+":countTokens", tt.body, hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			if got := gjson.GetBytes(b, "error.status").String(); got != tt.wantErr {
				t.Errorf("error.status %q, want %q: %s", got, tt.wantErr, b)
			}
			if strings.Contains(string(b), upstreamKey) || strings.Contains(string(b), "fake: injected") {
				t.Errorf("upstream credential or error text reached the client: %s", b)
			}
			if resp.Header.Get(HeaderReplayed) != "" {
				t.Error("a token count went through the idempotency store")
			}
			if got := resp.Header.Get(HeaderDropped); got != tt.wantDropped {
				t.Errorf("dropped %q, want %q", got, tt.wantDropped)
			}
			if got := resp.Header.Get(HeaderDeployment); got != tt.wantDeployment {
				t.Errorf("deployment %q, want %q", got, tt.wantDeployment)
			}
			ups := map[string]*upstreamtest.Server{"gemini": gem, "anthropic": e.anth}
			for name, up := range ups {
				if name != tt.up && len(up.Requests()) != 0 {
					t.Errorf("%s upstream called", name)
				}
			}
			if n := len(e.openai.Requests()); n != 0 {
				t.Errorf("openai upstream called %d times", n)
			}
			if tt.up != "" {
				checkCountUpstream(t, ups[tt.up], tt.up, tt.upPath, tt.upBody)
			}
			if tt.wantStatus == 200 {
				checkCountAnswer(t, tt.up, b)
			}
			if recs := e.usage.all(); len(recs) != 0 {
				t.Errorf("countTokens is not billed, but %d usage records were written", len(recs))
			}
		})
	}
}

// checkCountUpstream checks the upstream got the count with its own
// credential in a header (never the client's key, never in the URL).
func checkCountUpstream(t *testing.T, up *upstreamtest.Server, name, path, body string) {
	t.Helper()
	last := up.Last()
	if last.Path != path || last.RawQuery != "" {
		t.Errorf("upstream %s?%s, want %s", last.Path, last.RawQuery, path)
	}
	authHdr := map[string]string{"gemini": "X-Goog-Api-Key", "anthropic": "X-Api-Key"}[name]
	if last.Header.Get(authHdr) != upstreamKey || strings.Contains(last.Header.Get("Authorization"), "bw_clientkey") {
		t.Errorf("upstream credential headers %v", last.Header)
	}
	if name == "anthropic" {
		for _, k := range []string{"max_tokens", "stream", "temperature"} {
			if gjson.GetBytes(last.Body, k).Exists() {
				t.Errorf("count_tokens body carries %s, which Anthropic refuses there: %s", k, last.Body)
			}
		}
		if !gjson.GetBytes(last.Body, "messages.0").Exists() || gjson.GetBytes(last.Body, "model").String() != "claude-sonnet-4-5" {
			t.Errorf("count_tokens body %s", last.Body)
		}
	}
	if p, v, ok := strings.Cut(body, "="); ok && gjson.GetBytes(last.Body, p).String() != v {
		t.Errorf("upstream body %s = %q, want %q: %s", p, gjson.GetBytes(last.Body, p).String(), v, last.Body)
	}
}

// checkCountAnswer checks Google's answer shape: totalTokens as the
// upstream counted, and per-modality details only when the upstream gave
// them (Gemini), never guessed.
func checkCountAnswer(t *testing.T, up string, b []byte) {
	t.Helper()
	total := gjson.GetBytes(b, "totalTokens")
	if total.Type != gjson.Number || total.Int() <= 0 {
		t.Errorf("totalTokens missing: %s", b)
	}
	details := gjson.GetBytes(b, "promptTokensDetails")
	switch up {
	case "gemini":
		if details.Get("0.modality").String() != "TEXT" || details.Get("0.tokenCount").Int() != total.Int() {
			t.Errorf("promptTokensDetails from the upstream lost: %s", b)
		}
	default:
		if details.Exists() {
			t.Errorf("promptTokensDetails invented: %s", b)
		}
	}
}
