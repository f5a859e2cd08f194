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
// "all"); a nil roles treats every string as untrusted. Images, audio,
// files and binary documents are not scanned; Policy.Unscannable decides
// whether they pass.
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
	for _, s := range w.skipped {
		if p.Unscannable != Off {
			e.record(st, Finding{Family: FamilyUnscannable, Type: s.kind, Path: s.path, Action: p.Unscannable})
		}
	}
	var out []byte
	last := 0
	for i, l := range w.leaves {
		if i%64 == 0 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		trust := Untrusted
		if roles != nil {
			trust = roles(l.path)
		}
		text, err := e.scanString(l.text, l.path, l.key, trust, p, m, st)
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
