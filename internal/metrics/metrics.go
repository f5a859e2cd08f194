// Package metrics owns Bulwark's Prometheus registry and the server-level
// series: requests by route and status, latency, and authentication
// failures. Subsystems register their own collectors on the same registry.
package metrics

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds the registry and the core series. Safe for concurrent use.
type Metrics struct {
	Registry     *prometheus.Registry
	requests     *prometheus.CounterVec
	latency      *prometheus.HistogramVec
	authFailures *prometheus.CounterVec
	byRoute      *Series[routeKey, routeSeries]
}

type routeKey struct {
	route  string // the route's pattern: bounded
	status int
}

type routeSeries struct {
	requests prometheus.Counter
	latency  prometheus.Observer
}

// New creates a registry with Go and process collectors and the core series.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_http_requests_total", Help: "HTTP requests by route pattern and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bulwark_http_request_duration_seconds", Help: "HTTP request latency by route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120},
		}, []string{"route"}),
		authFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bulwark_auth_failures_total", Help: "Failed authentication attempts by reason.",
		}, []string{"reason"}),
	}
	m.byRoute = NewSeries(func(k routeKey) routeSeries {
		return routeSeries{m.requests.WithLabelValues(k.route, strconv.Itoa(k.status)), m.latency.WithLabelValues(k.route)}
	})
	reg.MustRegister(m.requests, m.latency, m.authFailures,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Observe records one finished request.
func (m *Metrics) Observe(route string, status int, d time.Duration) {
	s := m.byRoute.Get(routeKey{route, status})
	s.requests.Inc()
	s.latency.Observe(d.Seconds())
}

// AuthFailure counts one failed authentication.
func (m *Metrics) AuthFailure(reason string) { m.authFailures.WithLabelValues(reason).Inc() }

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}
