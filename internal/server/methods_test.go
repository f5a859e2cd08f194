package server

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

// tablePatterns are registered in every routeTable test: exact paths,
// wildcards spelled differently per method, a subtree and a {$} anchor.
var tablePatterns = []string{
	"GET /v1/models",
	"POST /v1/chat/completions",
	"GET /api/admin/keys/{id}",
	"DELETE /api/admin/keys/{key}",
	"POST /api/admin/keys/{id}/rotate",
	"POST /v1beta/models/",
	"GET /files/{path...}",
	"GET /exact/{$}",
	"/any",
}

var tableCases = []struct {
	name   string
	method string
	path   string
	known  bool
	allow  []string
}{
	{"exact path", "DELETE", "/v1/models", true, []string{"GET", "HEAD"}},
	{"post only", "GET", "/v1/chat/completions", true, []string{"POST"}},
	{"wildcards of two spellings share a path", "PUT", "/api/admin/keys/k1", true, []string{"DELETE", "GET", "HEAD"}},
	{"deeper wildcard path", "GET", "/api/admin/keys/k1/rotate", true, []string{"POST"}},
	{"subtree", "GET", "/v1beta/models/gemini:generateContent", true, []string{"POST"}},
	{"multi-segment wildcard", "POST", "/files/a/b/c", true, []string{"GET", "HEAD"}},
	{"anchored root", "POST", "/exact/", true, []string{"GET", "HEAD"}},
	{"below an anchored root", "POST", "/exact/more", false, nil},
	{"method-less path serves everything", "PATCH", "/any", true, nil},
	{"subtree without its slash is a redirect, not a match", "GET", "/v1beta/models", false, nil},
	{"unknown", "GET", "/nope", false, nil},
	{"prefix of a known path", "GET", "/v1", false, nil},
	{"known path with a trailing slash", "GET", "/v1/models/", false, nil},
}

func newTestTable(t *testing.T) *routeTable {
	t.Helper()
	tab := newRouteTable()
	for _, p := range tablePatterns {
		tab.add(p)
	}
	return tab
}

func TestRouteTableAllowed(t *testing.T) {
	tab := newTestTable(t)
	for _, tt := range tableCases {
		t.Run(tt.name, func(t *testing.T) {
			methods, known := tab.allowed(httptest.NewRequest(tt.method, tt.path, nil))
			if known != tt.known || !slices.Equal(methods, tt.allow) {
				t.Fatalf("allowed(%s %s) = %v, %v; want %v, %v", tt.method, tt.path, methods, known, tt.allow, tt.known)
			}
		})
	}
	if got := tab.list(); !slices.Equal(got, tablePatterns) {
		t.Fatalf("list() = %v", got)
	}
}

// TestRouteTableAgreesWithServeMux: whenever the table calls a path known
// with some methods, a ServeMux holding the same patterns routes exactly
// those methods there and refuses the others; the 405's Allow is never a
// guess.
func TestRouteTableAgreesWithServeMux(t *testing.T) {
	tab := newTestTable(t)
	mux := http.NewServeMux()
	for _, p := range tablePatterns {
		mux.Handle(p, http.NotFoundHandler())
	}
	for _, tt := range tableCases {
		t.Run(tt.name, func(t *testing.T) {
			checkAgainstMux(t, tab, mux, tt.path)
		})
	}
}

func checkAgainstMux(t *testing.T, tab *routeTable, mux *http.ServeMux, path string) {
	t.Helper()
	for _, m := range []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"} {
		r := httptest.NewRequest(m, "http://x/", nil)
		r.URL.Path = path
		methods, known := tab.allowed(r)
		if !known || len(methods) == 0 {
			continue
		}
		_, pattern := mux.Handler(r)
		if routed := pattern != ""; routed != slices.Contains(methods, m) {
			t.Errorf("%s %s: mux pattern %q, table allows %v", m, path, pattern, methods)
		}
	}
}

func TestNormalisePath(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"/a/{id}", "/a/{w0}"},
		{"/a/{id}/b/{name}", "/a/{w0}/b/{w1}"},
		{"/f/{p...}", "/f/{w0...}"},
		{"/x/{$}", "/x/{$}"},
		{"/plain/", "/plain/"},
	} {
		t.Run(tt.in, func(t *testing.T) {
			if got := normalisePath(tt.in); got != tt.want {
				t.Fatalf("normalisePath(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestPrivateAreaContains(t *testing.T) {
	admin, metrics := privateArea{prefix: "/api/admin/"}, privateArea{prefix: "/metrics"}
	for _, tt := range []struct {
		name string
		area privateArea
		path string
		want bool
	}{
		{"subtree member", admin, "/api/admin/keys", true},
		{"subtree root", admin, "/api/admin/", true},
		{"sibling of the subtree", admin, "/api/administrator", false},
		{"exact path", metrics, "/metrics", true},
		{"below an exact path", metrics, "/metrics/x", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.area.contains(tt.path); got != tt.want {
				t.Fatalf("contains(%q) = %v", tt.path, got)
			}
		})
	}
}

// FuzzRouteTable: for any request path the table never panics, and a path
// it calls known agrees with a ServeMux of the same patterns.
func FuzzRouteTable(f *testing.F) {
	for _, tt := range tableCases {
		f.Add(tt.path)
	}
	tab := newRouteTable()
	mux := http.NewServeMux()
	for _, p := range tablePatterns {
		tab.add(p)
		mux.Handle(p, http.NotFoundHandler())
	}
	f.Fuzz(func(t *testing.T, path string) {
		if !strings.HasPrefix(path, "/") || strings.ContainsAny(path, "?#") {
			return
		}
		checkAgainstMux(t, tab, mux, path)
	})
}

// TestRouteTableRefuse: a refused HEAD leaves Allow whether it is refused
// before or after the GET that would bring it, and other methods stay.
func TestRouteTableRefuse(t *testing.T) {
	for _, refuseFirst := range []bool{false, true} {
		tab := newRouteTable()
		if refuseFirst {
			tab.refuse(http.MethodHead, "/mcp")
		}
		tab.add("GET /mcp")
		tab.add("POST /mcp")
		if !refuseFirst {
			tab.refuse(http.MethodHead, "/mcp")
		}
		methods, known := tab.allowed(httptest.NewRequest(http.MethodPut, "/mcp", nil))
		if !known || !slices.Equal(methods, []string{"GET", "POST"}) {
			t.Fatalf("refuse first %v: allowed = %v, %v", refuseFirst, methods, known)
		}
		if got := tab.refused(); !slices.Equal(got, []string{"HEAD /mcp"}) {
			t.Fatalf("refused() = %v", got)
		}
	}
}
