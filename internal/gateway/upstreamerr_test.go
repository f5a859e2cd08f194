package gateway

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

func TestCredentialNeverLeaks(t *testing.T) {
	e := newEnv(t)
	leaky := `{"error":{"message":"Incorrect API key provided: ` + upstreamKey + `. Find your key at platform","type":"invalid_request_error"}}`
	anthLeaky := `{"type":"error","error":{"type":"invalid_request_error","message":"bad key ` + upstreamKey + `"}}`
	var all []byte
	reqs := []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"fast","messages":[]}`},
		{"/v1/chat/completions", `{"model":"fast","stream":true,"messages":[]}`},
		{"/v1/messages", `{"model":"smart","max_tokens":3,"messages":[]}`},
		{"/v1/messages", `{"model":"smart","stream":true,"max_tokens":3,"messages":[]}`},
		{"/v1/models", ""},
	}
	faults := []upstreamtest.Fault{{}, {Kind: upstreamtest.Status500, Body: leaky}, {Kind: upstreamtest.Status429, Body: leaky},
		{Kind: upstreamtest.CutStream}, {Kind: upstreamtest.Status500, Body: anthLeaky}}
	for _, f := range faults {
		for _, rq := range reqs {
			e.openai.SetFault(f)
			e.anth.SetFault(f)
			method := http.MethodPost
			if rq.body == "" {
				method = http.MethodGet
			}
			resp, b := e.do(t, method, rq.path, rq.body, anthHdr)
			all = append(all, b...)
			for k, v := range resp.Header {
				all = append(all, []byte(k+": "+strings.Join(v, ",")+"\n")...)
			}
		}
	}
	for _, hay := range []struct {
		name string
		b    []byte
	}{{"client responses", all}, {"server log", []byte(e.logs.String())}} {
		if bytes.Contains(hay.b, []byte(upstreamKey)) || bytes.Contains(hay.b, []byte("SECRET-0123")) {
			t.Errorf("provider credential leaked into %s", hay.name)
		}
	}
	if !strings.Contains(e.logs.String(), "request_id=req_test123") {
		t.Error("server log lacks the request id that ties errors to causes")
	}
	for _, r := range e.openai.Requests() {
		if r.Header.Get("Authorization") != "Bearer "+upstreamKey {
			t.Errorf("openai upstream got Authorization %q", r.Header.Get("Authorization"))
		}
	}
}

func TestScrubUpstreamMessages(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"openai key echo", "Incorrect API key provided: sk-proj-abc123. You can find your key", "Incorrect API key provided: [redacted] You can find your key"},
		{"long token", "token a1b2c3d4e5f6g7h8i9j0k1l2 invalid", "token [redacted] invalid"},
		{"plain words pass", "max_tokens: 99999 > 8192, which is the maximum", "max_tokens: 99999 > 8192, which is the maximum"},
		{"truncated", strings.Repeat("word ", 100), strings.TrimSpace(strings.Repeat("word ", 60))},
		// The credential sent is cut whatever its shape: plain words pass
		// every shape test.
		{"the credential sent, however it looks", "model x is not available for key correct-horse-battery-staple.", "model x is not available for key [redacted]."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := scrub(tt.in, "correct-horse-battery-staple"); got != tt.want {
				t.Errorf("scrub = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUpstream400MessageIsPassedScrubbed(t *testing.T) {
	e := newEnv(t)
	resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", `{"model":"mock/error-400","messages":[]}`, nil)
	if resp.StatusCode != 400 || gjson.GetBytes(b, "error.code").String() != "upstream_invalid_request" ||
		!strings.Contains(gjson.GetBytes(b, "error.message").String(), "injected error 400") {
		t.Fatalf("got %d %s", resp.StatusCode, b)
	}
}

// FuzzScrub checks that a scrubbed upstream message is bounded, valid
// UTF-8 and keeps no secret-shaped word of the input.
func FuzzScrub(f *testing.F) {
	f.Add("Incorrect API key provided: sk-proj-abc123. You can find your key")
	f.Add("token a1b2c3d4e5f6g7h8i9j0k1l2 invalid")
	f.Add("max_tokens: 99999 > 8192")
	f.Add("\xff\xfe sk-\x00abc")
	f.Add("key correct-horse-battery-staple refused")
	f.Add("key correct-horse-\xffbattery-staple refused") // invalid UTF-8 removed must not rebuild it
	f.Fuzz(func(t *testing.T, msg string) {
		const cred = "correct-horse-battery-staple"
		out := scrub(msg, cred)
		if len(out) > 300 || !utf8.ValidString(out) {
			t.Fatalf("scrub(%q) = %q: unbounded or invalid UTF-8", msg, out)
		}
		if strings.Contains(out, cred) {
			t.Fatalf("the credential survived in %q", out)
		}
		for _, w := range strings.Fields(out) {
			if w != "[redacted]" && secretShaped(w) {
				t.Fatalf("secret-shaped word %q survived in %q", w, out)
			}
		}
	})
}
