package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/reqid"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// upstreamKey is the provider credential; no client may ever see it.
const upstreamKey = "sk-e2e-UPSTREAM-SECRET-0123456789abcdef"

// stack is one Bulwark (binary or in-process) in front of two fake upstreams.
type stack struct {
	base   string // Bulwark's root URL
	key    string // a virtual key with scope llm
	openai *upstreamtest.Server
	anth   *upstreamtest.Server
	logs   func() string // everything Bulwark logged
	mode   string
	// Binary mode only: the binary, its environment and its data dir.
	bin     string
	env     []string
	dataDir string
}

var (
	binOnce sync.Once
	binPath string
	binErr  error
)

// buildBulwark builds ./cmd/bulwark once per test run.
func buildBulwark(t *testing.T) (string, error) {
	binOnce.Do(func() {
		dir, err := os.MkdirTemp("", "bulwark-e2e-bin")
		if err != nil {
			binErr = err
			return
		}
		binPath = filepath.Join(dir, "bulwark")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/bulwark")
		cmd.Dir = ".."
		if out, err := cmd.CombinedOutput(); err != nil {
			binErr = fmt.Errorf("build bulwark: %v: %s", err, out)
		}
	})
	return binPath, binErr
}

// newStack starts fake upstreams and the real bulwark binary in front of
// them. A binary that cannot serve the gateway fails the test: the suite
// never quietly tests something else. E2E_INPROCESS=1 (for debugging a
// gateway change without the binary) mounts the gateway package in-process
// instead, and says so.
func newStack(t *testing.T) *stack {
	t.Helper()
	s := &stack{openai: upstreamtest.New(), anth: upstreamtest.New()}
	t.Cleanup(s.openai.Close)
	t.Cleanup(s.anth.Close)
	if os.Getenv("E2E_INPROCESS") != "" {
		t.Log("E2E_INPROCESS set: testing the in-process gateway, not the binary")
		s.startInProcess(t)
		s.mode = "in-process"
		return s
	}
	if err := s.startBinary(t); err != nil {
		t.Fatalf("bulwark binary: %v", err)
	}
	s.mode = "binary"
	return s
}

func freePort(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

func (s *stack) startBinary(t *testing.T) error {
	bin, err := buildBulwark(t)
	if err != nil {
		return err
	}
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "bulwark.yaml")
	cfg := fmt.Sprintf(`providers:
  - name: openai
    type: openai
    base_url: %s/v1
    api_key_env: FAKE_OPENAI_KEY
  - name: anthropic
    type: anthropic
    base_url: %s
    api_key_env: FAKE_ANTHROPIC_KEY
  - name: mock
    type: mock
models:
  fast: openai/gpt-4o-mini
  smart: anthropic/claude-sonnet-4-5
default_providers: {openai: openai, anthropic: anthropic}
`, s.openai.URL, s.anth.URL)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		return err
	}
	addr := freePort(t)
	env := append(os.Environ(), "BULWARK_DATA_DIR="+filepath.Join(dir, "data"), "BULWARK_LISTEN="+addr,
		"BULWARK_CONFIG="+cfgPath, "FAKE_OPENAI_KEY="+upstreamKey, "FAKE_ANTHROPIC_KEY="+upstreamKey)
	s.bin, s.env, s.dataDir = bin, env, filepath.Join(dir, "data")
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return nil, fmt.Errorf("bulwark %s: %v: %s", args[0], err, stderr.String())
		}
		return out, nil
	}
	if _, err := run("init"); err != nil {
		return err
	}
	out, err := run("keys", "create", "--name", "e2e", "--scopes", "llm", "--json")
	if err != nil {
		return err
	}
	var created struct {
		Key string `json:"key"`
	}
	if err := json.Unmarshal(out, &created); err != nil || created.Key == "" {
		return fmt.Errorf("keys create: no key in output")
	}
	s.key = created.Key
	base, logs, err := serveBinary(t, bin, env, addr)
	if err != nil {
		return err
	}
	s.base, s.logs = base, logs.String
	// Is the gateway wired? An unknown model must be the gateway's 404.
	req, _ := http.NewRequest(http.MethodPost, s.base+"/v1/chat/completions", strings.NewReader(`{"model":"nope/x"}`))
	req.Header.Set("Authorization", "Bearer "+s.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound || !bytes.Contains(b, []byte("model_not_found")) {
		return fmt.Errorf("serve answers POST /v1/chat/completions with %d %s", resp.StatusCode, bytes.TrimSpace(b))
	}
	return nil
}

// cliRunner runs bulwark commands with env, failing the test on an error
// and returning their standard output.
func cliRunner(t *testing.T, bin string, env []string) func(args ...string) []byte {
	return func(args ...string) []byte {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("bulwark %s: %v", strings.Join(args, " "), err)
		}
		return out
	}
}

// serveBinary runs `bin serve` with env until the test ends (interrupted,
// killed after 5 s), and waits until it answers on addr.
func serveBinary(t *testing.T, bin string, env []string, addr string) (base string, logs *syncBuf, err error) {
	_, base, logs, err = startServe(t, bin, env, addr)
	return base, logs, err
}

// startServe is serveBinary that also returns the started command.
func startServe(t *testing.T, bin string, env []string, addr string) (cmd *exec.Cmd, base string, logs *syncBuf, err error) {
	logs = &syncBuf{}
	cmd = exec.Command(bin, "serve")
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		return cmd, "", logs, err
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
		}
	})
	base = "http://" + addr
	if err := waitHealthy(base); err != nil {
		return cmd, base, logs, fmt.Errorf("%w; log: %s", err, logs.String())
	}
	return cmd, base, logs, nil
}

func waitHealthy(base string) error {
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(base + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("bulwark did not become healthy")
}

// staticSource serves a fixed provider list.
type staticSource []provider.Config

func (p staticSource) Provider(_ context.Context, _, name string) (provider.Config, bool, error) {
	for _, c := range p {
		if c.Name == name {
			return c, true, nil
		}
	}
	return provider.Config{}, false, nil
}

func (p staticSource) Providers(context.Context, string) ([]provider.Config, error) { return p, nil }

func (s *stack) startInProcess(t *testing.T) {
	var logs syncBuf
	cred := func(context.Context) (string, error) { return upstreamKey, nil }
	g, err := gateway.New(gateway.Config{
		Aliases:          map[string]string{"fast": "openai/gpt-4o-mini", "smart": "anthropic/claude-sonnet-4-5"},
		DefaultProviders: map[string]string{"openai": "openai", "anthropic": "anthropic"},
	}, gateway.Deps{Providers: staticSource{
		{Name: "openai", Type: provider.TypeOpenAI, BaseURL: s.openai.URL + "/v1", Credential: cred},
		{Name: "anthropic", Type: provider.TypeAnthropic, BaseURL: s.anth.URL, Credential: cred},
		{Name: "mock", Type: provider.TypeMock},
	}, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	s.key = "bw_e2e_virtual_key"
	id := &identity.Identity{KeyID: "key_e2e", Tenant: "default", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rid := reqid.New()
		w.Header().Set("X-Request-Id", rid)
		ctx := reqid.NewContext(r.Context(), rid)
		if r.Header.Get("Authorization") == "Bearer "+s.key || r.Header.Get("X-Api-Key") == s.key {
			ctx = identity.NewContext(ctx, id)
		}
		mux.ServeHTTP(w, r.WithContext(ctx))
	}))
	t.Cleanup(srv.Close)
	s.base, s.logs = srv.URL, logs.String
}

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// assertNoCredential fails if the provider credential appears anywhere.
func assertNoCredential(t *testing.T, where string, b []byte) {
	t.Helper()
	if bytes.Contains(b, []byte(upstreamKey)) {
		t.Errorf("provider credential leaked into %s", where)
	}
}
