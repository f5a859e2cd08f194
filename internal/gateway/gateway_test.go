package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/jsonscan"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

func TestErrorsInDialect(t *testing.T) {
	tests := []struct {
		name       string
		path       string
		body       string
		hdr        map[string]string
		noAuth     bool
		scopes     []string
		models     []string
		fault      upstreamtest.Fault
		wantStatus int
		wantCode   string // OpenAI error.code or Anthropic error.type
		wantRetry  string
		noRetry    bool // x-should-retry: false (the SDKs would retry a 5xx in vain)
	}{
		{name: "no identity is 401", path: "/v1/chat/completions", body: `{"model":"fast"}`, noAuth: true, wantStatus: 401, wantCode: "invalid_api_key"},
		{name: "no llm scope is 403", path: "/v1/chat/completions", body: `{"model":"fast"}`, scopes: []string{"admin"}, wantStatus: 403, wantCode: "permission_denied"},
		{name: "model not allowed is 403", path: "/v1/chat/completions", body: `{"model":"openai/gpt-4o"}`, models: []string{"fast"}, wantStatus: 403, wantCode: "model_not_allowed"},
		{name: "malformed json is 400", path: "/v1/chat/completions", body: `{"model":"fast",`, wantStatus: 400, wantCode: "invalid_request_error"},
		{name: "body nested too deeply is 400", path: "/v1/chat/completions", body: `{"model":"fast","messages":` + strings.Repeat("[", 10001) + strings.Repeat("]", 10001) + `}`,
			wantStatus: 400, wantCode: "invalid_request_error"},
		{name: "duplicate model is 400", path: "/v1/chat/completions", body: `{"model":"fast","model":"openai/o1"}`, wantStatus: 400, wantCode: "invalid_request_error"},
		{name: "missing model is 400", path: "/v1/chat/completions", body: `{"messages":[]}`, wantStatus: 400, wantCode: "invalid_request_error"},
		{name: "unknown model is 404", path: "/v1/chat/completions", body: `{"model":"nope/model"}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "unknown bare model is 404", path: "/v1/chat/completions", body: `{"model":"llama-7b"}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "model outside provider list is 404", path: "/v1/chat/completions", body: `{"model":"local/mistral"}`, wantStatus: 404, wantCode: "model_not_found"},
		{name: "anthropic unknown model is not_found_error", path: "/v1/messages", body: `{"model":"nope/x","max_tokens":1}`, hdr: anthHdr, wantStatus: 404, wantCode: "not_found_error"},
		{name: "anthropic model for embeddings is 400", path: "/v1/embeddings", body: `{"model":"claude-sonnet-4-5","input":"x"}`, wantStatus: 400, wantCode: "model_not_supported"},
		{name: "upstream 429 keeps a small retry-after", path: "/v1/chat/completions", body: `{"model":"fast"}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.Status429, RetryAfter: 3600}, wantStatus: 429, wantCode: "upstream_rate_limited", wantRetry: "30"},
		{name: "anthropic upstream 429", path: "/v1/messages", body: `{"model":"smart","max_tokens":1}`, hdr: anthHdr,
			fault: upstreamtest.Fault{Kind: upstreamtest.Status429}, wantStatus: 429, wantCode: "rate_limit_error", wantRetry: "1"},
		{name: "upstream 500 is 502", path: "/v1/chat/completions", body: `{"model":"fast"}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.Status500}, wantStatus: 502, wantCode: "upstream_error"},
		{name: "upstream reset is 502", path: "/v1/chat/completions", body: `{"model":"fast"}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.Reset}, wantStatus: 502, wantCode: "upstream_unreachable"},
		{name: "mock injected 503 is overloaded", path: "/v1/messages", body: `{"model":"mock/error-503","max_tokens":1}`, hdr: anthHdr,
			wantStatus: 503, wantCode: "overloaded_error", wantRetry: "1"},
		{name: "upstream 401 is 502, not to be retried", path: "/v1/chat/completions", body: `{"model":"mock/error-401"}`,
			wantStatus: 502, wantCode: "upstream_auth_failed", noRetry: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			if tt.scopes != nil {
				e.identity.Scopes = tt.scopes
			}
			e.identity.Models = tt.models
			e.openai.SetFault(tt.fault)
			e.anth.SetFault(tt.fault)
			hdr := map[string]string{}
			for k, v := range tt.hdr {
				hdr[k] = v
			}
			if tt.noAuth {
				hdr["Authorization"] = ""
				delete(hdr, "X-Api-Key")
			}
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			code := gjson.GetBytes(b, "error.code").String()
			if strings.HasPrefix(tt.path, "/v1/messages") {
				if gjson.GetBytes(b, "type").String() != "error" {
					t.Errorf("not an Anthropic error body: %s", b)
				}
				code = gjson.GetBytes(b, "error.type").String()
				if resp.Header.Get("Request-Id") != "req_test123" {
					t.Errorf("request-id header = %q", resp.Header.Get("Request-Id"))
				}
			} else if resp.Header.Get("X-Request-Id") != "req_test123" {
				t.Errorf("x-request-id header = %q", resp.Header.Get("X-Request-Id"))
			}
			if code != tt.wantCode {
				t.Errorf("code = %q, want %q: %s", code, tt.wantCode, b)
			}
			if got := resp.Header.Get("X-Should-Retry"); (got == "false") != tt.noRetry {
				t.Errorf("X-Should-Retry = %q", got)
			}
			if got := resp.Header.Get("Retry-After"); got != tt.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tt.wantRetry)
			}
			if bytes.Contains(b, []byte("injected failure")) {
				t.Errorf("upstream body echoed to the client: %s", b)
			}
		})
	}
}

func TestModelAddressing(t *testing.T) {
	tests := []struct {
		name, path, model string
		wantUpstream      string // "openai", "anthropic" or "mock"
		wantModel         string // model the upstream saw
	}{
		{"alias", "/v1/chat/completions", "fast", "openai", "gpt-4o-mini"},
		{"provider prefix", "/v1/chat/completions", "openai/gpt-4.1", "openai", "gpt-4.1"},
		{"bare gpt", "/v1/chat/completions", "gpt-4o-mini", "openai", "gpt-4o-mini"},
		{"bare o-series", "/v1/chat/completions", "o3-mini", "openai", "o3-mini"},
		{"declared model", "/v1/chat/completions", "local/llama3", "openai", "llama3"},
		{"bare claude", "/v1/messages", "claude-haiku-4-5", "anthropic", "claude-haiku-4-5"},
		{"anthropic alias", "/v1/messages", "smart", "anthropic", "claude-sonnet-4-5"},
		{"slash in upstream name", "/v1/chat/completions", "openai/Qwen/Qwen2.5-7B", "openai", "Qwen/Qwen2.5-7B"},
		{"mock in openai dialect", "/v1/chat/completions", "mock/text", "mock", ""},
		{"mock in anthropic dialect", "/v1/messages", "mock/text", "mock", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp, b := e.do(t, http.MethodPost, tt.path, `{"model":"`+tt.model+`","max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			switch tt.wantUpstream {
			case "openai":
				if got := gjson.GetBytes(e.openai.Last().Body, "model").String(); got != tt.wantModel {
					t.Errorf("upstream model = %q, want %q", got, tt.wantModel)
				}
			case "anthropic":
				if got := gjson.GetBytes(e.anth.Last().Body, "model").String(); got != tt.wantModel {
					t.Errorf("upstream model = %q, want %q", got, tt.wantModel)
				}
			case "mock":
				if len(e.openai.Requests())+len(e.anth.Requests()) != 0 {
					t.Error("mock provider reached a network upstream")
				}
				if !bytes.Contains(b, []byte("Bulwark mock")) {
					t.Errorf("mock reply missing: %s", b)
				}
			}
			recs := e.usage.all()
			if len(recs) != 1 || recs[0].Model != tt.model || recs[0].Status != 200 {
				t.Fatalf("usage records = %+v", recs)
			}
		})
	}
}

func TestUsageAndCost(t *testing.T) {
	tests := []struct {
		name, path, body string
		fault            upstreamtest.Fault
		wantEstimated    bool
		wantStatus       int
		wantCost         bool
	}{
		{name: "openai non-stream", path: "/v1/chat/completions", body: `{"model":"fast","messages":[{"role":"user","content":"hello there"}]}`, wantStatus: 200, wantCost: true},
		{name: "openai stream with gateway-added usage", path: "/v1/chat/completions", body: `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hello there"}]}`, wantStatus: 200, wantCost: true},
		{name: "anthropic stream", path: "/v1/messages", body: `{"model":"smart","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hello there"}]}`, wantStatus: 200, wantCost: true},
		{name: "anthropic non-stream", path: "/v1/messages", body: `{"model":"smart","max_tokens":9,"messages":[{"role":"user","content":"hello there"}]}`, wantStatus: 200, wantCost: true},
		{name: "embeddings", path: "/v1/embeddings", body: `{"model":"text-embedding-3-small","input":"hello"}`, wantStatus: 200, wantCost: true},
		{name: "cut openai stream is estimated", path: "/v1/chat/completions", body: `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hello there my friend"}]}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.CutStream}, wantEstimated: true, wantStatus: 502, wantCost: true},
		{name: "cut anthropic stream keeps prompt usage", path: "/v1/messages", body: `{"model":"smart","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"hello there my friend how are you"}]}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.CutStream}, wantEstimated: true, wantStatus: 502, wantCost: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.openai.SetFault(tt.fault)
			e.anth.SetFault(tt.fault)
			hdr := map[string]string{}
			if strings.HasPrefix(tt.path, "/v1/messages") {
				hdr = anthHdr
			}
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			recs := e.usage.all()
			if len(recs) != 1 {
				t.Fatalf("want exactly one usage record, got %d", len(recs))
			}
			r := recs[0]
			if r.PromptTokens <= 0 || (r.CompletionTokens <= 0 && tt.path != "/v1/embeddings") {
				t.Errorf("tokens not counted: %+v", r.Tokens)
			}
			if r.Estimated != tt.wantEstimated || r.Status != tt.wantStatus {
				t.Errorf("estimated=%v status=%d, want %v %d", r.Estimated, r.Status, tt.wantEstimated, tt.wantStatus)
			}
			if (r.CostMicros > 0) != tt.wantCost {
				t.Errorf("cost = %d", r.CostMicros)
			}
			if r.KeyID != "key_test" || r.Tenant != "t1" || r.RequestID != "req_test123" || r.Provider == "" || r.Latency <= 0 {
				t.Errorf("record fields missing: %+v", r)
			}
			if tt.fault.Kind == upstreamtest.None && bytes.Contains(b, []byte(`"choices":[]`)) {
				t.Errorf("client got the usage chunk it did not ask for")
			}
		})
	}
}

func TestStreamsEndHonestly(t *testing.T) {
	tests := []struct {
		name, path, body string
		fault            upstreamtest.Fault
		wantTail         string // the stream's last event
		wantNot          string
	}{
		{name: "openai clean stream ends with DONE", path: "/v1/chat/completions", body: `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`,
			wantTail: "data: [DONE]\n\n"},
		{name: "openai cut stream ends with error and no DONE", path: "/v1/chat/completions", body: `{"model":"fast","stream":true,"messages":[]}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.CutStream}, wantTail: `data: {"error":{"message":"the upstream provider failed mid-stream","type":"api_error","param":null,"code":"upstream_stream_failed","request_id":"req_test123"}}` + "\n\n", wantNot: "[DONE]"},
		{name: "mock cut model ends with error", path: "/v1/chat/completions", body: `{"model":"mock/cut","stream":true,"messages":[]}`,
			wantTail: `"code":"upstream_stream_failed"`, wantNot: "[DONE]"},
		{name: "anthropic clean stream ends with message_stop", path: "/v1/messages", body: `{"model":"smart","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`,
			wantTail: "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{name: "anthropic cut stream ends with event error", path: "/v1/messages", body: `{"model":"smart","stream":true,"max_tokens":5,"messages":[]}`,
			fault:    upstreamtest.Fault{Kind: upstreamtest.CutStream},
			wantTail: "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"the upstream provider failed mid-stream\"},\"request_id\":\"req_test123\"}\n\n", wantNot: "message_stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.openai.SetFault(tt.fault)
			e.anth.SetFault(tt.fault)
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, anthHdr)
			if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
				t.Fatalf("status %d %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
			if !bytes.HasSuffix(b, []byte("\n\n")) || !bytes.HasSuffix(b, []byte(tt.wantTail)) && !bytes.Contains(lastEvent(b), []byte(tt.wantTail)) {
				t.Errorf("stream tail = %q, want %q", lastEvent(b), tt.wantTail)
			}
			if tt.wantNot != "" && bytes.Contains(b, []byte(tt.wantNot)) {
				t.Errorf("stream contains %q after a failure", tt.wantNot)
			}
			for _, ev := range bytes.Split(bytes.TrimSuffix(b, []byte("\n\n")), []byte("\n\n")) {
				if len(ev) == 0 || !bytes.HasPrefix(ev, []byte("data: ")) && !bytes.HasPrefix(ev, []byte("event: ")) {
					t.Errorf("badly framed event %q", ev)
				}
			}
			if strings.HasPrefix(tt.path, "/v1/messages") && tt.fault.Kind == upstreamtest.None && !bytes.Contains(b, []byte("event: ping\n")) {
				t.Error("anthropic ping event not relayed")
			}
		})
	}
}

func lastEvent(b []byte) []byte {
	evs := bytes.Split(bytes.TrimSuffix(b, []byte("\n\n")), []byte("\n\n"))
	return evs[len(evs)-1]
}

func TestClientDisconnectCancelsUpstream(t *testing.T) {
	tests := []struct {
		name, path, body string
		fault            upstreamtest.Fault
	}{
		{"hang before headers", "/v1/chat/completions", `{"model":"fast","messages":[]}`, upstreamtest.Fault{Kind: upstreamtest.Hang}},
		{"slow drip stream", "/v1/messages", `{"model":"smart","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"one two three four five six seven eight"}]}`,
			upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: 2 * time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.openai.SetFault(tt.fault)
			e.anth.SetFault(tt.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
			defer cancel()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+tt.path, strings.NewReader(tt.body))
			req.Header.Set("Authorization", "Bearer k")
			req.Header.Set("Anthropic-Version", "2023-06-01")
			if resp, err := http.DefaultClient.Do(req); err == nil {
				_, err = resp.Body.Read(make([]byte, 1<<16))
				for err == nil {
					_, err = resp.Body.Read(make([]byte, 1<<16))
				}
				resp.Body.Close()
			}
			select {
			case p := <-e.openai.Canceled():
				t.Logf("openai upstream saw cancel of %s", p)
			case p := <-e.anth.Canceled():
				t.Logf("anthropic upstream saw cancel of %s", p)
			case <-time.After(3 * time.Second):
				t.Fatal("upstream never saw the client's cancel")
			}
			deadline := time.Now().Add(2 * time.Second)
			for len(e.usage.all()) == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if recs := e.usage.all(); len(recs) != 1 || recs[0].Status != statusClientClosed {
				t.Errorf("usage records = %+v, want one with status 499", recs)
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	e := newEnv(t, func(c *Config, _ *Deps) { c.MaxBodyBytes = 64 })
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"`+strings.Repeat("x", 100)+`"}]}`, nil)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(e.openai.Requests()) != 0 {
		t.Fatalf("status %d: %s", resp.StatusCode, b)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		deps Deps
	}{
		{"no providers", Config{}, Deps{}},
		{"alias without provider", Config{Aliases: map[string]string{"x": "gpt-4o"}}, Deps{Providers: mapSource{}}},
		{"bad family", Config{DefaultProviders: map[string]string{"mistral": "g"}}, Deps{Providers: mapSource{}}},
		{"negative price", Config{Prices: map[string]usage.Price{"m": {Input: -1}}}, Deps{Providers: mapSource{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := New(tt.cfg, tt.deps); err == nil {
				t.Error("New accepted an invalid config")
			}
		})
	}
}

// An upstream answer over the response limit is a 502 naming the limit,
// whether the upstream declared its length or not, on the fast path and on
// the translated path.
func TestResponseLimit(t *testing.T) {
	for _, model := range []string{"fast", "smart"} {
		t.Run(model, func(t *testing.T) {
			e := newEnv(t, func(c *Config, _ *Deps) { c.MaxResponseBytes = 64 })
			resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"`+model+`","messages":[{"role":"user","content":"`+strings.Repeat("echo ", 40)+`"}]}`, nil)
			if resp.StatusCode != http.StatusBadGateway || gjson.GetBytes(b, "error.code").Str != "upstream_response_too_large" {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
		})
	}
}

// readAll reads whole bodies whatever the declared length says, and
// refuses one byte over the limit.
func TestReadAll(t *testing.T) {
	body := strings.Repeat("0123456789", 30) // 300 bytes
	tests := []struct {
		name    string
		hint    int64
		limit   int64
		oneByte bool
		wantErr error
	}{
		{"hint exact", 300, 1000, false, nil},
		{"no hint", -1, 1000, false, nil},
		{"hint too small", 10, 1000, false, nil},
		{"hint too large", 5000, 1000, false, nil},
		{"byte by byte", 300, 1000, true, nil},
		{"at the limit", 300, 300, false, nil},
		{"one over the limit", 300, 299, false, errTooLong},
		{"one over, undeclared, byte by byte", -1, 299, true, errTooLong},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rd io.Reader = strings.NewReader(body)
			if tt.oneByte {
				rd = iotest.OneByteReader(rd)
			}
			b, err := readAll(rd, tt.hint, tt.limit)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err %v, want %v", err, tt.wantErr)
			}
			if err == nil && string(b) != body {
				t.Fatalf("read %d bytes, want the %d sent", len(b), len(body))
			}
		})
	}
	if _, err := readAll(iotest.ErrReader(io.ErrUnexpectedEOF), 10, 100); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("reader error: %v", err)
	}
}

// Each finished call is counted under its route, provider and status, with
// its tokens, however many calls share a label set.
func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := newEnv(t, func(_ *Config, d *Deps) { d.Metrics = reg })
	for range 3 {
		if resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"fast","messages":[{"role":"user","content":"hello"}]}`, nil); resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, b)
		}
	}
	if resp, _ := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"mock/error-400","messages":[{"role":"user","content":"x"}]}`, nil); resp.StatusCode != 400 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			got[key] = m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
		}
	}
	want := map[string]float64{
		"bulwark_llm_requests_total,provider=openai,route=/chat/completions,status=200": 3,
		"bulwark_llm_request_seconds,provider=openai,route=/chat/completions":           3,
		"bulwark_llm_requests_total,provider=mock,route=/chat/completions,status=400":   1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v (all: %v)", k, got[k], v, got)
		}
	}
	if got["bulwark_llm_tokens_total,kind=prompt,provider=openai"] <= 0 || got["bulwark_llm_tokens_total,kind=completion,provider=openai"] <= 0 {
		t.Errorf("tokens not counted: %v", got)
	}
}

// A body that is valid JSON but nested deeper than jsonscan.MaxDepth is
// refused before anything walks it, with the same 400 in every dialect —
// saying it is nested too deeply and how deep is allowed, not that it is
// invalid JSON — and never reaches an upstream. One level less is not
// refused for its depth.
func TestDeepBodyIsRefusedAsTooDeep(t *testing.T) {
	const want = "invalid request body: request body is nested more than 10000 levels deep"
	nest := func(levels int) string { // with the top-level object
		return strings.Repeat("[", levels-1) + strings.Repeat("]", levels-1)
	}
	tests := []struct {
		name, path, body string // body has %s where the nesting goes
		hdr              map[string]string
	}{
		{"openai chat", "/v1/chat/completions", `{"model":"fast","messages":%s}`, nil},
		{"openai embeddings", "/v1/embeddings", `{"model":"openai/text-embedding-3-small","input":%s}`, nil},
		{"openai chat to anthropic", "/v1/chat/completions", `{"model":"smart","messages":%s}`, nil},
		{"anthropic messages", "/v1/messages", `{"model":"smart","max_tokens":5,"messages":%s}`, anthHdr},
		{"anthropic messages to openai", "/v1/messages", `{"model":"fast","max_tokens":5,"messages":%s}`, anthHdr},
		{"anthropic count_tokens", "/v1/messages/count_tokens", `{"model":"smart","messages":%s}`, anthHdr},
		{"gemini generateContent", "/v1beta/models/fast:generateContent", `{"contents":%s}`, nil},
		{"gemini streamGenerateContent", "/v1beta/models/smart:streamGenerateContent?alt=sse", `{"contents":%s}`, nil},
		{"gemini countTokens", "/v1beta/models/smart:countTokens", `{"contents":%s}`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp, b := e.do(t, http.MethodPost, tt.path, fmt.Sprintf(tt.body, nest(jsonscan.MaxDepth+1)), tt.hdr)
			if msg := gjson.GetBytes(b, "error.message").String(); resp.StatusCode != http.StatusBadRequest || msg != want {
				t.Fatalf("%d %.300s; want 400 %q", resp.StatusCode, b, want)
			}
			if n := len(e.openai.Requests()) + len(e.anth.Requests()); n != 0 {
				t.Fatalf("%d upstream requests", n)
			}
			_, b = e.do(t, http.MethodPost, tt.path, fmt.Sprintf(tt.body, nest(jsonscan.MaxDepth)), tt.hdr)
			if bytes.Contains(b, []byte("nested more than")) {
				t.Fatalf("%d levels refused as too deep: %.300s", jsonscan.MaxDepth, b)
			}
		})
	}
}
