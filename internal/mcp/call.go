package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"time"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// PublicError is an error whose message is safe to show to the client (no
// paths, secrets or upstream bodies). Tool handlers return it for refusals
// the caller can act on; any other error is reported as "the tool failed"
// and its cause goes to the server log only.
type PublicError struct {
	Message string
	Cause   error
}

// Error returns the public message and the private cause, for logs.
func (e *PublicError) Error() string {
	if e.Cause != nil {
		return e.Message + ": " + e.Cause.Error()
	}
	return e.Message
}

// Unwrap returns the private cause.
func (e *PublicError) Unwrap() error { return e.Cause }

// Refuse returns a PublicError with message and a private cause.
func Refuse(message string, cause error) error { return &PublicError{Message: message, Cause: cause} }

// newServer builds the SDK server: one registration per registry entry,
// tools/list filtered per caller, list results marked private.
func (h *Handler) newServer(cfg Config, log *slog.Logger) *sdk.Server {
	s := sdk.NewServer(&sdk.Implementation{Name: "bulwark", Version: cfg.ServerVersion}, &sdk.ServerOptions{
		Logger:                    log,
		SupportedProtocolVersions: cfg.ProtocolVersions,
		// A filtered tool list differs per caller: no shared caching.
		SetCacheable: func(_ context.Context, _ sdk.Request, c *sdk.Cacheable) {
			c.CacheScope, c.TTLMs = "private", 0
		},
	})
	for _, name := range h.reg.names {
		t := h.reg.byName[name]
		readOnly := t.ReadOnly
		s.AddTool(&sdk.Tool{
			Name: t.Name, Description: t.Description, InputSchema: t.InputSchema,
			Annotations: &sdk.ToolAnnotations{ReadOnlyHint: readOnly},
		}, h.toolHandler(t))
	}
	s.AddReceivingMiddleware(h.filterToolList)
	return s
}

// filterToolList removes from tools/list every tool the caller may not call.
func (h *Handler) filterToolList(next sdk.MethodHandler) sdk.MethodHandler {
	return func(ctx context.Context, method string, req sdk.Request) (sdk.Result, error) {
		res, err := next(ctx, method, req)
		if method != "tools/list" || err != nil {
			return res, err
		}
		list, ok := res.(*sdk.ListToolsResult)
		if !ok {
			return nil, errors.New("tools/list: unexpected result type")
		}
		id, _ := callerOf(req)
		kept := list.Tools[:0:0]
		for _, st := range list.Tools {
			if t, ok := h.reg.lookup(st.Name); ok && visible(id, t) {
				kept = append(kept, st)
			}
		}
		list.Tools = kept
		return list, nil
	}
}

// toolHandler returns the SDK handler for registry entry t. t is captured
// here, at registration: whatever the arguments say, this handler runs t,
// under t's scope.
func (h *Handler) toolHandler(t Tool) sdk.ToolHandler {
	return func(ctx context.Context, req *sdk.CallToolRequest) (*sdk.CallToolResult, error) {
		id, rid := callerOf(req)
		start := time.Now()
		args := req.Params.Arguments
		res, outcome, public := h.execute(ctx, t, id, args)
		ev := audit.Event{
			Time: start.UTC(), Action: "tool.call", Target: t.Name, Outcome: outcome, RequestID: rid,
			Details: map[string]string{
				"args":        t.summary(args),
				"duration_ms": strconv.FormatInt(time.Since(start).Milliseconds(), 10),
				"bytes":       strconv.Itoa(resultBytes(res)),
				"scope":       t.Scope,
			},
		}
		for k, v := range res.Audit {
			if _, taken := ev.Details[k]; !taken { // a tool never overwrites the core fields
				ev.Details[k] = v
			}
		}
		if id != nil {
			ev.Tenant, ev.Actor = id.Tenant, id.KeyID
			ev.Details["kind"] = string(id.Kind)
		}
		if public != "" {
			ev.Details["error"] = public
		}
		// Nothing acknowledged is lost: no result leaves before its entry is
		// durable. A client that hangs up must not stop the entry of a call
		// that already ran.
		appender := h.audit
		if outcome == audit.OutcomeDenied { // refused before it ran: aggregated (Deps.Refusals)
			appender = h.refusals
		}
		if err := appender.Append(context.WithoutCancel(ctx), ev); err != nil {
			h.log.Error("mcp: audit append failed; withholding tool result", "tool", t.Name, "request_id", rid, "err", err)
			return errorResult("the call could not be recorded in the audit log, so its result is withheld"), nil
		}
		if public != "" {
			return errorResult(public), nil
		}
		return toCallResult(res), nil
	}
}

// execute authorises, limits and runs one call. It returns the result, the
// audit outcome and, on failure, the message the client sees.
func (h *Handler) execute(ctx context.Context, t Tool, id *identity.Identity, args json.RawMessage) (Result, string, string) {
	switch err := authorize(id, t); {
	case errors.Is(err, ErrUnknownTool):
		return Result{}, audit.OutcomeDenied, fmt.Sprintf("unknown tool %q", t.Name)
	case err != nil:
		return Result{}, audit.OutcomeDenied, fmt.Sprintf("this key lacks the scope %s required by %s", t.Scope, t.Name)
	}
	ok, retry, err := h.limiterFor(t.Name).Allow(ctx, limiterKey(t.Name, id.Tenant, id.KeyID))
	if err != nil {
		h.log.Error("mcp: limiter failed; refusing call", "tool", t.Name, "err", err)
		return Result{}, audit.OutcomeDenied, "rate limiter unavailable; the call was refused"
	}
	if !ok {
		secs := int(math.Ceil(retry.Seconds()))
		return Result{}, audit.OutcomeDenied, fmt.Sprintf("rate limit for %s exceeded; retry in %d s", t.Name, max(secs, 1))
	}
	cctx, cancel := context.WithTimeout(identity.NewContext(ctx, id), t.Timeout)
	defer cancel()
	res, err := t.Handler(cctx, id, args)
	if err != nil {
		return Result{}, audit.OutcomeFailure, h.publicToolError(cctx, t, err)
	}
	return res, audit.OutcomeSuccess, ""
}

// limiterFor returns the tool's own limiter, or the shared one.
func (h *Handler) limiterFor(tool string) Limiter {
	if l, ok := h.perTool[tool]; ok {
		return l
	}
	return h.limiter
}

// publicToolError turns a handler error into what the client may see.
func (h *Handler) publicToolError(ctx context.Context, t Tool, err error) string {
	var pe *PublicError
	switch {
	case errors.As(err, &pe):
		return pe.Message
	case errors.Is(err, ErrBadArguments):
		return err.Error()
	case errors.Is(ctx.Err(), context.DeadlineExceeded):
		return fmt.Sprintf("%s timed out after %s", t.Name, t.Timeout)
	default:
		h.log.Error("mcp: tool failed", "tool", t.Name, "err", err)
		return t.Name + " failed"
	}
}

func errorResult(msg string) *sdk.CallToolResult {
	return &sdk.CallToolResult{IsError: true, Content: []sdk.Content{&sdk.TextContent{Text: msg}}}
}

func toCallResult(r Result) *sdk.CallToolResult {
	out := &sdk.CallToolResult{Content: []sdk.Content{&sdk.TextContent{Text: r.Text}}}
	if r.Data != nil {
		out.StructuredContent = r.Data
	}
	return out
}

// resultBytes is the size of what a call returned, for the audit log.
func resultBytes(r Result) int {
	n := len(r.Text)
	if r.Data != nil {
		if enc, err := json.Marshal(r.Data); err == nil {
			n += len(enc)
		}
	}
	return n
}
