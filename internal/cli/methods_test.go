package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// methodCase is one request to a running `bulwark serve` and what it must
// answer. route names the registered path the case exercises (as it was
// registered, wildcards included) when the case is the 405 of that path.
type methodCase struct {
	name    string
	method  string
	path    string
	route   string            // registered path this 405 case covers ("" for other cases)
	header  map[string]string // extra request headers
	as      string            // "" (no credential), "admin" (admin:global), "tenant" (admin), "llm"
	status  int
	allow   string // expected Allow header ("" = must be absent)
	dialect string // "openai", "anthropic", "gemini", "oauth" or "" (body not checked)
}

// methodCases covers, for every route `bulwark serve` registers, a method
// the route does not serve (TestMethodTableCoversEveryRoute checks that
// against the server's own list), plus the cases around it: admin paths
// answer 401/403 before 405 or 404, HEAD works wherever GET does, and the
// CORS preflight is untouched.
var methodCases = []methodCase{
	{name: "chat GET", method: "GET", path: "/v1/chat/completions", route: "/v1/chat/completions", status: 405, allow: "POST", dialect: "openai"},
	{name: "embeddings PUT", method: "PUT", path: "/v1/embeddings", route: "/v1/embeddings", status: 405, allow: "POST", dialect: "openai"},
	{name: "models DELETE", method: "DELETE", path: "/v1/models", route: "/v1/models", status: 405, allow: "GET, HEAD", dialect: "openai"},
	{name: "models DELETE anthropic", method: "DELETE", path: "/v1/models", header: map[string]string{"anthropic-version": "2023-06-01"}, status: 405, allow: "GET, HEAD", dialect: "anthropic"},
	{name: "messages GET", method: "GET", path: "/v1/messages", route: "/v1/messages", status: 405, allow: "POST", dialect: "anthropic"},
	{name: "count_tokens GET", method: "GET", path: "/v1/messages/count_tokens", route: "/v1/messages/count_tokens", status: 405, allow: "POST", dialect: "anthropic"},
	{name: "gemini GET", method: "GET", path: "/v1beta/models/gemini-2.0-flash:generateContent", route: "/v1beta/models/", status: 405, allow: "POST", dialect: "gemini"},
	{name: "chat GET with a valid key", method: "GET", path: "/v1/chat/completions", as: "llm", status: 405, allow: "POST", dialect: "openai"},
	{name: "mcp PUT", method: "PUT", path: "/mcp", route: "/mcp", status: 405, allow: "DELETE, GET, POST", dialect: "oauth"},
	{name: "mcp HEAD", method: "HEAD", path: "/mcp", status: 405, allow: "DELETE, GET, POST"},
	{name: "resource metadata POST", method: "POST", path: "/.well-known/oauth-protected-resource", route: "/.well-known/oauth-protected-resource", status: 405, allow: "GET, HEAD", dialect: "oauth"},
	{name: "resource metadata mcp POST", method: "POST", path: "/.well-known/oauth-protected-resource/mcp", route: "/.well-known/oauth-protected-resource/mcp", status: 405, allow: "GET, HEAD", dialect: "oauth"},
	{name: "as metadata POST", method: "POST", path: "/.well-known/oauth-authorization-server", route: "/.well-known/oauth-authorization-server", status: 405, allow: "GET, HEAD", dialect: "oauth"},
	{name: "token GET", method: "GET", path: "/oauth/token", route: "/oauth/token", status: 405, allow: "POST", dialect: "oauth"},
	{name: "healthz POST", method: "POST", path: "/healthz", route: "/healthz", status: 405, allow: "GET, HEAD", dialect: "openai"},
	{name: "readyz POST", method: "POST", path: "/readyz", route: "/readyz", status: 405, allow: "GET, HEAD", dialect: "openai"},

	// Private areas: nothing about a route before authentication and scope.
	{name: "metrics POST anonymous", method: "POST", path: "/metrics", status: 401, dialect: "openai"},
	{name: "metrics POST tenant admin", method: "POST", path: "/metrics", as: "tenant", status: 403, dialect: "openai"},
	{name: "metrics POST", method: "POST", path: "/metrics", route: "/metrics", as: "admin", status: 405, allow: "GET, HEAD", dialect: "openai"},
	{name: "admin keys DELETE anonymous", method: "DELETE", path: "/api/admin/keys", status: 401, dialect: "openai"},
	{name: "admin keys DELETE llm key", method: "DELETE", path: "/api/admin/keys", as: "llm", status: 403, dialect: "openai"},
	{name: "admin keys DELETE", method: "DELETE", path: "/api/admin/keys", route: "/api/admin/keys", as: "admin", status: 405, allow: "GET, HEAD, POST", dialect: "openai"},
	{name: "admin key PUT", method: "PUT", path: "/api/admin/keys/bwk_x", route: "/api/admin/keys/{id}", as: "admin", status: 405, allow: "DELETE, GET, HEAD, PATCH", dialect: "openai"},
	{name: "admin key PUT anonymous", method: "PUT", path: "/api/admin/keys/bwk_x", status: 401, dialect: "openai"},
	{name: "admin revoke GET", method: "GET", path: "/api/admin/keys/bwk_x/revoke", route: "/api/admin/keys/{id}/revoke", as: "admin", status: 405, allow: "POST", dialect: "openai"},
	{name: "admin rotate GET", method: "GET", path: "/api/admin/keys/bwk_x/rotate", route: "/api/admin/keys/{id}/rotate", as: "admin", status: 405, allow: "POST", dialect: "openai"},
	{name: "admin tenants DELETE", method: "DELETE", path: "/api/admin/tenants", route: "/api/admin/tenants", as: "admin", status: 405, allow: "GET, HEAD, POST", dialect: "openai"},
	{name: "admin providers PATCH", method: "PATCH", path: "/api/admin/providers", route: "/api/admin/providers", as: "admin", status: 405, allow: "GET, HEAD, POST", dialect: "openai"},
	{name: "admin provider GET", method: "GET", path: "/api/admin/providers/p1", route: "/api/admin/providers/{name}", as: "admin", status: 405, allow: "DELETE", dialect: "openai"},
	{name: "admin audit head POST", method: "POST", path: "/api/admin/audit/head", route: "/api/admin/audit/head", as: "admin", status: 405, allow: "GET, HEAD", dialect: "openai"},
	{name: "admin health POST", method: "POST", path: "/api/admin/health", route: "/api/admin/health", as: "admin", status: 405, allow: "GET, HEAD", dialect: "openai"},
	{name: "admin unknown anonymous", method: "GET", path: "/api/admin/nope", status: 401, dialect: "openai"},
	{name: "admin unknown", method: "GET", path: "/api/admin/nope", as: "admin", status: 404, dialect: "openai"},

	// HEAD is served wherever GET is (authentication still first).
	{name: "healthz HEAD", method: "HEAD", path: "/healthz", status: 200},
	{name: "models HEAD anonymous", method: "HEAD", path: "/v1/models", status: 401},
	{name: "admin keys HEAD anonymous", method: "HEAD", path: "/api/admin/keys", status: 401},
	{name: "admin keys HEAD", method: "HEAD", path: "/api/admin/keys", as: "admin", status: 200},

	// Unknown paths stay 404; the CORS preflight is answered as before.
	{name: "unknown v1 path", method: "GET", path: "/v1/nope", status: 404, dialect: "openai"},
	{name: "unknown anthropic path", method: "GET", path: "/v1/messages/nope", status: 404, dialect: "anthropic"},
	{name: "preflight allowed origin", method: "OPTIONS", path: "/v1/chat/completions",
		header: map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}, status: 204},
	{name: "preflight foreign origin", method: "OPTIONS", path: "/v1/chat/completions",
		header: map[string]string{"Origin": "https://evil.example", "Access-Control-Request-Method": "POST"}, status: 403},
	{name: "plain OPTIONS", method: "OPTIONS", path: "/v1/chat/completions", status: 405, allow: "POST", dialect: "openai"},
}

// methodServer starts `bulwark serve` at debug level (its route table is
// logged) with the keys the cases use.
func methodServer(t *testing.T) (*harness, map[string]string) {
	t.Helper()
	h := newHarness(t)
	yaml := "log: {level: debug}\nauth: {failures_per_minute: 1000}\ncors: {allowed_origins: [\"https://app.example\"]}\n"
	h.useConfig(yaml)
	keys := map[string]string{
		"admin":  h.createKey("--name", "root", "--scopes", "admin:global").Key,
		"tenant": h.createKey("--name", "tenant-admin", "--scopes", "admin").Key,
		"llm":    h.createKey("--name", "app", "--scopes", "llm").Key,
	}
	h.serve()
	return h, keys
}

// TestWrongMethodAnswers405 drives every case through the real serve stack.
func TestWrongMethodAnswers405(t *testing.T) {
	h, keys := methodServer(t)
	for _, tt := range methodCases {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequest(tt.method, h.addr+tt.path, nil)
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			if tt.as != "" {
				req.Header.Set("Authorization", "Bearer "+keys[tt.as])
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if resp.StatusCode != tt.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.status, body)
			}
			if got := resp.Header.Get("Allow"); got != tt.allow {
				t.Errorf("Allow %q, want %q", got, tt.allow)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no X-Request-Id")
			}
			if tt.dialect != "" {
				checkErrorShape(t, tt.dialect, tt.status, body)
			}
		})
	}
}

// checkErrorShape asserts body is an error in dialect d, the shape the
// official SDKs of that API parse.
func checkErrorShape(t *testing.T, d string, status int, body []byte) {
	t.Helper()
	var v struct {
		Type  string          `json:"type"`
		Error json.RawMessage `json:"error"`
		Desc  string          `json:"error_description"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatalf("body is not JSON: %s", body)
	}
	var inner struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    any    `json:"code"`
		Status  string `json:"status"`
	}
	if d != "oauth" {
		if err := json.Unmarshal(v.Error, &inner); err != nil || inner.Message == "" {
			t.Fatalf("%s error without an error object and message: %s", d, body)
		}
	}
	ok := false
	switch d {
	case "openai":
		ok = v.Type == "" && inner.Type != "" && inner.Code != nil
	case "anthropic":
		ok = v.Type == "error" && inner.Type != ""
	case "gemini":
		ok = inner.Code == float64(status) && inner.Status != ""
	case "oauth":
		var code string
		ok = json.Unmarshal(v.Error, &code) == nil && code != "" && v.Desc != ""
	}
	if !ok {
		t.Errorf("body is not in the %s shape: %s", d, body)
	}
	if status == http.StatusMethodNotAllowed && !strings.Contains(string(body), "method_not_allowed") && d != "anthropic" && d != "gemini" {
		t.Errorf("405 body without the method_not_allowed code: %s", body)
	}
}

var routesLogRe = regexp.MustCompile(`"msg":"routes","patterns":(\[[^\]]*\]),"refused":(\[[^\]]*\]|null)`)

// TestMethodTableCoversEveryRoute walks the route table `bulwark serve`
// logs at startup: every registered path must have a 405 case above, and
// the case's Allow must list exactly the methods registered for the path
// (plus HEAD with GET, unless the server refuses it there). A route added
// without a case fails here.
func TestMethodTableCoversEveryRoute(t *testing.T) {
	h, _ := methodServer(t)
	m := routesLogRe.FindStringSubmatch(h.logs.String())
	if m == nil {
		t.Fatal("serve logged no route table")
	}
	var patterns, refused []string
	if err := json.Unmarshal([]byte(m[1]), &patterns); err != nil || len(patterns) < 20 {
		t.Fatalf("route table %s: %v", m[1], err)
	}
	if err := json.Unmarshal([]byte(m[2]), &refused); err != nil {
		t.Fatalf("refused routes %s: %v", m[2], err)
	}
	methods := map[string][]string{}
	for _, p := range patterns {
		method, path, ok := strings.Cut(p, " ")
		if !ok {
			t.Errorf("route %q serves every method: register each method it serves", p)
			continue
		}
		methods[path] = append(methods[path], method)
		if method == http.MethodGet && !slices.Contains(refused, http.MethodHead+" "+path) {
			methods[path] = append(methods[path], http.MethodHead)
		}
	}
	covered := map[string]methodCase{}
	for _, c := range methodCases {
		if c.route != "" {
			covered[c.route] = c
		}
	}
	for path, ms := range methods {
		c, ok := covered[path]
		if !ok {
			t.Errorf("route %s (%v) has no 405 case in methodCases", path, ms)
			continue
		}
		slices.Sort(ms)
		ms = slices.Compact(ms)
		if want := strings.Join(ms, ", "); c.allow != want {
			t.Errorf("case %q: Allow %q, but %s registers %q", c.name, c.allow, path, want)
		}
		if slices.Contains(ms, c.method) {
			t.Errorf("case %q: %s is served on %s; pick a method it does not serve", c.name, c.method, path)
		}
	}
	for route := range covered {
		if _, ok := methods[route]; !ok {
			t.Errorf("case for %s, which serve does not register", route)
		}
	}
}
