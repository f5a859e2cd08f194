package gateway

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestModelsList(t *testing.T) {
	tests := []struct {
		name    string
		models  []string
		hdr     map[string]string
		want    []string
		notWant []string
		shape   string
	}{
		{"openai shape lists all", nil, nil, []string{"fast", "local/llama3", "mock/echo", "smart"}, nil, "data.#.object"},
		{"restricted key sees only its models", []string{"fast", "mock/echo"}, nil, []string{"fast", "mock/echo"}, []string{"local/llama3", "smart"}, "data.#.object"},
		{"anthropic shape", nil, anthHdr, []string{"smart", "mock/tools"}, nil, "data.#.display_name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			e.identity.Models = tt.models
			resp, b := e.do(t, http.MethodGet, "/v1/models", "", tt.hdr)
			if resp.StatusCode != 200 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			ids := gjson.GetBytes(b, "data.#.id").String()
			for _, w := range tt.want {
				if !strings.Contains(ids, `"`+w+`"`) {
					t.Errorf("missing %s in %s", w, ids)
				}
			}
			for _, w := range tt.notWant {
				if strings.Contains(ids, `"`+w+`"`) {
					t.Errorf("listed forbidden %s", w)
				}
			}
			if !gjson.GetBytes(b, tt.shape).IsArray() || len(gjson.GetBytes(b, tt.shape).Array()) == 0 {
				t.Errorf("wrong shape: %s", b)
			}
		})
	}
}

func TestCountTokens(t *testing.T) {
	tests := []struct {
		name, model  string
		wantUpstream bool
	}{
		{"forwarded to anthropic", "smart", true},
		{"computed by mock", "mock/echo", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t)
			resp, b := e.do(t, http.MethodPost, "/v1/messages/count_tokens", `{"model":"`+tt.model+`","messages":[{"role":"user","content":"hello"}]}`, anthHdr)
			if resp.StatusCode != 200 || gjson.GetBytes(b, "input_tokens").Int() <= 0 {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if got := len(e.anth.Requests()) == 1; got != tt.wantUpstream {
				t.Errorf("upstream called = %v", got)
			}
			if len(e.usage.all()) != 0 {
				t.Error("count_tokens must not produce a billed usage record")
			}
		})
	}
}

// GET /v1/models in the Anthropic shape pages as Anthropic's List Models
// does: limit (default 20, 1–1000), after_id / before_id cursors, has_more,
// first_id / last_id of the page. The SDKs' auto-pagers follow has_more.
func TestAnthropicModelsPaging(t *testing.T) {
	e := newEnv(t)
	type page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
		HasMore bool    `json:"has_more"`
		FirstID *string `json:"first_id"`
		LastID  *string `json:"last_id"`
	}
	get := func(q string, status int) page {
		t.Helper()
		resp, b := e.do(t, http.MethodGet, "/v1/models"+q, "", anthHdr)
		var p page
		if resp.StatusCode != status || status == http.StatusOK && json.Unmarshal(b, &p) != nil {
			t.Fatalf("GET /v1/models%s: %d %s, want %d", q, resp.StatusCode, b, status)
		}
		return p
	}
	ids := func(p page) []string {
		var out []string
		for _, m := range p.Data {
			out = append(out, m.ID)
		}
		return out
	}
	all := ids(get("?limit=1000", http.StatusOK))
	if len(all) < 4 {
		t.Fatalf("need at least 4 models, have %v", all)
	}
	one := get("?limit=1", http.StatusOK)
	if got := ids(one); !slices.Equal(got, all[:1]) || !one.HasMore || *one.FirstID != all[0] || *one.LastID != all[0] {
		t.Errorf("limit=1: %v has_more %v", got, one.HasMore)
	}
	// Following last_id pages through the whole list exactly once.
	var seen []string
	for q := "?limit=3"; ; {
		p := get(q, http.StatusOK)
		seen = append(seen, ids(p)...)
		if !p.HasMore {
			break
		}
		q = "?limit=3&after_id=" + url.QueryEscape(*p.LastID)
	}
	if !slices.Equal(seen, all) {
		t.Errorf("paged with after_id: %v, want %v", seen, all)
	}
	if got := get("?limit=2&before_id="+url.QueryEscape(all[3]), http.StatusOK); !slices.Equal(ids(got), all[1:3]) || !got.HasMore {
		t.Errorf("before_id %s: %v has_more %v", all[3], ids(got), got.HasMore)
	}
	if got := get("?after_id=no-such-model", http.StatusOK); len(got.Data) != 0 || got.HasMore {
		t.Errorf("unknown cursor: %+v", got)
	}
	for _, q := range []string{"?limit=0", "?limit=1001", "?limit=-1", "?limit=abc", "?after_id=a&before_id=b"} {
		get(q, http.StatusBadRequest)
	}
}
