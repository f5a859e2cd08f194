package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/provider"
	panthropic "github.com/bulwarkhq/bulwark/internal/provider/anthropic"
	pgemini "github.com/bulwarkhq/bulwark/internal/provider/gemini"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// geminiMethods sends countTokens straight to serveGemini and every other
// Gemini method through billed (the Idempotency-Key wrapper): a token
// count is not billed, so, like /v1/messages/count_tokens, it is never
// stored, replayed or made to wait for an in-flight twin.
func (g *Gateway) geminiMethods(billed http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, ":"+gemini.MethodCountTokens) {
			g.serveGemini(w, r)
			return
		}
		billed(w, r)
	}
}

// geminiCountTokens serves models/{model}:countTokens after the caller
// was verified. Like /v1/messages/count_tokens it is not billed (no TPM,
// budget or usage record, but for a limit's refusal); the model
// allowlist, the caller's concurrency and per-minute count limit and the
// request guardrail apply. A Gemini upstream counts with its own
// countTokens; an Anthropic one (or the mock) with /v1/messages/count_tokens
// on the translated request; other families have no counting endpoint,
// and the call is refused as /v1/messages/count_tokens refuses them.
func (x *exchange) geminiCountTokens(w http.ResponseWriter, model string) error {
	setRequestID(w, x.r, x.rt.dialect)
	body, err := readGeminiBody(x.r, x.g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if x.routed, err = x.routeAlias(model); err != nil {
		return err
	}
	if !x.routed {
		if x.tgt, err = x.g.lookup(x.r.Context(), x.id, model); err != nil {
			return err
		}
	}
	// The caller's concurrency and its per-minute bucket of counts, before
	// the body is inspected or decoded (docs/limits.md).
	x.describe(w, model, false, len(body))
	if err := x.admitRequest(); err != nil {
		return err
	}
	defer x.endCount()
	if h := x.g.deps.Hooks.Request; h != nil {
		nb, err := h.InspectRequest(x.r.Context(), x.rt.dialect, body)
		if err != nil {
			return blocked(err)
		}
		if nb != nil {
			body = nb
		}
	}
	req, err := gemini.DecodeCountTokens(body)
	if err != nil {
		return apierr.BadRequest("invalid_request_error", "invalid request body: "+err.Error())
	}
	x.reqBytes = len(body)
	if x.routed {
		return x.countRouted(w, body, req, model)
	}
	return settled(x.countOn(x.r.Context(), w, body, req, model))
}

// countRouted counts on a routing alias: the first deployment that can
// count answers, with the fallback and breakers of any routed call.
// Deployments whose provider cannot count are skipped, and so are those
// whose own limits refuse the count: as on /v1/messages/count_tokens, a
// count takes a deployment's slot and its counting bucket (never its
// calls' rate or TPM), given back when the attempt fails or, once the
// count is answered, by endCount.
func (x *exchange) countRouted(w http.ResponseWriter, body []byte, req *llm.Request, model string) error {
	ex := x.g.deps.Routing.Executor
	_, err := ex.Do(x.r.Context(), model, func(ctx context.Context, d router.Deployment) (err error) {
		prov, ok, err := x.g.deps.Providers.Provider(ctx, x.id.Tenant, d.Provider)
		if err != nil {
			return apierr.Internal(fmt.Errorf("gateway: provider lookup: %w", err))
		}
		if !ok || !prov.Serves(d.Model) {
			return fmt.Errorf("%w: provider %q cannot serve %q", router.ErrSkipDeployment, d.Provider, d.Model)
		}
		x.tgt = target{prov: prov, upstream: d.Model}
		if _, ok := countFamily(prov); !ok {
			return fmt.Errorf("%w: %w", router.ErrSkipDeployment, notCountable(model, prov))
		}
		adm, err := x.admitDeployment(ctx, d)
		if err != nil {
			return err
		}
		// Deferred, as in tryDeployment: a panic must not lose the hold.
		defer func() { x.keepDeployment(ctx, adm, err != nil) }() // countOn writes only a success
		w.Header().Set(HeaderDeployment, d.Name)
		return x.countOn(ctx, w, body, req, model)
	}, func() bool { return false }) // countOn writes only a success
	if err != nil {
		return routeError(x, err)
	}
	return nil
}

// countFamily is the wire family x.tgt's provider counts tokens in.
func countFamily(p provider.Config) (provider.Family, bool) {
	switch {
	case p.Type == provider.TypeGemini:
		return provider.FamilyGemini, true
	case p.Speaks(provider.FamilyAnthropic): // anthropic, or the mock
		return provider.FamilyAnthropic, true
	}
	return 0, false
}

func notCountable(model string, p provider.Config) error {
	e := apierr.BadRequest("model_not_supported", fmt.Sprintf("model %q is served by a %s provider, which has no token-counting endpoint", model, p.Type))
	e.Param = "model"
	return e
}

// countOn asks x.tgt's upstream to count and answers {"totalTokens":N}.
// Nothing is written unless the count succeeded.
func (x *exchange) countOn(ctx context.Context, w http.ResponseWriter, body []byte, req *llm.Request, model string) error {
	fam, ok := countFamily(x.tgt.prov)
	if !ok {
		return notCountable(model, x.tgt.prov)
	}
	call := provider.Call{Family: fam, Method: http.MethodPost, In: x.r.Header, Betas: x.g.betas, Model: x.tgt.upstream}
	var dropped llm.Dropped
	var err error
	if fam == provider.FamilyGemini {
		if call.Path, err = pgemini.CountTokensPath(x.tgt.upstream); err != nil {
			return modelNotFound(model)
		}
		call.Body, err = gemini.UpstreamCountTokens(body, x.tgt.upstream)
	} else {
		call.Path = panthropic.PathCountTokens
		call.Body, dropped, err = x.anthropicCount(req)
	}
	if err != nil {
		return err
	}
	resp, err := x.send(ctx, call)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	router.Progress(ctx)
	if resp.StatusCode >= 300 {
		return (&translation{x: x, upFam: fam}).upstreamFailed(resp)
	}
	b, err := x.readAnswer(resp)
	if err != nil {
		return err
	}
	out, err := countAnswer(fam, b)
	if err != nil {
		return apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider sent an answer the gateway cannot read").WithCause(err)
	}
	hdr := w.Header()
	setDropped(hdr, dropped)
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return nil
}

// anthropicCountFields are the Messages fields count_tokens accepts; the
// others (max_tokens, sampling, stream…) it refuses, and none changes
// the count.
var anthropicCountFields = map[string]bool{"model": true, "messages": true, "system": true, "tools": true, "tool_choice": true, "thinking": true}

// anthropicCount translates the prompt to count into a count_tokens body,
// refusing under X-Bulwark-Strict a feature Anthropic cannot carry. The
// generation settings play no part in a count and are left out first, so
// they are neither reported dropped nor refused.
func (x *exchange) anthropicCount(req *llm.Request) ([]byte, llm.Dropped, error) {
	prompt := *req
	prompt.MaxTokens, prompt.Stop, prompt.ResponseFormat, prompt.Stream = 0, nil, nil, false
	prompt.Temperature, prompt.TopP, prompt.TopK, prompt.Seed = nil, nil, nil, nil
	prompt.PresencePenalty, prompt.FrequencyPenalty = nil, nil
	full, dropped, err := x.encodeFor(anthropic.Codec, &prompt)
	if err != nil {
		return nil, nil, err
	}
	out := append(make([]byte, 0, len(full)), '{')
	gjson.ParseBytes(full).ForEach(func(k, v gjson.Result) bool {
		if anthropicCountFields[k.String()] {
			if len(out) > 1 {
				out = append(out, ',')
			}
			out = append(append(append(out, k.Raw...), ':'), v.Raw...)
		}
		return true
	})
	return append(out, '}'), dropped, nil
}

// countAnswer is Google's countTokens answer for an upstream's count:
// Gemini's own fields re-encoded (nothing else of the upstream body is
// passed on), or Anthropic's input_tokens as totalTokens. Anthropic gives
// no per-modality split, so promptTokensDetails is left out rather than
// guessed.
func countAnswer(fam provider.Family, b []byte) ([]byte, error) {
	var r gemini.CountTokensResponse
	if fam == provider.FamilyGemini {
		var err error
		if r, err = gemini.DecodeCountTokensResponse(b); err != nil {
			return nil, err
		}
	} else {
		n := gjson.GetBytes(b, "input_tokens")
		if n.Type != gjson.Number || n.Int() < 0 || float64(n.Int()) != n.Float() {
			return nil, fmt.Errorf("count_tokens answer without a valid input_tokens: %w", llm.ErrMalformed)
		}
		r.TotalTokens = int(n.Int())
	}
	out, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("gateway: encode countTokens answer: %w", err)
	}
	return out, nil
}
