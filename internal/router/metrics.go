package router

import (
	"context"
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

var (
	stateDesc = prometheus.NewDesc("bulwark_deployment_breaker_state",
		"Circuit breaker state per deployment: 1 for the current state, 0 for the others.",
		[]string{"deployment", "state"}, nil)
	inFlightDesc = prometheus.NewDesc("bulwark_deployment_in_flight",
		"Attempts currently running on the deployment.", []string{"deployment"}, nil)
	ttftDesc = prometheus.NewDesc("bulwark_deployment_ttft_ewma_seconds",
		"Exponentially weighted moving average of time to first token.", []string{"deployment"}, nil)
	cooldownDesc = prometheus.NewDesc("bulwark_deployment_cooldown_seconds",
		"Seconds left in a 429 cooldown (0 when none).", []string{"deployment"}, nil)
)

// collector exports router state to Prometheus at scrape time.
type collector struct{ r *Router }

// Collector returns a prometheus.Collector for per-deployment breaker state,
// in-flight attempts, TTFT EWMA and 429 cooldown. Register it once.
func (r *Router) Collector() prometheus.Collector { return collector{r} }

// Describe implements prometheus.Collector.
func (c collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateDesc
	ch <- inFlightDesc
	ch <- ttftDesc
	ch <- cooldownDesc
}

// Collect implements prometheus.Collector.
func (c collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	now := c.r.now()
	for _, d := range c.r.order {
		st, err := c.r.breakers.Status(ctx, d.Name)
		if err == nil {
			for _, s := range []State{Closed, Open, HalfOpen} {
				v := 0.0
				if st.State == s {
					v = 1
				}
				ch <- prometheus.MustNewConstMetric(stateDesc, prometheus.GaugeValue, v, d.Name, string(s))
			}
			left := max(st.CooldownUntil.Sub(now), 0)
			ch <- prometheus.MustNewConstMetric(cooldownDesc, prometheus.GaugeValue, left.Seconds(), d.Name)
		}
		ch <- prometheus.MustNewConstMetric(inFlightDesc, prometheus.GaugeValue, float64(d.inFlight.Load()), d.Name)
		ttft := math.Float64frombits(d.ewmaBits.Load()) / float64(time.Second)
		ch <- prometheus.MustNewConstMetric(ttftDesc, prometheus.GaugeValue, ttft, d.Name)
	}
}
