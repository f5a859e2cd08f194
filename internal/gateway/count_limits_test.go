package gateway

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// countCase is one token-counting endpoint, and the billed call of the
// same dialect it must not starve.
type countCase struct {
	name             string
	countPath, count string
	callPath, call   string
	// errType reads the refusal's error class in the dialect's shape, and
	// wantErr is the class of a rate-limit refusal.
	errType, wantErr string
	endpoint         string // the count's usage.Endpoint
}

var countCases = []countCase{
	{name: "anthropic count_tokens",
		countPath: "/v1/messages/count_tokens", count: `{"model":"smart","messages":[{"role":"user","content":"hello"}]}`,
		callPath: "/v1/messages", call: `{"model":"smart","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}`,
		errType: "error.type", wantErr: "rate_limit_error", endpoint: usage.EndpointMessagesCount},
	{name: "gemini countTokens",
		countPath: "/v1beta/models/smart:countTokens", count: `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`,
		callPath: "/v1beta/models/smart:generateContent", call: `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`,
		errType: "error.status", wantErr: "RESOURCE_EXHAUSTED", endpoint: usage.EndpointGeminiCountTokens},
}

// withKeyLimits gives the caller the limits of subs, on a gate over the
// memory stores, which it returns.
func withKeyLimits(subs ...limit.Subject) (envOpt, *limit.Gate) {
	opts := memory.Options{}
	gate := &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)}
	return func(_ *Config, d *Deps) {
		d.Routing.Gate, d.Routing.Limits = gate, staticLimits(subs)
	}, gate
}

// checkRefusal checks a limit refusal in the dialect's shape with a small
// retry-after, as a completion's refusal is.
func checkRefusal(t *testing.T, tc countCase, resp *http.Response, b []byte) {
	t.Helper()
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("status %d, want 429: %s", resp.StatusCode, b)
	}
	if got := gjson.GetBytes(b, tc.errType).String(); got != tc.wantErr {
		t.Errorf("%s = %q, want %q: %s", tc.errType, got, tc.wantErr, b)
	}
	if s, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || s < 1 || s > 60 {
		t.Errorf("retry-after %q, want 1–60 seconds", resp.Header.Get("Retry-After"))
	}
}

// TestCountTokensIsRateLimited: the counting endpoints took no limit at
// all, so a key limited to 1 request a minute could make the gateway
// decode, scan and forward (with the provider's credential) any number of
// counts. Its second count within the minute is now refused in the
// caller's dialect before the body is inspected or reaches the upstream,
// and the refusal is recorded as every limit refusal is.
func TestCountTokensIsRateLimited(t *testing.T) {
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			hook := &countingHook{}
			limits, _ := withKeyLimits(limit.Subject{ID: "key:k", RPM: 1})
			e := newEnv(t, limits, func(_ *Config, d *Deps) { d.Hooks.Request = hook })
			if resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr); resp.StatusCode != http.StatusOK {
				t.Fatalf("first count: status %d: %s", resp.StatusCode, b)
			}
			resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			checkRefusal(t, tc, resp, b)
			if n := hook.n.Load(); n != 1 {
				t.Errorf("request guard inspected %d bodies, want 1 (the admitted count)", n)
			}
			if n := len(e.anth.Requests()); n != 1 {
				t.Errorf("upstream counted %d times, want 1", n)
			}
			recs := e.usage.all()
			if len(recs) != 1 || recs[0].Status != http.StatusTooManyRequests || recs[0].Model != "smart" || recs[0].CostMicros != 0 {
				t.Fatalf("usage rows %+v; want one, the refusal's 429 (an admitted count is not billed)", recs)
			}
		})
	}
}

// TestCountTokensLeavesCallsTheirRate: counts have a per-minute bucket of
// their own, sized by the key's RPM, so a client that counts before each
// call (Claude Code does) is not refused half its calls.
func TestCountTokensLeavesCallsTheirRate(t *testing.T) {
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			limits, _ := withKeyLimits(limit.Subject{ID: "key:k", RPM: 1}, limit.Subject{ID: "tenant:t1", RPM: 1})
			e := newEnv(t, limits)
			steps := []struct {
				path, body string
				want       int
			}{
				{tc.countPath, tc.count, http.StatusOK},
				{tc.callPath, tc.call, http.StatusOK}, // the count used none of the calls' RPM
				{tc.countPath, tc.count, http.StatusTooManyRequests},
				{tc.callPath, tc.call, http.StatusTooManyRequests},
			}
			for i, s := range steps {
				if resp, b := e.do(t, http.MethodPost, s.path, s.body, anthHdr); resp.StatusCode != s.want {
					t.Fatalf("step %d (%s): status %d, want %d: %s", i+1, s.path, resp.StatusCode, s.want, b)
				}
			}
		})
	}
}

// TestCountTokensSharesMaxParallel: a slot is a slot. A count is refused
// while the key's max_parallel is held by another request, and a count
// holds its slot until it is answered.
func TestCountTokensSharesMaxParallel(t *testing.T) {
	ctx := context.Background()
	subs := []limit.Subject{{ID: "key:k", MaxParallel: 1}}
	for _, tc := range countCases {
		t.Run(tc.name, func(t *testing.T) {
			limits, gate := withKeyLimits(subs...)
			e := newEnv(t, limits)
			held, err := gate.AdmitRequest(ctx, subs)
			if err != nil {
				t.Fatal(err)
			}
			resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			checkRefusal(t, tc, resp, b)
			_ = held.Abort(ctx)
			if resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr); resp.StatusCode != http.StatusOK {
				t.Fatalf("count after the slot was freed: status %d: %s", resp.StatusCode, b)
			}

			// A count in flight holds the slot: a call beside it is refused.
			done := countInFlight(t, e, tc.countPath, tc.count)
			if resp, b := e.do(t, http.MethodPost, tc.callPath, tc.call, anthHdr); resp.StatusCode != http.StatusTooManyRequests {
				t.Errorf("call beside a count in flight: status %d, want 429: %s", resp.StatusCode, b)
			}
			if s := <-done; s != http.StatusOK {
				t.Fatalf("held count: status %d", s)
			}
		})
	}
}

// routedCountCases are countCases on the routing alias "routed" of
// routedCountEnv.
var routedCountCases = []countCase{
	{name: "anthropic count_tokens",
		countPath: "/v1/messages/count_tokens", count: `{"model":"routed","messages":[{"role":"user","content":"hello"}]}`,
		callPath: "/v1/messages", call: `{"model":"routed","max_tokens":5,"messages":[{"role":"user","content":"hello"}]}`,
		errType: "error.type", wantErr: "rate_limit_error", endpoint: usage.EndpointMessagesCount},
	{name: "gemini countTokens",
		countPath: "/v1beta/models/routed:countTokens", count: `{"contents":[{"role":"user","parts":[{"text":"hello"}]}]}`,
		callPath: "/v1beta/models/routed:generateContent",
		call:     `{"contents":[{"role":"user","parts":[{"text":"hello"}]}],"generationConfig":{"maxOutputTokens":5}}`,
		errType:  "error.status", wantErr: "RESOURCE_EXHAUSTED", endpoint: usage.EndpointGeminiCountTokens},
}

// TestRoutedCountSkipsABusyDeployment: a Gemini countTokens on a routing
// alias took none of its deployments' limits, so it was counted on a
// deployment whose max_parallel was held. A routed count, in either
// dialect, now passes a busy deployment for the next, as a call does, and
// is refused, before any upstream is asked, when every deployment is busy.
func TestRoutedCountSkipsABusyDeployment(t *testing.T) {
	busy := router.Deployment{MaxParallel: 1}
	for _, tc := range routedCountCases {
		t.Run(tc.name, func(t *testing.T) {
			e, gate := routedCountEnv(t, busy, router.Deployment{})
			holdDeployment(t, gate, "a", busy)
			resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			if resp.StatusCode != http.StatusOK || resp.Header.Get(HeaderDeployment) != "b" {
				t.Fatalf("count beside a busy deployment: status %d on %q, want 200 on b: %s",
					resp.StatusCode, resp.Header.Get(HeaderDeployment), b)
			}

			solo, gate := routedCountEnv(t, busy)
			holdDeployment(t, gate, "a", busy)
			resp, b = solo.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			checkRefusal(t, tc, resp, b)
			if n := len(solo.anth.Requests()); n != 0 {
				t.Errorf("upstream counted %d times on a busy deployment, want 0", n)
			}
		})
	}
}

// TestRoutedCountRefusalIsRecorded: a count that every deployment's
// limits refused left no usage row and no request metric, unlike one the
// caller's limits refused, so `bulwark usage --endpoint` could not show
// it. It is recorded with its 429 and its endpoint.
func TestRoutedCountRefusalIsRecorded(t *testing.T) {
	busy := router.Deployment{MaxParallel: 1}
	for _, tc := range routedCountCases {
		t.Run(tc.name, func(t *testing.T) {
			e, gate := routedCountEnv(t, busy)
			holdDeployment(t, gate, "a", busy)
			resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			checkRefusal(t, tc, resp, b)
			recs := e.usage.all()
			if len(recs) != 1 || recs[0].Status != http.StatusTooManyRequests || recs[0].Model != "routed" ||
				recs[0].Endpoint != tc.endpoint || recs[0].CostMicros != 0 {
				t.Fatalf("usage rows %+v; want one, the refusal's 429 on %s", recs, tc.endpoint)
			}
		})
	}
}

// brokenSlots is a concurrency store that has stopped answering.
type brokenSlots struct{}

func (brokenSlots) Acquire(context.Context, string, int64) (func(), error) {
	return nil, errors.New("limit store down")
}

// TestRoutedCountLimitStoreFailureIsRecorded: a routed count whose
// deployment's limit store fails is refused (503, fail closed) and, as
// when the key's own limit store fails, leaves its usage row — it left
// none, so the outage was invisible in `bulwark usage`.
func TestRoutedCountLimitStoreFailureIsRecorded(t *testing.T) {
	for _, tc := range routedCountCases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := routedEnvWith(t, func(_ *Config, d *Deps) { d.Routing.Gate.Concurrency = brokenSlots{} }, router.Deployment{MaxParallel: 1})
			resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr)
			if resp.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", resp.StatusCode, b)
			}
			recs := e.usage.all()
			if len(recs) != 1 || recs[0].Status != http.StatusServiceUnavailable || recs[0].Endpoint != tc.endpoint {
				t.Fatalf("usage rows %+v; want one, the refusal's 503 on %s", recs, tc.endpoint)
			}
		})
	}
}

// TestRoutedCountFreesTheDeployment: a count_tokens on a routing alias
// took its deployment's limits (the attempt's admission) and, never being
// settled, never gave them back: after one count, a deployment with
// max_parallel 1 refused every call, counts and completions alike, for
// the life of the process. A count holds the slot while it is in flight,
// and only then: not once answered, nor after a failed attempt.
func TestRoutedCountFreesTheDeployment(t *testing.T) {
	for _, tc := range routedCountCases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := routedCountEnv(t, router.Deployment{MaxParallel: 1})
			for i, s := range []struct{ path, body string }{{tc.countPath, tc.count}, {tc.countPath, tc.count}, {tc.callPath, tc.call}} {
				if resp, b := e.do(t, http.MethodPost, s.path, s.body, anthHdr); resp.StatusCode != http.StatusOK {
					t.Fatalf("request %d (%s): status %d, want 200 (the deployment's slot is free): %s", i+1, s.path, resp.StatusCode, b)
				}
			}

			done := countInFlight(t, e, tc.countPath, tc.count)
			resp, b := e.do(t, http.MethodPost, tc.callPath, tc.call, anthHdr)
			checkRefusal(t, tc, resp, b)
			if s := <-done; s != http.StatusOK {
				t.Fatalf("held count: status %d", s)
			}
			if resp, b := e.do(t, http.MethodPost, tc.callPath, tc.call, anthHdr); resp.StatusCode != http.StatusOK {
				t.Fatalf("call after the count was answered: status %d, want 200: %s", resp.StatusCode, b)
			}

			// A failed attempt gives its slot back: the retry on the same
			// deployment is admitted.
			e.anth.SetFault(upstreamtest.Fault{Kind: upstreamtest.Status500, Times: 1})
			if resp, b := e.do(t, http.MethodPost, tc.countPath, tc.count, anthHdr); resp.StatusCode != http.StatusOK {
				t.Fatalf("count retried after an upstream 500: status %d, want 200: %s", resp.StatusCode, b)
			}
		})
	}
}

// TestRoutedCountLeavesTheDeploymentItsCalls: a routed count takes the
// deployment's slot and a counting bucket of its own, as a key's counts do
// — not the deployment's call rate, nor a TPM reservation at the model's
// maximum output (64 000 tokens for Sonnet), which refused every count on
// a deployment whose TPM is below it and held TPM that calls beside it
// were refused for.
func TestRoutedCountLeavesTheDeploymentItsCalls(t *testing.T) {
	for _, tc := range routedCountCases {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := routedCountEnv(t, router.Deployment{RPM: 1, TPM: 10_000})
			for i, s := range []struct {
				path, body string
				want       int
			}{
				{tc.countPath, tc.count, http.StatusOK},
				{tc.callPath, tc.call, http.StatusOK},
				{tc.countPath, tc.count, http.StatusTooManyRequests}, // the deployment's counting bucket (1 a minute)
			} {
				if resp, b := e.do(t, http.MethodPost, s.path, s.body, anthHdr); resp.StatusCode != s.want {
					t.Fatalf("request %d (%s): status %d, want %d: %s", i+1, s.path, resp.StatusCode, s.want, b)
				}
			}
		})
	}
}

// routedCountEnv serves the alias "routed" over Anthropic deployments
// named "a", "b"… with deps' limits, in that order of fallback, on
// in-memory limit stores; it returns the gate that holds the deployments'
// limits.
func routedCountEnv(t *testing.T, deps ...router.Deployment) (*env, *limit.Gate) {
	t.Helper()
	return routedEnvWith(t, nil, deps...)
}

// routedEnvWith is routedCountEnv with one more option applied (nil: none).
func routedEnvWith(t *testing.T, opt envOpt, deps ...router.Deployment) (*env, *limit.Gate) {
	t.Helper()
	names := make([]string, len(deps))
	for i := range deps {
		names[i] = string(rune('a' + i))
		deps[i].Name, deps[i].Provider, deps[i].Model = names[i], "anthropic", "claude-sonnet-4-5"
	}
	opts := memory.Options{}
	gate := &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)}
	e := newEnv(t, func(_ *Config, d *Deps) {
		rtr, err := router.New(router.Config{
			Deployments: deps,
			Aliases:     []router.Alias{{Name: "routed", Strategy: router.Fallback, Deployments: names}},
		}, router.Options{})
		if err != nil {
			t.Fatal(err)
		}
		d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy}, Gate: gate, Limits: staticLimits{}}
	}, func(c *Config, d *Deps) {
		if opt != nil {
			opt(c, d)
		}
	})
	return e, gate
}

// holdDeployment takes a slot of the deployment name (with dep's limits)
// on gate until the test ends.
func holdDeployment(t *testing.T, gate *limit.Gate, name string, dep router.Deployment) {
	t.Helper()
	dep.Name = name
	held, err := gate.AdmitRequest(context.Background(), []limit.Subject{router.DeploymentSubject(dep)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = held.Abort(context.Background()) })
}

// countInFlight sends a count that the Anthropic upstream answers after a
// delay and returns, once the count has reached the upstream, the channel
// its status arrives on (0 when the request failed).
func countInFlight(t *testing.T, e *env, path, body string) <-chan int {
	t.Helper()
	seen := len(e.anth.Requests())
	e.anth.SetFault(upstreamtest.Fault{Latency: 300 * time.Millisecond, Times: 1})
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", "bw_clientkey")
	req.Header.Set("Anthropic-Version", "2023-06-01")
	done := make(chan int, 1)
	go func() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- 0
			return
		}
		_ = resp.Body.Close()
		done <- resp.StatusCode
	}()
	for deadline := time.Now().Add(5 * time.Second); len(e.anth.Requests()) <= seen; {
		if time.Now().After(deadline) {
			t.Fatal("the count never reached the upstream")
		}
		time.Sleep(time.Millisecond)
	}
	return done
}
