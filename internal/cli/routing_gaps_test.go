package cli

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// rtServeConfig starts `bulwark serve` with cfg (providers, prices,
// routing) and returns the harness and an admin key.
func rtServeConfig(t *testing.T, cfg string) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	path := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = path
	t.Setenv("RT_ANTHROPIC_KEY", "sk-ant-test-upstream-credential") // providers read the process environment
	adm := h.createKey("--name", "ops", "--scopes", "admin:global,llm")
	h.serve()
	return h, adm.Key
}

// blackhole returns the address of a loopback listener whose accept queue
// is full and never drained: a TCP connect to it never completes (Linux
// drops the SYN), as with a firewalled or overloaded upstream.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 16 { // fill the queue until a connect hangs
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Fatal("could not fill the accept queue of the blackhole listener")
	return ""
}

// TestRoutingConnectTimeoutFailsOver: a deployment whose address never
// completes the TCP handshake fails within its timeouts.connect and the
// call falls back to the healthy deployment, long before the 10s default
// dial timeout or the request deadline.
func TestRoutingConnectTimeoutFailsOver(t *testing.T) {
	live := newRTUpstream(t)
	dead := blackhole(t)
	h, _ := rtServeConfig(t, fmt.Sprintf(`providers:
  - {name: dead, type: openai, base_url: http://%s/v1}
  - {name: live, type: openai, base_url: %s/v1}
routing:
  request_timeout: 8s
  retry: {max_attempts: 3, base_delay: 10ms, max_delay: 50ms}
  deployments:
    d: {provider: dead, model: text, timeouts: {connect: 200ms}}
    l: {provider: live, model: text}
  aliases:
    chat: {strategy: fallback, deployments: [d, l]}
`, dead, live.url))
	user := h.createKey("--name", "app").Key
	r := rtPost(t, h, user, chatBody("chat", ""), nil)
	if r.status != 200 || r.header.Get("X-Bulwark-Deployment") != "l" {
		t.Fatalf("status %d via %q: %s", r.status, r.header.Get("X-Bulwark-Deployment"), r.body)
	}
	t.Logf("connect timeout 200ms: answered via fallback in %v", r.took)
	if r.took > 2*time.Second {
		t.Fatalf("took %v: the connect timeout of 200ms was not applied", r.took)
	}
}

// TestRoutingTranslatesAcrossDialects: a routing alias whose deployment's
// provider speaks another API format is translated (both directions, plain
// and streamed, Gemini callers included), falls back across families like
// a same-dialect call,
// never after the first byte, and carries x-ratelimit headers; so does the
// unrouted translated path.
func TestRoutingTranslatesAcrossDialects(t *testing.T) {
	oa, an := newRTUpstream(t), newRTUpstream(t)
	h, _ := rtServeConfig(t, fmt.Sprintf(`providers:
  - {name: oa, type: openai, base_url: %s/v1}
  - {name: an, type: anthropic, base_url: %s, api_key_env: RT_ANTHROPIC_KEY}
prices:
  text: {input: 0, output: 1000000}
routing:
  request_timeout: 5s
  retry: {max_attempts: 3, base_delay: 10ms, max_delay: 50ms}
  deployments:
    o: {provider: oa, model: text, timeouts: {first_byte: 2s, idle_gap: 2s}}
    o-cooled: {provider: oa, model: text} # its 429 cools it down; o stays available
    a: {provider: an, model: text, timeouts: {first_byte: 2s, idle_gap: 2s}}
    a-watched: {provider: an, model: text, timeouts: {first_byte: 300ms, idle_gap: 400ms}}
  aliases:
    watched-then-o: {strategy: fallback, deployments: [a-watched, o]}
    to-anthropic: {deployments: [a]}
    to-openai: {deployments: [o]}
    a-then-o: {strategy: fallback, deployments: [a, o]}
    o-then-a: {strategy: fallback, deployments: [o-cooled, a]}
`, oa.url, an.url))
	user := h.createKey("--name", "app", "--rpm", "1000").Key

	tests := []struct {
		name      string
		path      string // caller's endpoint
		model     string
		stream    bool
		faultOA   upstreamtest.Fault
		faultAN   upstreamtest.Fault
		wantDep   string
		wantShape string // a marker of the caller's dialect in the answer
	}{
		{"openai caller to anthropic deployment", "/v1/chat/completions", "to-anthropic", false, upstreamtest.Fault{}, upstreamtest.Fault{}, "a", `"object":"chat.completion"`},
		{"openai caller streamed to anthropic deployment", "/v1/chat/completions", "to-anthropic", true, upstreamtest.Fault{}, upstreamtest.Fault{}, "a", "data: [DONE]"},
		{"anthropic caller to openai deployment", "/v1/messages", "to-openai", false, upstreamtest.Fault{}, upstreamtest.Fault{}, "o", `"type":"message"`},
		{"anthropic caller streamed to openai deployment", "/v1/messages", "to-openai", true, upstreamtest.Fault{}, upstreamtest.Fault{}, "o", "event: message_stop"},
		{"translated 500 falls back to same dialect", "/v1/chat/completions", "a-then-o", false, upstreamtest.Fault{}, upstreamtest.Fault{Kind: upstreamtest.Status500}, "o", `"object":"chat.completion"`},
		{"translated reset falls back to same dialect", "/v1/chat/completions", "a-then-o", false, upstreamtest.Fault{}, upstreamtest.Fault{Kind: upstreamtest.Reset}, "o", `"object":"chat.completion"`},
		{"same-dialect 429 falls back to translated", "/v1/chat/completions", "o-then-a", false, upstreamtest.Fault{Kind: upstreamtest.Status429, RetryAfter: 10}, upstreamtest.Fault{}, "a", `"object":"chat.completion"`},
		{"gemini caller to openai deployment", "gemini", "to-openai", false, upstreamtest.Fault{}, upstreamtest.Fault{}, "o", `"candidates"`},
		{"gemini caller streamed, anthropic 500 falls back to openai", "gemini", "a-then-o", true, upstreamtest.Fault{}, upstreamtest.Fault{Kind: upstreamtest.Status500}, "o", `"finishReason"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oa.SetFault(tt.faultOA)
			an.SetFault(tt.faultAN)
			defer oa.SetFault(upstreamtest.Fault{})
			defer an.SetFault(upstreamtest.Fault{})
			extra := ""
			if tt.stream {
				extra = `,"stream":true`
			}
			r := dialectPost(t, h, user, tt.path, tt.model, extra)
			if r.status != 200 || r.header.Get("X-Bulwark-Deployment") != tt.wantDep || !strings.Contains(r.body, tt.wantShape) {
				t.Fatalf("status %d via %q, want 200 via %s with %s: %s", r.status, r.header.Get("X-Bulwark-Deployment"), tt.wantDep, tt.wantShape, r.body)
			}
			if r.header.Get("X-Ratelimit-Limit-Requests") != "1000" || r.header.Get("X-Ratelimit-Remaining-Requests") == "" {
				t.Fatalf("no x-ratelimit headers on a routed translated success: %v", r.header)
			}
		})
	}

	streams := []struct {
		name   string
		model  string
		fault  upstreamtest.Fault
		honest bool // completes with [DONE]
	}{
		{"translated stream cut after the first byte ends with an error", "a-then-o", upstreamtest.Fault{Kind: upstreamtest.CutStream}, false},
		{"translated stream silent past idle_gap ends with an error", "watched-then-o", upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: 800 * time.Millisecond}, false},
		{"slow steady translated stream outlives first_byte", "watched-then-o", upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: 150 * time.Millisecond}, true},
	}
	for _, tt := range streams {
		t.Run(tt.name, func(t *testing.T) {
			an.SetFault(tt.fault)
			defer an.SetFault(upstreamtest.Fault{})
			before := oa.calls.Load()
			r := dialectPost(t, h, user, "/v1/chat/completions", tt.model, `,"stream":true`)
			done := strings.Contains(r.body, "data: [DONE]")
			if r.status != 200 || done != tt.honest || (!tt.honest && !strings.Contains(r.body, `"error"`)) {
				t.Fatalf("status %d, [DONE]=%v (want %v): %q", r.status, done, tt.honest, r.body)
			}
			if tt.honest && r.took < 300*time.Millisecond {
				t.Fatalf("the stream took %v: too fast to prove the first_byte watchdog was disarmed", r.took)
			}
			if oa.calls.Load() != before {
				t.Fatal("a translated stream was retried on another deployment after its first byte")
			}
		})
	}
	strict := []struct {
		name   string
		model  string
		status int
		dep    string
	}{
		{"strict: a deployment that would drop a feature is skipped", "a-then-o", 200, "o"},
		{"strict: no deployment can carry it, 400 feature_dropped", "to-anthropic", 400, ""},
	}
	for _, tt := range strict {
		t.Run(tt.name, func(t *testing.T) {
			before := an.calls.Load()
			req, _ := http.NewRequest(http.MethodPost, h.addr+"/v1/chat/completions", strings.NewReader(chatBody(tt.model, `,"seed":7`)))
			req.Header.Set("Authorization", "Bearer "+user)
			req.Header.Set("X-Bulwark-Strict", "true")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || (tt.dep != "" && resp.Header.Get("X-Bulwark-Deployment") != tt.dep) {
				t.Fatalf("status %d via %q: %s", resp.StatusCode, resp.Header.Get("X-Bulwark-Deployment"), b)
			}
			if tt.status == 400 && !strings.Contains(string(b), "feature_dropped") {
				t.Fatalf("refusal does not name the dropped feature: %s", b)
			}
			if an.calls.Load() != before {
				t.Fatal("the anthropic upstream was called with a request that would drop a feature")
			}
		})
	}
	t.Run("anthropic upstream received the translated request", func(t *testing.T) {
		req := dialectPost(t, h, user, "/v1/chat/completions", "to-anthropic", "")
		if req.status != 200 {
			t.Fatalf("status %d", req.status)
		}
		if got := an.calls.Load(); got == 0 {
			t.Fatal("the anthropic upstream was never called")
		}
	})
	t.Run("unrouted translated call carries x-ratelimit headers", func(t *testing.T) {
		r := dialectPost(t, h, user, "/v1/chat/completions", "an/text", "")
		if r.status != 200 || !strings.Contains(r.body, `"object":"chat.completion"`) {
			t.Fatalf("status %d: %s", r.status, r.body)
		}
		if r.header.Get("X-Ratelimit-Limit-Requests") != "1000" || r.header.Get("X-Ratelimit-Reset-Requests") == "" {
			t.Fatalf("no x-ratelimit headers on the translated path: %v", r.header)
		}
	})
}

// dialectPost sends a chat call for model to path (/v1/chat/completions,
// /v1/messages, or "gemini" for generateContent, streamed when extra
// sets stream) with extra JSON fields.
func dialectPost(t *testing.T, h *harness, key, path, model, extra string) rtResult {
	t.Helper()
	body := chatBody(model, extra)
	switch path {
	case "/v1/messages":
		body = `{"model":"` + model + `","max_tokens":64,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
	case "gemini":
		body = `{"contents":[{"role":"user","parts":[{"text":"hi"}]}]}`
		path = "/v1beta/models/" + model + ":generateContent"
		if strings.Contains(extra, `"stream":true`) {
			path = "/v1beta/models/" + model + ":streamGenerateContent?alt=sse"
		}
	}
	req, err := http.NewRequest(http.MethodPost, h.addr+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rtResult{resp.StatusCode, resp.Header, string(b), time.Since(start)}
}

// contextLimited is an upstream whose every answer is the vendor's "prompt
// too long" error, in the wire format of the path called.
func contextLimited(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		if strings.HasSuffix(r.URL.Path, "/messages") {
			_, _ = io.WriteString(w, `{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 210000 tokens > 200000 maximum"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"error":{"message":"This model's maximum context length is 8192 tokens. However, your messages resulted in 9000 tokens.","type":"invalid_request_error","param":"messages","code":"context_length_exceeded"}}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL, &calls
}

// TestRoutingContextWindowFallback: a deployment answering 400
// context_length_exceeded (OpenAI) or "prompt is too long" (Anthropic)
// falls back to the alias's larger-context alias; without one configured
// the client gets the 400. The usage rows (read from the store serve
// wrote) name the deployment that served.
func TestRoutingContextWindowFallback(t *testing.T) {
	smallURL, smallCalls := contextLimited(t)
	big := newRTUpstream(t)
	h, _ := rtServeConfig(t, fmt.Sprintf(`providers:
  - {name: small-oa, type: openai, base_url: %[1]s/v1}
  - {name: small-an, type: anthropic, base_url: %[1]s, api_key_env: RT_ANTHROPIC_KEY}
  - {name: big, type: openai, base_url: %[2]s/v1}
routing:
  retry: {max_attempts: 3, base_delay: 10ms, max_delay: 50ms}
  deployments:
    small-openai: {provider: small-oa, model: text}
    small-anthropic: {provider: small-an, model: text}
    big-dep: {provider: big, model: text, context_window: 1000000}
  aliases:
    short-oa: {deployments: [small-openai], context_fallback: long}
    short-an: {deployments: [small-anthropic], context_fallback: long}
    short-none: {deployments: [small-openai]}
    long: {deployments: [big-dep]}
`, smallURL, big.url))
	k := h.createKey("--name", "app")

	tests := []struct {
		name    string
		path    string
		model   string
		status  int
		wantDep string
	}{
		{"openai context_length_exceeded falls back", "/v1/chat/completions", "short-oa", 200, "big-dep"},
		{"anthropic prompt is too long falls back", "/v1/messages", "short-an", 200, "big-dep"},
		{"no context fallback configured: the 400 reaches the client", "/v1/chat/completions", "short-none", 400, "small-openai"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			beforeSmall, beforeBig := smallCalls.Load(), big.calls.Load()
			r := dialectPost(t, h, k.Key, tt.path, tt.model, "")
			if r.status != tt.status || r.header.Get("X-Bulwark-Deployment") != tt.wantDep {
				t.Fatalf("status %d via %q, want %d via %s: %s", r.status, r.header.Get("X-Bulwark-Deployment"), tt.status, tt.wantDep, r.body)
			}
			if smallCalls.Load()-beforeSmall != 1 {
				t.Fatalf("the small deployment was called %d times, want once (a context error is not retried there)", smallCalls.Load()-beforeSmall)
			}
			wantBig := int64(0)
			if tt.status == 200 {
				wantBig = 1
			}
			if big.calls.Load()-beforeBig != wantBig {
				t.Fatalf("the larger-context deployment was called %d times, want %d", big.calls.Load()-beforeBig, wantBig)
			}
		})
	}

	t.Run("usage rows name the deployment", func(t *testing.T) {
		h.stop() // flush usage rows
		db, err := sql.Open("sqlite", "file:"+filepath.Join(h.dir, sqlite.FileName)+"?mode=ro")
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows, err := db.Query(`SELECT model, provider, deployment, status FROM usage WHERE key_id = ?`, k.ID)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		got := map[string]int{}
		for rows.Next() {
			var model, prov, dep string
			var status int
			if err := rows.Scan(&model, &prov, &dep, &status); err != nil {
				t.Fatal(err)
			}
			got[fmt.Sprintf("%s %s %s %d", model, prov, dep, status)]++
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		want := map[string]int{"short-oa big big-dep 200": 1, "short-an big big-dep 200": 1, "short-none small-oa small-openai 400": 1}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("usage rows %v, want %v", got, want)
		}
	})
}

// TestRoutingStrategiesThroughServe: weighted routing follows the weights,
// least-inflight sends a request away from a busy deployment, and
// lowest-latency measures each deployment once, then prefers the faster.
func TestRoutingStrategiesThroughServe(t *testing.T) {
	a, b := newRTUpstream(t), newRTUpstream(t)
	h, _ := rtServe(t, a, b, `routing:
  deployments:
    wa: {provider: up-a, model: text, weight: 9}
    wb: {provider: up-b, model: text, weight: 1}
    la: {provider: up-a, model: text}
    lb: {provider: up-b, model: text}
    fa: {provider: up-a, model: text}
    fb: {provider: up-b, model: text}
  aliases:
    weighted: {strategy: weighted, deployments: [wa, wb]}
    least: {strategy: least-inflight, deployments: [la, lb]}
    fastest: {strategy: lowest-latency, deployments: [fa, fb]}
`)
	user := h.createKey("--name", "app").Key
	via := func(model string) string {
		t.Helper()
		r := rtPost(t, h, user, chatBody(model, ""), nil)
		if r.status != 200 {
			t.Fatalf("%s: status %d: %s", model, r.status, r.body)
		}
		return r.header.Get("X-Bulwark-Deployment")
	}

	t.Run("weighted 9:1", func(t *testing.T) {
		got := map[string]int{}
		for range 200 {
			got[via("weighted")]++
		}
		t.Logf("weighted 9:1 over 200 calls: %v", got)
		// Expected 180/20 (σ ≈ 4.2): the bounds are > 7σ away.
		if got["wa"] < 150 || got["wa"] > 198 || got["wa"]+got["wb"] != 200 {
			t.Fatalf("distribution %v, want about 180 wa / 20 wb", got)
		}
	})
	t.Run("least-inflight avoids the busy deployment", func(t *testing.T) {
		a.SetFault(upstreamtest.Fault{Latency: 600 * time.Millisecond})
		defer a.SetFault(upstreamtest.Fault{})
		var first string
		var wg sync.WaitGroup
		wg.Add(1)
		go func() { defer wg.Done(); first = via("least") }()
		eventually(t, 3*time.Second, "first call in flight on up-a", func() bool { return a.inflight.Load() == 1 })
		if second := via("least"); second != "lb" {
			t.Fatalf("second call went to %q while la was busy", second)
		}
		wg.Wait()
		if first != "la" {
			t.Fatalf("first call (nothing in flight, tie) went to %q, want la", first)
		}
	})
	t.Run("lowest-latency prefers the faster", func(t *testing.T) {
		a.SetFault(upstreamtest.Fault{Latency: 150 * time.Millisecond})
		defer a.SetFault(upstreamtest.Fault{})
		got := []string{via("fastest"), via("fastest")} // each unmeasured one is tried first
		for range 5 {
			got = append(got, via("fastest"))
		}
		if want := "fa fb fb fb fb fb fb"; strings.Join(got, " ") != want {
			t.Fatalf("deployments %v, want %s", got, want)
		}
	})
}

// TestKeysUpdateConcurrentLimitEdits: concurrent `keys update` runs that
// each change a different limit keep every change: the merge runs inside
// the store's transaction on the stored value, not on a stale read.
func TestKeysUpdateConcurrentLimitEdits(t *testing.T) {
	h := newHarness(t)
	edits := [][]string{{"--rpm", "7"}, {"--tpm", "900"}, {"--max-parallel", "3"}, {"--budget-usd", "2.5"}}
	const want = `{"rpm":7,"tpm":900,"max_parallel":3,"budget_usd":2.5}`
	for round := range 4 {
		k := h.createKey("--name", fmt.Sprintf("k%d", round))
		var wg sync.WaitGroup
		start := make(chan struct{})
		for _, e := range edits {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				if code, out := h.run("", append([]string{"keys", "update", k.ID}, e...)...); code != 0 {
					t.Errorf("keys update %v: exit %d %s", e, code, out)
				}
			}()
		}
		close(start)
		wg.Wait()
		var keys []struct {
			ID     string `json:"id"`
			Limits string `json:"limits"`
		}
		if err := json.Unmarshal([]byte(h.must("keys", "list", "--json")), &keys); err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			if key.ID == k.ID && key.Limits != want {
				t.Fatalf("round %d: limits %s after four concurrent edits, want %s", round, key.Limits, want)
			}
		}
	}
}
