package gateway

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/sse"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// BenchmarkGateway measures one full request through the gateway (test auth
// layer, fast path, upstream call to the fake upstream, relay, usage).
func BenchmarkGateway(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"nonstream", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("hello world ", 40) + `"}]}`},
		{"stream", `{"model":"openai/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"one two three four five six seven eight nine ten eleven twelve"}]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			e := newEnv(&testing.T{})
			defer e.gw.Close()
			defer e.openai.Close()
			defer e.anth.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/chat/completions", strings.NewReader(bc.body))
					req.Header.Set("Authorization", "Bearer k")
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkBareProxy is BenchmarkGateway's baseline in the same process:
// httputil.ReverseProxy in front of the same fake upstream.
func BenchmarkBareProxy(b *testing.B) {
	for _, bc := range []struct{ name, body string }{
		{"nonstream", `{"model":"gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("hello world ", 40) + `"}]}`},
		{"stream", `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"one two three four five six seven eight nine ten eleven twelve"}]}`},
	} {
		b.Run(bc.name, func(b *testing.B) {
			up := upstreamtest.NewUnstarted(false)
			up.Start()
			defer up.Close()
			u, _ := url.Parse(up.URL)
			rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) { r.SetURL(u) }, FlushInterval: -1}
			srv := httptest.NewServer(rp)
			defer srv.Close()
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req, _ := http.NewRequest(http.MethodPost, srv.URL+"/v1/chat/completions", strings.NewReader(bc.body))
					resp, err := client.Do(req)
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}

// BenchmarkDeliveredLen measures counting the text of one typical chunk:
// the in-place scan against the JSON parser it stands in for.
func BenchmarkDeliveredLen(b *testing.B) {
	chunk := []byte(`{"choices":[{"delta":{"content":" streamed"},"finish_reason":null,"index":0,"logprobs":null}],"created":1700000000,"id":"chatcmpl-bench","model":"gpt-4o-mini","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}`)
	b.Run("scan", func(b *testing.B) {
		for range b.N {
			_ = deliveredLen(chunk)
		}
	})
	b.Run("parser", func(b *testing.B) {
		for range b.N {
			_ = deltaLen(gjson.GetBytes(chunk, "choices.0.delta"))
		}
	})
}

// BenchmarkScanChunk measures looking for usage and error members in
// one chunk of each shape: the colon walk against the two name searches
// it replaced (tailMember, plus the escape check each search made).
func BenchmarkScanChunk(b *testing.B) {
	chunks := map[string][]byte{
		"sorted": []byte(`{"choices":[{"delta":{"content":" streamed"},"finish_reason":null,"index":0,"logprobs":null}],"created":1700000000,"id":"chatcmpl-bench","model":"gpt-4o-mini","object":"chat.completion.chunk","system_fingerprint":null,"usage":null}`),
		"openai": []byte(`{"id":"chatcmpl-BkW3x9vQ2rT7","object":"chat.completion.chunk","created":1751234567,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Qe"}`),
	}
	for name, chunk := range chunks {
		b.Run(name+"/walk", func(b *testing.B) {
			for range b.N {
				_, _, _ = scanChunk(chunk)
			}
		})
		b.Run(name+"/names", func(b *testing.B) {
			for range b.N {
				_ = tailMember(chunk, "usage") || escapesLetter(chunk)
				_ = tailMember(chunk, "error") || escapesLetter(chunk)
			}
		})
	}
}

// discardResponse is a ResponseWriter that keeps nothing, so a relay
// benchmark measures the relay and not a growing recorder.
type discardResponse struct{ h http.Header }

func (d *discardResponse) Header() http.Header         { return d.h }
func (d *discardResponse) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardResponse) WriteHeader(int)             {}

// benchRead is one upstream read of a typical OpenAI stream: 20 chunks,
// framed with eol.
func benchRead(eol string) []byte {
	chunk := `data: {"id":"chatcmpl-BkW3x9vQ2rT7","object":"chat.completion.chunk","created":1751234567,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Qe"}`
	return []byte(strings.Repeat(chunk+eol+eol, 20))
}

// BenchmarkPassEvents measures the pass-through relay's work on one such
// read: the events found, inspected and forwarded as they were framed (or
// re-framed, for lone CRs).
func BenchmarkPassEvents(b *testing.B) {
	for _, eol := range []struct{ name, eol string }{{"lf", "\n"}, {"crlf", "\r\n"}, {"cr", "\r"}} {
		b.Run(eol.name, func(b *testing.B) {
			read := benchRead(eol.eol)
			rl := &relayer{x: &exchange{rt: routeChat}, ctx: context.Background(), out: sse.NewWriter(&discardResponse{h: http.Header{}}), added: true}
			b.SetBytes(int64(len(read)))
			b.ReportAllocs()
			for b.Loop() {
				if used, _, err := rl.passEvents(read); err != nil || used != len(read) {
					b.Fatalf("used %d of %d: %v", used, len(read), err)
				}
			}
		})
	}
}
