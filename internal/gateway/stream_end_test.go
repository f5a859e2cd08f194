package gateway

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/limit/memory"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// endingStreams are the events of a short answer in each dialect, the
// terminal one last.
var endingStreams = map[provider.Type][]string{
	provider.TypeOpenAI: {
		`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"role":"assistant","content":"Hello"},"finish_reason":null}]}`,
		`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":1,"total_tokens":10}}`,
		`data: [DONE]`},
	provider.TypeAnthropic: {
		"event: message_start\n" + `data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-sonnet-4-5","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":9,"output_tokens":1}}}`,
		"event: content_block_start\n" + `data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}`,
		"event: content_block_delta\n" + `data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}`,
		"event: content_block_stop\n" + `data: {"type":"content_block_stop","index":0}`,
		"event: message_delta\n" + `data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":1}}`,
		"event: message_stop\n" + `data: {"type":"message_stop"}`},
}

// endingUpstream is an upstream of type typ, provider "ending", whose
// terminal event leaves in the same segment as the chunked body's end, as
// a server that does not flush it on its own sends it: the relay reads
// both at once. After its first event it waits for next, when not nil
// (the client has that event).
func endingUpstream(t *testing.T, typ provider.Type, next <-chan struct{}) envOpt {
	t.Helper()
	events := endingStreams[typ]
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i, ev := range events {
			if i == 1 && next != nil {
				<-next
			}
			_, _ = io.WriteString(w, ev+"\n\n")
			if i < len(events)-1 { // the last goes with the terminator
				_ = rc.Flush()
			}
		}
	}))
	t.Cleanup(up.Close)
	base := up.URL
	if typ == provider.TypeOpenAI {
		base += "/v1"
	}
	return withProvider(provider.Config{Name: "ending", Type: typ, BaseURL: base,
		Credential: func(context.Context) (string, error) { return upstreamKey, nil }})
}

const (
	endingStream    = `{"model":"ending/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	endingMessages  = `{"model":"ending/claude-sonnet-4-5","stream":true,"max_tokens":16,"messages":[{"role":"user","content":"hi"}]}`
	anthropicHeader = "2023-06-01"
)

// writeLog keeps every write the gateway's server makes to its clients.
type writeLog struct {
	mu     sync.Mutex
	writes [][]byte
}

func (l *writeLog) all() [][]byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([][]byte(nil), l.writes...)
}

type loggedListener struct {
	net.Listener
	log *writeLog
}

func (l loggedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return loggedConn{c, l.log}, nil
}

type loggedConn struct {
	net.Conn
	log *writeLog
}

func (c loggedConn) Write(p []byte) (int, error) {
	c.log.mu.Lock()
	c.log.writes = append(c.log.writes, bytes.Clone(p))
	c.log.mu.Unlock()
	return c.Conn.Write(p)
}

// TestStreamEndLeavesWithTheResponseEnd: when the read that brings the
// terminal event also brings the upstream body's end, and nothing after
// the relay can block, the event is not flushed on its own: it leaves
// with the chunked body's terminator in one write — a syscall and a
// packet less per stream.
func TestStreamEndLeavesWithTheResponseEnd(t *testing.T) {
	for _, tc := range []struct {
		typ        provider.Type
		path, body string
		last       string // the terminal event as the client gets it
	}{
		{provider.TypeOpenAI, "/v1/chat/completions", endingStream, "data: [DONE]\n\n"},
		{provider.TypeAnthropic, "/v1/messages", endingMessages, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
	} {
		t.Run(string(tc.typ), func(t *testing.T) {
			next := make(chan struct{})
			e := newEnv(t, endingUpstream(t, tc.typ, next))
			log := &writeLog{}
			srv := httptest.NewUnstartedServer(e.gw.Config.Handler)
			srv.Listener = loggedListener{srv.Listener, log}
			srv.Start()
			t.Cleanup(srv.Close)

			req, err := http.NewRequest(http.MethodPost, srv.URL+tc.path, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer bw_clientkey")
			req.Header.Set("Anthropic-Version", anthropicHeader)
			resp, err := http.DefaultClient.Do(req) // returns once the first event has been flushed
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			close(next)
			b, err := io.ReadAll(resp.Body)
			if err != nil || resp.StatusCode != http.StatusOK || !bytes.HasSuffix(b, []byte(tc.last)) {
				t.Fatalf("status %d, body %q, err %v", resp.StatusCode, b, err)
			}
			if tc.typ == provider.TypeOpenAI && bytes.Contains(b, []byte(`"usage":{`)) {
				t.Errorf("the usage chunk the client did not ask for reached it: %q", b)
			}
			var last []byte
			for _, w := range log.all() {
				if bytes.Contains(w, []byte(tc.last)) {
					last = w
				}
			}
			if !bytes.HasSuffix(last, []byte(tc.last+"\r\n0\r\n\r\n")) {
				t.Errorf("the write carrying the terminal event is %q; want it to end the chunked body too", last)
			}
			if recs := e.usage.all(); len(recs) != 1 || recs[0].Status != http.StatusOK || recs[0].CompletionTokens != 1 {
				t.Errorf("usage rows %+v, want one 200 with the upstream's 1 completion token", recs)
			}
		})
	}
}

// readsDone streams endingStream to e and reports whether the client read
// the terminal event before release was closed; release is closed either
// way before it returns.
func readsDone(t *testing.T, e *env, hdr map[string]string, release chan struct{}) bool {
	t.Helper()
	return readsDoneBody(t, e, endingStream, hdr, release)
}

// readsDoneBody is readsDone with the request body given.
func readsDoneBody(t *testing.T, e *env, body string, hdr map[string]string, release chan struct{}) bool {
	t.Helper()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bw_clientkey")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	done := make(chan bool, 1)
	go func() { // headers held back with the end would block Do itself
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- false
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if sc.Text() == "data: [DONE]" {
				done <- true
				return
			}
		}
		done <- false
	}()
	select {
	case ok := <-done:
		return ok
	case <-time.After(5 * time.Second):
		return false
	}
}

// slowBudget settles only once release is closed: a remote budget store
// that is slow to answer.
type slowBudget struct {
	limit.Budget
	release chan struct{}
}

func (b slowBudget) Settle(ctx context.Context, res limit.BudgetReservation, micros int64) error {
	<-b.release
	return b.Budget.Settle(ctx, res, micros)
}

// TestStreamEndDoesNotWaitForLimitSettlement: a call with limits settles
// them after the relay, in a store that may be remote; the terminal event
// is flushed before, so a slow store never holds it from the client.
func TestStreamEndDoesNotWaitForLimitSettlement(t *testing.T) {
	release := make(chan struct{})
	gate := &limit.Gate{Rate: memory.NewRateLimiter(memory.Options{}), Concurrency: memory.NewConcurrency(memory.Options{}),
		Budget: slowBudget{memory.NewBudget(memory.Options{}), release}}
	e := newEnv(t, endingUpstream(t, provider.TypeOpenAI, nil), func(_ *Config, d *Deps) {
		d.Routing.Gate = gate
		d.Routing.Limits = staticLimits{{ID: "key:key_test", RPM: 100, Budgeted: true, BudgetMicros: 1e9, BudgetPeriod: limit.PeriodTotal}}
	})
	if !readsDone(t, e, nil, release) {
		t.Fatal("the client did not get [DONE] while the budget was settling")
	}
}

// slowIdempotency stores a completed answer only once release is closed.
type slowIdempotency struct {
	idempotency.Store
	release chan struct{}
}

func (s slowIdempotency) Complete(ctx context.Context, tk idempotency.Ticket, resp idempotency.Response) error {
	<-s.release
	return s.Store.Complete(ctx, tk, resp)
}

// TestStreamEndDoesNotWaitForTheIdempotencyStore: an idempotent stream is
// stored once it has ended; its terminal event reaches the client first.
func TestStreamEndDoesNotWaitForTheIdempotencyStore(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, endingUpstream(t, provider.TypeOpenAI, nil), func(_ *Config, d *Deps) {
		d.Routing.Idempotency = slowIdempotency{idempotency.NewMemory(idempotency.Options{}), release}
	})
	if !readsDone(t, e, map[string]string{"Idempotency-Key": "stream-end-1"}, release) {
		t.Fatal("the client did not get [DONE] while the answer was being stored")
	}
}

// backloggedSink is a usage log whose backlog is full: Record waits until
// release is closed.
type backloggedSink struct {
	sink
	release chan struct{}
}

func (s *backloggedSink) Backlogged() bool { return true }

func (s *backloggedSink) Record(ctx context.Context, r usage.Record) {
	<-s.release
	s.sink.Record(ctx, r)
}

// TestStreamEndDoesNotWaitForABackloggedUsageLog: a usage row waits for
// room when the log's backlog is full (the store is slow); the terminal
// event is flushed before it waits.
func TestStreamEndDoesNotWaitForABackloggedUsageLog(t *testing.T) {
	release := make(chan struct{})
	e := newEnv(t, endingUpstream(t, provider.TypeOpenAI, nil), func(_ *Config, d *Deps) {
		d.Usage = &backloggedSink{release: release}
	})
	if !readsDone(t, e, nil, release) {
		t.Fatal("the client did not get [DONE] while the usage row waited for room")
	}
}

// slowBreakers records an attempt's outcome only once release is closed:
// breaker state shared in a Redis that is slow to answer.
type slowBreakers struct {
	router.BreakerStore
	release chan struct{}
}

func (s slowBreakers) Record(ctx context.Context, name string, o router.Outcome, retryAfter time.Duration) error {
	<-s.release
	return s.BreakerStore.Record(ctx, name, o, retryAfter)
}

// TestStreamEndDoesNotWaitForTheRouter: a routed call's outcome is
// recorded after the relay, in a breaker store that may be remote; the
// terminal event is flushed before.
func TestStreamEndDoesNotWaitForTheRouter(t *testing.T) {
	release := make(chan struct{})
	mb, err := router.NewMemoryBreaker(router.DefaultBreakerConfig, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	rtr, err := router.New(router.Config{
		Deployments: []router.Deployment{{Name: "end", Provider: "ending", Model: "gpt-4o-mini"}},
		Aliases:     []router.Alias{{Name: "routed-end", Strategy: router.Fallback, Deployments: []string{"end"}}},
	}, router.Options{Breakers: slowBreakers{mb, release}})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, endingUpstream(t, provider.TypeOpenAI, nil), func(_ *Config, d *Deps) {
		d.Routing = Routing{Executor: &router.Executor{Router: rtr, Policy: router.DefaultPolicy}, Deadline: time.Minute}
	})
	body := strings.Replace(endingStream, "ending/gpt-4o-mini", "routed-end", 1)
	if !readsDoneBody(t, e, body, nil, release) {
		t.Fatal("the client did not get [DONE] while the router recorded the outcome")
	}
}
