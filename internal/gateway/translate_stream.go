package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/httpx"
	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/sse"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// relayStream translates an upstream stream event by event with llm.Relay:
// each upstream event is decoded, encoded in the caller's dialect, written
// and flushed before the next is read. An upstream failure ends the stream
// with an error event in the caller's dialect, never a clean end.
func (t *translation) relayStream(ctx context.Context, w http.ResponseWriter, resp *http.Response) error {
	x := t.x
	enc := &filteredEncoder{inner: t.in.NewStreamEncoder(t.req)}
	if h := x.g.deps.Hooks.Response; h != nil {
		enc.filter = h.Stream(ctx, x.rt.dialect)
	}
	hdr := w.Header()
	sse.SetHeaders(hdr)
	setDropped(hdr, t.dropped)
	w.WriteHeader(http.StatusOK)
	x.rec.TTFB = time.Since(x.start)
	x.wg.Start(ctx, w, x.g.cfg.WriteStallTimeout) // as on the same-dialect relay
	defer x.wg.Release()
	rc := http.NewResponseController(w)
	flush := func() { _ = rc.Flush() }
	rd := sse.NewReader(resp.Body)
	res, err := llm.Relay(w, flush, eventSource{ctx: ctx, rd: rd, guard: &x.wg}, t.up.NewStreamDecoder(), enc)
	rd.Release()
	t.settleStream(res)
	var be blockedEvent
	switch {
	case err == nil:
		x.rec.Status = http.StatusOK
		drainEnd(resp.Body)
	case errors.As(err, &be):
		e := apierr.From(blocked(be.err))
		x.rec.Status = e.Status
		x.g.log.LogAttrs(ctx, levelFor(e.Status), "translated stream blocked", slogAttrs(x, e)...)
		ev := llm.StreamEvent{Type: llm.EventError, Error: &llm.StreamError{Type: "invalid_request_error", Message: e.Message}}
		if b, eerr := enc.inner.Encode(nil, ev); eerr == nil {
			x.wg.Check()
			_, _ = w.Write(b)
			flush()
		}
	case x.r.Context().Err() != nil || !errors.Is(err, llm.ErrUpstreamStream):
		x.rec.Status = statusClientClosed // the client went away; nobody to tell
	default:
		e := apierr.New(http.StatusBadGateway, "upstream_stream_failed", "the upstream provider failed mid-stream").WithCause(err)
		if res.Error != nil && streamErrorStatus[res.Error.Type] != 0 {
			// The upstream's error event kept its class through the
			// translation (the caller's event has it); so does the record.
			e = apierr.New(streamErrorStatus[res.Error.Type], "upstream_stream_failed", res.Error.Message).WithCause(err)
		}
		x.rec.Status = e.Status
		x.g.log.LogAttrs(ctx, levelFor(e.Status), "translated stream failed", slogAttrs(x, e)...)
		return handled{err} // answered with an error event; the router must not count it a success
	}
	return nil
}

// settleStream fills the usage record from what the stream reported, or
// estimates what was delivered when the final report never came.
func (t *translation) settleStream(res llm.RelayResult) {
	rec := &t.x.rec
	if res.Usage != nil {
		rec.Tokens = tokensOf(*res.Usage)
	}
	if res.Usage == nil || !res.Completed {
		rec.Estimated = true
		if rec.PromptTokens == 0 {
			rec.PromptTokens = usage.EstimateTokens(t.x.reqBytes)
		}
		rec.CompletionTokens = max(rec.CompletionTokens, usage.EstimateTokens(res.OutputChars))
	}
}

// eventSource adapts the SSE reader to llm.EventSource. Every event read
// is progress for a routed attempt's first-byte and idle-gap watchdogs.
// The relay writes only after a Next, so Next checks the write guard.
type eventSource struct {
	ctx   context.Context
	rd    *sse.Reader
	guard *httpx.WriteGuard
}

func (s eventSource) Next() (string, []byte, error) {
	ev, err := s.rd.Next()
	s.guard.Check()
	if err != nil {
		return "", nil, err
	}
	router.Progress(s.ctx)
	return string(ev.Name), ev.Data, nil
}

// blockedEvent is returned through llm.Relay when the response filter
// blocks the stream; the error event is written after Relay returns.
type blockedEvent struct{ err error }

func (b blockedEvent) Error() string { return "response blocked: " + b.err.Error() }

// filteredEncoder runs the response guardrail's stream filter over the
// canonical text deltas, so guardrails see translated streams exactly as
// they see same-dialect ones, whatever the caller's dialect.
type filteredEncoder struct {
	inner  llm.StreamEncoder
	filter StreamFilter
	text   map[int]bool
}

// Encode filters text deltas and flushes held-back text before a text
// block stops.
func (e *filteredEncoder) Encode(dst []byte, ev llm.StreamEvent) ([]byte, error) {
	if e.filter == nil {
		return e.inner.Encode(dst, ev)
	}
	switch ev.Type {
	case llm.EventBlockStart:
		if ev.Block != nil && ev.Block.Type == llm.BlockText {
			if e.text == nil {
				e.text = map[int]bool{}
			}
			e.text[ev.Index] = true
		}
	case llm.EventBlockDelta:
		if ev.Delta != nil && ev.Delta.Type == llm.DeltaText {
			s, err := e.filter.Text(ev.Delta.Text)
			if err != nil {
				return dst, blockedEvent{err}
			}
			ev.Delta = &llm.Delta{Type: llm.DeltaText, Text: s}
		}
	case llm.EventBlockStop:
		if e.text[ev.Index] {
			s, err := e.filter.Flush()
			if err != nil {
				return dst, blockedEvent{err}
			}
			if s != "" {
				var eerr error
				d := llm.StreamEvent{Type: llm.EventBlockDelta, Index: ev.Index, Delta: &llm.Delta{Type: llm.DeltaText, Text: s}}
				if dst, eerr = e.inner.Encode(dst, d); eerr != nil {
					return dst, eerr
				}
			}
		}
	}
	return e.inner.Encode(dst, ev)
}

// translatable reports whether chat calls can reach p through the
// canonical model.
func translatable(p provider.Config) bool {
	switch p.Type {
	case provider.TypeOpenAI, provider.TypeAnthropic, provider.TypeGemini, provider.TypeMock:
		return true
	}
	return false
}

// upstreamFamily is the wire family a translated call to p is made in: the
// provider's own, or for the mock (which speaks OpenAI and Anthropic) the
// caller's when it can, else OpenAI.
func upstreamFamily(p provider.Config, caller provider.Family) provider.Family {
	switch p.Type {
	case provider.TypeAnthropic:
		return provider.FamilyAnthropic
	case provider.TypeGemini:
		return provider.FamilyGemini
	case provider.TypeMock:
		if p.Speaks(caller) {
			return caller
		}
	}
	return provider.FamilyOpenAI
}

// Limits on what the x-bulwark-dropped header repeats: feature names may
// be a client's own extension keys.
const (
	maxDroppedListed = 32
	maxFeatureLen    = 64
)

// setDropped lists the dropped features in the response header. Names
// that are not plain identifiers are shown as "extension" so a client's
// odd key cannot shape the header.
func setDropped(h http.Header, d llm.Dropped) {
	if len(d) == 0 {
		return
	}
	var names llm.Dropped
	for _, f := range d {
		if !plainName(f) {
			f = "extension"
		}
		names.Add(f)
		if len(names) == maxDroppedListed {
			break
		}
	}
	h.Set(HeaderDropped, names.Header())
}

func plainName(s string) bool {
	if s == "" || len(s) > maxFeatureLen {
		return false
	}
	for _, r := range s {
		if r != '_' && r != '-' && r != '.' && (r < 'a' || r > 'z') && (r < 'A' || r > 'Z') && (r < '0' || r > '9') {
			return false
		}
	}
	return true
}

// knownFeatures are the metric labels of bulwark_translation_dropped_total;
// anything else (a client's extension key) counts as "extension", which
// keeps the series bounded whatever clients send.
var knownFeatures = map[string]bool{
	llm.FeatureCacheControl: true, llm.FeatureThinking: true, llm.FeatureReasoningEffort: true,
	llm.FeatureTopK: true, llm.FeatureTopP: true, llm.FeatureTemperature: true, llm.FeatureSeed: true,
	llm.FeaturePresencePenalty: true, llm.FeatureFrequencyPenalty: true, llm.FeatureResponseFormat: true,
	llm.FeatureMetadata: true, llm.FeatureUser: true, llm.FeatureDocument: true, llm.FeatureImageURL: true,
	llm.FeatureParallelToolUse: true, llm.FeatureToolResultImage: true, llm.FeatureStopSequences: true,
	"tool_result_is_error": true, "server_tools": true, "context_management": true, "service_tier": true,
	"safetySettings": true, "redacted_thinking": true,
}

func newDroppedCounter(reg prometheus.Registerer) (*prometheus.CounterVec, error) {
	if reg == nil {
		return nil, nil
	}
	c := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_translation_dropped_total",
		Help: "Features left out of cross-dialect requests and responses because the target could not carry them."}, []string{"feature"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if !errors.As(err, &are) {
			return nil, err
		}
		return are.ExistingCollector.(*prometheus.CounterVec), nil
	}
	return c, nil
}

// countDropped counts each dropped feature once per call.
func (g *Gateway) countDropped(d llm.Dropped) {
	if g.dropped == nil {
		return
	}
	for _, f := range d {
		if !knownFeatures[f] {
			if strings.HasPrefix(f, "content_part_") {
				f = "content_part"
			} else {
				f = "extension"
			}
		}
		g.dropped.WithLabelValues(f).Inc()
	}
}
