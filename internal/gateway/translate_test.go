package gateway

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// withGemini adds a gemini provider on up and a metrics registry.
func withGemini(up *upstreamtest.Server, reg *prometheus.Registry) envOpt {
	return func(c *Config, d *Deps) {
		cred := func(context.Context) (string, error) { return upstreamKey, nil }
		d.Providers = append(d.Providers.(mapSource), provider.Config{Name: "gemini", Type: provider.TypeGemini, BaseURL: up.URL, Credential: cred})
		c.Aliases["flash"] = "gemini/gemini-2.5-flash"
		c.Aliases["gtools"] = "gemini/tools"
		c.Aliases["otools"] = "openai/tools"
		c.Aliases["atools"] = "anthropic/tools"
		d.Metrics = reg
	}
}

var claudeCodeBody = `{"model":"fast","max_tokens":512,"stream":STREAM,
 "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
 "thinking":{"type":"enabled","budget_tokens":1024},
 "messages":[{"role":"user","content":[{"type":"text","text":"hello there","cache_control":{"type":"ephemeral"}}]}]}`

func TestTranslatedCalls(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	reg := prometheus.NewRegistry()
	e := newEnv(t, withGemini(gem, reg))
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		up               *upstreamtest.Server
		upPath           string
		upAuth           [2]string // header, value the upstream must get
		want             string    // gjson path (or "sse:<substring>") and value, "path=value"
		wantDropped      string
	}{
		{name: "openai sdk to anthropic", path: "/v1/chat/completions", body: `{"model":"smart","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi claude"}]}`,
			up: e.anth, upPath: "/v1/messages", upAuth: [2]string{"X-Api-Key", upstreamKey}, want: "choices.0.message.content=hi claude"},
		{name: "openai sdk to anthropic stream", path: "/v1/chat/completions", body: `{"model":"smart","stream":true,"messages":[{"role":"user","content":"one two three"}]}`,
			up: e.anth, upPath: "/v1/messages", upAuth: [2]string{"X-Api-Key", upstreamKey}, want: "sse:data: [DONE]"},
		{name: "anthropic sdk to openai", path: "/v1/messages", hdr: anthHdr, body: `{"model":"fast","max_tokens":64,"messages":[{"role":"user","content":"hi gpt"}]}`,
			up: e.openai, upPath: "/v1/chat/completions", upAuth: [2]string{"Authorization", "Bearer " + upstreamKey}, want: "content.0.text=hi gpt"},
		{name: "anthropic sdk to openai stream", path: "/v1/messages", hdr: anthHdr, body: `{"model":"fast","max_tokens":64,"stream":true,"messages":[{"role":"user","content":"a b c"}]}`,
			up: e.openai, upPath: "/v1/chat/completions", upAuth: [2]string{"Authorization", "Bearer " + upstreamKey}, want: "sse:event: message_stop"},
		{name: "anthropic sdk tool call from openai", path: "/v1/messages", hdr: anthHdr,
			body: `{"model":"otools","max_tokens":64,"tools":[{"name":"lookup","input_schema":{"type":"object"}}],"messages":[{"role":"user","content":"weather?"}]}`,
			up:   e.openai, upPath: "/v1/chat/completions", want: "content.0.input.location=Paris"},
		{name: "gemini sdk to openai", path: "/v1beta/models/fast:generateContent", body: `{"contents":[{"role":"user","parts":[{"text":"hi from gemini"}]}]}`,
			up: e.openai, upPath: "/v1/chat/completions", want: "candidates.0.content.parts.0.text=hi from gemini"},
		{name: "gemini sdk to gemini stream", path: "/v1beta/models/flash:streamGenerateContent?alt=sse", body: `{"contents":[{"role":"user","parts":[{"text":"x y z w"}]}]}`,
			up: gem, upPath: "/v1beta/models/gemini-2.5-flash:streamGenerateContent", upAuth: [2]string{"X-Goog-Api-Key", upstreamKey}, want: `sse:"finishReason":"STOP"`},
		{name: "openai sdk to gemini tool call", path: "/v1/chat/completions",
			body: `{"model":"gtools","tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}],"messages":[{"role":"user","content":"go"}]}`,
			up:   gem, upPath: "/v1beta/models/tools:generateContent", want: "choices.0.message.tool_calls.0.function.name=lookup"},
		{name: "claude code to openai lists dropped features", path: "/v1/messages", hdr: anthHdr, body: strings.Replace(claudeCodeBody, "STREAM", "false", 1),
			up: e.openai, upPath: "/v1/chat/completions", want: "content.0.text=hello there", wantDropped: "cache_control,thinking"},
		{name: "claude code stream to openai lists dropped features", path: "/v1/messages", hdr: anthHdr, body: strings.Replace(claudeCodeBody, "STREAM", "true", 1),
			up: e.openai, upPath: "/v1/chat/completions", want: "sse:event: message_stop", wantDropped: "cache_control,thinking"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(e.usage.all())
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got := resp.Header.Get(HeaderDropped); got != tt.wantDropped {
				t.Errorf("x-bulwark-dropped = %q, want %q", got, tt.wantDropped)
			}
			want, isSSE := strings.CutPrefix(tt.want, "sse:")
			if isSSE {
				if !strings.Contains(string(b), want) || strings.Contains(string(b), `"error"`) {
					t.Errorf("stream lacks %q or carries an error:\n%s", want, b)
				}
			} else {
				p, v, _ := strings.Cut(tt.want, "=")
				if got := gjson.GetBytes(b, p).String(); got != v {
					t.Errorf("%s = %q, want %q in %s", p, got, v, b)
				}
			}
			last := tt.up.Last()
			if last.Path != tt.upPath {
				t.Errorf("upstream path = %s, want %s", last.Path, tt.upPath)
			}
			if tt.upAuth[0] != "" && last.Header.Get(tt.upAuth[0]) != tt.upAuth[1] {
				t.Errorf("upstream %s = %q", tt.upAuth[0], last.Header.Get(tt.upAuth[0]))
			}
			if strings.Contains(string(b), upstreamKey) {
				t.Error("credential leaked to the client")
			}
			recs := e.usage.all()
			if len(recs) != before+1 {
				t.Fatalf("usage records = %d, want one more than %d", len(recs), before)
			}
			if r := recs[len(recs)-1]; r.Status != 200 || r.PromptTokens == 0 || r.CompletionTokens == 0 {
				t.Errorf("usage record %+v", r)
			}
		})
	}
	if got := counterValue(t, reg, "bulwark_translation_dropped_total", "cache_control"); got != 2 {
		t.Errorf("dropped cache_control counter = %v, want 2", got)
	}
}

func counterValue(t *testing.T, reg *prometheus.Registry, name, feature string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "feature" && l.GetValue() == feature {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func TestTranslatedRefusals(t *testing.T) {
	gem := upstreamtest.New()
	t.Cleanup(gem.Close)
	e := newEnv(t, withGemini(gem, prometheus.NewRegistry()))
	strictHdr := map[string]string{"Anthropic-Version": "2023-06-01", "X-Bulwark-Strict": "true"}
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		fault            upstreamtest.Fault
		wantStatus       int
		want             string // gjson path=value in the error body
	}{
		{name: "strict mode names the dropped feature", path: "/v1/messages", hdr: strictHdr, body: strings.Replace(claudeCodeBody, "STREAM", "false", 1),
			wantStatus: 400, want: "error.message=bulwark strict mode: feature cache_control cannot be carried to this upstream"},
		{name: "strict mode passes a carried request", path: "/v1/messages", hdr: strictHdr,
			body: `{"model":"fast","max_tokens":8,"messages":[{"role":"user","content":"ok"}]}`, wantStatus: 200, want: "content.0.text=ok"},
		{name: "strict mode in openai dialect", path: "/v1/chat/completions", hdr: map[string]string{"X-Bulwark-Strict": "true"},
			body: `{"model":"smart","seed":7,"messages":[{"role":"user","content":"x"}]}`, wantStatus: 400, want: "error.code=feature_dropped"},
		{name: "upstream 429 in caller dialect", path: "/v1/chat/completions", body: `{"model":"smart","messages":[{"role":"user","content":"x"}]}`,
			fault: upstreamtest.Fault{Kind: upstreamtest.Status429, Times: 1, Body: `{"error":{"message":"` + upstreamKey + `"}}`}, wantStatus: 429, want: "error.code=upstream_rate_limited"},
		{name: "gemini unknown method", path: "/v1beta/models/fast:embedContent", body: `{}`, wantStatus: 404, want: "error.status=NOT_FOUND"},
		{name: "gemini stream with an unknown alt", path: "/v1beta/models/fast:streamGenerateContent?alt=proto", body: `{"contents":[]}`, wantStatus: 400, want: "error.status=INVALID_ARGUMENT"},
		{name: "gemini unknown model", path: "/v1beta/models/nope:generateContent", body: `{"contents":[]}`, wantStatus: 404, want: "error.code=404"},
		{name: "gemini malformed body", path: "/v1beta/models/fast:generateContent", body: `{"contents":"x"}`, wantStatus: 400, want: "error.status=INVALID_ARGUMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.anth.SetFault(tt.fault)
			n := len(e.openai.Requests())
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tt.wantStatus, b)
			}
			p, v, _ := strings.Cut(tt.want, "=")
			if got := gjson.GetBytes(b, p).String(); got != v {
				t.Errorf("%s = %q, want %q in %s", p, got, v, b)
			}
			if tt.wantStatus == 400 && len(e.openai.Requests()) != n {
				t.Error("a refused request reached the upstream")
			}
			if strings.Contains(string(b), upstreamKey) {
				t.Error("upstream body leaked to the client")
			}
		})
	}
}

// TestTranslatedStreamEndsHonestly cuts the upstream mid-stream: the caller
// gets an error event in its own dialect and never a clean end, and the
// usage record is an estimate of what was delivered with a 502 status.
func TestTranslatedStreamEndsHonestly(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name, path, body string
		hdr              map[string]string
		up               *upstreamtest.Server
		wantErr, clean   string
	}{
		{"openai caller, anthropic upstream", "/v1/chat/completions", `{"model":"smart","stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}`,
			nil, e.anth, `data: {"error"`, "[DONE]"},
		{"anthropic caller, openai upstream", "/v1/messages", `{"model":"fast","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"a b c d e f g h"}]}`,
			anthHdr, e.openai, "event: error", "message_stop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.up.SetFault(upstreamtest.Fault{Kind: upstreamtest.CutStream, Times: 1})
			resp, b := e.do(t, http.MethodPost, tt.path, tt.body, tt.hdr)
			if resp.StatusCode != 200 || !strings.Contains(string(b), tt.wantErr) || strings.Contains(string(b), tt.clean) {
				t.Fatalf("stream did not end with an error event:\n%s", b)
			}
			recs := e.usage.all()
			if r := recs[len(recs)-1]; r.Status != http.StatusBadGateway || !r.Estimated {
				t.Errorf("usage record %+v", r)
			}
		})
	}
}

// TestTranslatedStreamIsIncremental shows translation does not buffer: the
// first translated event reaches the client long before the upstream ends.
func TestTranslatedStreamIsIncremental(t *testing.T) {
	e := newEnv(t)
	const drip = 150 * time.Millisecond
	e.anth.SetFault(upstreamtest.Fault{Kind: upstreamtest.SlowDrip, Drip: drip, Times: 1})
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/v1/chat/completions",
		strings.NewReader(`{"model":"smart","stream":true,"messages":[{"role":"user","content":"one two three four five six"}]}`))
	req.Header.Set("Authorization", "Bearer bw_clientkey")
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, err := resp.Body.Read(buf)
	first := time.Since(start)
	if err != nil || !strings.Contains(string(buf[:n]), "chat.completion.chunk") {
		t.Fatalf("first read %q, %v", buf[:n], err)
	}
	rest, _ := io.ReadAll(resp.Body)
	total := time.Since(start)
	if !strings.Contains(string(rest), "[DONE]") {
		t.Fatalf("stream did not complete: %s", rest)
	}
	if total < 5*drip || first > total/2 {
		t.Errorf("first event after %v of %v: the stream was buffered", first, total)
	}
}
