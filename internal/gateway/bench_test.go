package gateway

import (
	"io"
	"net/http"
	"strings"
	"testing"
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
