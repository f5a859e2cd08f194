package gateway

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// metrics are the gateway's Prometheus series; nil when no registerer.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ttfb     *prometheus.HistogramVec
	tokens   *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	if reg == nil {
		return nil, nil
	}
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_llm_requests_total",
			Help: "LLM requests by route, provider and status."}, []string{"route", "provider", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulwark_llm_request_seconds",
			Help: "LLM request duration.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}, []string{"route", "provider"}),
		ttfb: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "bulwark_llm_ttfb_seconds",
			Help: "Time to the first byte sent to the client.", Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12)}, []string{"route", "provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "bulwark_llm_tokens_total",
			Help: "Tokens by provider and kind (prompt, completion)."}, []string{"provider", "kind"}),
	}
	for _, c := range []prometheus.Collector{m.requests, m.latency, m.ttfb, m.tokens} {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}

func (m *metrics) observe(route string, rec *usage.Record) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(route, rec.Provider, strconv.Itoa(rec.Status)).Inc()
	m.latency.WithLabelValues(route, rec.Provider).Observe(rec.Latency.Seconds())
	if rec.TTFB > 0 {
		m.ttfb.WithLabelValues(route, rec.Provider).Observe(rec.TTFB.Seconds())
	}
	m.tokens.WithLabelValues(rec.Provider, "prompt").Add(float64(rec.PromptTokens))
	m.tokens.WithLabelValues(rec.Provider, "completion").Add(float64(rec.CompletionTokens))
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelWarn
}

// slogAttrs describes a failed exchange for the server log: ids, never
// bodies or secrets (the cause was built from scrubbed text).
func slogAttrs(x *exchange, e *apierr.Error) []slog.Attr {
	a := []slog.Attr{slog.String("request_id", x.rec.RequestID), slog.String("key_id", x.rec.KeyID),
		slog.String("provider", x.rec.Provider), slog.String("model", x.rec.Model), slog.Int("status", e.Status)}
	if e.Cause != nil {
		a = append(a, slog.String("cause", e.Cause.Error()))
	}
	return a
}
