// Package upstreamtest is the one realistic fake LLM upstream for Bulwark's
// tests and benchmarks. It speaks the OpenAI and Anthropic wire formats
// byte-for-byte (through the mock provider's handler) and the Gemini API
// (gemini.go, on /v1beta/models/), records every
// request it receives for golden tests, and injects faults: latency, 429
// with retry-after, 500, connection reset, a stream cut mid-way, a hang
// that only the client's cancel ends, and a slow drip of events.
package upstreamtest

import (
	"bytes"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"time"

	"github.com/bulwarkhq/bulwark/internal/provider/mock"
)

// FaultKind selects an injected failure.
type FaultKind int

// Faults.
const (
	None        FaultKind = iota
	Status429             // 429 with Retry-After (RetryAfter, default 1s) in the route's dialect
	Status500             // 500 with an error body
	Reset                 // close the connection without answering
	CutStream             // stream normally for a few events, then cut the connection
	Hang                  // send nothing until the client cancels (recorded)
	SlowDrip              // stream with Drip between events
	StreamError           // stream two events, then an error event (Body) in the route's dialect, and end
)

// Fault is an injected failure and its parameters.
type Fault struct {
	Kind    FaultKind
	Latency time.Duration // added before answering (any kind)
	// Times limits the fault to the next n requests (0 = until cleared).
	Times      int
	RetryAfter int // seconds, for Status429
	Drip       time.Duration
	// Body replaces the error body for Status429/Status500 (to test that
	// upstream bodies never reach clients), and is the data of the error
	// event of StreamError.
	Body string
}

// Request is one request the server received.
type Request struct {
	Method, Path, RawQuery string
	Header                 http.Header
	Body                   []byte
}

// Server is a fake upstream on 127.0.0.1. It is safe for concurrent use.
type Server struct {
	*httptest.Server
	mu       sync.Mutex
	fault    Fault
	reqs     []Request
	record   bool
	canceled chan string
}

// New starts a recording server; Close it when done.
func New() *Server {
	s := NewUnstarted(true)
	s.Start()
	return s
}

// NewUnstarted returns a server that is not yet listening (call Start or
// set Listener first); record=false keeps memory flat under load.
func NewUnstarted(record bool) *Server {
	s := &Server{record: record, canceled: make(chan string, 64)}
	s.Server = httptest.NewUnstartedServer(s)
	return s
}

// Handler returns the fake upstream as an http.Handler (for running it on
// a listener of the caller's choice, as cmd/fakeupstream does).
func (s *Server) Handler() http.Handler { return s }

// SetFault installs f for subsequent requests.
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Requests returns copies of the recorded requests in arrival order.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.reqs...)
}

// Last returns the last recorded request (zero when none).
func (s *Server) Last() Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		return Request{}
	}
	return s.reqs[len(s.reqs)-1]
}

// Canceled receives the path of every request whose client went away
// while the server was still answering (hang or stream).
func (s *Server) Canceled() <-chan string { return s.canceled }

// takeFault returns the fault for this request, consuming one use.
func (s *Server) takeFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if s.fault.Times > 0 {
		s.fault.Times--
		if s.fault.Times == 0 {
			s.fault = Fault{}
		}
	}
	return f
}

// ServeHTTP records the request, applies the fault and answers as the
// vendor would.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	r.Body = io.NopCloser(bytes.NewReader(body))
	if s.record {
		s.mu.Lock()
		s.reqs = append(s.reqs, Request{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
	}
	f := s.takeFault()
	if f.Latency > 0 && !sleepCtx(r, f.Latency) {
		s.noteCancel(r)
		return
	}
	switch f.Kind {
	case Status429, Status500:
		s.errorReply(w, r, f)
		return
	case Reset:
		reset(w)
		return
	case Hang:
		<-r.Context().Done()
		s.noteCancel(r)
		return
	case CutStream, SlowDrip, StreamError:
		w = &faultWriter{ResponseWriter: w, f: f, r: r}
	}
	if bytes.HasPrefix([]byte(r.URL.Path), []byte(geminiPrefix)) {
		s.serveGemini(w, r, body)
	} else {
		mock.Handler{}.ServeHTTP(w, r)
	}
	if r.Context().Err() != nil {
		s.noteCancel(r)
	}
}

func (s *Server) noteCancel(r *http.Request) {
	select {
	case s.canceled <- r.URL.Path:
	default:
	}
}

func (s *Server) errorReply(w http.ResponseWriter, r *http.Request, f Fault) {
	code := http.StatusInternalServerError
	if f.Kind == Status429 {
		code = http.StatusTooManyRequests
		ra := f.RetryAfter
		if ra <= 0 {
			ra = 1
		}
		w.Header().Set("Retry-After", strconv.Itoa(ra))
	}
	body := f.Body
	if body == "" && bytes.HasPrefix([]byte(r.URL.Path), []byte(geminiPrefix)) {
		geminiError(w, code, "injected failure")
		return
	}
	if body == "" {
		if bytes.HasPrefix([]byte(r.URL.Path), []byte("/v1/messages")) {
			body = `{"type":"error","error":{"type":"` + map[bool]string{true: "rate_limit_error", false: "api_error"}[code == 429] + `","message":"injected failure"}}`
		} else {
			body = `{"error":{"message":"injected failure","type":"server_error","param":null,"code":null}}`
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, body)
}

// reset closes the connection with an RST, without a response.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = conn.Close()
}

func sleepCtx(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// faultWriter cuts or paces a stream at event boundaries.
type faultWriter struct {
	http.ResponseWriter
	f      Fault
	r      *http.Request
	events int
	failed bool // StreamError's event was sent: what follows is dropped
}

func (fw *faultWriter) Write(b []byte) (int, error) {
	fw.events++
	if fw.f.Kind == StreamError && fw.events > 2 {
		if !fw.failed {
			fw.failed = true
			if _, err := fw.ResponseWriter.Write(fw.errorEvent()); err != nil {
				return 0, err
			}
		}
		return len(b), nil
	}
	if fw.f.Kind == CutStream && fw.events > 3 {
		panic(http.ErrAbortHandler) // net/http drops the connection mid-body
	}
	if fw.f.Kind == SlowDrip && fw.events > 1 && !sleepCtx(fw.r, fw.f.Drip) {
		return 0, fw.r.Context().Err()
	}
	return fw.ResponseWriter.Write(b)
}

// errorEvent is StreamError's event: Body (by default a server error) as
// the route's dialect frames an error mid-stream.
func (fw *faultWriter) errorEvent() []byte {
	anth := bytes.HasPrefix([]byte(fw.r.URL.Path), []byte("/v1/messages"))
	body := fw.f.Body
	switch {
	case body != "":
	case anth:
		body = `{"type":"error","error":{"type":"api_error","message":"injected failure"}}`
	default:
		body = `{"error":{"message":"injected failure","type":"server_error","param":null,"code":null}}`
	}
	if anth {
		return []byte("event: error\ndata: " + body + "\n\n")
	}
	return []byte("data: " + body + "\n\n")
}

// Flush forwards to the underlying writer so every event leaves at once.
func (fw *faultWriter) Flush() { http.NewResponseController(fw.ResponseWriter).Flush() }

// Unwrap lets http.ResponseController reach the real writer.
func (fw *faultWriter) Unwrap() http.ResponseWriter { return fw.ResponseWriter }
