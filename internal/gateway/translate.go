package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/anthropic"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
	"github.com/bulwarkhq/bulwark/internal/provider"
	panthropic "github.com/bulwarkhq/bulwark/internal/provider/anthropic"
	pgemini "github.com/bulwarkhq/bulwark/internal/provider/gemini"
	popenai "github.com/bulwarkhq/bulwark/internal/provider/openai"
	"github.com/bulwarkhq/bulwark/internal/reqid"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// Header names of cross-dialect translation.
const (
	// HeaderDropped lists, comma-separated, the features the upstream could
	// not carry (see llm.Dropped).
	HeaderDropped = "X-Bulwark-Dropped"
	// HeaderStrict set to "true" refuses a request that would drop a
	// feature, with 400 feature_dropped naming it.
	HeaderStrict = "X-Bulwark-Strict"
)

// routeGemini is Gemini's generateContent; the upstream path depends on
// the upstream family and is chosen per call.
// It serves streamGenerateContent too (see endpointName).
var routeGemini = route{dialect: apierr.Gemini, family: provider.FamilyGemini, path: "/v1beta/models:generateContent", llm: true,
	endpoint: usage.EndpointGeminiGenerate}

// routeGeminiCount is Gemini's countTokens (see gemini_count.go).
var routeGeminiCount = route{dialect: apierr.Gemini, family: provider.FamilyGemini, path: "/v1beta/models:countTokens", count: true,
	endpoint: usage.EndpointGeminiCountTokens}

// codecFor returns the codec of a wire family.
func codecFor(f provider.Family) llm.Codec {
	switch f {
	case provider.FamilyAnthropic:
		return anthropic.Codec
	case provider.FamilyGemini:
		return gemini.Codec
	}
	return openai.Codec
}

// dispatch serves a chat route: same-dialect calls go to the fast path
// untouched (fast); a call whose provider speaks another family is
// translated. Anything the pre-check cannot settle (no identity, a bad
// body, an unknown model) is left to the fast path, which answers it.
func (g *Gateway) dispatch(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		id := identity.FromContext(r.Context())
		if id == nil || !id.HasScope("llm") {
			g.serveFast(w, r, rt, nil)
			return
		}
		body, err := readBody(r, g.cfg.MaxBodyBytes)
		if err != nil {
			g.writeError(w, r, rt.dialect, err)
			return
		}
		f, ferr := Extract(body)
		if ferr == nil && g.routingAlias(f.Model) {
			// A routing alias is routed whatever the caller's dialect: the
			// router decides per deployment whether to translate, and its
			// retries, breaker and deployment limits apply.
			g.serveFast(w, r, rt, &prebody{body: body, f: f})
			return
		}
		var tgt target
		if ferr == nil {
			tgt, err = g.lookup(r.Context(), id, f.Model)
		}
		if ferr != nil || err != nil || tgt.prov.Speaks(rt.family) || !translatable(tgt.prov) {
			g.serveFast(w, r, rt, &prebody{body: body, f: f, err: ferr, tgt: tgt, found: ferr == nil && err == nil})
			return
		}
		x := &exchange{g: g, rt: rt, r: r, start: time.Now(), id: id, tgt: tgt}
		if err := x.serveTranslated(w, body, f.Model, f.Stream); err != nil {
			x.rec.Status = apierr.From(err).Status
			g.writeError(w, r, rt.dialect, err)
		}
	}
}

// routingAlias reports whether model names a routing alias.
func (g *Gateway) routingAlias(model string) bool {
	ex := g.deps.Routing.Executor
	if ex == nil {
		return false
	}
	_, ok := ex.Router.Alias(model)
	return ok
}

// serveGemini serves POST /v1beta/models/{model}:{method}. Every Gemini
// generation goes through the canonical model, to a Gemini upstream as to
// any other; countTokens is gemini_count.go's.
func (g *Gateway) serveGemini(w http.ResponseWriter, r *http.Request) {
	x := &exchange{g: g, rt: routeGemini, r: r, start: time.Now()}
	if err := x.geminiCall(w); err != nil {
		x.rec.Status = apierr.From(err).Status
		g.writeError(w, r, apierr.Gemini, err)
	}
}

func (x *exchange) geminiCall(w http.ResponseWriter) error {
	id, err := caller(x.r)
	if err != nil {
		return err
	}
	x.id = id
	model, method, err := gemini.ParsePath(x.r.URL.Path)
	if err != nil {
		return apierr.NotFound("not_found", "unknown Gemini method: use models/{model}:generateContent, :streamGenerateContent or :countTokens")
	}
	if method == gemini.MethodCountTokens {
		x.rt = routeGeminiCount
		return x.geminiCountTokens(w, model)
	}
	stream := method == gemini.MethodStreamGenerate
	if _, ok := geminiAlt(x.r); stream && !ok {
		return apierr.BadRequest("invalid_argument", "streamGenerateContent is served with alt=sse or as a JSON array (no alt, or alt=json)")
	}
	body, err := readGeminiBody(x.r, x.g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	if x.routed, err = x.routeAlias(model); err != nil {
		return err
	}
	if x.routed {
		return x.serveRoutedGemini(w, body, model, stream)
	}
	if x.tgt, err = x.g.lookup(x.r.Context(), id, model); err != nil {
		return err
	}
	if !translatable(x.tgt.prov) {
		return apierr.BadRequest("model_not_supported", fmt.Sprintf("model %q is served by a %s provider, which cannot be reached from the Gemini API", model, x.tgt.prov.Type))
	}
	return x.serveTranslated(w, body, model, stream)
}

// serveRoutedGemini runs a Gemini-dialect call on a routing alias: each
// attempt translates for its deployment (routes a Gemini body never goes
// to the fast path), with the limits, retries and fallback of any routed
// call.
func (x *exchange) serveRoutedGemini(w http.ResponseWriter, body []byte, model string, stream bool) error {
	r := x.r
	setRequestID(w, r, x.rt.dialect)
	x.describe(w, model, stream, len(body))
	if h := x.g.deps.Hooks.Request; h != nil {
		if err := x.admitRequest(); err != nil {
			return err
		}
		nb, err := h.InspectRequest(r.Context(), x.rt.dialect, body)
		if err != nil {
			x.dropAdmission()
			return blocked(err)
		}
		if nb != nil {
			body = nb
		}
	}
	req, err := gemini.Codec.DecodeRequest(body) // refuses a bad body before tokens or budget are taken
	if err != nil {
		x.dropAdmission()
		return apierr.BadRequest("invalid_request_error", "invalid request body: "+err.Error())
	}
	x.reqBytes = len(body)
	x.call.PromptTokens, x.call.MaxTokens = usage.EstimateTokens(len(body)), int64(req.MaxTokens)
	return x.serveCall(w, body, Fields{Model: model, Stream: stream})
}

// describe sets the call and usage record of a call on model (as the
// caller named it) to x.tgt, before its limits: a refusal is recorded
// with them.
func (x *exchange) describe(w http.ResponseWriter, model string, stream bool, bodyLen int) {
	x.call = Call{Identity: x.id, Dialect: x.rt.dialect, Model: model, Provider: x.tgt.prov.Name, Upstream: x.tgt.upstream,
		Stream: stream, PromptTokens: usage.EstimateTokens(bodyLen), routed: x.routed, count: x.rt.count, hdr: w.Header()}
	x.rec = usage.Record{Time: x.start, RequestID: reqid.FromContext(x.r.Context()), KeyID: x.id.KeyID, Tenant: x.id.Tenant,
		Model: model, Provider: x.tgt.prov.Name, Deployment: x.tgt.upstream, Endpoint: x.rt.endpointName(stream), Stream: stream}
}

// serveTranslated decodes body in the caller's dialect, encodes it for the
// upstream's family and translates the answer back; model and stream are
// what the caller asked for (Gemini carries both in the URL).
func (x *exchange) serveTranslated(w http.ResponseWriter, body []byte, model string, stream bool) error {
	g, r := x.g, x.r
	setRequestID(w, r, x.rt.dialect)
	x.describe(w, model, stream, len(body))
	if h := g.deps.Hooks.Request; h != nil {
		if err := x.admitRequest(); err != nil {
			return err
		}
		nb, err := h.InspectRequest(r.Context(), x.rt.dialect, body)
		if err != nil {
			x.dropAdmission()
			return blocked(err)
		}
		if nb != nil {
			body = nb
		}
	}
	t, out, err := x.translate(body, model, stream)
	if err != nil {
		x.dropAdmission()
		return err
	}
	x.reqBytes = len(body)
	req := t.req
	x.call.Stream, x.call.PromptTokens, x.call.MaxTokens = req.Stream, usage.EstimateTokens(len(body)), int64(req.MaxTokens)
	x.rec.Stream = req.Stream
	n, err := g.deps.Hooks.before(r.Context(), &x.call)
	defer func() {
		if err != nil {
			x.rec.Status = apierr.From(err).Status
		}
		x.settle(n)
	}()
	if err != nil {
		return err
	}
	return settled(t.forward(r.Context(), w, out))
}

// translate decodes body in the caller's dialect and encodes it for the
// family x.tgt's provider speaks; model and stream are what the caller
// asked for (Gemini carries both in the URL). It refuses, under
// X-Bulwark-Strict, a request that would lose a feature.
func (x *exchange) translate(body []byte, model string, stream bool) (*translation, []byte, error) {
	in, upFam := codecFor(x.rt.family), upstreamFamily(x.tgt.prov, x.rt.family)
	if x.arrayFramed() {
		in = gemini.ArrayCodec // a Gemini stream without alt=sse is one JSON array
	}
	up := codecFor(upFam)
	req, err := in.DecodeRequest(body)
	if err != nil {
		return nil, nil, apierr.BadRequest("invalid_request_error", "invalid request body: "+err.Error())
	}
	if x.rt.family == provider.FamilyGemini {
		req.Model, req.Stream = model, stream
	}
	out, dropped, err := x.encodeFor(up, req)
	if err != nil {
		return nil, nil, err
	}
	return &translation{x: x, in: in, up: up, upFam: upFam, req: req, dropped: dropped}, out, nil
}

// encodeFor encodes req for x.tgt's upstream with codec up, refusing
// under X-Bulwark-Strict a feature it would drop, and counts the drops.
func (x *exchange) encodeFor(up llm.Codec, req *llm.Request) ([]byte, llm.Dropped, error) {
	out, dropped, err := up.EncodeRequest(req, llm.Target{Model: x.tgt.upstream, Version: panthropic.Version(x.r.Header.Get("Anthropic-Version"))})
	if err != nil {
		return nil, nil, apierr.BadRequest("invalid_request_error", "the request cannot be translated for this model's provider: "+err.Error())
	}
	if x.r.Header.Get(HeaderStrict) == "true" {
		if err := dropped.Strict(); err != nil {
			return nil, nil, apierr.BadRequest("feature_dropped", err.Error())
		}
	}
	x.g.countDropped(dropped)
	return out, dropped, nil
}

// translation is the state of one cross-dialect call.
type translation struct {
	x       *exchange
	in, up  llm.Codec
	upFam   provider.Family
	req     *llm.Request
	dropped llm.Dropped
}

// forward calls the upstream with the encoded body and relays its answer
// in the caller's dialect. ctx is the attempt's (a routed deployment's
// timeouts); a failure already answered, or owed to nobody, is handled.
func (t *translation) forward(ctx context.Context, w http.ResponseWriter, out []byte) error {
	x := t.x
	ctx, cancel := context.WithCancel(ctx)
	defer cancel() // a failed client write stops the upstream at once
	call := provider.Call{Family: t.upFam, Method: http.MethodPost, Body: out, In: x.r.Header, Betas: x.g.betas, Model: x.tgt.upstream}
	switch t.upFam {
	case provider.FamilyAnthropic:
		call.Path = panthropic.PathMessages
	case provider.FamilyGemini:
		var err error
		if call.Path, call.Query, err = pgemini.Path(x.tgt.upstream, t.req.Stream); err != nil {
			return modelNotFound(x.tgt.canonical())
		}
	default:
		call.Path = popenai.PathChat
	}
	resp, err := x.send(ctx, call)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	router.Progress(ctx) // an answer, even an error, is the first byte
	if resp.StatusCode >= 300 {
		return t.upstreamFailed(resp)
	}
	if t.req.Stream {
		if !isEventStream(resp.Header) {
			return apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider did not stream its answer")
		}
		return t.relayStream(ctx, t.streamWriter(w), resp)
	}
	return t.relayBody(ctx, w, resp)
}

func (t *translation) upstreamFailed(resp *http.Response) error {
	x := t.x
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if t.upFam == provider.FamilyGemini {
		b = []byte(`{"error":{"message":` + quote(pgemini.ErrorMessage(b)) + `}}`)
	}
	e, msg := upstreamError(t.upFam == provider.FamilyAnthropic, resp.StatusCode, resp.Header, b, x.credential())
	x.rec.Status = e.Status
	// As on the fast path, the cause classifies the answer for the router
	// (retryable, context window) and keeps the upstream's retry-after.
	return e.WithCause(router.NewUpstreamError(resp.StatusCode, fmt.Sprintf("provider %q: %s", x.tgt.prov.Name, msg), resp.Header, time.Now()))
}

// relayBody translates a complete upstream answer. ctx is the attempt's.
func (t *translation) relayBody(ctx context.Context, w http.ResponseWriter, resp *http.Response) error {
	x := t.x
	b, err := x.readAnswer(resp)
	if err != nil {
		return err
	}
	res, err := t.up.DecodeResponse(b)
	if err != nil {
		return apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider sent an answer the gateway cannot read").WithCause(err)
	}
	x.rec.Tokens = tokensOf(res.Usage)
	if res.Usage == (llm.Usage{}) {
		x.rec.Estimated = true
		x.rec.PromptTokens = usage.EstimateTokens(x.reqBytes)
		x.rec.CompletionTokens = usage.EstimateTokens(len(b))
	}
	if res.Created == 0 {
		res.Created = time.Now().Unix()
	}
	out, more, err := t.in.EncodeResponse(res)
	if err != nil {
		return apierr.Internal(fmt.Errorf("gateway: encode translated response: %w", err))
	}
	for _, f := range more {
		t.dropped.Add(f)
	}
	x.g.countDropped(more)
	if h := x.g.deps.Hooks.Response; h != nil {
		if out, err = h.InspectResponse(x.r.Context(), x.rt.dialect, out); err != nil {
			return blocked(err)
		}
	}
	x.rec.TTFB = time.Since(x.start)
	hdr := w.Header()
	setDropped(hdr, t.dropped)
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	writeBody(ctx, w, out, &x.wg, x.g.cfg.WriteStallTimeout)
	return nil
}

// tokensOf converts canonical usage to a usage record's counts (both count
// cached prompt tokens inside the prompt and reasoning inside completion),
// clamped as the fast path's are: a broken or hostile upstream report must
// not record negative or inconsistent counts, or a cost from them.
func tokensOf(u llm.Usage) usage.Tokens {
	return usage.Tokens{PromptTokens: int64(u.InputTokens), CompletionTokens: int64(u.OutputTokens),
		CachedTokens: int64(u.CacheReadTokens), CacheWriteTokens: int64(u.CacheCreationTokens),
		CacheWrite1hTokens: int64(u.CacheCreation1hTokens), ReasoningTokens: int64(u.ReasoningTokens)}.Clamped()
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
