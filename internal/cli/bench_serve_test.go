package cli

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// BenchmarkServe drives the whole `bulwark serve` stack in-process —
// middleware, key auth, hooks, gateway, usage writer into SQLite — beside a
// bare httputil.ReverseProxy over the same fake upstream, with the same
// client. It is the quick loop for the hot path (profile with
// -cpuprofile/-memprofile); bench/run.sh is the measurement of record.
// Every request carries a fresh word, as the load generator's -unique does.
func BenchmarkServe(b *testing.B) {
	up := upstreamtest.New()
	defer up.Close()
	b.Setenv("BENCH_SERVE_UPSTREAM_KEY", "sk-bench-serve")
	h := newHarness(b)
	yaml := fmt.Sprintf("log: {level: warn}\nproviders:\n  - {name: openai, type: openai, base_url: %s/v1, api_key_env: BENCH_SERVE_UPSTREAM_KEY}\n", up.URL)
	h.useConfig(yaml)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	h.env["BULWARK_LISTEN"] = ln.Addr().String()
	_ = ln.Close()
	h.must("init")
	keys := map[string]string{
		"plain":  h.createKey("--name", "plain", "--scopes", "llm", "--guard", "pii=off,secrets=off,injection=off,unscannable=off").Key,
		"redact": h.createKey("--name", "redact", "--scopes", "llm", "--guard", "pii=redact,secrets=redact,injection=redact").Key,
	}
	h.serve()
	u, _ := url.Parse(up.URL)
	bare := httptest.NewServer(&httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(u)
		r.Out.Header.Set("Authorization", "Bearer sk-bench-serve")
	}, FlushInterval: -1})
	defer bare.Close()

	raw, err := os.ReadFile("../../bench/bodies/chat_bulwark.json")
	if err != nil {
		b.Fatal(err)
	}
	chat := string(raw)
	stream := strings.Replace(chat, `"temperature"`, `"stream": true, "temperature"`, 1)
	bareChat := strings.Replace(chat, "openai/gpt-4o-mini", "gpt-4o-mini", 1)
	for _, bc := range []struct{ name, url, key, body string }{
		{"bare", bare.URL, "", bareChat},
		{"plain", h.addr, keys["plain"], chat},
		{"redact", h.addr, keys["redact"], chat},
		{"bare-stream", bare.URL, "", strings.Replace(stream, "openai/gpt-4o-mini", "gpt-4o-mini", 1)},
		{"plain-stream", h.addr, keys["plain"], stream},
	} {
		b.Run(bc.name, func(b *testing.B) { benchPost(b, bc.url+"/v1/chat/completions", bc.key, bc.body) })
	}
}

var benchSeq atomic.Uint64

func benchPost(b *testing.B, url, key, body string) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			fresh := strings.Replace(body, "{{n}}", fmt.Sprintf("w%08d", benchSeq.Add(1)), 1)
			req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fresh))
			req.Header.Set("Content-Type", "application/json")
			if key != "" {
				req.Header.Set("Authorization", "Bearer "+key)
			}
			resp, err := client.Do(req)
			if err != nil {
				b.Error(err)
				return
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("status %d", resp.StatusCode)
				return
			}
		}
	})
}
