package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
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
	// Go's encoding/json (Ollama, other Go servers) matches member names
	// without regard to case and keeps the last: "Model" would be the
	// model the upstream runs.
	{name: "model in other case", body: `{"model":"a","Model":"b"}`, wantErr: ErrDuplicateField},
	{name: "model only in other case", body: `{"MODEL":"b"}`, wantErr: ErrFieldCase},
	{name: "stream in other case", body: `{"model":"a","Stream":true}`, wantErr: ErrFieldCase},
	{name: "long s folds to s", body: `{"model":"a","\u017ftream":true}`, wantErr: ErrFieldCase},
	{name: "kelvin sign folds to k", body: `{"model":"a","max_to\u212aens":1}`, wantErr: ErrFieldCase},
	{name: "duplicate untracked member", body: `{"model":"a","messages":[],"Messages":[]}`, wantErr: ErrDuplicateField},
	{name: "exact duplicate untracked member", body: `{"model":"a","messages":[],"messages":[]}`, wantErr: ErrDuplicateField},
	{name: "distinct members", body: `{"model":"a","metadata":{},"meta":1,"M":2}`, wantModel: "a"},
	// A repeated include_usage lets the client ask here while a last-wins
	// upstream reads false: usage would be billed on local estimates.
	{name: "duplicate include_usage", body: `{"model":"m","stream":true,"stream_options":{"include_usage":true,"include_usage":false}}`, wantErr: ErrDuplicateField},
	{name: "escaped duplicate include_usage", body: `{"model":"m","stream_options":{"include_usage":true,"include\u005fusage":false}}`, wantErr: ErrDuplicateField},
	{name: "include_usage in other case", body: `{"model":"m","stream_options":{"Include_Usage":true}}`, wantErr: ErrFieldCase},
	{name: "stream_options not an object", body: `{"model":"m","stream":true,"stream_options":[1]}`, wantErr: ErrStreamOptions},
	{name: "stream_options null", body: `{"model":"m","stream":true,"stream_options":null}`, wantModel: "m", stream: true},
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
		{"null stream_options replaced, not repeated", `{"model":"m","stream":true,"stream_options":null}`, "m", true, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{"include_usage false replaced", `{"model":"m","stream":true,"stream_options":{"include_usage":false}}`, "m", true, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
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

// extractGJSON is Extract as it was before the one-pass scanner: gjson's
// validator, then a walk of the top level. FuzzExtractAgrees holds the
// scanner to it wherever gjson's recursion is safe.
func extractGJSON(body []byte) (Fields, error) {
	var f Fields
	if !gjson.ValidBytes(body) || len(body) == 0 {
		return f, ErrMalformedJSON
	}
	root := gjson.ParseBytes(body)
	if !root.IsObject() {
		return f, ErrNotObject
	}
	var seen [len(tracked)]bool
	var names []string
	var err error
	root.ForEach(func(k, v gjson.Result) bool {
		if slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k.Str) }) {
			err = ErrDuplicateField
			return false
		}
		names = append(names, k.Str)
		i := slices.IndexFunc(tracked[:], func(t string) bool { return strings.EqualFold(t, k.Str) })
		if i < 0 {
			return true
		}
		if k.Str != tracked[i] {
			err = ErrFieldCase
			return false
		}
		seen[i] = true
		switch i {
		case 0:
			if v.Type != gjson.String {
				err = ErrInvalidModel
				return false
			}
			f.Model, f.modelAt, f.modelLen = v.Str, v.Index, len(v.Raw)
		case 1:
			f.Stream = v.Type == gjson.True
		case 2, 3:
			f.MaxTokens = max(f.MaxTokens, v.Int())
		case 4:
			err = streamOptionsGJSON(&f, v)
		}
		return err == nil
	})
	switch {
	case err != nil:
		return Fields{}, err
	case !seen[0]:
		return Fields{}, ErrMissingModel
	case !validModel(f.Model):
		return Fields{}, ErrInvalidModel
	}
	return f, nil
}

// FuzzExtractAgrees: the one-pass Extract reads every body as the
// two-pass gjson reading did — the same fields, the same error.
func FuzzExtractAgrees(f *testing.F) {
	for _, tt := range extractCases {
		f.Add([]byte(tt.body))
	}
	f.Add([]byte(`{"mod\u0065l":"x","stream":"true","max_tokens":"12","max_completion_tokens":1.5e1,"stream_options":{"include_usage":true}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		if bytes.Count(body, []byte("["))+bytes.Count(body, []byte("{")) > 1000 {
			return // gjson's validator recurses; the scanner's depth bound has its own test
		}
		got, gerr := Extract(body)
		want, werr := extractGJSON(body)
		if !errors.Is(gerr, werr) && (gerr != nil || werr != nil) {
			t.Fatalf("Extract(%q) error %v, gjson reading %v", body, gerr, werr)
		}
		if got != want {
			t.Fatalf("Extract(%q) = %+v, gjson reading %+v", body, got, want)
		}
	})
}

// streamOptionsGJSON is the reference reading of stream_options.
func streamOptionsGJSON(f *Fields, v gjson.Result) error {
	f.HasStreamOptions = true
	if v.Type == gjson.Null {
		return nil
	}
	if !v.IsObject() {
		return ErrStreamOptions
	}
	var names []string
	var err error
	v.ForEach(func(k, v gjson.Result) bool {
		switch {
		case slices.ContainsFunc(names, func(n string) bool { return strings.EqualFold(n, k.Str) }):
			err = ErrDuplicateField
		case !strings.EqualFold(k.Str, "include_usage"):
		case k.Str != "include_usage":
			err = ErrFieldCase
		default:
			f.IncludeUsage = v.Type == gjson.True
		}
		names = append(names, k.Str)
		return err == nil
	})
	return err
}

// A body nested millions deep — under the default body limit — is refused
// with a clear error; gjson's recursive validator overflowed the stack on
// it, which killed the process.
func TestExtractDeepNesting(t *testing.T) {
	n := 8_500_000
	body := []byte(`{"model":"gpt-4o","messages":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	if _, err := Extract(body); !errors.Is(err, ErrTooDeep) {
		t.Fatalf("Extract of a 17 MB nest: %v", err)
	}
	ok := []byte(`{"model":"gpt-4o","messages":` + strings.Repeat("[", 100) + strings.Repeat("]", 100) + `}`)
	if _, err := Extract(ok); err != nil {
		t.Fatalf("100 levels: %v", err)
	}
}
