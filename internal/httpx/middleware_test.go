package httpx

import (
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/reqid"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func openai(*http.Request) apierr.Dialect { return apierr.OpenAI }

func TestRequestID(t *testing.T) {
	var seen string
	h := RequestID()(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { seen = reqid.FromContext(r.Context()) }))
	tests := []struct {
		name, in string
		keep     bool
	}{
		{"well-formed is kept", "client-id_123", true},
		{"missing is generated", "", false},
		{"header injection is replaced", "a\r\nx: y", false},
		{"too long is replaced", strings.Repeat("a", 200), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			if tt.in != "" {
				r.Header["X-Request-Id"] = []string{tt.in}
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			got := w.Header().Get("X-Request-Id")
			if got != seen || w.Header()["Request-Id"] != nil {
				t.Fatalf("echoed %q, context %q", got, seen)
			}
			if tt.keep != (got == tt.in) || !reqid.Valid(got) {
				t.Fatalf("id %q for input %q", got, tt.in)
			}
		})
	}
}

func TestRecoverHidesPanic(t *testing.T) {
	var logs strings.Builder
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := Chain(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic("secret internal /etc/path") }), RequestID(), Recover(log, openai))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("GET", "/x", nil))
	if w.Code != 500 || strings.Contains(w.Body.String(), "secret internal") || !strings.Contains(w.Body.String(), w.Header().Get("X-Request-Id")) {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	if !strings.Contains(logs.String(), "secret internal") {
		t.Fatal("panic cause not logged")
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, hsts := range []bool{false, true} {
		w := httptest.NewRecorder()
		SecurityHeaders(hsts)(http.NotFoundHandler()).ServeHTTP(w, httptest.NewRequest("GET", "/", nil))
		h := w.Header()
		if h.Get("X-Content-Type-Options") != "nosniff" || h.Get("X-Frame-Options") != "DENY" || h.Get("Referrer-Policy") != "no-referrer" {
			t.Fatalf("headers %v", h)
		}
		if (h.Get("Strict-Transport-Security") != "") != hsts {
			t.Fatalf("HSTS with tls=%v: %q", hsts, h.Get("Strict-Transport-Security"))
		}
		if h.Get("Server") != "" {
			t.Fatal("server banner sent")
		}
	}
}

func TestCORS(t *testing.T) {
	ok := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(200) })
	tests := []struct {
		name       string
		origins    []string
		origin     string
		preflight  bool
		wantStatus int
		wantAllow  string
	}{
		{"empty allowlist sends nothing", nil, "https://evil.example", false, 200, ""},
		{"empty allowlist refuses preflight", nil, "https://evil.example", true, 403, ""},
		{"allowed origin echoed", []string{"https://app.example"}, "https://app.example", false, 200, "https://app.example"},
		{"allowed preflight", []string{"https://app.example"}, "https://app.example", true, 204, "https://app.example"},
		{"other origin not echoed", []string{"https://app.example"}, "https://app.example.evil", false, 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			method := "GET"
			if tt.preflight {
				method = "OPTIONS"
			}
			r := httptest.NewRequest(method, "/v1/models", nil)
			r.Header.Set("Origin", tt.origin)
			if tt.preflight {
				r.Header.Set("Access-Control-Request-Method", "POST")
			}
			w := httptest.NewRecorder()
			CORS(tt.origins, false)(ok).ServeHTTP(w, r)
			if w.Code != tt.wantStatus || w.Header().Get("Access-Control-Allow-Origin") != tt.wantAllow {
				t.Fatalf("%d allow=%q", w.Code, w.Header().Get("Access-Control-Allow-Origin"))
			}
		})
	}
}

func TestBodyLimit(t *testing.T) {
	read := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			apierr.Write(w, r, apierr.OpenAI, err, nil)
			return
		}
		w.WriteHeader(200)
	})
	h := BodyLimit(10, time.Minute, openai, discard)(read)
	tests := []struct {
		name    string
		body    string
		chunked bool
		want    int
	}{
		{"under", "12345", false, 200},
		{"declared over is refused before reading", strings.Repeat("x", 11), false, 413},
		{"undeclared over is cut off", strings.Repeat("x", 11), true, 413},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/", strings.NewReader(tt.body))
			if tt.chunked {
				r.ContentLength = -1
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tt.want {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
		})
	}
}

// Security and request-id headers share their value slices between
// responses; a handler that adds to or replaces them on one response must
// not change what any other response carries.
func TestSharedHeaderValuesStayPerResponse(t *testing.T) {
	n := 0
	h := Chain(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Add("X-Frame-Options", "SAMEORIGIN")
			w.Header().Add("X-Request-Id", "extra")
			w.Header().Set("Referrer-Policy", "origin")
		}
	}), RequestID(), SecurityHeaders(true))
	for i := range 3 {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
		got := rec.Result().Header
		if i == 0 {
			if len(got.Values("X-Frame-Options")) != 2 || got.Get("Referrer-Policy") != "origin" {
				t.Fatalf("first response: %v", got)
			}
			continue
		}
		if v := got.Values("X-Frame-Options"); len(v) != 1 || v[0] != "DENY" {
			t.Fatalf("response %d X-Frame-Options %q", i, v)
		}
		if got.Get("Referrer-Policy") != "no-referrer" || len(got.Values("X-Request-Id")) != 1 {
			t.Fatalf("response %d headers %v", i, got)
		}
	}
}

// bodyServer serves h behind BodyLimit with a short body read timeout on a
// real connection (deadlines are the connection's, or with h2 the
// stream's) and returns the server's base URL and a client for it.
func bodyServer(t *testing.T, timeout time.Duration, h2 bool, h http.HandlerFunc) (string, *http.Client) {
	t.Helper()
	srv := httptest.NewUnstartedServer(BodyLimit(1<<20, timeout, openai, discard)(h))
	if h2 {
		srv.EnableHTTP2 = true
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return srv.URL, srv.Client()
}

// A body that stops arriving fails the handler's read at the deadline,
// instead of holding the connection.
func TestBodyReadDeadline(t *testing.T) {
	readErr := make(chan error, 1)
	base, _ := bodyServer(t, 150*time.Millisecond, false, func(w http.ResponseWriter, r *http.Request) {
		_, err := io.ReadAll(r.Body)
		readErr <- err
	})
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	if _, err := io.WriteString(conn, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"partial\":"); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-readErr:
		if err == nil {
			t.Fatal("a body that never finished was read without error")
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("read failed after %v, want about the deadline", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the handler's read never hit the deadline")
	}
}

// Once the body is in, the deadline no longer applies: an answer streamed
// for several times the body timeout reaches the client whole, with the
// request's context alive to its end — whether the handler read the body
// to its end or stopped early, over HTTP/1.1 (net/http lifts the
// connection's deadline before its background read) and HTTP/2 (a
// stream's read deadline fails only reads of its body).
func TestBodyDeadlineDoesNotCutStreams(t *testing.T) {
	const timeout = 100 * time.Millisecond
	for _, h2 := range []bool{false, true} {
		for _, readAll := range []bool{true, false} {
			ctxErr := make(chan error, 1)
			base, client := bodyServer(t, timeout, h2, func(w http.ResponseWriter, r *http.Request) {
				if readAll {
					_, _ = io.ReadAll(r.Body)
				} else {
					_, _ = r.Body.Read(make([]byte, 4))
				}
				for i := range 6 {
					_, _ = io.WriteString(w, "data: "+string(rune('a'+i))+"\n\n")
					_ = http.NewResponseController(w).Flush()
					time.Sleep(timeout)
				}
				ctxErr <- r.Context().Err()
			})
			resp, err := client.Post(base+"/", "application/json", strings.NewReader(`{"model":"m","stream":true}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := resp.ProtoMajor == 2; got != h2 {
				t.Fatalf("served over HTTP/%d", resp.ProtoMajor)
			}
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err != nil || strings.Count(string(body), "data: ") != 6 {
				t.Fatalf("h2 %v, read all %v: stream cut: %q, %v", h2, readAll, body, err)
			}
			if err := <-ctxErr; err != nil {
				t.Fatalf("h2 %v, read all %v: request context ended mid-stream: %v", h2, readAll, err)
			}
		}
	}
}

// failingFlusher is a response whose flush fails (a client that left).
type failingFlusher struct{ http.ResponseWriter }

func (failingFlusher) FlushError() error { return io.ErrClosedPipe }

// The recorder passes a flush's error on, so a relay learns at the flush
// that its client left, and still serves writers with only Flush.
func TestStatusRecorderFlushError(t *testing.T) {
	rec := &StatusRecorder{ResponseWriter: failingFlusher{httptest.NewRecorder()}}
	if err := http.NewResponseController(rec).Flush(); err != io.ErrClosedPipe {
		t.Fatalf("flush error through the recorder: %v", err)
	}
	rec.Flush() // the error-less form drops it
	inner := httptest.NewRecorder()
	if err := (&StatusRecorder{ResponseWriter: inner}).FlushError(); err != nil || !inner.Flushed {
		t.Fatalf("plain flusher: %v, flushed %v", err, inner.Flushed)
	}
}
