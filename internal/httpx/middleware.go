// Package httpx holds the HTTP middleware every request passes through
// before authentication: request id, panic recovery, security headers,
// CORS allowlist, body cap and access logging. Middleware is composed once
// at startup with Chain.
package httpx

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// Middleware wraps a handler.
type Middleware func(http.Handler) http.Handler

// Chain composes middleware so that the first one listed runs first.
func Chain(h http.Handler, mw ...Middleware) http.Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
	}
	return h
}

// RequestID accepts a well-formed x-request-id from the client or makes
// one, puts it in the context and echoes it. The request-id header
// Anthropic's SDKs read is added where the Anthropic dialect answers (the
// gateway, apierr.Write): a ninth response header would grow every
// response's header map, and its clone, past Go's small-map size.
func RequestID() Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			id := r.Header.Get("X-Request-Id")
			if !reqid.Valid(id) {
				id = reqid.New()
			}
			// Canonical key, assigned directly: headers are written, never
			// edited in place.
			w.Header()["X-Request-Id"] = []string{id}
			next.ServeHTTP(w, r.WithContext(reqid.NewContext(r.Context(), id)))
		})
	}
}

// Recover turns a panic into a 500 with the request id; the stack goes to
// the log only. http.ErrAbortHandler is re-raised so aborted streams stay
// aborted.
func Recover(log *slog.Logger, dialect func(*http.Request) apierr.Dialect) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				log.Error("panic", "request_id", reqid.FromContext(r.Context()), "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				apierr.Write(w, r, dialect(r), apierr.Internal(fmt.Errorf("panic: %v", v)), nil)
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// securityHeaders are assigned under their canonical names with shared
// value slices: the net/http server only reads response headers, and
// Header.Set/Add replace or append (a full one-element slice is copied on
// append), so no response can change another's. This saves an allocation
// and a canonicalisation per header per request.
var securityHeaders = [...]struct {
	name  string
	value []string
}{
	{"X-Content-Type-Options", []string{"nosniff"}},
	{"X-Frame-Options", []string{"DENY"}},
	{"Referrer-Policy", []string{"no-referrer"}},
	{"Cross-Origin-Resource-Policy", []string{"same-origin"}},
}

var hstsValue = []string{"max-age=63072000; includeSubDomains"}

// SecurityHeaders sets the headers every response carries; HSTS only when
// served over TLS (or a declared TLS proxy).
func SecurityHeaders(hsts bool) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := w.Header()
			for _, kv := range securityHeaders {
				h[kv.name] = kv.value
			}
			if hsts {
				h["Strict-Transport-Security"] = hstsValue
			}
			next.ServeHTTP(w, r)
		})
	}
}

// CORS answers cross-origin requests only for allowlisted origins. With an
// empty allowlist no cross-origin headers are ever sent.
func CORS(origins []string, credentials bool) Middleware {
	wildcard := slices.Contains(origins, "*")
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			origin := r.Header.Get("Origin")
			allowed := origin != "" && (wildcard || slices.Contains(origins, origin))
			if allowed {
				h := w.Header()
				h.Add("Vary", "Origin")
				if wildcard && !credentials {
					h.Set("Access-Control-Allow-Origin", "*")
				} else {
					h.Set("Access-Control-Allow-Origin", origin)
				}
				if credentials {
					h.Set("Access-Control-Allow-Credentials", "true")
				}
				h.Set("Access-Control-Expose-Headers", "x-request-id, request-id, retry-after, x-ratelimit-remaining-requests")
			}
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				if !allowed {
					w.WriteHeader(http.StatusForbidden)
					return
				}
				h := w.Header()
				h.Set("Access-Control-Allow-Methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS")
				h.Set("Access-Control-Allow-Headers", "authorization, content-type, x-api-key, api-key, anthropic-version, anthropic-beta, x-request-id, idempotency-key, openai-organization, openai-project, x-stainless-arch, x-stainless-os, x-stainless-lang, x-stainless-package-version, x-stainless-runtime, x-stainless-runtime-version, x-stainless-retry-count, x-stainless-timeout")
				h.Set("Access-Control-Max-Age", "600")
				w.WriteHeader(http.StatusNoContent)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// BodyLimit refuses bodies over limit with 413: a declared Content-Length
// is refused before reading anything; an undeclared one is cut off by
// http.MaxBytesReader, whose error handlers map to 413. The body must also
// arrive within readTimeout (a client trickling bytes cannot hold a
// connection forever); the deadline is lifted once the body is read, so
// long streamed responses are not cut.
func BodyLimit(limit int64, readTimeout time.Duration, dialect func(*http.Request) apierr.Dialect, log *slog.Logger) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.ContentLength > limit {
				apierr.Write(w, r, dialect(r), apierr.TooLarge(limit), log)
				return
			}
			if readTimeout > 0 && r.Body != http.NoBody {
				// Lifted by net/http itself when the body hits its end
				// (it clears the deadline before its background read of
				// the connection); a handler that stops reading early
				// leaves nothing reading the connection until the next
				// request, which sets its own deadline.
				_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(readTimeout))
			}
			r.Body = http.MaxBytesReader(w, r.Body, limit)
			next.ServeHTTP(w, r)
		})
	}
}

// StatusRecorder records the status and bytes written; it passes Flush
// through so streaming keeps working.
type StatusRecorder struct {
	http.ResponseWriter
	Status int
	Bytes  int64
}

// WriteHeader records the status.
func (s *StatusRecorder) WriteHeader(code int) {
	if s.Status == 0 {
		s.Status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

// Write records bytes.
func (s *StatusRecorder) Write(b []byte) (int, error) {
	if s.Status == 0 {
		s.Status = http.StatusOK
	}
	n, err := s.ResponseWriter.Write(b)
	s.Bytes += int64(n)
	return n, err
}

// Flush flushes if the underlying writer can.
func (s *StatusRecorder) Flush() { _ = s.FlushError() }

// FlushError flushes as http.ResponseController would, returning the
// write error a Flush drops.
func (s *StatusRecorder) FlushError() error {
	if f, ok := s.ResponseWriter.(interface{ FlushError() error }); ok {
		return f.FlushError() // *http.response: no controller to build
	}
	return http.NewResponseController(s.ResponseWriter).Flush()
}

// Unwrap exposes the underlying writer to http.ResponseController.
func (s *StatusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// Observer receives one call per finished request (metrics).
type Observer func(route string, status int, d time.Duration)

// AccessLog logs each request (method, path without the query string,
// status, duration, request id) and feeds the observer. The query string is
// never logged: it could hold a credential someone put there by mistake.
func AccessLog(log *slog.Logger, route func(*http.Request) string, obs Observer) Middleware {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			rec := &StatusRecorder{ResponseWriter: w}
			next.ServeHTTP(rec, r)
			d := time.Since(start)
			if rec.Status == 0 {
				rec.Status = http.StatusOK
			}
			if obs != nil {
				obs(route(r), rec.Status, d)
			}
			if log.Enabled(r.Context(), slog.LevelDebug) || rec.Status >= 400 {
				log.LogAttrs(r.Context(), slog.LevelInfo, "http", slog.String("method", r.Method),
					slog.String("path", sanitizePath(r.URL.Path)), slog.Int("status", rec.Status),
					slog.Duration("duration", d), slog.Int64("bytes", rec.Bytes),
					slog.String("request_id", reqid.FromContext(r.Context())))
			}
		})
	}
}

// sanitizePath truncates long paths so a log line stays bounded.
func sanitizePath(p string) string {
	if len(p) > 256 {
		return p[:256] + "…"
	}
	return strings.ToValidUTF8(p, "?")
}
