package server

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/auth"
)

// routeTable remembers every pattern registered on the server and, per
// path, the methods it serves, so a request with another method on a known
// path gets 405 with an Allow header instead of the catch-all's 404. Safe
// for concurrent use (routes are added at startup, looked up per request).
type routeTable struct {
	mu       sync.RWMutex
	patterns []string
	refusals []string                // "METHOD path" answered 405 although a pattern covers it
	paths    map[string]*pathMethods // normalised path → methods
	byPath   *http.ServeMux          // the normalised paths, method-less, for matching only
}

// pathMethods is the set of methods one path serves. It is the handler
// registered on routeTable.byPath, so a lookup that lands on it (and not
// on the mux's redirect or not-found handlers) is a real match.
type pathMethods struct {
	methods []string // sorted
	all     bool     // a method-less pattern: every method is served
	refused []string // methods the path answers with 405 although a pattern covers them (HEAD under GET)
}

func (*pathMethods) ServeHTTP(http.ResponseWriter, *http.Request) {} // never served: a lookup marker

func newRouteTable() *routeTable {
	return &routeTable{paths: map[string]*pathMethods{}, byPath: http.NewServeMux()}
}

// add records pattern ("[METHOD ]path", as http.ServeMux takes it).
func (t *routeTable) add(pattern string) {
	method, path := splitPattern(pattern)
	if path == "" {
		return // a host-only or malformed pattern: ServeMux has refused it already
	}
	key := normalisePath(path)
	t.mu.Lock()
	defer t.mu.Unlock()
	t.patterns = append(t.patterns, pattern)
	pm := t.entry(key)
	if pm.all {
		return // already serves every method
	}
	if method == "" {
		pm.all, pm.methods = true, nil
		return
	}
	add := []string{method}
	if method == http.MethodGet {
		add = append(add, http.MethodHead) // ServeMux serves HEAD wherever GET is
	}
	for _, m := range add {
		if !slices.Contains(pm.methods, m) && !slices.Contains(pm.refused, m) {
			pm.methods = append(pm.methods, m)
		}
	}
	slices.Sort(pm.methods)
}

// entry returns the methods of a normalised path, adding the path first
// when it is new. The caller holds t.mu.
func (t *routeTable) entry(key string) *pathMethods {
	pm := t.paths[key]
	if pm == nil {
		pm = &pathMethods{}
		t.paths[key] = pm
		t.byPath.Handle(key, pm)
	}
	return pm
}

// refuse records that path does not serve method even where a pattern
// covers it, so Allow stops listing it.
func (t *routeTable) refuse(method, path string) {
	key := normalisePath(path)
	t.mu.Lock()
	defer t.mu.Unlock()
	pm := t.entry(key)
	pm.refused = append(pm.refused, method)
	t.refusals = append(t.refusals, method+" "+path)
	pm.methods = slices.DeleteFunc(pm.methods, func(m string) bool { return m == method })
}

// allowed returns the methods the path of r serves, and whether the path
// is known at all. A path that serves every method never reaches the
// fallback, so it reports known with no methods only in races at startup.
func (t *routeTable) allowed(r *http.Request) (methods []string, known bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	h, _ := t.byPath.Handler(r)
	pm, ok := h.(*pathMethods)
	if !ok {
		return nil, false
	}
	return slices.Clone(pm.methods), true
}

// list returns the registered patterns in registration order.
func (t *routeTable) list() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.patterns)
}

// refused returns what refuse recorded, as "METHOD path".
func (t *routeTable) refused() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	return slices.Clone(t.refusals)
}

// splitPattern separates the optional method of a ServeMux pattern from
// its path ("GET /x" → "GET", "/x"; "/x" → "", "/x").
func splitPattern(pattern string) (method, path string) {
	pattern = strings.TrimSpace(pattern)
	if m, p, ok := strings.Cut(pattern, " "); ok {
		method, pattern = m, strings.TrimLeft(p, " \t")
	}
	if !strings.HasPrefix(pattern, "/") {
		return "", ""
	}
	return method, pattern
}

// normalisePath renames wildcards by position ("/keys/{id}" and
// "/keys/{name}" are one path), so two methods of one path share an entry
// and the method-less mux never sees two spellings of the same shape.
func normalisePath(path string) string {
	segs := strings.Split(path, "/")
	n := 0
	for i, s := range segs {
		if len(s) < 2 || s[0] != '{' || s[len(s)-1] != '}' || s == "{$}" {
			continue
		}
		name := "w" + strconv.Itoa(n)
		n++
		if strings.HasSuffix(s, "...}") {
			segs[i] = "{" + name + "...}"
		} else {
			segs[i] = "{" + name + "}"
		}
	}
	return strings.Join(segs, "/")
}

// privateArea is a path prefix whose routes must not be enumerable: a
// request there that matches no route is answered (404 or 405) only after
// authentication and the scope check, so an anonymous caller learns no
// more than 401 tells it.
type privateArea struct {
	prefix string // "/api/admin/" (a subtree) or "/metrics" (one path)
	scope  string
}

func (p privateArea) contains(path string) bool {
	if strings.HasSuffix(p.prefix, "/") {
		return strings.HasPrefix(path, p.prefix)
	}
	return path == p.prefix
}

// fallback answers every request no route matched: 405 with Allow for a
// known path called with another method, 404 otherwise, both in the
// path's error dialect. Under a private area both come only after
// authentication and the area's scope check (401/403 first).
func (s *Server) fallback() http.Handler {
	miss := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d := dialectOf(r)
		if methods, known := s.table.allowed(r); known && len(methods) > 0 {
			apierr.Write(w, r, d, apierr.MethodNotAllowed(r.Method, methods), nil)
			return
		}
		apierr.Write(w, r, d, apierr.NotFound("not_found", "no such route: "+r.Method+" "+trimPath(r.URL.Path)), nil)
	})
	guarded := make([]http.Handler, len(s.private))
	for i, p := range s.private {
		guarded[i] = s.Auth.Wrap(RequireScope(p.scope, s.log, miss))
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for i, p := range s.private {
			if p.contains(r.URL.Path) {
				guarded[i].ServeHTTP(w, r)
				return
			}
		}
		miss.ServeHTTP(w, r)
	})
}

// dialectOf picks the error shape of a request the route table answers
// itself: the LLM dialects by path (Anthropic for /v1/models when the
// caller sends anthropic-version, as the models handler does), the OAuth
// shape for the MCP and OAuth endpoints.
func dialectOf(r *http.Request) apierr.Dialect {
	p := r.URL.Path
	switch {
	case p == "/mcp" || strings.HasPrefix(p, "/oauth/") || strings.HasPrefix(p, "/.well-known/"):
		return apierr.OAuth
	}
	return auth.DialectOf(r)
}
