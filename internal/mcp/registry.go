// Package mcp is Bulwark's MCP server: Streamable HTTP at /mcp (protocol
// versions 2025-06-18, 2025-11-25 and 2026-07-28, on the official go-sdk),
// guarded as an OAuth 2.1 resource server, with a registry of tools each
// behind a scope, a per-key allowlist, a per-tool rate limit and an audit
// entry. Authority always comes from the registry entry the tool name maps
// to, never from a tool's arguments.
package mcp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/identity"
)

// Result is what a tool returns: text for the model and, optionally, a
// structured value (encoded as JSON) for programs.
type Result struct {
	Text string
	Data any
	// Audit holds extra details for the call's audit entry (for example a
	// process's exit status). Never put secrets or host paths here: the
	// entry is kept for the retention period and exported to reviewers.
	Audit map[string]string
}

// ToolFunc runs one tool call for a verified identity. args is the raw JSON
// object the client sent; decode it with DecodeArgs.
type ToolFunc func(ctx context.Context, id *identity.Identity, args json.RawMessage) (Result, error)

// Tool is one entry of the registry.
type Tool struct {
	// Name is what clients call (e.g. "fs_read").
	Name string
	// Scope the caller must hold (e.g. "tools:fs.read").
	Scope string
	// Description is shown to the model.
	Description string
	// InputSchema is a JSON Schema object (type "object").
	InputSchema json.RawMessage
	// Handler does the work.
	Handler ToolFunc
	// Timeout bounds one call; DefaultToolTimeout when zero.
	Timeout time.Duration
	// ReadOnly is advertised to clients as a hint.
	ReadOnly bool
	// Summarize, when set, renders the arguments for the audit log with
	// secrets redacted, in the tool's own terms (an argv for git and
	// exec, whose secrets hide in values such as --password=x that a
	// generic JSON summary cannot recognise). It must never fail: it
	// falls back to the generic summary for arguments it cannot read.
	Summarize func(args json.RawMessage) string
}

// summary renders a call's arguments for the audit log.
func (t Tool) summary(args json.RawMessage) string {
	if t.Summarize != nil {
		return t.Summarize(args)
	}
	return summarizeArgs(args)
}

// DefaultToolTimeout bounds a tool call when the tool sets none.
const DefaultToolTimeout = 30 * time.Second

var (
	toolNameRE  = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)
	toolScopeRE = regexp.MustCompile(`^tools:[a-z][a-z0-9_.-]{0,63}$`)
)

// validate checks a registry entry once, at startup.
func (t Tool) validate() error {
	if !toolNameRE.MatchString(t.Name) {
		return fmt.Errorf("mcp: tool name %q must match %s", t.Name, toolNameRE)
	}
	if !toolScopeRE.MatchString(t.Scope) {
		return fmt.Errorf("mcp: tool %s: scope %q must be tools:<name> (wildcards are for keys, not tools)", t.Name, t.Scope)
	}
	if t.Handler == nil {
		return fmt.Errorf("mcp: tool %s has no handler", t.Name)
	}
	var schema struct {
		Type string `json:"type"`
	}
	if err := json.Unmarshal(t.InputSchema, &schema); err != nil || schema.Type != "object" {
		return fmt.Errorf("mcp: tool %s: input schema must be a JSON object schema", t.Name)
	}
	if t.Timeout < 0 {
		return fmt.Errorf("mcp: tool %s: negative timeout", t.Name)
	}
	return nil
}

// registry maps names to tools. It is built once and then only read, so it is
// safe for concurrent use.
type registry struct {
	byName map[string]Tool
	names  []string // sorted, for stable listings
}

func newRegistry(tools []Tool) (*registry, error) {
	r := &registry{byName: map[string]Tool{}}
	for _, t := range tools {
		if err := t.validate(); err != nil {
			return nil, err
		}
		if _, dup := r.byName[t.Name]; dup {
			return nil, fmt.Errorf("mcp: tool %s registered twice", t.Name)
		}
		if t.Timeout == 0 {
			t.Timeout = DefaultToolTimeout
		}
		r.byName[t.Name] = t
		r.names = append(r.names, t.Name)
	}
	slices.Sort(r.names)
	return r, nil
}

// lookup returns the tool name maps to.
func (r *registry) lookup(name string) (Tool, bool) {
	t, ok := r.byName[name]
	return t, ok
}

// scopes returns the distinct scopes of the registered tools, sorted.
func (r *registry) scopes() []string {
	var out []string
	for _, n := range r.names {
		if s := r.byName[n].Scope; !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	slices.Sort(out)
	return out
}

// Decision errors: why a caller may not run a tool.
var (
	// ErrUnknownTool: no such tool, or the key's tool allowlist hides it.
	// Both answer the same so a key cannot probe for tools it may not call.
	ErrUnknownTool = errors.New("unknown tool")
	// ErrInsufficientScope: the tool exists but the caller lacks its scope.
	ErrInsufficientScope = errors.New("insufficient scope")
)

// authorize decides, from the registry entry alone, whether id may call t.
func authorize(id *identity.Identity, t Tool) error {
	if id == nil {
		return ErrInsufficientScope
	}
	if len(id.Tools) > 0 && !slices.Contains(id.Tools, t.Name) {
		return ErrUnknownTool
	}
	if !id.HasScope(t.Scope) {
		return ErrInsufficientScope
	}
	return nil
}

// visible reports whether tools/list shows t to id.
func visible(id *identity.Identity, t Tool) bool { return authorize(id, t) == nil }

// hasAnyToolScope reports whether id holds at least one tools:* scope.
func hasAnyToolScope(id *identity.Identity) bool {
	return id != nil && slices.ContainsFunc(id.Scopes, func(s string) bool { return strings.HasPrefix(s, "tools:") })
}

// maxArgsBytes bounds the arguments of one call.
const maxArgsBytes = 1 << 20

// ErrBadArguments is wrapped by DecodeArgs errors; its message is safe to
// show to the client.
var ErrBadArguments = errors.New("invalid arguments")

// DecodeArgs decodes a tool's JSON arguments into v strictly: one JSON
// object, no unknown fields (so a smuggled "tool" or "scope" field is an
// error, not silently ignored), at most 1 MiB.
func DecodeArgs(args json.RawMessage, v any) error {
	if len(args) > maxArgsBytes {
		return fmt.Errorf("%w: arguments exceed %d bytes", ErrBadArguments, maxArgsBytes)
	}
	if len(bytes.TrimSpace(args)) == 0 {
		args = json.RawMessage("{}")
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w: %s", ErrBadArguments, publicJSONError(err))
	}
	if dec.More() {
		return fmt.Errorf("%w: trailing data after the arguments object", ErrBadArguments)
	}
	return nil
}

// publicJSONError describes a decode error without echoing input values.
func publicJSONError(err error) string {
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return fmt.Sprintf("field %q has the wrong type", typeErr.Field)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return "unknown field " + strings.TrimPrefix(err.Error(), "json: unknown field ")
	default:
		return "arguments must be a JSON object"
	}
}
