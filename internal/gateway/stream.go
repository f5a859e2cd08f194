package gateway

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/llm/openai"
	"github.com/bulwarkhq/bulwark/internal/reqid"
	"github.com/bulwarkhq/bulwark/internal/router"
	"github.com/bulwarkhq/bulwark/internal/sse"
	"github.com/bulwarkhq/bulwark/internal/usage"
)

// errStreamEnded is the cause logged when an upstream stream stops before
// its terminal event.
var errStreamEnded = errors.New("upstream stream ended before its final event")

// relayer carries one stream from upstream to client, event by event.
type relayer struct {
	x      *exchange
	ctx    context.Context // the attempt's
	watch  *router.Watch   // the attempt's watchdog (nil outside one): each read re-arms it
	out    *sse.Writer
	filter StreamFilter // the response filter; nil when none rewrites this stream
	// filters follow each text of the stream (see filter.go).
	filters    map[filterKey]StreamFilter
	filterUsed bool // filter is one of filters
	tok        usage.Tokens
	gotUse     bool // some upstream usage was seen
	final      bool // the upstream's final usage (OpenAI usage chunk, Anthropic message_delta) was seen
	deliver    int  // bytes of generated text/arguments delivered, for estimates
	added      bool // include_usage was added by the gateway: hide its chunk
	ended      bool // the upstream body was read to its end with the terminal event
	// holdEnd: the terminal event may be left for the response's end (see
	// pass).
	holdEnd bool
	src     endWatch // the upstream body run reads (in the relayer: no allocation of its own)
	// head is the identity of the OpenAI stream ("id", "created", "model"
	// of its chunks): a chunk the gateway adds must carry the same, or SDK
	// accumulators reject it.
	head []byte
}

// relayStream relays an SSE answer. Headers are sent with the first event;
// any failure after that ends the stream with an error event in the
// caller's dialect, never a clean end.
func (x *exchange) relayStream(ctx context.Context, w http.ResponseWriter, resp *http.Response, f Fields) error {
	rl := &relayer{x: x, ctx: ctx, watch: x.watch(ctx), out: sse.NewWriter(w), added: x.rt.dialect == apierr.OpenAI && !f.IncludeUsage,
		holdEnd: x.quietEnd()}
	if h := x.g.deps.Hooks.Response; h != nil {
		rl.filter = h.Stream(ctx, x.rt.dialect)
	}
	sse.SetHeaders(w.Header())
	w.WriteHeader(http.StatusOK)
	x.rec.TTFB = time.Since(x.start)
	// A write that makes no progress for the stall bound is cut, and so is
	// one still blocked when ctx (the attempt's) ends; released before the
	// attempt's context is cancelled.
	x.wg.Start(ctx, w, x.g.cfg.WriteStallTimeout)
	defer x.wg.Release()
	rl.out.Guard(&x.wg)
	var err error
	if rl.filter == nil && x.rt.dialect == apierr.OpenAI {
		err = rl.pass(resp.Body)
	} else {
		rl.src.r = resp.Body
		rd := sse.NewReader(&rl.src)
		err = rl.run(rd)
		rd.Release()
	}
	rl.settleTokens()
	switch {
	case err == nil:
		x.rec.Status = http.StatusOK
		if !rl.ended {
			drainEnd(resp.Body)
		} else if rl.holdEnd {
			x.held = rl.out
		}
	case x.r.Context().Err() != nil:
		x.rec.Status = statusClientClosed
		return handled{err}
	default:
		e := apierr.From(err)
		if e.Status == http.StatusInternalServerError {
			e = apierr.New(http.StatusBadGateway, "upstream_stream_failed", "the upstream provider failed mid-stream").WithCause(err)
		}
		x.rec.Status = e.Status
		x.g.log.LogAttrs(ctx, levelFor(e.Status), "stream failed", slogAttrs(x, e)...)
		rl.writeError(e)
		return handled{err} // counted against the deployment; never retried
	}
	return nil
}

// quietEnd reports whether nothing between the end of the relay and the
// end of the response can wait on I/O: no routing (the router records
// outcomes, in Redis when shared), no limits to settle (the limit store
// may be remote), no call hooks but the limiter. The idempotency wrapper,
// which stores the answer, and the guard's middleware, which audits a
// stream's findings, flush before they write, and settle before a usage
// row that would wait for a backlogged log. What is left — the row
// queued, metrics, the access log — is what a non-streamed answer waits
// for too.
func (x *exchange) quietEnd() bool {
	return x.g.quietAfter && !x.routed && x.call.adm == nil
}

// endWatch notes when the upstream body has reported its end.
type endWatch struct {
	r     io.Reader
	ended bool
}

func (e *endWatch) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if errors.Is(err, io.EOF) {
		e.ended = true
	}
	return n, err
}

// run copies events until the terminal one. It returns nil only when the
// upstream ended properly and every event was written to the client. As
// pass does, it leaves the terminal event for the response's end when the
// upstream body had ended by then and rl.holdEnd allows.
func (rl *relayer) run(rd *sse.Reader) error {
	for {
		ev, err := rd.Next()
		if errors.Is(err, io.EOF) {
			return fmt.Errorf("%w: %w", errStreamEnded, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return fmt.Errorf("read upstream stream: %w", err)
		}
		rl.watch.Progress()
		var done bool
		if rl.x.rt.dialect == apierr.Anthropic {
			done, err = rl.anthropicEvent(ev)
		} else {
			done, err = rl.openAIEvent(ev)
		}
		ended := done && rl.src.ended // false when run reads through something else (tests)
		held := ended && rl.holdEnd
		if err == nil && (done || !rd.EventBuffered()) && !held {
			// Flush unless the next event is already here: every event
			// leaves before the relay waits on the upstream, and a burst
			// costs one syscall.
			if ferr := rl.out.Flush(); ferr != nil {
				err = clientGone{ferr}
			}
		}
		if err != nil || done {
			rl.ended = ended
			return err
		}
	}
}

var doneData = []byte("[DONE]")

// chunkAction is what a relay does with one OpenAI chunk.
type chunkAction int

const (
	forwardChunk chunkAction = iota
	dropChunk                // the usage chunk the client did not ask for
	doneChunk                // data: [DONE]
)

// inspect reads from one OpenAI chunk what accounting and termination
// need: usage, delivered text (counted), [DONE] and error events.
func (rl *relayer) inspect(data []byte) (chunkAction, error) {
	if bytes.HasPrefix(data, doneData) { // as the SDKs test it: "[DONE] " ends their stream too
		return doneChunk, nil
	}
	mayUsage, mayError, delta := scanChunk(data)
	if mayError {
		if e := gjson.GetBytes(data, "error"); truthy(e) {
			return 0, openAIStreamError(e, rl.x.credential())
		}
	}
	if mayUsage {
		if t, ok, choiceless := usage.FromOpenAIChunk(data); ok {
			rl.tok, rl.gotUse, rl.final = t, true, true
			if rl.added && choiceless {
				return dropChunk, nil
			}
		}
	}
	rl.deliver += deliveredAt(data, delta)
	return forwardChunk, nil
}

// deltaLen is the length of the generated text or arguments in an OpenAI
// chunk's delta.
func deltaLen(delta gjson.Result) int {
	if c := delta.Get("content"); c.Type == gjson.String {
		return len(c.Str)
	}
	if !delta.Exists() {
		return 0
	}
	return len(delta.Get("tool_calls.0.function.arguments").Str) + len(delta.Get("reasoning_content").Str)
}

// scanChunk reports whether an OpenAI chunk may have a "usage" member and
// an "error" member that are not null — only then is the chunk parsed —
// and where its first "delta" member's value starts (-1: none), for
// deliveredAt. OpenAI sends "usage":null in every chunk of a stream that
// asked for usage (Bulwark always asks), and finding a top-level member
// means parsing the whole chunk. The SDKs raise on a chunk whose top-level
// "error" is truthy wherever it stands (OpenRouter's mid-stream errors put
// it after "id" and "object"), so a prefix check is not enough.
//
// Every member name ends at a colon (after optional whitespace), and an
// unescaped `"name"` followed by a colon cannot occur inside a JSON
// string, so walking the colons finds every member, nested ones too (the
// caller's parse tells top-level ones apart). Colons are about one byte
// in twenty of a chunk; searches for `usage"`, `error"` and `"delta":`
// stopped at every "u", "e" or quote, and were the relay's largest cost
// after the syscalls. A name spelt with \u escapes ("usag\u0065") is the
// plain name to the parser but not to this walk: such a chunk reports a
// usage and an error member both.
func scanChunk(data []byte) (mayUsage, mayError bool, delta int) {
	delta = -1
	if escapesLetter(data) {
		mayUsage, mayError = true, true
	}
	for i := 0; ; {
		j := bytes.IndexByte(data[i:], ':')
		if j < 0 {
			return mayUsage, mayError, delta
		}
		colon := i + j
		i = colon + 1
		q := colon - 1 // the name's closing quote, before any whitespace
		for q >= 0 && isSpace(data[q]) {
			q--
		}
		if q < 6 || data[q] != '"' || data[q-6] != '"' {
			continue
		}
		switch string(data[q-5 : q]) {
		case "usage":
			mayUsage = mayUsage || !bytes.HasPrefix(skipSpace(data[i:]), nullValue)
		case "error":
			mayError = mayError || !bytes.HasPrefix(skipSpace(data[i:]), nullValue)
		case "delta":
			if delta < 0 {
				delta = i
			}
		}
	}
}

// truthy is what the SDKs' `if data.get("error")` accepts: true, a
// non-zero number, a non-empty string, object or array.
func truthy(r gjson.Result) bool {
	switch r.Type {
	case gjson.True:
		return true
	case gjson.Number:
		return r.Num != 0
	case gjson.String:
		return r.Str != ""
	case gjson.JSON:
		raw := strings.TrimSpace(r.Raw)
		if len(raw) < 2 {
			return true // cut short (`{"error":{`): no SDK would read it as success
		}
		return strings.TrimSpace(raw[1:len(raw)-1]) != ""
	}
	return false
}

var (
	nullValue = []byte("null")
	escapeU00 = []byte(`\u00`)
)

// escapesLetter reports whether data writes an ASCII letter as a \u
// escape: a member name spelt that way ("usag\u0065") is the plain name
// to the JSON parser but invisible to the byte search, so such a chunk is
// parsed. Upstreams do not escape ASCII letters; a false positive costs
// one parse.
func escapesLetter(data []byte) bool {
	for i := 0; ; {
		j := bytes.Index(data[i:], escapeU00)
		if j < 0 {
			return false
		}
		i += j + len(escapeU00)
		if i+2 > len(data) {
			return false
		}
		if c := unhex(data[i])<<4 | unhex(data[i+1]); c|0x20 >= 'a' && c|0x20 <= 'z' {
			return true
		}
	}
}

// unhex is the value of a hex digit; anything else reads as 0xff, which
// no letter test accepts.
func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c|0x20 >= 'a' && c|0x20 <= 'f':
		return c | 0x20 - 'a' + 10
	}
	return 0xff
}

// streamErrorStatus is the status of each class of mid-stream error that
// keeps its class (the canonical model's names, which are Anthropic's):
// the client's error event is of that class, and the usage row has that
// status.
var streamErrorStatus = map[string]int{"overloaded_error": 529, "rate_limit_error": http.StatusTooManyRequests,
	"request_too_large": http.StatusRequestEntityTooLarge, "invalid_request_error": http.StatusBadRequest}

// streamError gives an upstream's mid-stream error its public face with
// its class kept: an overloaded_error stays one (clients such as Claude
// Code retry on it), as do rate limits and request errors, with the
// upstream's message scrubbed; any other class — the provider's own
// credential refused among them — is the generic 502, its message kept
// for the log only.
func streamError(class, msg, cred string) error {
	msg = scrub(msg, cred)
	status := streamErrorStatus[class]
	if status == 0 {
		return apierr.New(http.StatusBadGateway, "upstream_stream_failed", "the upstream provider failed mid-stream").
			WithCause(fmt.Errorf("upstream sent an error event: %s", msg))
	}
	if msg == "" {
		msg = "the upstream provider failed mid-stream"
	}
	return apierr.New(status, "upstream_stream_failed", msg)
}

// anthropicStreamError is streamError for an Anthropic upstream's error
// event, whose type is already a class name.
func anthropicStreamError(e gjson.Result, cred string) error {
	return streamError(e.Get("type").Str, e.Get("message").String(), cred)
}

// openAIStreamError is streamError for an OpenAI-family error chunk's
// "error" member: an object classed by its "code" and "type"
// (openai.ErrorClass, as translated streams class it), or a bare message.
func openAIStreamError(e gjson.Result, cred string) error {
	if e.Type != gjson.JSON {
		return streamError("", e.String(), cred)
	}
	return streamError(openai.ErrorClass(e.Get("type").String(), e.Get("code").String()), e.Get("message").String(), cred)
}

// skipSpace drops leading JSON whitespace.
func skipSpace(b []byte) []byte {
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	return b
}

// isSpace is JSON's whitespace.
func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (rl *relayer) openAIEvent(ev sse.Event) (bool, error) {
	act, err := rl.inspect(ev.Data)
	switch {
	case err != nil:
		return false, err
	case act == dropChunk:
		return false, nil
	case act == doneChunk:
		if err := rl.flushOpenAI(); err != nil {
			return false, err
		}
		return true, rl.emit(nil, doneData)
	}
	data := ev.Data
	if rl.filter != nil {
		if rl.head == nil {
			rl.head = chunkHead(data)
		}
		if usage.Choiceless(data) { // the usage chunk comes after every text
			if err := rl.flushOpenAI(); err != nil {
				return false, err
			}
		}
		var fin []finishing
		if data, fin, err = rl.filterOpenAI(data); err != nil {
			return false, err
		}
		return false, rl.emitFiltered(ev.Name, data, fin)
	}
	return false, rl.emit(ev.Name, data)
}

// deliveredAt is deltaLen of an OpenAI chunk's first choice, for a relay
// that only counts delivered text (no filter rewrites it), given where the
// first "delta" member's value starts (scanChunk): the value is parsed
// where it stands, without walking the chunk from its start and without
// copying it — nothing parsed outlives this call (the zero-copy view of
// data is dropped on return). The count is an estimate for streams that
// end without usage.
func deliveredAt(data []byte, delta int) int {
	if delta < 0 || delta == len(data) {
		return 0
	}
	tail := data[delta:]
	if n, ok := leadingContentLen(tail); ok {
		return n
	}
	if bytes.HasPrefix(tail, emptyObject) {
		return 0 // the delta of a stream's last choice chunk
	}
	return deltaLen(gjson.Parse(unsafe.String(&tail[0], len(tail)))) //nolint:gosec // G103: read-only view, not retained (see above)
}

var (
	emptyObject  = []byte("{}")
	contentStart = []byte(`{"content":"`)
	shortEscapes = []byte(`"\\/bfnrt`)
)

// leadingContentLen measures a delta whose first member is a "content"
// string — the form of nearly every chunk of generated text — by scanning
// the string to its closing quote; ok is false for any other form, and for
// \u escapes, which the caller leaves to the JSON parser.
func leadingContentLen(delta []byte) (n int, ok bool) {
	if !bytes.HasPrefix(delta, contentStart) {
		return 0, false
	}
	for s := delta[len(contentStart):]; ; {
		i := 0
		for i < len(s) && s[i] != '"' && s[i] != '\\' && s[i] >= 0x20 {
			i++
		}
		n += i
		switch {
		case i == len(s) || s[i] < 0x20:
			return 0, false // unterminated or not JSON
		case s[i] == '"':
			return n, true
		case i+1 == len(s) || !bytes.ContainsRune(shortEscapes, rune(s[i+1])):
			return 0, false // \u escapes and invalid ones go to the parser
		}
		n++ // a one-character escape
		s = s[i+2:]
	}
}

// chunkHead returns `{"id":…,"created":…,"model":…,` copied from an
// OpenAI chunk (raw JSON values, so nothing is re-encoded).
func chunkHead(chunk []byte) []byte {
	head := []byte{'{'}
	for _, k := range [...]string{"id", "created", "model"} {
		if v := gjson.GetBytes(chunk, k); v.Exists() {
			head = append(head, '"')
			head = append(head, k...)
			head = append(head, `":`...)
			head = append(head, v.Raw...)
			head = append(head, ',')
		}
	}
	return head
}

func (rl *relayer) anthropicEvent(ev sse.Event) (bool, error) {
	data := ev.Data
	switch string(ev.Name) {
	case "message_start":
		rl.gotUse = usage.FromAnthropic(&rl.tok, gjson.GetBytes(data, "message.usage")) || rl.gotUse
	case "message_delta":
		if usage.FromAnthropic(&rl.tok, gjson.GetBytes(data, "usage")) {
			rl.gotUse, rl.final = true, true
		}
	case "error":
		return false, anthropicStreamError(gjson.GetBytes(data, "error"), rl.x.credential())
	case "content_block_delta":
		d := gjson.GetBytes(data, "delta")
		typ := d.Get("type").Str
		switch typ {
		case "text_delta":
			rl.deliver += len(d.Get("text").Str)
		case "input_json_delta":
			rl.deliver += len(d.Get("partial_json").Str)
		case "thinking_delta":
			rl.deliver += len(d.Get("thinking").Str)
		}
		if rl.filter != nil {
			var err error
			if data, err = rl.filterAnthropic(data, gjson.GetBytes(data, "index").Int(), typ, d); err != nil {
				return false, err
			}
		}
	case "content_block_stop":
		if err := rl.flushAnthropic(gjson.GetBytes(data, "index").Int()); err != nil {
			return false, err
		}
	}
	if err := rl.emit(ev.Name, data); err != nil {
		return false, err
	}
	return string(ev.Name) == "message_stop", nil
}

// clientGone marks a failed write to the client: the stream stops without
// an error event (nobody is left to read it).
type clientGone struct{ error }

func (rl *relayer) emit(name, data []byte) error {
	if err := rl.out.Write(name, data); err != nil {
		return clientGone{err}
	}
	return nil
}

// settleTokens fills the record from upstream usage, or estimates what
// was delivered when the upstream's final report never came (a cut
// stream): the prompt from message_start when known, the output from the
// text and arguments actually relayed.
func (rl *relayer) settleTokens() {
	rec := &rl.x.rec
	rec.Tokens = rl.tok
	if !rl.final {
		rec.Estimated = true
		if rec.PromptTokens == 0 {
			rec.PromptTokens = usage.EstimateTokens(rl.x.reqBytes)
		}
		rec.CompletionTokens = max(rec.CompletionTokens, usage.EstimateTokens(rl.deliver))
	}
}

// writeError ends the stream with an error event in the caller's dialect.
func (rl *relayer) writeError(e *apierr.Error) {
	var ce clientGone
	if errors.As(e.Cause, &ce) {
		return
	}
	body := bytes.TrimRight(apierr.Body(rl.x.rt.dialect, e, reqid.FromContext(rl.x.r.Context())), "\n")
	var name []byte
	if rl.x.rt.dialect == apierr.Anthropic {
		name = []byte("error")
	}
	_ = rl.out.Event(name, body)
}

// drainEnd reads what follows a stream's terminal event (normally just
// the end of the chunked body) so the transport returns the upstream
// connection to its pool: a body closed before its end costs the
// connection, and under load a third of streamed requests then paid for a
// new TCP connection to the upstream. The read is bounded in bytes and in
// time — an upstream that keeps the stream open after its terminal event
// has its body closed after drainWait, as before — and it runs only after
// a clean end, when every event has already been flushed to the client.
func drainEnd(body io.ReadCloser) {
	t := time.AfterFunc(drainWait, func() { _ = body.Close() })
	defer t.Stop()
	_, _ = io.CopyN(io.Discard, body, drainMax)
}

const (
	drainWait = 50 * time.Millisecond
	drainMax  = 64 << 10
)
