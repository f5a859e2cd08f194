package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// syncBuffer is a goroutine-safe bytes.Buffer for captured output.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// harness runs CLI commands in-process against one data directory, the way
// an operator would from a shell.
type harness struct {
	t      testing.TB
	dir    string
	env    map[string]string
	logs   *syncBuffer // every stderr of every command and of serve
	cancel context.CancelFunc
	done   chan int
	addr   string
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	dir := t.TempDir()
	return &harness{t: t, dir: filepath.Join(dir, "data"), logs: &syncBuffer{}, env: map[string]string{
		"BULWARK_DATA_DIR": filepath.Join(dir, "data"),
		"BULWARK_LISTEN":   "127.0.0.1:0",
	}}
}

func (h *harness) getenv(k string) string { return h.env[k] }

// run executes one command and returns its exit status and stdout.
func (h *harness) run(stdin string, args ...string) (int, string) {
	h.t.Helper()
	var out bytes.Buffer
	e := &Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: h.logs, Getenv: h.getenv}
	code := Run(context.Background(), e, args)
	return code, out.String()
}

// must runs a command that must succeed.
func (h *harness) must(args ...string) string {
	h.t.Helper()
	code, out := h.run("", args...)
	if code != 0 {
		h.t.Fatalf("bulwark %s: exit %d\nstderr: %s", strings.Join(args, " "), code, h.logs.String())
	}
	return out
}

type createdKey struct {
	ID  string `json:"id"`
	Key string `json:"key"`
}

func (h *harness) createKey(args ...string) createdKey {
	h.t.Helper()
	out := h.must(append([]string{"keys", "create", "--json"}, args...)...)
	var k createdKey
	if err := json.Unmarshal([]byte(out), &k); err != nil || k.Key == "" {
		h.t.Fatalf("keys create output %q: %v", out, err)
	}
	return k
}

var listenRe = regexp.MustCompile(`"msg":"listening","addr":"([^"]+)"`)

// serve starts `bulwark serve` in-process and waits until it listens.
func (h *harness) serve() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel, h.done = cancel, make(chan int, 1)
	e := &Env{Stdin: strings.NewReader(""), Stdout: h.logs, Stderr: h.logs, Getenv: h.getenv}
	go func() { h.done <- Run(ctx, e, []string{"serve"}) }()
	deadline := time.Now().Add(10 * time.Second)
	fixed := h.env["BULWARK_LISTEN"]
	if strings.HasSuffix(fixed, ":0") {
		fixed = "" // learnt from the "listening" line
	}
	for time.Now().Before(deadline) {
		if fixed != "" {
			// A fixed port (a run logging below info has no "listening" line).
			if c, err := net.Dial("tcp", fixed); err == nil {
				_ = c.Close()
				h.addr = "http://" + fixed
				h.t.Cleanup(h.stop)
				return
			}
		} else if m := listenRe.FindStringSubmatch(h.logs.String()); m != nil {
			h.addr = "http://" + m[1]
			h.t.Cleanup(h.stop)
			return
		}
		select {
		case code := <-h.done:
			h.t.Fatalf("serve exited %d: %s", code, h.logs.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	h.t.Fatalf("serve did not start: %s", h.logs.String())
}

func (h *harness) stop() {
	if h.cancel != nil {
		h.cancel()
		<-h.done
		h.cancel = nil
	}
}

// get calls the running server with an Authorization header.
func (h *harness) get(path, key string) *http.Response {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodGet, h.addr+path, nil)
	if err != nil {
		h.t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	return resp
}

func (h *harness) status(path, key string) int {
	h.t.Helper()
	resp := h.get(path, key)
	resp.Body.Close()
	return resp.StatusCode
}

// postStatus sends body to path on the running server with the Anthropic
// headers an SDK sends (key as x-api-key), reads the answer to its end and
// returns its status.
func (h *harness) postStatus(path, key, body string) int {
	h.t.Helper()
	req, err := http.NewRequest(http.MethodPost, h.addr+path, strings.NewReader(body))
	if err != nil {
		h.t.Fatal(err)
	}
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		h.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// eventually polls cond for up to d.
func eventually(t *testing.T, d time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < d {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s did not happen within %v", what, d)
	return 0
}

// dataFiles returns the contents of every file in the data directory
// (database, WAL, key files).
func (h *harness) dataFiles() map[string][]byte {
	h.t.Helper()
	out := map[string][]byte{}
	_ = filepath.WalkDir(h.dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			b, rerr := os.ReadFile(p)
			if rerr == nil {
				out[p] = b
			}
		}
		return nil
	})
	return out
}

// useConfig writes yaml as the configuration file the harness's commands
// and server read (BULWARK_CONFIG).
// useFakeUpstream starts the fake OpenAI/Anthropic upstream for the test
// and configures providers oa (openai) and an (anthropic) on it.
func (h *harness) useFakeUpstream() *upstreamtest.Server {
	h.t.Helper()
	up := upstreamtest.New()
	h.t.Cleanup(up.Close)
	h.t.Setenv("FAKE_UPSTREAM_KEY", "sk-upstream-fake-test")
	h.useConfig(fmt.Sprintf("providers:\n  - {name: oa, type: openai, base_url: %s/v1, api_key_env: FAKE_UPSTREAM_KEY}\n"+
		"  - {name: an, type: anthropic, base_url: %s, api_key_env: FAKE_UPSTREAM_KEY}\n", up.URL, up.URL))
	return up
}

func (h *harness) useConfig(yaml string) {
	h.t.Helper()
	cfg := filepath.Join(h.t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte(yaml), 0o600); err != nil {
		h.t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = cfg
}
