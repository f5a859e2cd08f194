package gateway

import "net/http"

// geminiAlt checks the alt query parameter of a Gemini stream: "sse" asks
// for SSE framing, none or "json" for Google's default, a JSON array
// streamed element by element (see gemini.NewArrayStreamEncoder);
// anything else is refused.
func geminiAlt(r *http.Request) (array bool, ok bool) {
	switch r.URL.Query().Get("alt") {
	case "sse":
		return false, true
	case "", "json":
		return true, true
	}
	return false, false
}

// arrayFramed reports whether this call is a Gemini stream in the
// JSON-array framing.
func (x *exchange) arrayFramed() bool {
	if x.rt != routeGemini {
		return false
	}
	array, _ := geminiAlt(x.r)
	return array
}

// arrayStreamWriter gives a translated stream relayed to a JSON-array
// caller the array's media type: the relay sets the SSE headers (and keeps
// no-cache and X-Accel-Buffering: no, which an array stream needs as
// much) and writes what the array encoder produced, element by element,
// flushing each, so usage accounting and the honest ending are the SSE
// path's own.
type arrayStreamWriter struct {
	http.ResponseWriter
	started bool
}

func (a *arrayStreamWriter) WriteHeader(code int) {
	if !a.started {
		a.started = true
		a.Header().Set("Content-Type", "application/json; charset=UTF-8")
	}
	a.ResponseWriter.WriteHeader(code)
}

func (a *arrayStreamWriter) Write(p []byte) (int, error) {
	if !a.started {
		a.WriteHeader(http.StatusOK)
	}
	return a.ResponseWriter.Write(p)
}

// Unwrap lets http.ResponseController flush the real writer.
func (a *arrayStreamWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// streamWriter is w, or w giving the JSON-array media type when the
// caller's stream is an array.
func (t *translation) streamWriter(w http.ResponseWriter) http.ResponseWriter {
	if t.x.arrayFramed() {
		return &arrayStreamWriter{ResponseWriter: w}
	}
	return w
}
