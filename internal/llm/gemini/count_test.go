package gemini_test

import (
	"errors"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/gemini"
)

var countCases = []struct {
	name, body string
	ok         bool
	// wantMsgs and wantSystem are the canonical prompt's message and
	// system block counts.
	wantMsgs, wantSystem, wantTools int
}{
	{name: "contents", body: `{"contents":[{"role":"user","parts":[{"text":"hi"}]},{"role":"model","parts":[{"text":"yo"}]}]}`, ok: true, wantMsgs: 2},
	{name: "generateContentRequest", body: `{"generateContentRequest":{"model":"models/gemini-2.5-flash","systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parametersJsonSchema":{"type":"object"}}]}]}}`, ok: true, wantMsgs: 1, wantSystem: 1, wantTools: 1},
	{name: "empty contents", body: `{"contents":[]}`, ok: true},
	{name: "both forms", body: `{"contents":[],"generateContentRequest":{"contents":[]}}`},
	{name: "neither", body: `{}`},
	{name: "null contents", body: `{"contents":null}`},
	{name: "unknown field", body: `{"contents":[],"systemInstruction":{"parts":[{"text":"x"}]}}`},
	{name: "inner not an object", body: `{"generateContentRequest":[1]}`},
	{name: "bad contents", body: `{"contents":"x"}`},
	{name: "trailing data", body: `{"contents":[]} {}`},
	{name: "not json", body: `contents`},
}

func TestDecodeCountTokens(t *testing.T) {
	for _, tt := range countCases {
		t.Run(tt.name, func(t *testing.T) {
			req, err := gemini.DecodeCountTokens([]byte(tt.body))
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok %v", err, tt.ok)
			}
			if err != nil {
				if !errors.Is(err, llm.ErrMalformed) {
					t.Errorf("err %v does not wrap ErrMalformed", err)
				}
				return
			}
			if len(req.Messages) != tt.wantMsgs || len(req.System) != tt.wantSystem || len(req.Tools) != tt.wantTools {
				t.Errorf("messages %d system %d tools %d", len(req.Messages), len(req.System), len(req.Tools))
			}
			for _, x := range req.Extensions {
				if x.Key == "model" {
					t.Error("the inner model became an extension (it would be listed as dropped)")
				}
			}
		})
	}
}

func TestUpstreamCountTokens(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"contents unchanged", `{"contents":[{"parts":[{"text":"a"}]}]}`, `{"contents":[{"parts":[{"text":"a"}]}]}`},
		{"inner model set to the upstream's", `{"generateContentRequest":{"model":"models/alias","contents":[]}}`, `{"generateContentRequest":{"model":"models/gemini-2.5-pro","contents":[]}}`},
		{"inner model added", `{"generateContentRequest":{"contents":[]}}`, `{"generateContentRequest":{"contents":[],"model":"models/gemini-2.5-pro"}}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := gemini.UpstreamCountTokens([]byte(tt.body), "gemini-2.5-pro")
			if err != nil || string(got) != tt.want {
				t.Errorf("got %s, %v; want %s", got, err, tt.want)
			}
		})
	}
}

func TestDecodeCountTokensResponse(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
		total      int
	}{
		{"full", `{"totalTokens":31,"promptTokensDetails":[{"modality":"TEXT","tokenCount":31}]}`, true, 31},
		{"zero omitted", `{}`, true, 0},
		{"negative", `{"totalTokens":-1}`, false, 0},
		{"negative detail", `{"totalTokens":1,"promptTokensDetails":[{"modality":"TEXT","tokenCount":-4}]}`, false, 0},
		{"array", `[{"totalTokens":1}]`, false, 0},
		{"string count", `{"totalTokens":"1"}`, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := gemini.DecodeCountTokensResponse([]byte(tt.body))
			if tt.ok != (err == nil) || err == nil && r.TotalTokens != tt.total {
				t.Errorf("got %+v, %v", r, err)
			}
			if err != nil && !errors.Is(err, llm.ErrMalformed) {
				t.Errorf("err %v does not wrap ErrMalformed", err)
			}
		})
	}
}

// FuzzDecodeCountTokens checks that an accepted body can be sent upstream
// (still valid JSON, accepted again) and that refusals are ErrMalformed.
func FuzzDecodeCountTokens(f *testing.F) {
	for _, tt := range countCases {
		f.Add([]byte(tt.body))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		_, err := gemini.DecodeCountTokens(data)
		if err != nil {
			if !errors.Is(err, llm.ErrMalformed) {
				t.Fatalf("err %v does not wrap ErrMalformed", err)
			}
			return
		}
		up, err := gemini.UpstreamCountTokens(data, "gemini-2.5-flash")
		if err != nil || !gjson.ValidBytes(up) {
			t.Fatalf("upstream body %q, %v", up, err)
		}
		if _, err := gemini.DecodeCountTokens(up); err != nil {
			t.Fatalf("upstream body refused: %v\n%s", err, up)
		}
	})
}
