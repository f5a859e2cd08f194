package sse

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

type ev struct{ name, data string }

var readCases = []struct {
	name    string
	in      string
	want    []ev
	wantErr error // after the events
}{
	{name: "openai chunks and done", in: "data: {\"a\":1}\n\ndata: [DONE]\n\n", want: []ev{{"", `{"a":1}`}, {"", "[DONE]"}}, wantErr: io.EOF},
	{name: "anthropic named events", in: "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n", want: []ev{{"message_start", "{}"}, {"ping", `{"type":"ping"}`}}, wantErr: io.EOF},
	{name: "crlf", in: "event: x\r\ndata: y\r\n\r\n", want: []ev{{"x", "y"}}, wantErr: io.EOF},
	{name: "multi-line data joined", in: "data: a\ndata: b\n\n", want: []ev{{"", "a\nb"}}, wantErr: io.EOF},
	{name: "no space after colon", in: "data:x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
	{name: "comments and ids skipped", in: ": keep-alive\nid: 7\nretry: 10\ndata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
	{name: "comment-only block is not an event", in: ": ping\n\ndata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
	{name: "leading blank lines", in: "\n\n\ndata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
	{name: "cut inside an event", in: "data: {\"a\":1}\n\ndata: {\"b\"", want: []ev{{"", `{"a":1}`}}, wantErr: io.ErrUnexpectedEOF},
	{name: "cut before blank line", in: "data: x\n", wantErr: io.ErrUnexpectedEOF},
	{name: "empty stream", in: "", wantErr: io.EOF},
	// The spec skips one UTF-8 byte order mark, at the stream's start only.
	{name: "bom at the start", in: "\xEF\xBB\xBFdata: x\n\n", want: []ev{{"", "x"}}, wantErr: io.EOF},
	{name: "bom before a named event", in: "\xEF\xBB\xBFevent: e\r\ndata: x\r\n\r\n", want: []ev{{"e", "x"}}, wantErr: io.EOF},
	{name: "bom only", in: "\xEF\xBB\xBF", wantErr: io.EOF},
	{name: "cut inside a bom", in: "\xEF\xBB", wantErr: io.ErrUnexpectedEOF},
	{name: "a second bom is part of the line", in: "\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\ndata: y\n\n", want: []ev{{"", "y"}}, wantErr: io.EOF},
	{name: "bom after the start is part of the line", in: "data: a\n\n\xEF\xBB\xBFdata: b\n\n", want: []ev{{"", "a"}}, wantErr: io.EOF},
	// Lines end in CRLF, LF or a lone CR.
	{name: "lone cr", in: "data: a\r\rdata: b\r\r", want: []ev{{"", "a"}, {"", "b"}}, wantErr: io.EOF},
	{name: "lone cr in a multi-line event", in: "event: e\rdata: a\rdata: b\r\r", want: []ev{{"e", "a\nb"}}, wantErr: io.EOF},
	{name: "cr then crlf", in: "data: a\r\r\ndata: b\n\n", want: []ev{{"", "a"}, {"", "b"}}, wantErr: io.EOF},
	{name: "mixed line ends", in: "data: 1\rdata: 2\r\ndata: 3\n\r\n: c\r\rdata: 4\n\r", want: []ev{{"", "1\n2\n3"}, {"", "4"}}, wantErr: io.EOF},
	{name: "crlf is one line end", in: "data: a\r\ndata: b\r\n\r\ndata: c\r\n\r\n", want: []ev{{"", "a\nb"}, {"", "c"}}, wantErr: io.EOF},
	{name: "cut after a lone cr", in: "data: a\r", wantErr: io.ErrUnexpectedEOF},
}

// TestReader reads each case whole, one byte at a time, and split in two
// at every byte: where the reads end must not change the events (a CR
// that ends one read and an LF that starts the next are one CRLF).
func TestReader(t *testing.T) {
	for _, tt := range readCases {
		t.Run(tt.name, func(t *testing.T) {
			check := func(how string, src io.Reader) {
				t.Helper()
				got, err := readAll(src)
				if !errors.Is(err, tt.wantErr) || !slices.Equal(got, tt.want) {
					t.Errorf("%s: events %q, err %v; want %q, %v", how, got, err, tt.want, tt.wantErr)
				}
			}
			check("whole", strings.NewReader(tt.in))
			check("byte by byte", iotest.OneByteReader(strings.NewReader(tt.in)))
			for i := 1; i < len(tt.in); i++ {
				check(fmt.Sprintf("split at %d", i), &pieces{parts: []string{tt.in[:i], tt.in[i:]}})
			}
		})
	}
}

// readAll reads every event of src, and the error that ended it.
func readAll(src io.Reader) ([]ev, error) {
	r := NewReader(src)
	defer r.Release()
	var got []ev
	for {
		e, err := r.Next()
		if err != nil {
			return got, err
		}
		got = append(got, ev{string(e.Name), string(e.Data)})
	}
}

// pieces returns its parts one read each, and counts the reads.
type pieces struct {
	parts []string
	reads int
}

func (p *pieces) Read(b []byte) (int, error) {
	p.reads++
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	if p.parts[0] = p.parts[0][n:]; p.parts[0] == "" {
		p.parts = p.parts[1:]
	}
	return n, nil
}

// A CR that ends a read ends its line at once: an event whose blank line
// is that CR is returned without waiting for the next read (which may be
// long in coming), and an LF that starts the next read is the rest of a
// CRLF — in the middle of an event too, where taking it for an empty line
// would cut the event in two.
func TestReaderCRAtTheEndOfARead(t *testing.T) {
	src := &pieces{parts: []string{"data: a\r\r", "\ndata: b\r", "\ndata: c\r", "\r", "\n\r", "\n"}}
	r := NewReader(src)
	defer r.Release()
	if e, err := r.Next(); err != nil || string(e.Data) != "a" || src.reads != 1 {
		t.Fatalf("first event %q, %v after %d reads; want a after 1", e.Data, err, src.reads)
	}
	if e, err := r.Next(); err != nil || string(e.Data) != "b\nc" || src.reads != 4 {
		t.Fatalf("second event %q, %v after %d reads; want b\\nc after 4", e.Data, err, src.reads)
	}
	if e, err := r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %q, %v; want io.EOF", e.Data, err)
	}
}

func TestLineLimit(t *testing.T) {
	r := NewReader(strings.NewReader("data: " + strings.Repeat("x", 100) + "\n\n"))
	r.maxLine = 50
	if _, err := r.Next(); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err = %v, want ErrLineTooLong", err)
	}
}

func TestWriterFramesAndFlushes(t *testing.T) {
	tests := []struct {
		name, evName, data, want string
	}{
		{"unnamed", "", `{"a":1}`, "data: {\"a\":1}\n\n"},
		{"named", "message_stop", `{"type":"message_stop"}`, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"},
		{"multi-line", "", "a\nb", "data: a\ndata: b\n\n"},
		{"done", "", "[DONE]", "data: [DONE]\n\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			w := NewWriter(rec)
			if err := w.Event([]byte(tt.evName), []byte(tt.data)); err != nil {
				t.Fatal(err)
			}
			if rec.Body.String() != tt.want || !rec.Flushed {
				t.Errorf("wrote %q flushed=%v, want %q", rec.Body.String(), rec.Flushed, tt.want)
			}
		})
	}
}

// FuzzReader holds the Reader to specEvents, the spec's parsing written
// plainly, whether the stream arrives whole or one byte at a time, checks
// that no event carries a line end the Writer could not frame, and that
// every event survives a write/read round trip unchanged.
func FuzzReader(f *testing.F) {
	for _, tt := range readCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		want, wantErr := specEvents(in)
		for how, src := range map[string]io.Reader{"whole": bytes.NewReader(in), "byte by byte": iotest.OneByteReader(bytes.NewReader(in))} {
			got, err := readAll(src)
			if !errors.Is(err, wantErr) || !slices.Equal(got, want) {
				t.Fatalf("%s: events %q, err %v; the spec reads %q, %v", how, got, err, want, wantErr)
			}
		}
		for _, e := range want {
			if strings.ContainsAny(e.name, "\r\n") || strings.ContainsRune(e.data, '\r') {
				t.Fatalf("event %q carries a line end", e)
			}
			wire := AppendEvent(nil, []byte(e.name), []byte(e.data))
			back, err := readAll(bytes.NewReader(wire))
			empty := e.name == "" && e.data == "" // encodes to nothing: no event to read back
			if !errors.Is(err, io.EOF) || (!empty && (len(back) != 1 || back[0] != e)) {
				t.Fatalf("round trip of %q gave %q, %v", wire, back, err)
			}
		}
	})
}

// specEvents parses a stream as the WHATWG spec describes, written for
// clarity, not speed: the reference the Reader is held to. Like Next, it
// also returns a named event without data (the spec drops those; the
// relays forward them), skips id and retry, and reports a stream cut
// inside an event or a line as io.ErrUnexpectedEOF.
func specEvents(in []byte) (events []ev, err error) {
	s := strings.TrimPrefix(string(in), "\uFEFF")
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	lines := strings.Split(s, "\n")
	cut := lines[len(lines)-1] // after the last line end
	var e ev
	started, hasData := false, false
	for _, line := range lines[:len(lines)-1] {
		if line == "" {
			if hasData || e.name != "" {
				events = append(events, e)
			}
			e, started, hasData = ev{}, false, false
			continue
		}
		started = true
		field, value, _ := strings.Cut(line, ":")
		value = strings.TrimPrefix(value, " ")
		switch field {
		case "event":
			e.name = value
		case "data":
			if hasData {
				e.data += "\n"
			}
			e.data += value
			hasData = true
		}
	}
	if started || cut != "" {
		return events, io.ErrUnexpectedEOF
	}
	return events, io.EOF
}

func BenchmarkRelayEvent(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hello "},"finish_reason":null}]}` + "\n\n"
	stream := []byte(strings.Repeat(chunk, 64))
	b.SetBytes(int64(len(stream)))
	b.ReportAllocs()
	var out []byte
	for b.Loop() {
		r := NewReader(bytes.NewReader(stream))
		for {
			e, err := r.Next()
			if err != nil {
				break
			}
			out = AppendEvent(out[:0], e.Name, e.Data)
		}
	}
}

// TestLinesLongerThanBuffer checks that events far larger than the read
// buffer (a long tool-call argument, a big JSON chunk) arrive intact,
// whether the upstream sends them in one write or byte by byte, and
// whatever the line ends.
func TestLinesLongerThanBuffer(t *testing.T) {
	tests := []struct {
		name string
		size int
	}{
		{"just over the buffer", readBuffer + 1},
		{"ten buffers", 10 * readBuffer},
		{"a megabyte", 1 << 20},
		// The CR of the data line's CRLF is the last byte of the first read.
		{"CR at the buffer's end", readBuffer - len("event: big\ndata: ") - 1},
	}
	for _, tt := range tests {
		for _, oneByte := range []bool{false, true} {
			for _, eol := range []string{"\n", "\r"} {
				t.Run(fmt.Sprintf("%s/one byte reads %v/eol %q", tt.name, oneByte, eol), func(t *testing.T) {
					checkLongLine(t, "event: big"+eol+"data: "+strings.Repeat("y", tt.size)+"\r\ndata: z"+eol+eol+"data: next"+eol+eol, tt.size, oneByte)
				})
			}
		}
	}
}

// checkLongLine reads in: an event named big whose data is size bytes and
// a line "z", then one with data "next".
func checkLongLine(t *testing.T, in string, size int, oneByte bool) {
	t.Helper()
	data := strings.Repeat("y", size) + "\nz"
	var src io.Reader = strings.NewReader(in)
	if oneByte {
		src = iotest.OneByteReader(src)
	}
	r := NewReader(src)
	ev, err := r.Next()
	if err != nil || string(ev.Name) != "big" || string(ev.Data) != data {
		t.Fatalf("first event: name %q, %d data bytes, err %v; want big, %d bytes", ev.Name, len(ev.Data), err, len(data))
	}
	if ev, err = r.Next(); err != nil || string(ev.Data) != "next" {
		t.Fatalf("second event: %q, %v", ev.Data, err)
	}
	if _, err = r.Next(); !errors.Is(err, io.EOF) {
		t.Fatalf("end: %v, want io.EOF", err)
	}
}

// A released reader's buffer is reused without carrying anything over: a
// stream abandoned mid-way (its buffer still holding events) never leaks
// into the next stream read with the recycled buffer.
func TestReleaseRecyclesCleanly(t *testing.T) {
	for i := range 50 {
		a := NewReader(strings.NewReader("data: a1\n\ndata: a2\n\ndata: a3\n\n"))
		if ev, err := a.Next(); err != nil || string(ev.Data) != "a1" {
			t.Fatalf("a: %q %v", ev.Data, err)
		}
		a.Release()
		a.Release() // idempotent
		b := NewReader(strings.NewReader(fmt.Sprintf("event: x\ndata: b%d\n\n", i)))
		ev, err := b.Next()
		if err != nil || string(ev.Name) != "x" || string(ev.Data) != fmt.Sprint("b", i) {
			t.Fatalf("b after a released: %q %q %v", ev.Name, ev.Data, err)
		}
		if _, err := b.Next(); !errors.Is(err, io.EOF) {
			t.Fatalf("b did not end cleanly: %v", err)
		}
		b.Release()
	}
}

// The header values are shared between responses: changing one
// response's headers must not change another's.
func TestSetHeadersShared(t *testing.T) {
	a, b := http.Header{}, http.Header{}
	SetHeaders(a)
	SetHeaders(b)
	a.Add("Cache-Control", "no-store")
	a.Set("Content-Type", "text/plain")
	a.Del("X-Accel-Buffering")
	want := http.Header{}
	want.Set("Content-Type", "text/event-stream; charset=utf-8")
	want.Set("Cache-Control", "no-cache")
	want.Set("X-Accel-Buffering", "no")
	for k, v := range want {
		if got := b.Values(k); len(got) != 1 || got[0] != v[0] {
			t.Errorf("%s = %q after another response changed its own, want %q", k, got, v)
		}
	}
	c := http.Header{}
	SetHeaders(c)
	if got := c.Values("Cache-Control"); len(got) != 1 || got[0] != "no-cache" {
		t.Errorf("a later response has Cache-Control %q", got)
	}
}

// flushRecorder counts flushes and fails them on demand.
type flushRecorder struct {
	http.ResponseWriter
	flushes int
	err     error
}

func (f *flushRecorder) FlushError() error { f.flushes++; return f.err }

// plainFlusher has only the error-less Flush.
type plainFlusher struct {
	http.ResponseWriter
	flushes int
}

func (f *plainFlusher) Flush() { f.flushes++ }

// unwrapper hides its writer's methods behind Unwrap, as middleware does.
type unwrapper struct{ http.ResponseWriter }

func (u unwrapper) Unwrap() http.ResponseWriter { return u.ResponseWriter }

// A Writer flushes through whatever wraps the response, as
// http.ResponseController would: the first FlushError or Flush found along
// the Unwrap chain, with FlushError's error returned; a writer that cannot
// flush makes Flush a no-op.
func TestWriterFlushesThroughWrappers(t *testing.T) {
	fr := &flushRecorder{ResponseWriter: httptest.NewRecorder()}
	w := NewWriter(unwrapper{unwrapper{fr}})
	if err := w.Flush(); err != nil || fr.flushes != 1 {
		t.Fatalf("flush through two wrappers: %v, %d flushes", err, fr.flushes)
	}
	fr.err = errors.New("client gone")
	if err := w.Flush(); !errors.Is(err, fr.err) || fr.flushes != 2 {
		t.Fatalf("flush error: got %v after %d flushes", err, fr.flushes)
	}
	pf := &plainFlusher{ResponseWriter: fr}
	if err := NewWriter(unwrapper{pf}).Flush(); err != nil || pf.flushes != 1 || fr.flushes != 2 {
		t.Fatalf("the outer Flush must be used: %v, outer %d inner %d", err, pf.flushes, fr.flushes)
	}
	if err := NewWriter(unwrapper{struct{ http.ResponseWriter }{nil}}).Flush(); err != nil {
		t.Fatalf("a writer that cannot flush: %v", err)
	}
}

// errWouldBlock stands for an upstream with nothing more to send yet.
var errWouldBlock = errors.New("would block")

// stalled yields in, then reports that the next read would wait.
type stalled struct{ in []byte }

func (s *stalled) Read(p []byte) (int, error) {
	if len(s.in) == 0 {
		return 0, errWouldBlock
	}
	n := copy(p, s.in)
	s.in = s.in[n:]
	return n, nil
}

var bufferedCases = []string{
	"event: ping\ndata: {}\n\nevent: content_block_delta\ndata: {\"a\"",
	"data: a\n\ndata: b\n\n",
	"data: a\r\n\r\n: keep-alive\r\n\r\ndata: b",
	": only a comment\n\n",
	"id: 1\nretry: 5\n\ndata: x\n\n",
	"event: named\n\n",
	"event: x\nevent:\n\ndata",
	"\n\n\ndata\n\n",
	"data: a\r\r\ndata: b\n\n",
	"\xEF\xBB\xBFdata: x\n\n",
	"\xEF\xBB",
	"\xEF\xBB\xBF\xEF\xBB\xBFdata: x\n\n",
	"data: a\r\rdata: b\r\r",
	"data: a\r",
	"data: a\r\r",
	"data: a\r\n\r",
	"event: x\rdata\r\r",
	": c\r\rdata: a\r\r\ndata: b",
}

// TestEventBuffered: a relay flushes when EventBuffered is false, so it
// must be true exactly when Next returns an event without reading more —
// never when Next would wait (an event held back), and not spuriously
// false (a write per event instead of per burst).
func TestEventBuffered(t *testing.T) {
	for _, in := range bufferedCases {
		checkEventBuffered(t, []byte(in))
	}
}

func FuzzEventBuffered(f *testing.F) {
	for _, in := range bufferedCases {
		f.Add([]byte(in))
	}
	for _, tt := range readCases {
		f.Add([]byte(tt.in))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) > readBuffer-1 {
			return // one buffer's fill: longer input is read in several
		}
		checkEventBuffered(t, in)
	})
}

func checkEventBuffered(t *testing.T, in []byte) {
	t.Helper()
	r := NewReader(&stalled{in: in})
	defer r.Release()
	_ = r.fill(0) // the first read brings everything there is
	for {
		ready := r.EventBuffered()
		_, err := r.Next()
		switch {
		case ready && errors.Is(err, errWouldBlock):
			t.Fatalf("%q: EventBuffered said an event was here, but Next waited", in)
		case !ready && err == nil:
			t.Fatalf("%q: Next returned an event EventBuffered did not see", in)
		case err != nil:
			return
		}
	}
}

// BenchmarkNextAndBuffered measures what the event relay asks of a Reader
// per event — Next, then EventBuffered to decide on a flush — over a
// typical OpenAI stream of 20 chunks, framed with LF or CRLF.
func BenchmarkNextAndBuffered(b *testing.B) {
	chunk := `data: {"id":"chatcmpl-BkW3x9vQ2rT7","object":"chat.completion.chunk","created":1751234567,"model":"gpt-4o-mini-2024-07-18","service_tier":"default","system_fingerprint":"fp_34a54ae93c","choices":[{"index":0,"delta":{"content":" the"},"logprobs":null,"finish_reason":null}],"usage":null,"obfuscation":"x7Qe"}`
	for _, eol := range []struct{ name, eol string }{{"lf", "\n"}, {"crlf", "\r\n"}} {
		b.Run(eol.name, func(b *testing.B) {
			stream := []byte(strings.Repeat(chunk+eol.eol+eol.eol, 20))
			src := bytes.NewReader(stream)
			b.SetBytes(int64(len(stream)))
			b.ReportAllocs()
			for b.Loop() {
				src.Reset(stream)
				r := NewReader(src)
				for {
					if _, err := r.Next(); err != nil {
						break
					}
					_ = r.EventBuffered()
				}
				r.Release()
			}
		})
	}
}
