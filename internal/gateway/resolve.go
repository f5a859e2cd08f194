package gateway

import (
	"context"
	"fmt"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/provider"
)

// target is a resolved model: the provider that serves it and the model
// name the upstream expects.
type target struct {
	prov     provider.Config
	upstream string
}

// canonical is the "provider/model" form of t.
func (t target) canonical() string { return t.prov.Name + "/" + t.upstream }

// resolve maps a client model name to a provider: an alias, then
// "<provider>/<model>", then a bare vendor name through the family's
// default provider. It fails with 404 model_not_found in the caller's
// dialect for anything else, 403 when the key may not use the model, and
// 400 when the provider does not speak fam (the fast path's requirement).
func (g *Gateway) resolve(ctx context.Context, id *identity.Identity, model string, fam provider.Family) (target, error) {
	t, err := g.lookup(ctx, id, model)
	if err != nil {
		return t, err
	}
	return t, requireSpeaks(t, model, fam)
}

// requireSpeaks refuses a target whose provider does not accept wire
// family fam unchanged.
func requireSpeaks(t target, model string, fam provider.Family) error {
	if !t.prov.Speaks(fam) {
		e := apierr.BadRequest("model_not_supported", fmt.Sprintf("model %q is served by a %s provider, which does not accept this API format", model, t.prov.Type))
		e.Param = "model"
		return e
	}
	return nil
}

// lookup is resolve without the wire-family requirement: translated calls
// reach a provider of any family.
func (g *Gateway) lookup(ctx context.Context, id *identity.Identity, model string) (target, error) {
	name := model
	if a, ok := g.cfg.Aliases[model]; ok {
		name = a
	}
	var t target
	var found bool
	if p, m, ok := strings.Cut(name, "/"); ok {
		cfg, ok, err := g.deps.Providers.Provider(ctx, id.Tenant, p)
		if err != nil {
			return t, apierr.Internal(fmt.Errorf("gateway: provider lookup: %w", err))
		}
		t, found = target{prov: cfg, upstream: m}, ok
	}
	if !found {
		if p := g.defaultProvider(name); p != "" {
			cfg, ok, err := g.deps.Providers.Provider(ctx, id.Tenant, p)
			if err != nil {
				return t, apierr.Internal(fmt.Errorf("gateway: provider lookup: %w", err))
			}
			t, found = target{prov: cfg, upstream: name}, ok
		}
	}
	resolved := ""
	if found {
		resolved = t.canonical()
	}
	if err := mayUse(id, model, resolved); err != nil {
		return t, err
	}
	if !found || !t.prov.Serves(t.upstream) {
		return t, modelNotFound(model)
	}
	return t, nil
}

// mayUse applies a key's model list: the name the client sent, or the
// provider/model it resolves to ("" when unknown), must be in it.
func mayUse(id *identity.Identity, sent, resolved string) error {
	if id.AllowsModel(sent) || resolved != "" && id.AllowsModel(resolved) {
		return nil
	}
	return apierr.Forbidden("model_not_allowed", fmt.Sprintf("this key may not use model %q", sent))
}

func modelNotFound(model string) error {
	e := apierr.NotFound("model_not_found", fmt.Sprintf("model %q does not exist or is not configured", model))
	e.Param = "model"
	return e
}

// defaultProvider returns the configured provider for a bare vendor model
// name, or "".
func (g *Gateway) defaultProvider(model string) string {
	switch {
	case strings.HasPrefix(model, "claude-"):
		return g.cfg.DefaultProviders["anthropic"]
	case strings.HasPrefix(model, "gemini-"), strings.HasPrefix(model, "gemma-"):
		return g.cfg.DefaultProviders["gemini"]
	case strings.HasPrefix(model, "gpt-"), strings.HasPrefix(model, "chatgpt-"),
		strings.HasPrefix(model, "text-embedding-"), isOSeries(model):
		return g.cfg.DefaultProviders["openai"]
	}
	return ""
}

// isOSeries matches OpenAI's reasoning models: o1, o3, o4-mini, o3-pro...
func isOSeries(m string) bool {
	if len(m) < 2 || m[0] != 'o' || m[1] < '1' || m[1] > '9' {
		return false
	}
	return len(m) == 2 || m[2] == '-'
}

// statusClientClosed is logged and recorded when the client went away
// (nginx's 499); it is never sent.
const statusClientClosed = 499
