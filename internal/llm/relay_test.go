package llm_test

import (
	"bytes"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/llm"
	"github.com/bulwarkhq/bulwark/internal/llm/llmtest"
)

// recorder is the client side of a relay: it keeps what was written.
type recorder struct {
	mu  sync.Mutex
	buf bytes.Buffer
	err error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	return r.buf.Write(p)
}

func (r *recorder) take() []byte {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := bytes.Clone(r.buf.Bytes())
	r.buf.Reset()
	return out
}

// upstream serves frames over real HTTP, one at a time: frame i+1 is only
// written after the test says so.
func upstream(t *testing.T, frames []llmtest.Frame, next <-chan struct{}, abortAfter int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		for i, f := range frames {
			if f.Event != "" {
				w.Write([]byte("event: " + f.Event + "\n"))
			}
			w.Write(append(append([]byte("data: "), f.Data...), "\n\n"...))
			w.(http.Flusher).Flush()
			if i == abortAfter {
				panic(http.ErrAbortHandler) // the upstream connection breaks
			}
			if i == len(frames)-1 {
				return
			}
			select {
			case <-next:
			case <-r.Context().Done():
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

type relayed struct {
	res llm.RelayResult
	err error
}

func startRelay(t *testing.T, url string, from, to llmtest.Dialect, w *recorder, processed chan<- struct{}) <-chan relayed {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	src := llmtest.NewSSEReader(resp.Body)
	first := true
	src.Before = func() {
		if !first {
			processed <- struct{}{}
		}
		first = false
	}
	done := make(chan relayed, 1)
	go func() {
		res, err := llm.Relay(w, nil, src, from.NewDecoder(), to.NewEncoder(true))
		done <- relayed{res, err}
	}()
	return done
}

// TestRelayIncrementalOverHTTP proves streams are not buffered: each
// upstream frame's content reaches the client before the upstream sends the
// next frame.
func TestRelayIncrementalOverHTTP(t *testing.T) {
	for _, from := range llmtest.Dialects {
		body := read(t, from.Name+".stream.sse")
		frames := llmtest.SplitSSE(body)
		for _, to := range llmtest.Dialects {
			t.Run(from.Name+"/to_"+to.Name, func(t *testing.T) {
				_, events := translate(t, from, to, body)
				next, processed := make(chan struct{}), make(chan struct{})
				w := &recorder{}
				done := startRelay(t, upstream(t, frames, next, -1), from, to, w, processed)
				for i := range frames {
					if i < len(frames)-1 {
						select {
						case <-processed:
						case <-time.After(5 * time.Second):
							t.Fatalf("frame %d was not relayed before the next one was sent", i)
						}
					} else {
						r := <-done
						if r.err != nil || !r.res.Completed {
							t.Fatalf("relay = %+v, %v; want a completed stream", r.res, r.err)
						}
						if r.res.Usage == nil || r.res.Usage.OutputTokens == 0 {
							t.Errorf("usage not reported: %+v", r.res.Usage)
						}
					}
					got := w.take()
					for _, ev := range events[i] {
						if ev.Type == llm.EventBlockDelta && ev.Delta.Type == llm.DeltaText && !bytes.Contains(got, escaped(ev.Delta.Text)) {
							t.Errorf("frame %d: text %q not delivered at once (got %q)", i, ev.Delta.Text, got)
						}
					}
					if i < len(frames)-1 {
						next <- struct{}{}
					}
				}
			})
		}
	}
}

func TestRelayUpstreamBreaks(t *testing.T) {
	errorMark := map[string]string{"openai": `data: {"error":`, "anthropic": "event: error", "gemini": `data: {"error":`}
	for _, to := range llmtest.Dialects {
		t.Run("anthropic_to_"+to.Name, func(t *testing.T) {
			from := dialect(t, "anthropic")
			frames := llmtest.SplitSSE(read(t, "anthropic.stream.sse"))
			next, processed := make(chan struct{}), make(chan struct{}, len(frames))
			w := &recorder{}
			done := startRelay(t, upstream(t, frames, next, 7), from, to, w, processed)
			for range 7 {
				next <- struct{}{}
			}
			r := <-done
			if !errors.Is(r.err, llm.ErrUpstreamStream) || r.res.Completed {
				t.Fatalf("relay = %+v, %v; want ErrUpstreamStream", r.res, r.err)
			}
			out := string(w.take())
			if !strings.Contains(out, "Searching") || r.res.OutputChars == 0 {
				t.Errorf("content before the break was not delivered or counted: %s", out)
			}
			got := llmtest.SplitSSE([]byte(out))
			if last := frameText(got[len(got)-1]); !strings.Contains(string(last), errorMark[to.Name]) {
				t.Errorf("stream does not end with an error event: %s", out)
			}
		})
	}
}

func TestRelayClientGone(t *testing.T) {
	frames := llmtest.SplitSSE(read(t, "openai.stream.sse"))
	next, processed := make(chan struct{}), make(chan struct{}, len(frames))
	w := &recorder{err: errors.New("broken pipe")}
	done := startRelay(t, upstream(t, frames, next, -1), dialect(t, "openai"), dialect(t, "anthropic"), w, processed)
	r := <-done
	if r.err == nil || errors.Is(r.err, llm.ErrUpstreamStream) || !strings.Contains(r.err.Error(), "write to client") {
		t.Fatalf("err = %v, want a client write error", r.err)
	}
}
