package gateway

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

var extractCases = []struct {
	name      string
	body      string
	wantErr   error
	wantModel string
	stream    bool
	maxTok    int64
	inclUsage bool
}{
	{name: "minimal", body: `{"model":"gpt-4o"}`, wantModel: "gpt-4o"},
	{name: "stream and max tokens", body: `{"model":"m","stream":true,"max_tokens":100}`, wantModel: "m", stream: true, maxTok: 100},
	{name: "max_completion_tokens", body: `{"model":"m","max_completion_tokens":7}`, wantModel: "m", maxTok: 7},
	{name: "include usage", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, wantModel: "m", stream: true, inclUsage: true},
	{name: "escaped key still tracked", body: `{"mod\u0065l":"a","model":"b"}`, wantErr: ErrDuplicateField},
	{name: "duplicate model", body: `{"model":"a","model":"b"}`, wantErr: ErrDuplicateField},
	{name: "duplicate stream", body: `{"model":"a","stream":false,"stream":true}`, wantErr: ErrDuplicateField},
	{name: "nested model ignored", body: `{"metadata":{"model":"x"},"model":"y"}`, wantModel: "y"},
	{name: "whitespace", body: " \n{ \"model\" : \"m\" , \"stream\" : true }\n", wantModel: "m", stream: true},
	{name: "escaped model value", body: `{"model":"gpt\u002d4o"}`, wantModel: "gpt-4o"},
	{name: "not json", body: `{"model":`, wantErr: ErrMalformedJSON},
	{name: "empty", body: ``, wantErr: ErrMalformedJSON},
	{name: "array", body: `[{"model":"m"}]`, wantErr: ErrNotObject},
	{name: "no model", body: `{"messages":[]}`, wantErr: ErrMissingModel},
	{name: "numeric model", body: `{"model":4}`, wantErr: ErrInvalidModel},
	{name: "empty model", body: `{"model":""}`, wantErr: ErrInvalidModel},
	{name: "control char model", body: `{"model":"a\nb"}`, wantErr: ErrInvalidModel},
	{name: "quote in model", body: `{"model":"a\"b"}`, wantErr: ErrInvalidModel},
	{name: "trailing garbage", body: `{"model":"m"}x`, wantErr: ErrMalformedJSON},
}

func TestExtract(t *testing.T) {
	for _, tt := range extractCases {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Extract([]byte(tt.body))
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if f.Model != tt.wantModel || f.Stream != tt.stream || f.MaxTokens != tt.maxTok || f.IncludeUsage != tt.inclUsage {
				t.Errorf("fields = %+v", f)
			}
		})
	}
}

func TestRewrite(t *testing.T) {
	tests := []struct {
		name, body, upstream string
		addUsage             bool
		want                 string
	}{
		{"model replaced in place", `{"a":1,"model":"fast","z":[1]}`, "gpt-4o-mini", false, `{"a":1,"model":"gpt-4o-mini","z":[1]}`},
		{"unchanged model keeps bytes", `{"model" : "gpt-4o" ,"x":1}`, "gpt-4o", false, `{"model" : "gpt-4o" ,"x":1}`},
		{"include_usage added", `{"model":"m","stream":true}`, "m", true, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"include_usage added after trailing space", "{\"stream\":true,\"model\":\"m\"}\n ", "up", true, "{\"stream\":true,\"model\":\"up\",\"stream_options\":{\"include_usage\":true}}\n "},
		{"include_usage merged", `{"model":"m","stream":true,"stream_options":{"x":1}}`, "m", true, `{"model":"m","stream":true,"stream_options":{"x":1,"include_usage":true}}`},
		{"include_usage kept", `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`, "m", true, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"escaped model replaced", `{"model":"o\u0031"}`, "o1-x", false, `{"model":"o1-x"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Extract([]byte(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			got, err := Rewrite([]byte(tt.body), f, tt.upstream, tt.addUsage)
			if err != nil || string(got) != tt.want {
				t.Errorf("Rewrite = %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

// FuzzExtract checks that whenever Extract accepts a body, encoding/json
// agrees on the model (so the model authorised is the model the upstream
// reads) and the rewrite yields valid JSON naming only the new model.
func FuzzExtract(f *testing.F) {
	for _, tt := range extractCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fl, err := Extract(body)
		if err != nil {
			return
		}
		var v map[string]json.RawMessage
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("Extract accepted what encoding/json rejects: %v", err)
		}
		var m string
		if err := json.Unmarshal(v["model"], &m); err != nil || m != fl.Model {
			t.Fatalf("model: encoding/json %q (%v), Extract %q", m, err, fl.Model)
		}
		out, err := Rewrite(body, fl, "up/"+strings.ToUpper(fl.Model), true)
		if err != nil {
			t.Fatal(err)
		}
		if !gjson.ValidBytes(out) {
			t.Fatalf("rewrite produced invalid JSON: %q", out)
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("rewrite produced what encoding/json rejects: %v", err)
		}
		if err := json.Unmarshal(v["model"], &m); err != nil || m != "up/"+strings.ToUpper(fl.Model) {
			t.Fatalf("rewritten model = %q", m)
		}
		if fl.Stream && gjson.GetBytes(out, "stream_options.include_usage").Type != gjson.True {
			t.Fatalf("a stream's rewrite lacks include_usage: %q", out)
		}
		if again, err := Extract(out); err != nil || again.Stream != fl.Stream || again.MaxTokens != fl.MaxTokens {
			t.Fatalf("rewrite changed what Extract reads: %+v %v (was %+v)", again, err, fl)
		}
	})
}

func BenchmarkFastPath(b *testing.B) {
	body := []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are helpful."},{"role":"user","content":"` + strings.Repeat("hello world ", 200) + `"}],"temperature":0.2,"max_tokens":256}`)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		f, err := Extract(body)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Rewrite(body, f, "gpt-4o-mini", true); err != nil {
			b.Fatal(err)
		}
	}
}
