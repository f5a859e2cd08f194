package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// These tests drive the limits around the tool server through a running
// `bulwark serve`: per-tool rate limits, the lockout in front of the OAuth
// token endpoint, and the startup checks of the sandbox configuration.

// serveRefuses runs `bulwark serve` with the tools section toolsYAML and
// returns its exit status and output; serve must not start listening.
func serveRefuses(t *testing.T, toolsYAML string) (int, string) {
	t.Helper()
	h := toolsServer(t, toolsYAML)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	e := &Env{Stdin: strings.NewReader(""), Stdout: h.logs, Stderr: h.logs, Getenv: h.getenv}
	code := Run(ctx, e, []string{"serve"})
	out := h.logs.String()
	if listenRe.FindString(out) != "" {
		t.Fatalf("serve listened with a configuration it must refuse:\n%s", out)
	}
	return code, out
}

// linesContaining returns the output lines that contain s.
func linesContaining(out, s string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.Contains(l, s) {
			got = append(got, l)
		}
	}
	return got
}

func TestServeRefusesABrokenSandboxConfiguration(t *testing.T) {
	ws := reachableDir(t, 0o711)
	missing := filepath.Join(t.TempDir(), "no-such-bwrap")
	tests := []struct {
		name     string
		yaml     string
		wantLine string // the one line that explains the refusal
		wantToo  string
	}{
		{"exec with a bwrap that does not exist", "  exec:\n    enabled: true\n    commands: [{path: /bin/echo}]\n  sandbox: {bwrap_path: " + missing + "}\n",
			missing, "tools.exec is enabled but the bubblewrap sandbox cannot be created"},
		{"git with a bwrap that does not exist", "  git: {enabled: true}\n  sandbox: {bwrap_path: " + missing + "}\n",
			missing, "tools.git is enabled but the bubblewrap sandbox cannot be created"},
		{"prlimit that does not exist", "  exec:\n    enabled: true\n    commands: [{path: /bin/echo}]\n  sandbox: {prlimit_path: " + missing + "}\n",
			missing, "cannot be created"},
		{"relative bwrap path", "  exec:\n    enabled: true\n    commands: [{path: /bin/echo}]\n  sandbox: {bwrap_path: bwrap}\n",
			"tools.sandbox.bwrap_path", "must be an absolute path"},
		{"negative uid", "  exec:\n    enabled: true\n    commands: [{path: /bin/echo}]\n  sandbox: {run_as_uid: -1}\n",
			"tools.sandbox.run_as_uid", "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := serveRefuses(t, "  workspace_root: "+ws+"\n"+tt.yaml)
			lines := linesContaining(out, tt.wantLine)
			if code == 0 || len(lines) != 1 || !strings.Contains(lines[0], tt.wantToo) {
				t.Fatalf("exit %d; want one line naming %q with %q, output:\n%s", code, tt.wantLine, tt.wantToo, out)
			}
		})
	}
}

func TestServeRefusesBadPerToolLimits(t *testing.T) {
	tests := []struct {
		name, yaml, want string
	}{
		{"unknown tool", "  time: {enabled: true}\n  limits: {time_nwo: 5}\n", "tools.limits.time_nwo: no such tool"},
		{"zero", "  time: {enabled: true}\n  limits: {time_now: 0}\n", "tools.limits.time_now: must be a positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out := serveRefuses(t, tt.yaml)
			if code == 0 || !strings.Contains(out, tt.want) {
				t.Fatalf("exit %d, want %q in:\n%s", code, tt.want, out)
			}
		})
	}
}

func TestPerToolRateLimitThroughServe(t *testing.T) {
	t.Setenv("BULWARK_TEST_ENV_VALUE", "visible") // env_get reads the process environment
	h := toolsServer(t, `  calls_per_minute: 100
  limits: {time_now: 2}
  time: {enabled: true}
  env: {enabled: true, allow: [BULWARK_TEST_ENV_VALUE]}
`)
	agent := h.createKey("--name", "agent", "--scopes", "tools:time,tools:env")
	other := h.createKey("--name", "other", "--scopes", "tools:time")
	h.serve()
	cs, err := mcpConnect(t, h.addr, agent.Key)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		name    string
		tool    string
		args    map[string]any
		wantErr bool
		want    string
	}{
		{"time_now 1/2", "time_now", map[string]any{}, false, ""},
		{"time_now 2/2", "time_now", map[string]any{}, false, ""},
		{"time_now over its limit", "time_now", map[string]any{}, true, "rate limit for time_now exceeded; retry in"},
		{"env_get still works", "env_get", map[string]any{"name": "BULWARK_TEST_ENV_VALUE"}, false, "visible"},
		{"env_get again", "env_get", map[string]any{"name": "BULWARK_TEST_ENV_VALUE"}, false, "visible"},
		{"env_get a third time (shared limit 100)", "env_get", map[string]any{"name": "BULWARK_TEST_ENV_VALUE"}, false, "visible"},
		{"time_now still limited", "time_now", map[string]any{}, true, "rate limit for time_now exceeded"},
	}
	for _, tt := range steps {
		t.Run(tt.name, func(t *testing.T) {
			text, isErr := call(t, cs, tt.tool, tt.args)
			if isErr != tt.wantErr || !strings.Contains(text, tt.want) {
				t.Fatalf("%s = %q (error %v), want %q (error %v)", tt.tool, text, isErr, tt.want, tt.wantErr)
			}
		})
	}
	t.Run("another key has its own allowance", func(t *testing.T) {
		cs2, err := mcpConnect(t, h.addr, other.Key)
		if err != nil {
			t.Fatal(err)
		}
		if text, isErr := call(t, cs2, "time_now", map[string]any{}); isErr {
			t.Fatalf("time_now for another key: %q", text)
		}
	})
}

// tokenRequest posts a client-credentials request with secret and returns
// the status, the Retry-After header and the error code.
func tokenRequest(t *testing.T, h *harness, clientID, secret string) (int, string, string) {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "resource": {h.addr + "/mcp"}}
	resp, err := http.PostForm(h.addr+"/oauth/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Error       string `json:"error"`
		AccessToken string `json:"access_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode == 200 && !strings.HasPrefix(body.AccessToken, "bwat_") {
		t.Fatalf("200 without an access token")
	}
	return resp.StatusCode, resp.Header.Get("Retry-After"), body.Error
}

func TestTokenEndpointLockoutThroughServe(t *testing.T) {
	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("auth: {failures_per_minute: 5}\ntools:\n  time: {enabled: true}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = cfg
	agent := h.createKey("--name", "agent", "--scopes", "tools:time")
	h.serve()

	wrong := agent.Key[:len(agent.Key)-4] + "AAAA" // well-formed, wrong
	statuses := map[int]int{}
	var retryAfter string
	for range 40 { // a brute-force burst with a mix of junk and key-shaped guesses
		for _, secret := range []string{wrong, "hunter2"} {
			status, retry, _ := tokenRequest(t, h, "", secret)
			statuses[status]++
			if status == http.StatusTooManyRequests {
				retryAfter = retry
			}
		}
	}
	if statuses[http.StatusUnauthorized] != 5 || statuses[http.StatusTooManyRequests] != 75 {
		t.Fatalf("80 bad token requests answered %v, want 5×401 then 429s", statuses)
	}
	if n, err := strconv.Atoi(retryAfter); err != nil || n < 1 {
		t.Fatalf("429 without a usable Retry-After: %q", retryAfter)
	}
	t.Run("the valid key still gets a token from the locked-out address", func(t *testing.T) {
		if status, _, code := tokenRequest(t, h, agent.ID, agent.Key); status != 200 {
			t.Fatalf("valid client: %d %s", status, code)
		}
	})
	t.Run("and still reaches /mcp", func(t *testing.T) {
		cs, err := mcpConnect(t, h.addr, agent.Key)
		if err != nil {
			t.Fatal(err)
		}
		if text, isErr := call(t, cs, "time_now", map[string]any{}); isErr {
			t.Fatalf("time_now: %q", text)
		}
	})
	t.Run("the burst left two audit entries, not eighty", func(t *testing.T) {
		out := h.must("audit", "export", "--json")
		if strings.Contains(out, wrong) || strings.Contains(out, "hunter2") {
			t.Fatal("a guessed secret reached the audit log")
		}
		denied, issued := 0, 0
		sc := bufio.NewScanner(strings.NewReader(out))
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e struct {
				Action, Outcome string
				Details         map[string]string
			}
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Fatal(err)
			}
			if e.Action != "oauth.token" {
				continue
			}
			switch e.Outcome {
			case "denied":
				denied++
				if e.Details["client"] != "127.0.0.1" {
					t.Fatalf("denial does not name the client: %+v", e)
				}
			case "success":
				issued++
			}
		}
		if denied != 2 || issued != 1 {
			t.Fatalf("audited %d denials and %d issuances, want 2 (first failure, lockout) and 1", denied, issued)
		}
	})
}
