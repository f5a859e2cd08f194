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

// TestSeriesMakesOncePerKey checks concurrent first uses of a key: one
// value is made per key and every caller gets it.
func TestSeriesMakesOncePerKey(t *testing.T) {
	var made atomic.Int32
	s := NewSeries(func(k string) *int {
		made.Add(1)
		v := len(k)
		return &v
	})
	var wg sync.WaitGroup
	got := make([]*int, 8)
	for i := range got {
		wg.Go(func() {
			for range 100 {
				got[i] = s.Get("abc")
				if *got[i] != 3 || *s.Get("de") != 2 {
					t.Error("wrong value")
				}
			}
		})
	}
	wg.Wait()
	for _, p := range got {
		if p != got[0] {
			t.Fatal("callers got different values for one key")
		}
	}
	if n := made.Load(); n != 2 {
		t.Fatalf("made %d values for 2 keys", n)
	}
}
