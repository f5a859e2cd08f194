package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"hash"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/httpx"
	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// HeaderReplayed marks a response replayed from the idempotency store.
const HeaderReplayed = "Idempotent-Replayed"

// maxStoredResponse bounds what one idempotent response may keep in
// memory; a larger answer is delivered but not stored (a repeat runs again).
const maxStoredResponse = 8 << 20

// idemKey carries an idemState in a request context.
type idemKey struct{}

// idemState receives the exchange's final status from settle: a stream
// that ended with an error event has sent 200 but must not be replayed.
type idemState struct{ status int }

// noteStatus tells the idempotency wrapper (if any) how the exchange ended.
func noteStatus(ctx context.Context, status int) {
	if st, ok := ctx.Value(idemKey{}).(*idemState); ok {
		st.status = status
	}
}

// idempotent wraps a billed route with Idempotency-Key handling. It runs
// right after authentication and before any limit: a replay or a waiter
// consumes no rate limit, budget or concurrency slot. Keys are scoped to
// the verified caller; the same key with another body is refused (422).
// Only complete successes are stored; a failure releases the key so a
// retry runs again.
func (g *Gateway) idempotent(rt route, next http.HandlerFunc) http.HandlerFunc {
	store := g.deps.Routing.Idempotency
	if store == nil {
		return next
	}
	return func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		id := identity.FromContext(r.Context())
		if key == "" || id == nil || !id.HasScope("llm") {
			next(w, r)
			return
		}
		if err := g.runIdempotent(w, r, rt, id, key, next); err != nil {
			g.writeError(w, r, rt.dialect, err)
		}
	}
}

func (g *Gateway) runIdempotent(w http.ResponseWriter, r *http.Request, rt route, id *identity.Identity, key string, next http.HandlerFunc) error {
	if err := idempotency.ValidateKey(key); err != nil {
		return apierr.BadRequest("invalid_idempotency_key", "Idempotency-Key must be 1 to 255 visible ASCII characters")
	}
	body, err := readBody(r, g.cfg.MaxBodyBytes)
	if err != nil {
		return err
	}
	r.Body, r.ContentLength = io.NopCloser(bytes.NewReader(body)), int64(len(body))
	store := g.deps.Routing.Idempotency
	b, err := idempotency.Await(r.Context(), store, string(id.Kind)+":"+id.KeyID, key, fingerprint(r, body))
	switch {
	case err != nil && r.Context().Err() != nil:
		return nil //nolint:nilerr // the client left while waiting: nobody to answer
	case errors.Is(err, idempotency.ErrCapacity):
		return apierr.Unavailable("idempotency_unavailable", "too many idempotent requests in flight; retry shortly", time.Second).WithCause(err)
	case err != nil:
		return apierr.Unavailable("idempotency_unavailable", "the idempotency store is unavailable", time.Second).WithCause(err)
	case b.Outcome == idempotency.Replay:
		g.replay(w, r, rt, b.Response)
		return nil
	case b.Outcome == idempotency.Conflict:
		return apierr.New(http.StatusUnprocessableEntity, "idempotency_key_reused",
			"this Idempotency-Key was already used with a different request body")
	}
	st := &idemState{}
	rec := &recorder{ResponseWriter: w}
	next(rec, r.WithContext(context.WithValue(r.Context(), idemKey{}, st)))
	if rec.streamed() {
		// A stream's last event may still be buffered (see relayer.pass):
		// it leaves before the store is written, not after. (A complete
		// answer is not flushed: it keeps its Content-Length.)
		_ = http.NewResponseController(w).Flush()
	}
	ctx := context.WithoutCancel(r.Context())
	if st.status == http.StatusOK && rec.status/100 == 2 && !rec.overflow {
		err = store.Complete(ctx, b.Ticket, idempotency.Response{Status: rec.status, Header: rec.header, Body: rec.buf.Bytes()})
	} else {
		err = store.Abandon(ctx, b.Ticket)
	}
	if err != nil && !errors.Is(err, idempotency.ErrTooLarge) {
		g.log.Warn("idempotency store", "key_id", id.KeyID, "err", err)
	}
	return nil
}

// replay writes a stored response with this request's id.
func (g *Gateway) replay(w http.ResponseWriter, r *http.Request, rt route, resp *idempotency.Response) {
	h := w.Header()
	for k, vs := range resp.Header {
		if k != "X-Request-Id" && k != "Request-Id" {
			h[k] = append([]string(nil), vs...)
		}
	}
	setRequestID(w, r, rt.dialect)
	h.Set(HeaderReplayed, "true")
	w.WriteHeader(resp.Status)
	writeBody(r.Context(), w, resp.Body, new(httpx.WriteGuard), g.cfg.WriteStallTimeout)
}

// recorder tees a response (status, headers at the first write, body up to
// maxStoredResponse) for the idempotency store.
type recorder struct {
	http.ResponseWriter
	status   int
	header   http.Header
	buf      bytes.Buffer
	overflow bool
}

func (rc *recorder) WriteHeader(code int) {
	if rc.status == 0 {
		rc.status, rc.header = code, rc.ResponseWriter.Header().Clone()
	}
	rc.ResponseWriter.WriteHeader(code)
}

func (rc *recorder) Write(p []byte) (int, error) {
	if rc.status == 0 {
		rc.WriteHeader(http.StatusOK)
	}
	if !rc.overflow {
		if rc.buf.Len()+len(p) > maxStoredResponse {
			rc.overflow = true
			rc.buf = bytes.Buffer{}
		} else {
			rc.buf.Write(p)
		}
	}
	return rc.ResponseWriter.Write(p)
}

// streamed reports whether the response is an event stream.
func (rc *recorder) streamed() bool {
	return rc.header != nil && strings.HasPrefix(rc.header.Get("Content-Type"), "text/event-stream")
}

// Unwrap lets http.ResponseController flush the real writer.
func (rc *recorder) Unwrap() http.ResponseWriter { return rc.ResponseWriter }

// fingerprint identifies the request an Idempotency-Key stands for: the
// body alone said too little — Gemini names the model and the streaming
// method in the URL, and the same body sent to /v1/messages after
// /v1/chat/completions would have replayed an answer in the other
// dialect (and, for Gemini, one from a model this key may not use). So
// the method, path, query and the headers that select an answer's shape
// are hashed with it, each length-prefixed; the same key with any of
// them changed is a 422 conflict, never a replay.
func fingerprint(r *http.Request, body []byte) [sha256.Size]byte {
	h := sha256.New()
	for _, part := range []string{r.Method, r.URL.Path, r.URL.RawQuery,
		r.Header.Get("Anthropic-Version"), strings.Join(r.Header.Values("Anthropic-Beta"), ",")} {
		writeField(h, []byte(part))
	}
	writeField(h, body)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// writeField writes b with its length first, so no two sequences of
// fields hash alike.
func writeField(h hash.Hash, b []byte) {
	var n [8]byte
	binary.BigEndian.PutUint64(n[:], uint64(len(b)))
	_, _ = h.Write(n[:])
	_, _ = h.Write(b)
}
