package gateway

import (
	"errors"
	"log/slog"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	bmetrics "github.com/bulwarkhq/bulwark/internal/metrics"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// metrics are the gateway's Prometheus series; nil when no registerer.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	ttfb     *prometheus.HistogramVec
	tokens   *prometheus.CounterVec

	// series remembers the children of each label combination seen:
	// resolving five label sets per request (hashing, locking the vector)
	// cost about a microsecond. Bounded by routes × providers × statuses.
	series *bmetrics.Series[seriesKey, *seriesSet]
}

type seriesKey struct {
	route, provider string
	status          int
}

type seriesSet struct {
	requests          prometheus.Counter
	latency, ttfb     prometheus.Observer
	prompt, completed prometheus.Counter
}

func (m *metrics) set(k seriesKey) *seriesSet {
	return &seriesSet{
		requests:  m.requests.WithLabelValues(k.route, k.provider, strconv.Itoa(k.status)),
		latency:   m.latency.WithLabelValues(k.route, k.provider),
		ttfb:      m.ttfb.WithLabelValues(k.route, k.provider),
		prompt:    m.tokens.WithLabelValues(k.provider, "prompt"),
		completed: m.tokens.WithLabelValues(k.provider, "completion"),
	}
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
	m.series = bmetrics.NewSeries(m.set)
	return m, nil
}

func (m *metrics) observe(route string, rec *usage.Record) {
	if m == nil {
		return
	}
	s := m.series.Get(seriesKey{route, rec.Provider, rec.Status})
	s.requests.Inc()
	s.latency.Observe(rec.Latency.Seconds())
	if rec.TTFB > 0 {
		s.ttfb.Observe(rec.TTFB.Seconds())
	}
	s.prompt.Add(float64(rec.PromptTokens))
	s.completed.Add(float64(rec.CompletionTokens))
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
