package h1_test

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/h1"
)

// BenchmarkStream relays one short SSE stream (twelve events, flushed one
// by one) per op over a kept-alive loopback connection, through this
// transport and through net/http's, the upstream in the same process.
// Compare the two with -cpu 1: the upstream's work is in both.
func BenchmarkStream(b *testing.B) {
	event := []byte("data: {\"choices\":[{\"delta\":{\"content\":\"word \"}}]}\n\n")
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		f := w.(http.Flusher)
		for range 12 {
			_, _ = w.Write(event)
			f.Flush()
		}
		_, _ = io.WriteString(w, "data: [DONE]\n\n")
	}))
	b.Cleanup(up.Close)
	body := []byte(`{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	std := &http.Transport{MaxIdleConnsPerHost: 256}
	for _, tc := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", h1.New(h1.Options{DialContext: (&net.Dialer{}).DialContext, Fallback: std})},
		{"nethttp", std},
	} {
		b.Run(tc.name, func(b *testing.B) {
			buf := make([]byte, 4096)
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest(http.MethodPost, up.URL+"/v1/chat/completions", bytes.NewReader(body))
				req.Header.Set("Authorization", "Bearer k")
				resp, err := tc.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				for {
					if _, err := resp.Body.Read(buf); err != nil {
						if err != io.EOF {
							b.Fatal(err)
						}
						break
					}
				}
				_ = resp.Body.Close()
			}
		})
	}
}
