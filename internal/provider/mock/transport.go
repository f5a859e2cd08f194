package mock

import (
	"io"
	"net/http"
	"sync"
)

// Transport serves Handler in-process as an http.RoundTripper, streaming
// the response through a pipe so SSE events arrive as they are written,
// exactly as over a socket. Cancelling the request's context stops the
// handler. It is safe for concurrent use.
type Transport struct {
	Handler Handler
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	pr, pw := io.Pipe()
	rw := &pipeWriter{header: http.Header{}, pw: pw, ready: make(chan struct{})}
	go func() {
		defer func() {
			if v := recover(); v != nil {
				if v != http.ErrAbortHandler { //nolint:errorlint // a recovered panic value, compared by identity as net/http does
					panic(v)
				}
				rw.Abort(ErrCut)
			}
		}()
		t.Handler.ServeHTTP(rw, req)
		rw.WriteHeader(http.StatusOK)
		_ = pw.Close()
	}()
	select {
	case <-rw.ready:
	case <-req.Context().Done():
		_ = pr.CloseWithError(req.Context().Err())
		return nil, req.Context().Err()
	}
	if rw.aborted {
		return nil, ErrCut
	}
	go func() {
		<-req.Context().Done()
		_ = pr.CloseWithError(req.Context().Err())
	}()
	return &http.Response{
		Status: http.StatusText(rw.status), StatusCode: rw.status, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: rw.sent, Body: pr, ContentLength: -1, Request: req,
	}, nil
}

// pipeWriter is the in-process ResponseWriter behind Transport.
type pipeWriter struct {
	header  http.Header
	sent    http.Header
	pw      *io.PipeWriter
	once    sync.Once
	ready   chan struct{}
	status  int
	aborted bool
}

func (p *pipeWriter) Header() http.Header { return p.header }

func (p *pipeWriter) WriteHeader(code int) {
	p.once.Do(func() {
		p.status = code
		p.sent = p.header.Clone() // the handler must not race the reader
		close(p.ready)
	})
}

func (p *pipeWriter) Write(b []byte) (int, error) {
	p.WriteHeader(http.StatusOK)
	return p.pw.Write(b)
}

// Flush is a no-op: every Write already reaches the reader.
func (p *pipeWriter) Flush() {}

// Abort breaks the stream: the reader sees err instead of EOF.
func (p *pipeWriter) Abort(err error) {
	p.once.Do(func() {
		p.aborted = true
		close(p.ready)
	})
	_ = p.pw.CloseWithError(err)
}
