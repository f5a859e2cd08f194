package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http/httptest"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bulwarkhq/bulwark/internal/sse"
)

// relayResult is what a client saw and what the relay accounted.
type relayResult struct {
	events  []string // "name|data" as an SSE client parses them
	deliver int
	tok     int64
	final   bool
	err     bool
}

// relayWith runs one relay (pass-through or the event relay) of upstream
// over rd, as if the client had not asked for usage (added).
func relayWith(t testing.TB, passThrough bool, rd io.Reader) relayResult {
	t.Helper()
	rec := httptest.NewRecorder()
	x := &exchange{rt: routeChat}
	rl := &relayer{x: x, ctx: context.Background(), out: sse.NewWriter(rec), added: true}
	var err error
	if passThrough {
		err = rl.pass(rd)
	} else {
		r := sse.NewReader(rd)
		err = rl.run(r)
		r.Release()
	}
	res := relayResult{deliver: rl.deliver, tok: rl.tok.CompletionTokens, final: rl.final, err: err != nil}
	if msg := lfOnlyTrouble(rec.Body.Bytes()); msg != "" {
		res.events = append(res.events, "CLIENT FRAMING: "+msg)
	}
	cr := sse.NewReader(bytes.NewReader(rec.Body.Bytes()))
	defer cr.Release()
	for {
		ev, err := cr.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) {
				res.events = append(res.events, "CLIENT PARSE ERROR: "+err.Error())
			}
			return res
		}
		data := string(ev.Data)
		if strings.HasPrefix(data, "[DONE]") {
			data = "[DONE]" // the pass-through keeps the upstream's "[DONE] "; the event relay writes its own
		}
		res.events = append(res.events, string(ev.Name)+"|"+data)
	}
}

// lfOnlyTrouble says what in a relay's output a client that splits lines
// at LF alone and drops a CR before it (openai-go's bufio.Scanner) would
// read differently from the spec: a byte order mark at the start, a lone
// CR. Without those, every SDK parses the events the spec does.
func lfOnlyTrouble(out []byte) string {
	if bytes.HasPrefix(out, []byte("\xEF\xBB\xBF")) {
		return "starts with a byte order mark"
	}
	for i, c := range out {
		if c == '\r' && (i+1 == len(out) || out[i+1] != '\n') {
			return fmt.Sprintf("lone CR at %d of %q", i, out)
		}
	}
	return ""
}

const okStream = "data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":\"\"}}]}\n\n" +
	"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"Hello \"}}]}\n\n" +
	": keep-alive\n\n" +
	"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{\"content\":\"world\"}}]}\r\n\r\n" +
	"\n" +
	"data: {\"id\":\"c\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\n" +
	"data: {\"id\":\"c\",\"choices\":[],\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":2,\"total_tokens\":7}}\n\n" +
	"data: [DONE]\n\n"

var passCases = []struct {
	name, upstream string
	wantErr        bool
	wantEvents     int // client events, -1: do not check
}{
	{"plain OpenAI stream, usage chunk hidden", okStream, false, 5},
	{"named and multi-line events are re-framed", "event: x\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"choices\":\ndata: [{\"delta\":{\"content\":\"b\"}}]}\n\ndata: [DONE]\n\n", false, 3},
	{"error event ends the stream with an error", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: {\"error\":{\"message\":\"overloaded\"}}\n\n", true, 1},
	{"cut before [DONE]", "data: {\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\n\ndata: {\"choi", true, 1},
	{"cut mid-line ending", "data: {\"choices\":[{\"delta\":{\"content\":\"abc\"}}]}\r", true, 0},
	{"empty upstream", "", true, 0},
	{"[DONE] only", "data: [DONE]\n\n", false, 1},
	// The SDKs stop at data that starts with [DONE]; so does the relay,
	// or the row says 502 for an answer the client got whole.
	{"[DONE] with a trailing space", "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE] \n\n", false, 2},
	{"CRLF throughout", strings.ReplaceAll(okStream, "\n", "\r\n"), false, 5},
	// The spec skips a byte order mark at the stream's start, and only
	// there; lines end in CRLF, LF or a lone CR.
	{"byte order mark at the start", "\xEF\xBB\xBF" + okStream, false, 5},
	{"byte order mark before a re-framed event", "\xEF\xBB\xBF: hi\n\nevent: x\ndata: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\ndata: [DONE]\n\n", false, 2},
	{"byte order mark mid-stream is no mark", hiChunk + "\xEF\xBB\xBFdata: {\"choices\":[]}\n\n\xEF\xBB\xBFevent: x\ndata: {\"choices\":[]}\n\ndata: [DONE]\n\n", false, 3},
	{"lone CR throughout", strings.ReplaceAll(okStream, "\n", "\r"), false, 5},
	{"lone CR, CRLF and LF mixed", hiChunk + "data: {\"choices\":[{\"delta\":{\"content\":\"b\"}}]}\r\rdata: {\"choices\":\r\ndata: [{\"delta\":{\"content\":\"c\"}}]}\n\r\n\rdata: [DONE]\r\n\r\n", false, 4},
	{"lone CR in a blank line before an event", hiChunk + "\r" + hiChunk + "data: [DONE]\n\n", false, 3},
	{"CR then CRLF", hiChunk + "data: [DONE]\r\r\n", false, 2},
}

const hiChunk = "data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"

// The pass-through relay shows the client the same events, accounts the
// same usage and delivered text, and fails the same way as the event
// relay, however the upstream's bytes are split across reads.
func TestPassMatchesEventRelay(t *testing.T) {
	for _, tt := range passCases {
		t.Run(tt.name, func(t *testing.T) {
			want := relayWith(t, false, strings.NewReader(tt.upstream))
			if want.err != tt.wantErr || (tt.wantEvents >= 0 && len(want.events) != tt.wantEvents) {
				t.Fatalf("event relay: err %v, %d events %q", want.err, len(want.events), want.events)
			}
			readers := map[string]func() io.Reader{
				"whole":        func() io.Reader { return strings.NewReader(tt.upstream) },
				"byte by byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(tt.upstream)) },
				"half":         func() io.Reader { return iotest.HalfReader(strings.NewReader(tt.upstream)) },
			}
			for name, rd := range readers {
				if got := relayWith(t, true, rd()); !equalResults(got, want) {
					t.Errorf("%s: pass-through %+v\nevent relay %+v", name, got, want)
				}
			}
			// Both relays, split in two at every byte: a CR that ends the
			// first read and an LF that starts the second are one CRLF.
			for i := 1; i < len(tt.upstream); i++ {
				split := func() io.Reader {
					return io.MultiReader(strings.NewReader(tt.upstream[:i]), strings.NewReader(tt.upstream[i:]))
				}
				if got := relayWith(t, false, split()); !equalResults(got, want) {
					t.Errorf("event relay split at %d: %+v\nwhole %+v", i, got, want)
				}
				if got := relayWith(t, true, split()); !equalResults(got, want) {
					t.Errorf("pass-through split at %d: %+v\nevent relay %+v", i, got, want)
				}
			}
		})
	}
}

func equalResults(a, b relayResult) bool {
	if a.deliver != b.deliver || a.tok != b.tok || a.final != b.final || a.err != b.err || len(a.events) != len(b.events) {
		return false
	}
	for i := range a.events {
		if a.events[i] != b.events[i] {
			return false
		}
	}
	return true
}

// An event longer than the read buffer is assembled whole.
func TestPassLongEvent(t *testing.T) {
	long := strings.Repeat("x", 3*passBuffer)
	up := "data: {\"choices\":[{\"delta\":{\"content\":\"" + long + "\"}}]}\n\ndata: [DONE]\n\n"
	got := relayWith(t, true, iotest.HalfReader(strings.NewReader(up)))
	if got.err || len(got.events) != 2 || got.deliver != len(long) {
		t.Fatalf("err %v, %d events, delivered %d", got.err, len(got.events), got.deliver)
	}
}

// FuzzPass feeds arbitrary upstream bytes, split at random, to both relays;
// relayWith also holds both to output every SDK reads as the spec does.
func FuzzPass(f *testing.F) {
	for _, tt := range passCases {
		f.Add(tt.upstream, uint64(1))
	}
	f.Fuzz(func(t *testing.T, upstream string, seed uint64) {
		want := relayWith(t, false, strings.NewReader(upstream))
		got := relayWith(t, true, &splitReader{s: upstream, r: rand.New(rand.NewPCG(seed, 7))})
		if !equalResults(got, want) {
			t.Fatalf("pass-through %#v\nevent relay %#v", got, want)
		}
	})
}

// A CR that ends a read ends the event whose blank line it is: the event
// reaches the client before the relay reads again, and an LF that starts
// the next read (the rest of a CRLF) adds no blank line of its own.
func TestPassCRAtTheEndOfARead(t *testing.T) {
	for name, first := range map[string]string{"CRLF": "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\n\r", "lone CR": "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\r\r"} {
		t.Run(name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rl := &relayer{x: &exchange{rt: routeChat}, ctx: context.Background(), out: sse.NewWriter(rec), added: true}
			var before string // what the client had when the relay read again
			src := &pieces{parts: []string{first, "\n" + hiChunk + "data: [DONE]\n\n"}, onRead: func(n int) {
				if n == 2 {
					before = rec.Body.String()
				}
			}}
			if err := rl.pass(src); err != nil {
				t.Fatal(err)
			}
			const a = "data: {\"choices\":[{\"delta\":{\"content\":\"a\"}}]}\n\n"
			if before != a {
				t.Errorf("the client had %q before the second read, want %q", before, a)
			}
			if got, want := rec.Body.String(), a+hiChunk+"data: [DONE]\n\n"; got != want {
				t.Errorf("the client got %q, want %q", got, want)
			}
		})
	}
}

// pieces returns its parts one read each, calling onRead with the number
// of each read first.
type pieces struct {
	parts  []string
	reads  int
	onRead func(n int)
}

func (p *pieces) Read(b []byte) (int, error) {
	p.reads++
	p.onRead(p.reads)
	if len(p.parts) == 0 {
		return 0, io.EOF
	}
	n := copy(b, p.parts[0])
	if p.parts[0] = p.parts[0][n:]; p.parts[0] == "" {
		p.parts = p.parts[1:]
	}
	return n, nil
}

// splitReader returns its string in pieces of random sizes.
type splitReader struct {
	s string
	r *rand.Rand
}

func (s *splitReader) Read(p []byte) (int, error) {
	if len(s.s) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(s.s), 1+s.r.IntN(64))
	copy(p, s.s[:n])
	s.s = s.s[n:]
	return n, nil
}
