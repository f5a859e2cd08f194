package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// rtUpstream is a fault-injecting fake upstream that also counts the
// requests it receives and how many run at once.
type rtUpstream struct {
	*upstreamtest.Server
	url            string
	calls          atomic.Int64
	inflight, peak atomic.Int64
}

func newRTUpstream(t *testing.T) *rtUpstream {
	t.Helper()
	u := &rtUpstream{Server: upstreamtest.NewUnstarted(false)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.calls.Add(1)
		n := u.inflight.Add(1)
		defer u.inflight.Add(-1)
		for p := u.peak.Load(); n > p && !u.peak.CompareAndSwap(p, n); p = u.peak.Load() {
		}
		u.Handler().ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	u.url = srv.URL
	return u
}

// rtServe starts `bulwark serve` with two upstreams (up-a, up-b) and the
// routing section given, and returns the harness and an admin key.
func rtServe(t *testing.T, a, b *rtUpstream, routing string) (*harness, string) {
	t.Helper()
	h := newHarness(t)
	cfg := fmt.Sprintf(`providers:
  - {name: up-a, type: openai, base_url: %s/v1}
  - {name: up-b, type: openai, base_url: %s/v1}
prices:
  text: {input: 0, output: 1000000}
%s`, a.url, b.url, routing)
	path := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = path
	adm := h.createKey("--name", "ops", "--scopes", "admin:global,llm")
	h.serve()
	return h, adm.Key
}

type rtResult struct {
	status int
	header http.Header
	body   string
	took   time.Duration
}

// rtPost sends a chat completion for model with key.
func rtPost(t *testing.T, h *harness, key, body string, hdr map[string]string) rtResult {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.addr+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return rtResult{}
	}
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Error(err)
		return rtResult{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return rtResult{resp.StatusCode, resp.Header, string(b), time.Since(start)}
}

func chatBody(model string, extra string) string {
	return `{"model":"` + model + `","messages":[{"role":"user","content":"hi"}]` + extra + `}`
}

// breakerState reads the breaker state of deployment name from
// GET /api/admin/health.
func breakerState(t *testing.T, h *harness, adminKey, name string) string {
	t.Helper()
	resp := h.get("/api/admin/health", adminKey)
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			Name    string `json:"name"`
			Breaker struct {
				State string `json:"state"`
			} `json:"breaker"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != 200 {
		t.Fatalf("health: status %d, %v", resp.StatusCode, err)
	}
	for _, d := range out.Data {
		if d.Name == name {
			return d.Breaker.State
		}
	}
	t.Fatalf("health lists no deployment %q", name)
	return ""
}

const rtRouting = `routing:
  request_timeout: 1s
  retry: {max_attempts: 3, base_delay: 10ms, max_delay: 50ms}
  breaker: {consecutive_failures: 2, error_rate: 0, cooldown: 1s, half_open_probes: 1, rate_limit_cooldown: 1s}
  deployments:
    a: {provider: up-a, model: text, timeouts: {first_byte: 400ms, idle_gap: 300ms}}
    a-capped: {provider: up-a, model: text, max_parallel: 2}
    b: {provider: up-b, model: text}
  aliases:
    chat: {strategy: fallback, deployments: [a, b]}
    solo: {deployments: [a]}
    capped: {deployments: [a-capped, b]}
`

// TestRoutingFallbackAndBreaker: a failing deployment falls back to the
// healthy one (header names it), the breaker opens after two failures
// (visible in /api/admin/health, and the open deployment is no longer
// called), half-opens after the cooldown and closes on a good probe.
func TestRoutingFallbackAndBreaker(t *testing.T) {
	a, b := newRTUpstream(t), newRTUpstream(t)
	h, adminKey := rtServe(t, a, b, rtRouting)
	user := h.createKey("--name", "app").Key

	steps := []struct {
		name      string
		fault     upstreamtest.Fault
		wantDep   string
		wantState string
	}{
		{"500 falls back", upstreamtest.Fault{Kind: upstreamtest.Status500}, "b", "closed"},
		{"hang past first byte falls back", upstreamtest.Fault{Kind: upstreamtest.Hang}, "b", "open"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			a.SetFault(tt.fault)
			r := rtPost(t, h, user, chatBody("chat", ""), nil)
			if r.status != 200 || r.header.Get("X-Bulwark-Deployment") != tt.wantDep {
				t.Fatalf("status %d deployment %q, want 200 from %s: %s", r.status, r.header.Get("X-Bulwark-Deployment"), tt.wantDep, r.body)
			}
			if got := breakerState(t, h, adminKey, "a"); got != tt.wantState {
				t.Fatalf("breaker of a is %q, want %q", got, tt.wantState)
			}
		})
	}
	t.Run("open deployment is skipped", func(t *testing.T) {
		before := a.calls.Load()
		r := rtPost(t, h, user, chatBody("chat", ""), nil)
		if r.status != 200 || r.header.Get("X-Bulwark-Deployment") != "b" || a.calls.Load() != before {
			t.Fatalf("status %d via %q, a called %d more times", r.status, r.header.Get("X-Bulwark-Deployment"), a.calls.Load()-before)
		}
	})
	t.Run("half-open then recovers", func(t *testing.T) {
		a.SetFault(upstreamtest.Fault{})
		eventually(t, 3*time.Second, "half-open", func() bool { return breakerState(t, h, adminKey, "a") == "half-open" })
		r := rtPost(t, h, user, chatBody("chat", ""), nil)
		if r.status != 200 || r.header.Get("X-Bulwark-Deployment") != "a" {
			t.Fatalf("probe: status %d via %q", r.status, r.header.Get("X-Bulwark-Deployment"))
		}
		if got := breakerState(t, h, adminKey, "a"); got != "closed" {
			t.Fatalf("after a good probe the breaker is %q", got)
		}
	})
	t.Run("health needs the admin scope", func(t *testing.T) {
		if st := h.status("/api/admin/health", user); st != http.StatusForbidden {
			t.Fatalf("health with an llm key: %d", st)
		}
	})
}

// TestRoutingRetriesStayInsideTheDeadline: a retry-after longer than the
// request deadline is not waited for, and slow failures stop at the
// deadline (request_timeout 1s).
func TestRoutingRetriesStayInsideTheDeadline(t *testing.T) {
	tests := []struct {
		name      string
		fault     upstreamtest.Fault
		maxTook   time.Duration
		wantCalls int64
		status    int
	}{
		{"retry-after beyond the deadline answers at once", upstreamtest.Fault{Kind: upstreamtest.Status429, RetryAfter: 5}, 500 * time.Millisecond, 1, 429},
		{"slow failures stop at the deadline", upstreamtest.Fault{Kind: upstreamtest.Status500, Latency: 400 * time.Millisecond}, 1500 * time.Millisecond, 3, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := newRTUpstream(t), newRTUpstream(t)
			h, _ := rtServe(t, a, b, rtRouting)
			user := h.createKey("--name", "app").Key
			a.SetFault(tt.fault)
			r := rtPost(t, h, user, chatBody("solo", ""), nil)
			if r.took > tt.maxTook {
				t.Fatalf("took %v, want < %v (deadline 1s)", r.took, tt.maxTook)
			}
			if r.status == 200 || (tt.status != 0 && r.status != tt.status) {
				t.Fatalf("status %d: %s", r.status, r.body)
			}
			if got := a.calls.Load(); got > tt.wantCalls {
				t.Fatalf("upstream called %d times, want ≤ %d", got, tt.wantCalls)
			}
			if strings.Contains(r.body, "injected failure") {
				t.Fatalf("upstream body leaked: %s", r.body)
			}
		})
	}
}

// TestRoutingStreamsEndHonestly: a stream cut or stalled after the first
// byte ends with an error event, never [DONE], and is not retried on the
// other deployment.
func TestRoutingStreamsEndHonestly(t *testing.T) {
	tests := []struct {
		name  string
		fault upstreamtest.Fault
	}{
		{"cut mid-stream", upstreamtest.Fault{Kind: upstreamtest.CutStream}},
		{"idle gap exceeded", upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: 800 * time.Millisecond}},
	}
	a, b := newRTUpstream(t), newRTUpstream(t)
	h, _ := rtServe(t, a, b, rtRouting)
	user := h.createKey("--name", "app").Key
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.SetFault(tt.fault)
			before := b.calls.Load()
			r := rtPost(t, h, user, chatBody("chat", `,"stream":true`), nil)
			if r.status != 200 || !strings.Contains(r.body, "data: ") {
				t.Fatalf("status %d body %q", r.status, r.body)
			}
			last := r.body[strings.LastIndex(strings.TrimSpace(r.body), "data: "):]
			if strings.Contains(r.body, "[DONE]") || !strings.Contains(last, `"error"`) {
				t.Fatalf("stream did not end with an error event: %q", r.body)
			}
			if b.calls.Load() != before {
				t.Fatal("a stream was retried after its first byte")
			}
		})
	}
}

// TestIdempotencyThroughServe: a repeated Idempotency-Key reaches the
// upstream once, replays consume no rate limit, concurrent repeats wait
// for the first, and another body under the same key is refused with 422.
func TestIdempotencyThroughServe(t *testing.T) {
	a, b := newRTUpstream(t), newRTUpstream(t)
	// Deployment a without rtRouting's 400 ms first-byte timeout: the burst
	// below holds its first request upstream for 300 ms, and on a loaded
	// machine that came within the timeout's margin (a 503 once in CI-like
	// load).
	h, _ := rtServe(t, a, b, `routing:
  deployments:
    a: {provider: up-a, model: text}
  aliases:
    solo: {deployments: [a]}
`)
	limited := h.createKey("--name", "two-per-minute", "--rpm", "2").Key
	free := h.createKey("--name", "free").Key
	idem := map[string]string{"Idempotency-Key": "order-42"}

	first := rtPost(t, h, limited, chatBody("solo", ""), idem)
	if first.status != 200 {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	for i := range 3 {
		r := rtPost(t, h, limited, chatBody("solo", ""), idem)
		if r.status != 200 || r.body != first.body || r.header.Get("Idempotent-Replayed") != "true" {
			t.Fatalf("replay %d: status %d replayed=%q same=%v", i, r.status, r.header.Get("Idempotent-Replayed"), r.body == first.body)
		}
	}
	if got := a.calls.Load(); got != 1 {
		t.Fatalf("upstream called %d times for one idempotency key", got)
	}
	if r := rtPost(t, h, limited, chatBody("solo", ""), nil); r.status != 200 {
		t.Fatalf("second fresh request under rpm 2 after replays: %d (replays consumed the limit)", r.status)
	}
	if r := rtPost(t, h, limited, chatBody("solo", ""), nil); r.status != 429 {
		t.Fatalf("third fresh request under rpm 2: %d", r.status)
	}
	if r := rtPost(t, h, free, chatBody("solo", `,"temperature":0`), idem); r.status != 200 {
		t.Fatalf("the same idempotency key under another API key must be independent: %d", r.status)
	}
	if r := rtPost(t, h, free, chatBody("solo", `,"temperature":1`), idem); r.status != 422 {
		t.Fatalf("same key, different body: %d %s", r.status, r.body)
	}

	a.SetFault(upstreamtest.Fault{Latency: 300 * time.Millisecond})
	before := a.calls.Load()
	var wg sync.WaitGroup
	bodies := make([]string, 10)
	for i := range bodies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := rtPost(t, h, free, chatBody("solo", ""), map[string]string{"Idempotency-Key": "burst"})
			bodies[i] = strconv.Itoa(r.status) + r.body
		}()
	}
	wg.Wait()
	for _, got := range bodies {
		if got != bodies[0] || !strings.HasPrefix(got, "200") {
			t.Fatalf("concurrent repeats differ: %q vs %q", got, bodies[0])
		}
	}
	if got := a.calls.Load() - before; got != 1 {
		t.Fatalf("10 concurrent repeats reached the upstream %d times", got)
	}
}

// parallel sends n requests at once and counts statuses.
func parallel(t *testing.T, h *harness, key, body string, n int) (map[int]int, []rtResult) {
	t.Helper()
	var wg sync.WaitGroup
	res := make([]rtResult, n)
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res[i] = rtPost(t, h, key, body, nil)
		}()
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, r := range res {
		counts[r.status]++
	}
	return counts, res
}

// TestLimitsUnderParallelClients: a budget that covers 50 calls admits at
// most 50 of 200 parallel ones and the recorded spend stays within it; a
// limit of N per minute admits exactly N of a burst of 10N; max-parallel
// (per key and per deployment) is never exceeded.
func TestLimitsUnderParallelClients(t *testing.T) {
	a, b := newRTUpstream(t), newRTUpstream(t)
	h, adminKey := rtServe(t, a, b, rtRouting)
	// Calibrate: the upstream's completion tokens for one call (priced at
	// 1 micro-USD per output token, input free).
	cal := rtPost(t, h, adminKey, chatBody("up-a/text", ""), nil)
	var u struct {
		Usage struct {
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(cal.body), &u); err != nil || u.Usage.CompletionTokens == 0 {
		t.Fatalf("calibration: %d %s", cal.status, cal.body)
	}
	per := u.Usage.CompletionTokens // micro-USD per call

	t.Run("budget covering 50 of 200 parallel", func(t *testing.T) {
		budget := 50 * per
		k := h.createKey("--name", "budgeted", "--budget-usd", fmt.Sprintf("0.%06d", budget))
		body := chatBody("up-a/text", fmt.Sprintf(`,"max_tokens":%d`, per))
		counts, res := parallel(t, h, k.Key, body, 200)
		if counts[200] > 50 || counts[200] == 0 || counts[200]+counts[429] != 200 {
			t.Fatalf("statuses %v: want at most 50 successes, the rest 429", counts)
		}
		for _, r := range res {
			if r.status == 429 && !strings.Contains(r.body, "budget") {
				t.Fatalf("refusal does not name the budget: %s", r.body)
			}
		}
		h.stop() // flush usage rows
		out := h.must("usage", "--key", k.ID, "--json")
		var rows []struct {
			CostMicros int64 `json:"cost_micros"`
		}
		if err := json.Unmarshal([]byte(out), &rows); err != nil {
			t.Fatalf("usage output %q: %v", out, err)
		}
		var spent int64
		for _, r := range rows {
			spent += r.CostMicros
		}
		t.Logf("200 parallel: statuses %v, recorded spend %d of %d micro-USD", counts, spent, budget)
		if spent > budget || spent != int64(counts[200])*per {
			t.Fatalf("recorded spend %d micro-USD for %d successes; budget %d", spent, counts[200], budget)
		}
		h.logs = &syncBuffer{} // serve reads its address from the log
		h.serve()
	})
	t.Run("rpm N admits exactly N of 10N", func(t *testing.T) {
		k := h.createKey("--name", "rpm5", "--rpm", "5").Key
		counts, res := parallel(t, h, k, chatBody("up-a/text", ""), 50)
		if counts[200] != 5 || counts[429] != 45 {
			t.Fatalf("statuses %v, want 5×200 and 45×429", counts)
		}
		for _, r := range res {
			if r.status == 429 && (r.header.Get("Retry-After") == "" || r.header.Get("X-Ratelimit-Limit-Requests") != "5" ||
				r.header.Get("X-Ratelimit-Remaining-Requests") != "0" || r.header.Get("X-Ratelimit-Reset-Requests") == "") {
				t.Fatalf("429 headers: %v", r.header)
			}
		}
	})
	t.Run("key max-parallel", func(t *testing.T) {
		k := h.createKey("--name", "par3", "--max-parallel", "3").Key
		a.SetFault(upstreamtest.Fault{Latency: 300 * time.Millisecond})
		defer a.SetFault(upstreamtest.Fault{})
		a.peak.Store(0)
		counts, _ := parallel(t, h, k, chatBody("up-a/text", ""), 20)
		if p := a.peak.Load(); p > 3 || counts[200] < 3 || counts[200]+counts[429] != 20 {
			t.Fatalf("peak in flight %d (max 3), statuses %v", p, counts)
		}
	})
	t.Run("deployment max_parallel spills to the next deployment", func(t *testing.T) {
		k := h.createKey("--name", "spill").Key
		a.SetFault(upstreamtest.Fault{Latency: 300 * time.Millisecond})
		defer a.SetFault(upstreamtest.Fault{})
		a.peak.Store(0)
		counts, _ := parallel(t, h, k, chatBody("capped", ""), 10)
		if p := a.peak.Load(); p > 2 || counts[200] != 10 {
			t.Fatalf("peak on a-capped %d (max 2), statuses %v", p, counts)
		}
	})
}

// TestKeyLimitFlagsAndAdminFields: keys create/update and the admin API
// store limits as the JSON the gateway reads, change only what is given,
// remove a budget on request and refuse invalid values.
func TestKeyLimitFlagsAndAdminFields(t *testing.T) {
	h := newHarness(t)
	adm := h.createKey("--name", "ops", "--scopes", "admin:global,llm")
	k := h.createKey("--name", "b", "--rpm", "60", "--budget-usd", "12.5", "--budget-period", "monthly")
	limitsOf := func(id string) string {
		t.Helper()
		var keys []struct {
			ID     string `json:"id"`
			Limits string `json:"limits"`
		}
		if err := json.Unmarshal([]byte(h.must("keys", "list", "--json")), &keys); err != nil {
			t.Fatal(err)
		}
		for _, key := range keys {
			if key.ID == id {
				return key.Limits
			}
		}
		t.Fatalf("key %s not listed", id)
		return ""
	}
	steps := []struct {
		name string
		args []string
		want string
	}{
		{"create", nil, `{"rpm":60,"budget_usd":12.5,"budget_period":"monthly"}`},
		{"update one flag", []string{"--tpm", "1000"}, `{"rpm":60,"tpm":1000,"budget_usd":12.5,"budget_period":"monthly"}`},
		{"remove the budget", []string{"--budget-usd", ""}, `{"rpm":60,"tpm":1000}`},
		{"zero budget is a budget", []string{"--budget-usd", "0"}, `{"rpm":60,"tpm":1000,"budget_usd":0}`},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			if tt.args != nil {
				h.must(append([]string{"keys", "update", k.ID}, tt.args...)...)
			}
			if got := limitsOf(k.ID); got != tt.want {
				t.Fatalf("limits %s, want %s", got, tt.want)
			}
		})
	}
	for _, bad := range [][]string{
		{"--budget-usd", "1.0000001"}, {"--budget-usd", "-1"}, {"--budget-usd", "1", "--budget-period", "weekly"}, {"--rpm", "-1"},
	} {
		if code, _ := h.run("", append([]string{"keys", "create", "--name", "x"}, bad...)...); code == 0 {
			t.Fatalf("keys create %v accepted", bad)
		}
	}

	h.serve()
	api := func(method, path, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, h.addr+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+adm.Key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		var out struct {
			ID     string `json:"id"`
			Limits string `json:"limits"`
		}
		_ = json.Unmarshal(b, &out)
		if out.ID != "" {
			return resp.StatusCode, out.ID + " " + out.Limits
		}
		return resp.StatusCode, string(b)
	}
	st, got := api(http.MethodPost, "/api/admin/keys", `{"name":"api","rpm":5,"max_parallel":2,"budget_usd":1.25,"budget_period":"daily"}`)
	id, limits, _ := strings.Cut(got, " ")
	if st != 201 || limits != `{"rpm":5,"max_parallel":2,"budget_usd":1.25,"budget_period":"daily"}` {
		t.Fatalf("admin create: %d %s", st, got)
	}
	adminSteps := []struct {
		name, patch string
		status      int
		want        string
	}{
		{"patch one field", `{"tpm":10}`, 200, `{"rpm":5,"tpm":10,"max_parallel":2,"budget_usd":1.25,"budget_period":"daily"}`},
		{"null removes the budget", `{"budget_usd":null}`, 200, `{"rpm":5,"tpm":10,"max_parallel":2}`},
		{"bad amount", `{"budget_usd":"abc"}`, 400, ""},
		{"negative", `{"rpm":-1}`, 400, ""},
		{"unknown field", `{"burst":1}`, 400, ""},
	}
	for _, tt := range adminSteps {
		t.Run("admin "+tt.name, func(t *testing.T) {
			st, got := api(http.MethodPatch, "/api/admin/keys/"+id, tt.patch)
			if st != tt.status || (tt.want != "" && got != id+" "+tt.want) {
				t.Fatalf("PATCH %s: %d %s", tt.patch, st, got)
			}
		})
	}
}

// TestTenantLimitsAndUnpricedModels: a tenant limit from the config is
// shared by the tenant's keys, and a budgeted key cannot call a model
// without a price (400 before any upstream call).
func TestTenantLimitsAndUnpricedModels(t *testing.T) {
	a, b := newRTUpstream(t), newRTUpstream(t)
	h, _ := rtServe(t, a, b, rtRouting+"limits: {tenants: {default: {rpm: 3}}}\n")
	k1, k2 := h.createKey("--name", "one").Key, h.createKey("--name", "two").Key
	ok := 0
	for i := range 6 {
		key := []string{k1, k2}[i%2]
		if r := rtPost(t, h, key, chatBody("up-a/text", ""), nil); r.status == 200 {
			ok++
		} else if r.status != 429 || !strings.Contains(r.body, "tenant:default") {
			t.Fatalf("refusal %d: %s", r.status, r.body)
		}
	}
	if ok != 3 {
		t.Fatalf("tenant rpm 3 admitted %d of 6 across two keys", ok)
	}

	h2, _ := rtServe(t, a, b, rtRouting)
	budgeted := h2.createKey("--name", "budgeted", "--budget-usd", "10").Key
	before := a.calls.Load()
	r := rtPost(t, h2, budgeted, chatBody("up-a/unpriced-model", ""), nil)
	if r.status != 400 || !strings.Contains(r.body, "model_not_priced") || a.calls.Load() != before {
		t.Fatalf("unpriced model on a budgeted key: %d %s (upstream calls +%d)", r.status, r.body, a.calls.Load()-before)
	}
}
