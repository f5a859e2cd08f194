package oauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

var challengeCases = []struct {
	name    string
	header  string
	wantErr bool
	want    map[string]string
}{
	{"resource metadata", `Bearer resource_metadata="https://gw.example.com/.well-known/oauth-protected-resource"`, false, map[string]string{"resource_metadata": "https://gw.example.com/.well-known/oauth-protected-resource"}},
	{"insufficient scope", `Bearer error="insufficient_scope", scope="tools:fs.write", resource_metadata="https://x/.well-known/oauth-protected-resource"`, false, map[string]string{"error": "insufficient_scope", "scope": "tools:fs.write", "resource_metadata": "https://x/.well-known/oauth-protected-resource"}},
	{"token value", `Bearer error=invalid_token`, false, map[string]string{"error": "invalid_token"}},
	{"escaped quote", `Bearer error_description="a \"b\""`, false, map[string]string{"error_description": `a "b"`}},
	{"scheme only", `Bearer`, false, map[string]string{}},
	{"duplicate param", `Bearer scope="a", scope="b"`, true, nil},
	{"unterminated quote", `Bearer scope="a`, true, nil},
	{"missing value", `Bearer scope=`, true, nil},
	{"missing comma", `Bearer a="1" b="2"`, true, nil},
	{"empty", ``, true, nil},
	{"control char", "Bearer scope=\"a\x01\"", true, nil},
}

func TestParseChallenge(t *testing.T) {
	for _, tt := range challengeCases {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseChallenge(tt.header)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if tt.wantErr {
				return
			}
			if c.Scheme != "Bearer" || len(c.Params) != len(tt.want) {
				t.Fatalf("parsed %+v", c)
			}
			for k, v := range tt.want {
				if c.Params[k] != v {
					t.Fatalf("param %s = %q, want %q", k, c.Params[k], v)
				}
			}
		})
	}
}

func TestBearerChallengeCannotBeInjected(t *testing.T) {
	h := BearerChallenge("error", "insufficient_scope", "scope", "tools:x\", error=\"none\r\nSet-Cookie: a=b")
	c, err := ParseChallenge(h)
	if err != nil {
		t.Fatalf("rendered challenge does not parse: %q: %v", h, err)
	}
	if c.Params["error"] != "insufficient_scope" || len(c.Params) != 2 {
		t.Fatalf("value injected a parameter: %q → %+v", h, c.Params)
	}
}

func FuzzParseChallenge(f *testing.F) {
	for _, tt := range challengeCases {
		f.Add(tt.header)
	}
	f.Fuzz(func(t *testing.T, h string) {
		c, err := ParseChallenge(h)
		if err != nil {
			return
		}
		// What parses must re-render to the same parameters (for values that
		// survive rendering): no value can smuggle in a second parameter.
		var kv []string
		for k, v := range c.Params {
			kv = append(kv, k, v)
		}
		again, err := ParseChallenge(BearerChallenge(kv...))
		if err != nil {
			t.Fatalf("re-rendered challenge does not parse: %v", err)
		}
		if len(again.Params) != len(c.Params) {
			t.Fatalf("re-rendered %v, had %v", again.Params, c.Params)
		}
	})
}

func TestResourceMetadataHandler(t *testing.T) {
	h := ResourceMetadataHandler(ResourceMetadata{Resource: testResource, AuthorizationServers: []string{"https://gw.example.com"}, ScopesSupported: []string{"tools:time"}})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, ProtectedResourceMetadataPath, nil))
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"resource", "authorization_servers", "scopes_supported", "bearer_methods_supported"} {
		if _, ok := m[k]; !ok {
			t.Fatalf("metadata lacks %s: %v", k, m)
		}
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodPost, ProtectedResourceMetadataPath, nil))
	if rec.Code != http.StatusMethodNotAllowed {
		t.Fatalf("POST metadata: %d", rec.Code)
	}
}
