package server

import (
	"net/http"
	"strings"
)

// exactRoutes serves the registered "POST /literal/path" patterns — the
// API's hot endpoints — by one map lookup, ahead of http.ServeMux, whose
// pattern matching cost about a microsecond per request. Only a request
// the mux would route to that same pattern takes this path: POST, a path
// with no escapes that the map holds verbatim (clean, as registered
// patterns are). Everything else, including any path needing a redirect
// or a 405, goes to the mux unchanged.
type exactRoutes struct {
	post map[string]exactRoute // path → route
	next http.Handler
}

type exactRoute struct {
	pattern string
	h       http.Handler
}

// add records pattern when it is an exact POST route.
func (e *exactRoutes) add(pattern string, h http.Handler) {
	path, ok := strings.CutPrefix(pattern, http.MethodPost+" ")
	if !ok || !exactPath(path) {
		return
	}
	if e.post == nil {
		e.post = map[string]exactRoute{}
	}
	e.post[path] = exactRoute{pattern: pattern, h: h}
}

// exactPath reports whether a pattern's path matches only itself: it
// starts with "/", has no wildcard, no trailing slash (a subtree), no
// empty, "." or ".." segment and nothing ServeMux would unescape.
func exactPath(p string) bool {
	if len(p) < 2 || p[0] != '/' || strings.HasSuffix(p, "/") || strings.ContainsAny(p, "{}%") {
		return false
	}
	for seg := range strings.SplitSeq(p[1:], "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}

func (e *exactRoutes) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodPost && r.URL.RawPath == "" {
		if rt, ok := e.post[r.URL.Path]; ok {
			r.Pattern = rt.pattern // as the mux sets it: route labels and logs read it
			rt.h.ServeHTTP(w, r)
			return
		}
	}
	e.next.ServeHTTP(w, r)
}
