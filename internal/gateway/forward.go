package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/httpx"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/reqid"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/sse"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// exchange is the state of one forwarded request, settled exactly once.
type exchange struct {
	g     *Gateway
	rt    route
	r     *http.Request
	start time.Time
	id    *identity.Identity
	call  Call
	rec   usage.Record
	tgt   target
	// reqBytes sizes the local prompt estimate when usage is missing.
	reqBytes int
	// upHeader is the last upstream request's header (see credential).
	upHeader http.Header
	// routed is set when the model is a routing alias; depAdm holds the
	// serving deployment's limits until the call is settled.
	routed bool
	depAdm *limit.Admission
	// pre is the body dispatch already read and extracted (nil when the
	// exchange reads it itself), so a chat request is read and validated
	// once.
	pre *prebody
	// wg bounds the writes of the answer to the client (see
	// httpx.WriteGuard); held here, in an allocation every request makes.
	wg httpx.WriteGuard
	// held is the stream whose terminal event was left for the response's
	// end (see relayer.pass), until something flushes it.
	held *sse.Writer
}

// prebody is a request body read by dispatch and the result of Extract on
// it.
type prebody struct {
	body []byte
	f    Fields
	err  error
	// tgt is the model's provider as dispatch looked it up (valid when
	// found): the fast path checks only that it speaks the dialect.
	tgt   target
	found bool
}

// handle returns the handler of a forwarded endpoint.
func (g *Gateway) handle(rt route) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) { g.serveFast(w, r, rt, nil) }
}

// serveFast serves one request on the same-dialect fast path; pre, when
// not nil, is its body already read.
func (g *Gateway) serveFast(w http.ResponseWriter, r *http.Request, rt route, pre *prebody) {
	x := &exchange{g: g, rt: rt, r: r, start: time.Now(), pre: pre}
	if err := x.serve(w); err != nil {
		x.rec.Status = apierr.From(err).Status
		g.writeError(w, r, rt.dialect, err)
	}
}

// resolve finds the model's provider, reusing dispatch's lookup.
func (x *exchange) resolve(id *identity.Identity, model string) (target, error) {
	if p := x.pre; p != nil && p.found {
		return p.tgt, requireSpeaks(p.tgt, model, x.rt.family)
	}
	return x.g.resolve(x.r.Context(), id, model, x.rt.family)
}

// body returns the request body and its fields, read and extracted here
// unless dispatch already did.
func (x *exchange) body() ([]byte, Fields, error) {
	if p := x.pre; p != nil {
		if p.err != nil {
			return nil, Fields{}, badBody(p.err)
		}
		return p.body, p.f, nil
	}
	body, err := readBody(x.r, x.g.cfg.MaxBodyBytes)
	if err != nil {
		return nil, Fields{}, err
	}
	f, err := Extract(body)
	if err != nil {
		return nil, Fields{}, badBody(err)
	}
	return body, f, nil
}

// serve runs the request. An error returned before anything was written is
// rendered by the caller; after the first byte, failures end the stream.
func (x *exchange) serve(w http.ResponseWriter) error {
	g, r := x.g, x.r
	id, err := caller(r)
	if err != nil {
		return err
	}
	x.id = id
	setRequestID(w, r, x.rt.dialect)
	body, f, err := x.body()
	if err != nil {
		return err
	}
	if x.routed, err = x.routeAlias(f.Model); err != nil {
		return err
	}
	if !x.routed {
		if x.tgt, err = x.resolve(id, f.Model); err != nil {
			return err
		}
	}
	x.call = Call{Identity: id, Dialect: x.rt.dialect, Model: f.Model, Provider: x.tgt.prov.Name, Upstream: x.tgt.upstream,
		Stream: f.Stream, PromptTokens: usage.EstimateTokens(len(body)), MaxTokens: f.MaxTokens,
		routed: x.routed, embedding: x.rt.path == "/embeddings", count: x.rt.count, hdr: w.Header()}
	x.rec = usage.Record{Time: x.start, RequestID: reqid.FromContext(r.Context()), KeyID: id.KeyID, Tenant: id.Tenant,
		Model: f.Model, Provider: x.tgt.prov.Name, Deployment: x.tgt.upstream, Endpoint: x.rt.endpointName(f.Stream), Stream: f.Stream}
	h := g.deps.Hooks.Request
	if h != nil || x.rt.count { // a count has no call hooks: its limits are taken here or nowhere
		if err = x.admitRequest(); err != nil {
			return err
		}
	}
	if x.rt.count {
		defer x.endCount()
	}
	if h != nil {
		if body, f, err = inspect(r.Context(), h, x.rt.dialect, body, f); err != nil {
			x.dropAdmission()
			return err
		}
		x.call.Stream, x.call.PromptTokens, x.call.MaxTokens = f.Stream, usage.EstimateTokens(len(body)), f.MaxTokens
		x.rec.Stream = f.Stream
	}
	x.reqBytes = len(body)
	out := body // a routed call is rewritten per deployment
	if !x.routed {
		if out, err = Rewrite(body, f, x.tgt.upstream, x.rt.family == provider.FamilyOpenAI && x.rt.path == "/chat/completions"); err != nil {
			x.dropAdmission()
			return apierr.Internal(fmt.Errorf("gateway: rewrite body: %w", err))
		}
	}
	if !x.rt.llm {
		if x.routed { // a routing alias has no single target: let the router pick one
			return settled(x.route(w, out, f))
		}
		return settled(x.forward(r.Context(), w, out, f))
	}
	return x.serveCall(w, out, f)
}

// serveCall runs the call hooks around forward; the after-hooks and the
// usage record run exactly once, whatever happens.
func (x *exchange) serveCall(w http.ResponseWriter, out []byte, f Fields) (err error) {
	n, err := x.g.deps.Hooks.before(x.r.Context(), &x.call)
	returned := false
	defer func() {
		switch {
		case err != nil:
			x.rec.Status = apierr.From(err).Status
		case !returned:
			// A panic is unwinding through (the server's recovery answers
			// it): the row says so, and settling still frees the call's
			// slots and deployment hold.
			x.rec.Status = http.StatusInternalServerError
		}
		x.settle(n)
	}()
	if err != nil {
		return err
	}
	if x.routed {
		err = settled(x.route(w, out, f))
	} else {
		err = settled(x.forward(x.r.Context(), w, out, f))
	}
	returned = true
	return err
}

// admitRequest takes the caller's limits that do not depend on the body
// (concurrency, then requests per minute, or for a token count its own
// per-minute bucket) ahead of the request hook, so a request they refuse
// costs no guard scan (docs/limits.md). x.call and x.rec must describe
// the call: a refusal is settled here (usage row, metrics) and returned to
// be rendered. The rest of a billed call's limits are taken by the
// limiter's BeforeCall, on the body the hook let through.
func (x *exchange) admitRequest() error {
	if (!x.rt.llm && !x.rt.count) || !x.g.limited() {
		return nil
	}
	if err := (limiter{x.g}).admitRequest(x.r.Context(), &x.call); err != nil {
		x.rec.Status = apierr.From(err).Status
		x.settle(0)
		return err
	}
	return nil
}

// dropAdmission ends the request step of a call that goes no further
// (blocked by the request hook, or refused before the call hooks), or of
// a token count once answered: its slots are freed, and the request still
// counts against its rate.
func (x *exchange) dropAdmission() {
	if adm := x.call.adm; adm != nil {
		x.call.adm = nil
		_ = adm.Abort(x.r.Context())
	}
}

// endCount ends a token count once it is answered (or refused): it frees
// the caller's slots and, for a routed count, gives back the serving
// deployment's hold (its slot; the count still counts). A count is never settled, so nothing else would: a
// deployment's slot taken by a count stayed taken for good, refusing
// every later call on a deployment with max_parallel.
func (x *exchange) endCount() {
	x.dropAdmission()
	if adm := x.depAdm; adm != nil {
		x.depAdm = nil
		_ = adm.Abort(x.r.Context())
	}
}

// inspect runs the request hook and re-reads the fields of a rewritten body.
func inspect(ctx context.Context, h RequestHook, d apierr.Dialect, body []byte, f Fields) ([]byte, Fields, error) {
	nb, err := h.InspectRequest(ctx, d, body)
	if err != nil {
		var ae *apierr.Error
		if errors.As(err, &ae) {
			return nil, f, ae
		}
		return nil, f, apierr.Forbidden("request_blocked", "the request was blocked by policy").WithCause(err)
	}
	if nb == nil || &nb[0] == &body[0] && len(nb) == len(body) {
		return body, f, nil
	}
	nf, err := Extract(nb)
	if err != nil {
		return nil, f, apierr.Internal(fmt.Errorf("gateway: request hook returned an invalid body: %w", err))
	}
	if nf.Model != f.Model {
		return nil, f, apierr.Internal(errors.New("gateway: request hook returned an invalid body: it changed the model"))
	}
	return nb, nf, nil
}

// settle records usage and runs the after-hooks, exactly once.
func (x *exchange) settle(hooks int) {
	rec := &x.rec
	if rec.Status == 0 {
		rec.Status = http.StatusOK
	}
	rec.Latency = time.Since(x.start)
	rec.CostMicros = x.cost()
	ctx := context.WithoutCancel(x.r.Context())
	if x.held != nil {
		if b, ok := x.g.sink.(usage.Backlogger); ok && b.Backlogged() {
			// Record will wait for the store: the last event goes first.
			_ = x.held.Flush()
		}
		x.held = nil
	}
	x.g.sink.Record(ctx, *rec)
	x.g.deps.Hooks.after(ctx, hooks, &x.call, *rec)
	if x.depAdm != nil {
		finish(ctx, x.g, x.depAdm, *rec)
	}
	noteStatus(x.r.Context(), rec.Status)
	x.g.metrics.observe(x.rt.path, rec)
}

// cost prices the record: the upstream's reported usage at the model's
// price, or, when the counts were estimated locally (nothing reported),
// those counts at the worst-case tier, as the budget settles them.
func (x *exchange) cost() int64 {
	rec := &x.rec
	p, ok := x.g.prices.Lookup(x.tgt.upstream)
	if !ok {
		return 0
	}
	if rec.Estimated {
		return limit.WorstCaseMicros(limitPrice(p), rec.PromptTokens, rec.CompletionTokens)
	}
	return p.Cost(rec.Tokens)
}

// send makes one upstream call for the exchange's target: the request
// with only the provider's own credential, the right client (mock or
// upstream), and transport failures mapped to their public face. A client
// that has gone is recorded and returned as handled.
func (x *exchange) send(ctx context.Context, call provider.Call) (*http.Response, error) {
	req, err := provider.NewRequest(ctx, x.tgt.prov, call)
	if err != nil {
		return nil, apierr.Unavailable("provider_unavailable", "the provider for this model is not available", time.Second).WithCause(err)
	}
	rt := x.g.upstream
	if x.tgt.prov.Type == provider.TypeMock {
		rt = x.g.mock
	}
	x.upHeader = req.Header
	resp, err := rt.RoundTrip(req)
	if err != nil {
		if x.r.Context().Err() != nil {
			x.clientLeft()
			return nil, handled{err}
		}
		return nil, apierr.New(http.StatusBadGateway, "upstream_unreachable", "the upstream provider could not be reached").WithCause(err)
	}
	return resp, nil
}

// forward calls the upstream and relays its answer. ctx is the attempt's
// (it carries a routed deployment's timeouts). A failure whose answer was
// already given, or that nobody waits for, is returned as handled.
//
// It derives no cancellable context of its own: a client that goes away,
// or whose write fails, cancels the request's context (net/http does both),
// and the deferred close of the upstream body drops the upstream
// connection of an answer not read to its end.
func (x *exchange) forward(ctx context.Context, w http.ResponseWriter, body []byte, f Fields) error {
	var query string
	if x.rt.family == provider.FamilyAnthropic && x.r.URL.Query().Get("beta") == "true" {
		query = "beta=true"
	}
	// Model names an Azure provider's deployment, which goes in the URL.
	resp, err := x.send(ctx, provider.Call{Family: x.rt.family, Method: http.MethodPost,
		Path: x.rt.path, Query: query, Body: body, In: x.r.Header, Betas: x.g.betas, Model: x.tgt.upstream})
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode >= 300 {
		x.watch(ctx).Progress() // an answer, even an error, is the first byte
		return x.upstreamFailed(resp)
	}
	if f.Stream && isEventStream(resp.Header) {
		return x.relayStream(ctx, w, resp, f)
	}
	x.watch(ctx).Progress()
	return x.relayBody(ctx, w, resp)
}

// watch returns the watchdog of the routed attempt running under ctx; an
// exchange that was not routed has none, and skips the context search
// (a walk of every value layered on the request's context).
func (x *exchange) watch(ctx context.Context) *router.Watch {
	if !x.routed {
		return nil
	}
	return router.WatchOf(ctx)
}

func (x *exchange) upstreamFailed(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	e, msg := upstreamError(x.rt.family == provider.FamilyAnthropic, resp.StatusCode, resp.Header, b, x.credential())
	x.rec.Status = e.Status
	// The cause classifies the answer for retries and keeps the upstream's
	// retry-after; its text goes to the log only.
	return e.WithCause(router.NewUpstreamError(resp.StatusCode, fmt.Sprintf("provider %q: %s", x.tgt.prov.Name, msg), resp.Header, time.Now()))
}

// relayBody forwards a non-streamed answer, reading usage from it. ctx is
// the attempt's.
func (x *exchange) relayBody(ctx context.Context, w http.ResponseWriter, resp *http.Response) error {
	b, err := x.readAnswer(resp)
	if err != nil {
		return err
	}
	x.bodyUsage(b)
	if h := x.g.deps.Hooks.Response; h != nil {
		if b, err = h.InspectResponse(x.r.Context(), x.rt.dialect, b); err != nil {
			return blocked(err)
		}
	}
	x.rec.TTFB = time.Since(x.start)
	hdr := w.Header()
	hdr.Set("Content-Type", "application/json")
	w.WriteHeader(resp.StatusCode)
	writeBody(ctx, w, b, &x.wg, x.g.cfg.WriteStallTimeout)
	return nil
}

// smallBody is the largest non-streamed answer written without a guard:
// the connection's send buffer takes it whole even from a client that
// reads nothing, so its write cannot block.
const smallBody = 8 << 10

// bodyPiece is what a guarded body write hands the connection at a time,
// so that progress renews the write deadline within a large answer.
const bodyPiece = 64 << 10

// writeBody writes a complete answer's body; one larger than smallBody is
// written under g (see httpx.WriteGuard), armed here with the stall bound
// and ctx (the attempt's, or the request's) and released before
// returning: a write that makes no progress for stall is cut, and so is
// one still blocked when ctx ends.
func writeBody(ctx context.Context, w http.ResponseWriter, b []byte, g *httpx.WriteGuard, stall time.Duration) {
	if len(b) <= smallBody {
		_, _ = w.Write(b)
		return
	}
	g.Start(ctx, w, stall)
	defer g.Release()
	for len(b) > 0 {
		n := min(len(b), bodyPiece)
		g.Check()
		if _, err := w.Write(b[:n]); err != nil {
			return
		}
		b = b[n:]
	}
}

// readAnswer reads a complete (non-streamed) upstream answer, bounded by
// the gateway's response limit.
func (x *exchange) readAnswer(resp *http.Response) ([]byte, error) {
	b, err := readAll(resp.Body, resp.ContentLength, x.g.cfg.MaxResponseBytes)
	switch {
	case errors.Is(err, errTooLong):
		return nil, apierr.New(http.StatusBadGateway, "upstream_response_too_large", "the upstream answer exceeds the gateway's limit")
	case err != nil && x.r.Context().Err() != nil:
		x.clientLeft()
		return nil, handled{err}
	case err != nil:
		return nil, apierr.New(http.StatusBadGateway, "upstream_error", "the upstream provider failed mid-answer").WithCause(err)
	}
	return b, nil
}

// credential is the credential sent to the upstream, cut from anything
// the upstream says that reaches a client or a log.
func (x *exchange) credential() string {
	if x.upHeader == nil {
		return ""
	}
	return provider.CredentialIn(x.upHeader)
}

// clientLeft records a client that went away before its answer arrived.
// The upstream may well have taken the prompt — and goes on generating a
// non-streamed answer it bills — so the prompt is charged on the local
// estimate (at the worst-case tier, see cost): hanging up before the
// answer must not make a call free.
func (x *exchange) clientLeft() {
	x.rec.Status = statusClientClosed
	x.rec.Estimated = true
	if x.rec.PromptTokens == 0 {
		x.rec.PromptTokens = usage.EstimateTokens(x.reqBytes)
	}
}

// bodyUsage takes usage from a complete response, or estimates it.
func (x *exchange) bodyUsage(b []byte) {
	ok := false
	if x.rt.family == provider.FamilyAnthropic {
		ok = usage.FromAnthropic(&x.rec.Tokens, gjson.GetBytes(b, "usage"))
	} else {
		x.rec.Tokens, ok = usage.FromOpenAI(b)
	}
	if !ok && x.rt.llm {
		x.rec.Estimated = true
		x.rec.PromptTokens = usage.EstimateTokens(x.reqBytes)
		x.rec.CompletionTokens = usage.EstimateTokens(len(b))
	}
}

func blocked(err error) error {
	var ae *apierr.Error
	if errors.As(err, &ae) {
		return ae
	}
	return apierr.Forbidden("response_blocked", "the response was blocked by policy").WithCause(err)
}

func isEventStream(h http.Header) bool {
	ct := h.Get("Content-Type")
	// The forms upstreams send, without parsing (ParseMediaType allocates
	// a parameter map on every streamed answer); anything else is parsed.
	if ct == "text/event-stream" || strings.HasPrefix(ct, "text/event-stream; charset=") {
		return true
	}
	mt, _, _ := mime.ParseMediaType(ct)
	return mt == "text/event-stream"
}

// readBody reads at most limit bytes; more is a 413.
func readBody(r *http.Request, limit int64) ([]byte, error) {
	if r.ContentLength > limit {
		return nil, apierr.TooLarge(limit)
	}
	b, err := readAll(r.Body, r.ContentLength, limit)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errTooLong) {
			return nil, apierr.TooLarge(limit)
		}
		return nil, apierr.BadRequest("invalid_request_error", "could not read the request body").WithCause(err)
	}
	return b, nil
}

// readGeminiBody is readBody for the Gemini API, whose bodies are not
// Extracted: a body nested too deeply is refused as Extract refuses it on
// the OpenAI and Anthropic APIs.
func readGeminiBody(r *http.Request, limit int64) ([]byte, error) {
	b, err := readBody(r, limit)
	if err != nil {
		return nil, err
	}
	if err := checkDepth(b); err != nil {
		return nil, badBody(err)
	}
	return b, nil
}

// errTooLong is readAll's answer to a body over its limit.
var errTooLong = errors.New("body exceeds the limit")

// readAll reads rd to its end into one buffer sized from hint (a declared
// Content-Length, or ≤ 0 when unknown) so a declared body is read without
// regrowing; more than limit bytes is errTooLong.
func readAll(rd io.Reader, hint, limit int64) ([]byte, error) {
	size := int64(bytes.MinRead)
	if hint > 0 && hint <= limit {
		size = hint + 1 // room for the read that sees EOF
	}
	b := make([]byte, 0, size)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := rd.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > limit {
			return nil, errTooLong
		}
		if errors.Is(err, io.EOF) {
			return b, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// badBody maps an extraction error to a clear 400.
func badBody(err error) error {
	e := apierr.BadRequest("invalid_request_error", "invalid request body: "+err.Error())
	if errors.Is(err, ErrMissingModel) || errors.Is(err, ErrInvalidModel) {
		e.Param = "model"
	}
	return e
}

// setRequestID echoes the request id under the header the dialect's SDK
// reads: x-request-id (OpenAI) and request-id (Anthropic).
func setRequestID(w http.ResponseWriter, r *http.Request, d apierr.Dialect) {
	id := reqid.FromContext(r.Context())
	if id == "" {
		return
	}
	h := w.Header()
	v := h["X-Request-Id"] // set by the server's middleware; reused
	if len(v) != 1 || v[0] != id {
		v = []string{id}
		h["X-Request-Id"] = v
	}
	if d == apierr.Anthropic {
		h["Request-Id"] = v
	}
}

// writeError renders err in the dialect, with the request id headers.
func (g *Gateway) writeError(w http.ResponseWriter, r *http.Request, d apierr.Dialect, err error) {
	setRequestID(w, r, d)
	apierr.Write(w, r, d, err, g.log)
}
