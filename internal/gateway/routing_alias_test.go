package gateway

import (
	"net/http"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// withModelsRouting wires routing as the server does (internal/cli
// newRouting): every models: alias also becomes a single-deployment
// routing alias (config.RouterConfig).
func withModelsRouting(t *testing.T) envOpt {
	return func(c *Config, d *Deps) {
		rc := (&config.Config{Models: c.Aliases}).RouterConfig()
		rtr, err := router.New(rc, router.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy}}
	}
}

// A key restricted to the resolved provider/model may call the alias
// (docs/providers.md: "either the name it sent or the resolved
// provider/model is in its list") — with routing on, as in the server.
func TestAliasAllowedByResolvedNameWithRouting(t *testing.T) {
	e := newEnv(t, withModelsRouting(t))
	e.identity.Models = []string{"openai/gpt-4o-mini"}
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d, want 200: %s", resp.StatusCode, b)
	}
}

// A models: alias is a routing alias (docs/routing.md): a call on it gets
// x-bulwark-deployment whatever the caller's dialect.
func TestCrossDialectAliasIsRouted(t *testing.T) {
	e := newEnv(t, withModelsRouting(t))
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"smart","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, b)
	}
	// same-dialect for comparison
	resp2, _ := e.do(t, http.MethodPost, "/v1/messages", `{"model":"smart","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
	t.Logf("same-dialect x-bulwark-deployment = %q", resp2.Header.Get("X-Bulwark-Deployment"))
	if got := resp.Header.Get("X-Bulwark-Deployment"); got != "smart" {
		t.Errorf("x-bulwark-deployment = %q, want %q (call not routed)", got, "smart")
	}
}

// A routing alias named like a bare vendor model decides where the call
// goes, whatever the caller's dialect: here it sends claude-sonnet-4-5 to
// an OpenAI deployment.
func TestRoutingAliasNamedLikeVendorModelCrossDialect(t *testing.T) {
	e := newEnv(t, func(c *Config, d *Deps) {
		rtr, err := router.New(router.Config{
			Deployments: []router.Deployment{{Name: "oa", Provider: "openai", Model: "gpt-4o"}},
			Aliases:     []router.Alias{{Name: "claude-sonnet-4-5", Strategy: router.Fallback, Deployments: []string{"oa"}}},
		}, router.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy}}
	})
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status = %d: %s", resp.StatusCode, b)
	}
	if n := len(e.anth.Requests()); n != 0 {
		t.Errorf("the Anthropic upstream got %d request(s) (%s); the routing alias names only an OpenAI deployment", n, e.anth.Last().Path)
	}
	if got := resp.Header.Get("X-Bulwark-Deployment"); got != "oa" {
		t.Errorf("x-bulwark-deployment = %q, want %q", got, "oa")
	}
	// Same alias from the Anthropic dialect is routed.
	resp, _ = e.do(t, http.MethodPost, "/v1/messages", `{"model":"claude-sonnet-4-5","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
	t.Logf("anthropic dialect: status %d deployment %q", resp.StatusCode, resp.Header.Get("X-Bulwark-Deployment"))
}
