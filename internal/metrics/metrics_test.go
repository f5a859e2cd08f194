package metrics

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestObserveCountsPerRouteAndStatus checks that remembered series still
// count each request under its own labels.
func TestObserveCountsPerRouteAndStatus(t *testing.T) {
	m := New()
	m.Observe("POST /v1/chat/completions", 200, time.Millisecond)
	m.Observe("POST /v1/chat/completions", 200, time.Millisecond)
	m.Observe("POST /v1/chat/completions", 429, time.Millisecond)
	m.Observe("GET /healthz", 200, time.Millisecond)
	mfs, err := m.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, mt := range mf.GetMetric() {
			var labels []string
			for _, l := range mt.GetLabel() {
				labels = append(labels, l.GetValue())
			}
			k := mf.GetName() + "{" + strings.Join(labels, ",") + "}"
			switch {
			case mt.GetCounter() != nil:
				got[k] = mt.GetCounter().GetValue()
			case mt.GetHistogram() != nil:
				got[k] = float64(mt.GetHistogram().GetSampleCount())
			}
		}
	}
	want := map[string]float64{
		"bulwark_http_requests_total{GET /healthz,200}":                    1,
		"bulwark_http_requests_total{POST /v1/chat/completions,200}":       2,
		"bulwark_http_requests_total{POST /v1/chat/completions,429}":       1,
		"bulwark_http_request_duration_seconds{GET /healthz}":              1,
		"bulwark_http_request_duration_seconds{POST /v1/chat/completions}": 3,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

// TestSeriesMakesOncePerKey checks concurrent first uses of a key.
func TestSeriesMakesOncePerKey(t *testing.T) {
	var made atomic.Int32
	s := NewSeries(func(k string) *int {
		made.Add(1)
		v := len(k)
		return &v
	})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				if *s.Get("abc") != 3 || *s.Get("de") != 2 {
					t.Error("wrong value")
				}
			}
		})
	}
	wg.Wait()
	// Racing first uses may each make a value, but only one is kept and
	// later uses make none.
	before := made.Load()
	s.Get("abc")
	s.Get("de")
	if made.Load() != before || before < 2 {
		t.Fatalf("made %d values", before)
	}
}
