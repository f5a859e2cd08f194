package router

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHealthAndMetricsReportBreakerState(t *testing.T) {
	now := time.Unix(5000, 0)
	r := newTestRouter(t, testConfig(Fallback, 1, 1), func() time.Time { return now })
	ctx := context.Background()
	_ = r.breakers.Record(ctx, "a", Failure, 0)
	_ = r.breakers.Record(ctx, "a", Failure, 0)
	_ = r.breakers.Record(ctx, "b", RateLimited, 3*time.Second)

	raw, err := json.Marshal(r.Health(ctx))
	if err != nil {
		t.Fatal(err)
	}
	var rows []map[string]any
	if err := json.Unmarshal(raw, &rows); err != nil {
		t.Fatal(err)
	}
	if got := rows[0]["breaker"].(map[string]any)["state"]; got != "open" || rows[1]["name"] != "b" {
		t.Fatalf("health JSON %s", raw)
	}

	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(r.Collector()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetGauge().GetValue()
		}
	}
	want := map[string]float64{
		"bulwark_deployment_breaker_state,deployment=a,state=open":      1,
		"bulwark_deployment_breaker_state,deployment=a,state=closed":    0,
		"bulwark_deployment_breaker_state,deployment=b,state=closed":    1,
		"bulwark_deployment_breaker_state,deployment=b,state=half-open": 0,
		"bulwark_deployment_cooldown_seconds,deployment=b":              3,
		"bulwark_deployment_in_flight,deployment=a":                     0,
	}
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}
