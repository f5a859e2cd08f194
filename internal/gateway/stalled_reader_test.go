package gateway

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/router"
)

// TestStalledReaderReleasesItsSlot: nothing bounds how long the gateway
// may block writing to a client — no write deadline anywhere, and
// cancelling the request's context does not unblock a Write. A client that
// starts a stream and then stops reading (zero TCP window, kept alive by
// the kernel's window probes) keeps its handler blocked in Write for as
// long as it likes, and with it every slot the call holds: its key's and
// tenant's max_parallel, its budget hold and, shared by every tenant, the
// deployment's max_parallel. Even the routed request deadline
// (routing.request_timeout, here 1 s) and the attempt's own timeouts fire
// into the void. With max_parallel: 64 on a deployment, 64 such streams
// from one ordinary key lock every caller out of it (429) indefinitely.
func TestStalledReaderReleasesItsSlot(t *testing.T) {
	// An upstream that streams large chunks for as long as it is read.
	chunk := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` +
		strings.Repeat("a", 16<<10) + `"},"finish_reason":null}]}` + "\n\n"
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		streamUntilGone(w, r, chunk)
	}))
	t.Cleanup(up.Close)

	e := newEnv(t, func(_ *Config, d *Deps) {
		d.Providers = append(d.Providers.(mapSource), provider.Config{Name: "endless", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
			Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
		rtr, err := router.New(router.Config{
			Deployments: []router.Deployment{{Name: "shared", Provider: "endless", Model: "gpt-4o-mini", MaxParallel: 1,
				Timeouts: router.Timeouts{Total: time.Second, IdleGap: 500 * time.Millisecond}}},
			Aliases: []router.Alias{{Name: "routed", Strategy: router.Fallback, Deployments: []string{"shared"}}},
		}, router.Options{})
		if err != nil {
			t.Fatal(err)
		}
		opts := memory.Options{}
		d.Routing = Routing{
			Executor: &router.Executor{Router: rtr, Policy: router.Policy{MaxAttempts: 1}},
			Deadline: time.Second,
			Gate:     &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)},
			Limits:   staticLimits{},
		}
	})

	// The attacker: a stream it never reads past the status line, over a
	// connection with a small receive window.
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(e.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"model":"routed","stream":true,"messages":[{"role":"user","content":"go on"}]}`
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	status, err := bufio.NewReaderSize(conn, 64).ReadString('\n')
	if err != nil || !strings.Contains(status, " 200 ") {
		t.Fatalf("attacker stream: %q %v", status, err)
	}

	// Well past the request deadline and the attempt's total and idle
	// timeouts, another caller asks the same deployment.
	time.Sleep(3 * time.Second)
	e.identity = &identity.Identity{KeyID: "key_victim", Tenant: "t2", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"routed","messages":[{"role":"user","content":"hi"}]}`, nil)
	if resp.StatusCode == http.StatusTooManyRequests {
		t.Fatalf("3 s after a 1 s request deadline, the deployment's only slot is still held by a client that stopped reading: victim got %d %.200s", resp.StatusCode, b)
	}
}

// stallingClient sends body to the gateway over a connection with a small
// receive window and reads nothing past the status line; it returns the
// connection (closed by the test's cleanup) and the status line.
func stallingClient(t *testing.T, e *env, body string) string {
	t.Helper()
	dialer := net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}
	conn, err := dialer.Dial("tcp", strings.TrimPrefix(e.gw.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	fmt.Fprintf(conn, "POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer a\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	status, err := bufio.NewReaderSize(conn, 64).ReadString('\n')
	if err != nil {
		t.Fatalf("stalling client: %v", err)
	}
	return status
}

// TestStalledReaderIsCutAfterTheWriteStallTimeout: with no request
// deadline at all (an unrouted call, whose context ends only when the
// client leaves), a write that makes no progress for the write-stall
// timeout is cut, and the call's slots are freed — for a stream, and for a
// non-streamed answer too large for the connection's buffers.
func TestStalledReaderIsCutAfterTheWriteStallTimeout(t *testing.T) {
	chunk := `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` +
		strings.Repeat("a", 16<<10) + `"},"finish_reason":null}]}` + "\n\n"
	big := `{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("b", 8<<20) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}`
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.Contains(r.URL.Path, "chat") {
			http.NotFound(w, r)
			return
		}
		b := make([]byte, 512)
		n, _ := r.Body.Read(b)
		if !strings.Contains(string(b[:n]), `"stream":true`) {
			w.Header().Set("Content-Type", "application/json")
			_, _ = w.Write([]byte(big))
			return
		}
		streamUntilGone(w, r, chunk)
	}))
	t.Cleanup(up.Close)
	for _, stream := range []bool{true, false} {
		t.Run(fmt.Sprintf("stream=%v", stream), func(t *testing.T) {
			e := newEnv(t, func(c *Config, d *Deps) {
				c.WriteStallTimeout = time.Second
				d.Providers = append(d.Providers.(mapSource), provider.Config{Name: "endless", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
					Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
				opts := memory.Options{}
				d.Routing.Gate = &limit.Gate{Rate: memory.NewRateLimiter(opts), Concurrency: memory.NewConcurrency(opts), Budget: memory.NewBudget(opts)}
				d.Routing.Limits = staticLimits{{ID: "key:k", MaxParallel: 1}}
			})
			body := fmt.Sprintf(`{"model":"endless/gpt-4o-mini","stream":%v,"messages":[{"role":"user","content":"go on"}]}`, stream)
			if status := stallingClient(t, e, body); !strings.Contains(status, " 200 ") {
				t.Fatalf("stalling client: %q", status)
			}
			// The same key (max_parallel 1) asks again, past the stall timeout.
			time.Sleep(3 * time.Second)
			resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}`, nil)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("3 s after a 1 s write-stall timeout, the key's only slot is still held by a client that stopped reading: %d %.200s", resp.StatusCode, b)
			}
		})
	}
}

// TestQuietStreamOutlivesTheWriteStallTimeout: the stall bound is on
// writes, not on the stream: an upstream silent for longer than it (a
// model thinking) does not cut a client that reads.
func TestQuietStreamOutlivesTheWriteStallTimeout(t *testing.T) {
	ev := func(s string) string {
		return `data: {"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"` + s + `"},"finish_reason":null}]}` + "\n\n"
	}
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, s := range []string{"one ", "two ", "three"} {
			if i > 0 {
				time.Sleep(2500 * time.Millisecond)
			}
			_, _ = w.Write([]byte(ev(s)))
			w.(http.Flusher).Flush()
		}
		_, _ = w.Write([]byte("data: [DONE]\n\n"))
	}))
	t.Cleanup(up.Close)
	e := newEnv(t, func(c *Config, d *Deps) {
		c.WriteStallTimeout = time.Second
		d.Providers = append(d.Providers.(mapSource), provider.Config{Name: "quiet", Type: provider.TypeOpenAI, BaseURL: up.URL + "/v1",
			Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
	})
	for _, path := range []string{"/v1/chat/completions", "/v1/messages"} { // same dialect, translated
		resp, b := e.do(t, http.MethodPost, path, `{"model":"quiet/gpt-4o-mini","stream":true,"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, anthHdr)
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), "three") || strings.Contains(string(b), "error") {
			t.Fatalf("%s: status %d: %s", path, resp.StatusCode, b)
		}
	}
}

// streamUntilGone streams chunk, flushed, until the client goes or a write
// fails: an upstream that never ends.
func streamUntilGone(w http.ResponseWriter, r *http.Request, chunk string) {
	w.Header().Set("Content-Type", "text/event-stream")
	for r.Context().Err() == nil {
		if _, err := w.Write([]byte(chunk)); err != nil {
			return
		}
		w.(http.Flusher).Flush()
	}
}
