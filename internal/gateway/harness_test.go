package gateway

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/reqid"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// upstreamKey is the provider credential the tests must never see leak.
const upstreamKey = "sk-upstream-SECRET-0123456789abcdef"

// mapSource is a ProviderSource over a fixed list.
type mapSource []provider.Config

func (m mapSource) Provider(_ context.Context, _ string, name string) (provider.Config, bool, error) {
	for _, p := range m {
		if p.Name == name {
			return p, true, nil
		}
	}
	return provider.Config{}, false, nil
}

func (m mapSource) Providers(context.Context, string) ([]provider.Config, error) { return m, nil }

// sink collects usage records.
type sink struct {
	mu   sync.Mutex
	recs []usage.Record
}

func (s *sink) Record(_ context.Context, r usage.Record) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recs = append(s.recs, r)
}

func (s *sink) all() []usage.Record {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]usage.Record(nil), s.recs...)
}

// env is a running gateway in front of a fake OpenAI and a fake Anthropic.
type env struct {
	gw       *httptest.Server
	openai   *upstreamtest.Server
	anth     *upstreamtest.Server
	usage    *sink
	logs     *syncBuffer
	identity *identity.Identity
}

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

type envOpt func(*Config, *Deps)

func newEnv(t *testing.T, opts ...envOpt) *env {
	t.Helper()
	e := &env{openai: upstreamtest.New(), anth: upstreamtest.New(), usage: &sink{}, logs: &syncBuffer{},
		identity: &identity.Identity{KeyID: "key_test", Tenant: "t1", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}}
	t.Cleanup(e.openai.Close)
	t.Cleanup(e.anth.Close)
	cred := func(context.Context) (string, error) { return upstreamKey, nil }
	src := mapSource{
		{Name: "openai", Type: provider.TypeOpenAI, BaseURL: e.openai.URL + "/v1", Credential: cred},
		{Name: "anthropic", Type: provider.TypeAnthropic, BaseURL: e.anth.URL, Credential: cred},
		{Name: "mock", Type: provider.TypeMock},
		{Name: "local", Type: provider.TypeOpenAI, BaseURL: e.openai.URL + "/v1", Models: []string{"llama3"}},
	}
	cfg := Config{
		Aliases:          map[string]string{"fast": "openai/gpt-4o-mini", "smart": "anthropic/claude-sonnet-4-5"},
		DefaultProviders: map[string]string{"openai": "openai", "anthropic": "anthropic"},
	}
	deps := Deps{Providers: src, Usage: e.usage, Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	g, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	g.Register(mux)
	// A tiny stand-in for the server's auth middleware: no bearer, no identity.
	auth := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := reqid.NewContext(r.Context(), "req_test123")
		if strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") || r.Header.Get("X-Api-Key") != "" {
			ctx = identity.NewContext(ctx, e.identity)
		}
		mux.ServeHTTP(w, r.WithContext(ctx))
	})
	e.gw = httptest.NewServer(auth)
	t.Cleanup(e.gw.Close)
	return e
}

// do sends body to path with the client headers of an SDK.
func (e *env) do(t *testing.T, method, path, body string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, e.gw.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer bw_clientkey")
	req.Header.Set("Content-Type", "application/json")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return resp, b
}

var anthHdr = map[string]string{"Anthropic-Version": "2023-06-01", "X-Api-Key": "bw_clientkey"}
