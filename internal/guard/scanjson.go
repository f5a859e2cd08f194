package guard

import (
	"context"
	"errors"
	"fmt"
)

// ScanJSON applies the policy to every string of a JSON body: values and
// keys of known and unknown fields alike. Redaction rewrites only the
// affected string tokens; every other byte of body is kept as it was, so a
// fast-path request is never re-encoded. Injection detection reads only the
// strings roles marks Untrusted (or every string when the policy's scope is
// "all"); a nil roles treats every string as untrusted. roles is asked
// about a string's path cut after its second segment ("messages.3" for
// "messages.3.content.0.text": a message's role decides), once per such
// prefix. Images, audio, files and binary documents are not scanned;
// Policy.Unscannable decides whether they pass.
//
// A finding's path is exact unless the scan has already written paths of
// four times the body's length (plus 64 KiB), which only a body built to
// repeat a long parent path over many strings reaches: from there on
// paths are "…" and strings are untrusted.
//
// The result is the body to forward, the findings (for audit and metrics)
// and an error: a *BlockedError (errors.Is ErrBlocked) when a guardrail
// blocks, ErrInvalidJSON, or ErrDetector when a detector failed under a
// redact or block policy. On error the body must not be forwarded.
func (e *Engine) ScanJSON(ctx context.Context, body []byte, p Policy, roles func(path string) Trust) ([]byte, []Finding, error) {
	return e.ScanJSONMask(ctx, body, p, roles, NewMask(p.Reversible))
}

// ScanJSONMask is ScanJSON with a caller-supplied mask, so a reversible
// policy can restore the originals in the response with m.Restore.
func (e *Engine) ScanJSONMask(ctx context.Context, body []byte, p Policy, roles func(path string) Trust, m *Mask) ([]byte, []Finding, error) {
	if err := p.Validate(); err != nil {
		return nil, nil, fmt.Errorf("guard: %w", err)
	}
	st := state{part: partition(ctx)}
	var out []byte
	_, err := e.guarded(ctx, p, &st, func() (string, error) {
		var err error
		out, err = e.scanJSON(ctx, body, p, roles, m, &st)
		return "", err
	})
	switch {
	case errors.Is(err, errLenient):
		return body, st.findings, nil
	case err != nil:
		return nil, st.findings, err
	case st.block != nil:
		return nil, st.findings, st.block
	}
	return out, st.findings, nil
}

func (e *Engine) scanJSON(ctx context.Context, body []byte, p Policy, roles func(string) Trust, m *Mask, st *state) ([]byte, error) {
	w, err := walkJSON(body)
	if err != nil {
		return nil, err
	}
	paths := w.arena()
	for _, s := range w.skipped {
		if p.Unscannable != Off {
			e.record(st, Finding{Family: FamilyUnscannable, Type: s.kind, Path: paths.finding(s.at, false), Action: p.Unscannable})
		}
	}
	// Trust decides only whether injection detection reads a value.
	askTrust := roles != nil && p.Injection != Off && p.InjectionScope != ScopeAll
	var out []byte
	last := 0
	for i, l := range w.leaves {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		trust := Untrusted
		if askTrust && !l.key {
			trust = paths.trustOf(l.at, roles)
		}
		text, err := e.scanString(l.text, &site{paths: paths, at: l.at, key: l.key}, trust, p, m, st)
		if err != nil {
			return nil, err
		}
		if text == l.text {
			continue
		}
		if out == nil {
			out = make([]byte, 0, len(body))
		}
		out = append(out, body[last:l.start]...)
		out = appendJSONString(out, text)
		last = l.end
	}
	if out == nil {
		return body, nil
	}
	return append(out, body[last:]...), nil
}
