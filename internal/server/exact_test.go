package server

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
)

// exactTestPatterns mirror the server's mix: exact POST routes beside
// method-less, GET, subtree and wildcard ones on nearby paths.
var exactTestPatterns = []string{
	"POST /v1/chat/completions", "POST /v1/messages", "POST /v1/messages/count_tokens", "GET /v1/models",
	"POST /v1beta/models/{model}", "/mcp", "POST /api/admin/keys", "/api/admin/", "POST /v1/embeddings/",
	"POST /x/{$}", "GET /healthz",
}

// namedHandler lets a test see which registration served a request.
type namedHandler string

func (namedHandler) ServeHTTP(http.ResponseWriter, *http.Request) {}

func newExactPair() (*exactRoutes, *http.ServeMux) {
	mux := http.NewServeMux()
	e := &exactRoutes{next: mux}
	for _, p := range exactTestPatterns {
		mux.Handle(p, namedHandler(p))
		e.add(p, namedHandler(p))
	}
	return e, mux
}

// checkSameRoute fails when the fast path would take a request that the
// mux routes elsewhere, or routes it under another pattern.
func checkSameRoute(t *testing.T, e *exactRoutes, mux *http.ServeMux, method, path, rawPath string) (fast bool) {
	t.Helper()
	r := &http.Request{Method: method, URL: &url.URL{Path: path, RawPath: rawPath}, Host: "bulwark.test", Header: http.Header{}}
	if method != http.MethodPost || rawPath != "" {
		return false
	}
	rt, ok := e.post[path]
	if !ok {
		return false
	}
	h, pattern := mux.Handler(r)
	if pattern != rt.pattern || h != rt.h {
		t.Fatalf("%s %q (raw %q): fast path %q, mux %q", method, path, rawPath, rt.pattern, pattern)
	}
	return true
}

func TestExactRoutesAgreeWithMux(t *testing.T) {
	e, mux := newExactPair()
	tests := []struct {
		method, path, raw string
		fast              bool
	}{
		{"POST", "/v1/chat/completions", "", true},
		{"POST", "/v1/messages/count_tokens", "", true},
		{"GET", "/v1/chat/completions", "", false},   // 405 comes from the mux
		{"POST", "/v1/chat/completions/", "", false}, // not registered
		{"POST", "/v1//chat/completions", "", false}, // the mux cleans and redirects
		{"POST", "/v1/chat/completions", "/v1/chat%2Fcompletions", false},
		{"POST", "/v1/./chat/completions", "", false},
		{"POST", "/v1beta/models/gemini", "", false}, // wildcard pattern
		{"POST", "/v1/embeddings/", "", false},       // subtree pattern
		{"POST", "/x/", "", false},                   // {$} pattern
		{"POST", "/api/admin/keys", "", true},
	}
	for _, tt := range tests {
		if got := checkSameRoute(t, e, mux, tt.method, tt.path, tt.raw); got != tt.fast {
			t.Errorf("%s %s: fast path %v, want %v", tt.method, tt.path, got, tt.fast)
		}
	}
	// Served through ServeHTTP, a fast-path request carries the pattern as
	// the mux would set it.
	var seen string
	e.post["/v1/messages"] = exactRoute{"POST /v1/messages", http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { seen = r.Pattern })}
	e.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodPost, "/v1/messages", nil))
	if seen != "POST /v1/messages" {
		t.Errorf("pattern %q", seen)
	}
}

func FuzzExactRoutesAgreeWithMux(f *testing.F) {
	f.Add("POST", "/v1/chat/completions", "")
	f.Add("POST", "/v1//messages", "")
	f.Add("POST", "/v1/messages", "/v1/%6Dessages")
	f.Add("post", "/v1/messages", "")
	e, mux := newExactPair()
	f.Fuzz(func(t *testing.T, method, path, raw string) {
		checkSameRoute(t, e, mux, method, path, raw)
	})
}

func TestExactPath(t *testing.T) {
	for p, want := range map[string]bool{
		"/v1/chat/completions": true, "/a": true, "/": false, "": false, "a/b": false, "/a/": false,
		"/a//b": false, "/a/./b": false, "/a/../b": false, "/{x}": false, "/a/{$}": false, "/a%2Fb": false,
	} {
		if got := exactPath(p); got != want {
			t.Errorf("exactPath(%q) = %v, want %v", p, got, want)
		}
	}
}
