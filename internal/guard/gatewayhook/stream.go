package gatewayhook

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/guard/stream"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// Stream returns the filter for one streamed answer: the hold-back
// redactor for PII and secrets, then the restorer of the request's
// placeholders under a reversible policy. It returns a filter that fails
// every delta when the policy cannot be resolved (fail closed), and nil
// when there is nothing to do.
func (h *Hooks) Stream(ctx context.Context, _ apierr.Dialect) gateway.StreamFilter {
	st, err := h.state(ctx)
	if err != nil {
		return failing{err}
	}
	p := responsePolicy(st.policy)
	restores := st.mask.Len() > 0 && st.policy.Reversible
	if !scans(p) && !restores {
		return nil // nothing to do: no filter is allocated for the stream
	}
	f := &filter{p: p}
	if scans(p) {
		f.mask = st.respMask()
		f.red = stream.NewRedactorMask(p, 0, f.mask)
	}
	if restores {
		f.rest = stream.NewRestorer(st.mask)
	}
	if fromContext(ctx) == st { // findings are audited when Middleware ends the request
		st.mu.Lock()
		st.filters = append(st.filters, f)
		st.mu.Unlock()
	}
	return f
}

// failing is a StreamFilter that refuses everything.
type failing struct{ err error }

func (f failing) Text(string) (string, error) { return "", f.err }
func (f failing) Flush() (string, error)      { return "", f.err }

// filter is one stream's gateway.StreamFilter. Not safe for concurrent
// use (one stream, one goroutine), except harvest after the stream ended.
type filter struct {
	p        guard.Policy
	mask     *guard.Mask
	red      *stream.Redactor
	rest     *stream.Restorer
	findings []guard.Finding // of redactors already flushed
	err      error           // the client-facing error that ended the stream
	cause    error           // its guard error (a *guard.BlockedError or ErrDetector)
}

// Text redacts a delta (holding back what could still become part of a
// detection) and restores the request's placeholders in what is released.
func (f *filter) Text(delta string) (out string, err error) {
	if f.err != nil {
		return "", f.err
	}
	if f.red != nil {
		if delta, err = f.guarded(func() (string, error) { return f.red.Write(delta) }); err != nil {
			return "", err
		}
	}
	if f.rest != nil {
		delta = f.rest.Write(delta)
	}
	return delta, nil
}

// Flush releases what is held at the end of a text block. The gateway may
// start another text block after it (Anthropic), so the redactor is
// replaced by a fresh one sharing the response mask.
func (f *filter) Flush() (string, error) {
	if f.err != nil {
		return "", f.err
	}
	var out string
	if f.red != nil {
		var err error
		if out, err = f.guarded(f.red.Flush); err != nil {
			return "", err
		}
		f.findings = append(f.findings, f.red.Findings()...)
		f.red = stream.NewRedactorMask(f.p, 0, f.mask)
	}
	if f.rest != nil {
		out = f.rest.Write(out) + f.rest.Flush()
	}
	return out, nil
}

// guarded runs one redactor step, turning a block into the client error
// the gateway sends as the stream's error event, and a detector panic into
// a refusal (the stream never continues unscanned).
func (f *filter) guarded(step func() (string, error)) (out string, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: panic in the streaming redactor", guard.ErrDetector)
		}
		if err != nil {
			f.cause, f.err = err, publicError(err, "response")
			err = f.err
		}
	}()
	return step()
}

// harvest returns every finding of the stream (path "stream") and the
// error that ended it, if a guardrail did.
func (f *filter) harvest() ([]guard.Finding, error) {
	fs := f.findings
	if f.red != nil {
		fs = append(fs, f.red.Findings()...)
	}
	for i := range fs {
		fs[i].Path = ""
	}
	return fs, f.cause
}

// placeholderRe matches a placeholder as guard.Mask writes it.
var placeholderRe = regexp.MustCompile(`\[[A-Z][A-Z0-9_]*_[0-9]+\]`)

// restoreJSON puts the originals of the request's placeholders back into
// a JSON body, escaping each original for the JSON string it lands in (an
// original may hold quotes or newlines, like a PEM key). Without
// placeholders it returns body unchanged. Call it only under a
// reversible policy.
func restoreJSON(body []byte, m *guard.Mask) []byte {
	if m == nil || m.Len() == 0 {
		return body
	}
	return placeholderRe.ReplaceAllFunc(body, func(ph []byte) []byte {
		orig := m.Restore(string(ph))
		if orig == string(ph) {
			return ph
		}
		q, err := json.Marshal(orig)
		if err != nil { // unreachable: a Go string always encodes
			return ph
		}
		return q[1 : len(q)-1]
	})
}

// KeyRecords returns a Config.KeySettings that reads the guard settings
// stored with a virtual key (keys create --guard). Access tokens minted by
// Bulwark's token endpoint name their key in KeyID and carry its settings
// too, so a token never escapes its key's policy. Introspected tokens have
// no key record: their tenant's policy applies. A lookup failure is
// returned, so the request is refused.
func KeyRecords(keys *auth.Keys) func(ctx context.Context, id *identity.Identity) (string, error) {
	return func(ctx context.Context, id *identity.Identity) (string, error) {
		if id.Kind != identity.KindVirtualKey && id.Kind != identity.KindAccessToken {
			return "", nil
		}
		rec, err := keys.Record(ctx, id.KeyID)
		if err != nil {
			return "", fmt.Errorf("guard settings of key %s: %w", id.KeyID, err)
		}
		return rec.Guard, nil
	}
}
