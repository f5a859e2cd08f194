// Package audit keeps the append-only, hash-chained audit log: every event is
// linked to the one before it by an HMAC under a key held in the barrier, so
// someone with write access to the database alone cannot edit, delete, insert
// or reorder entries without verification failing.
package audit

import (
	"context"
	"time"
)

// Outcomes of an audited action.
const (
	OutcomeSuccess = "success"
	OutcomeFailure = "failure"
	OutcomeDenied  = "denied"
)

// Event is one audited action. It never carries a secret: actors and targets
// are named by public ids only, and Details must hold summaries (with secrets
// redacted), never request bodies or credentials.
type Event struct {
	Seq       int64             `json:"seq"`
	Time      time.Time         `json:"time"`
	Tenant    string            `json:"tenant"`
	Actor     string            `json:"actor"`  // key id, "admin:cli", token subject
	Action    string            `json:"action"` // e.g. "key.create", "tool.call"
	Target    string            `json:"target"` // e.g. a key id, a tool name
	Outcome   string            `json:"outcome"`
	RequestID string            `json:"request_id,omitempty"`
	Details   map[string]string `json:"details,omitempty"`
	MAC       string            `json:"mac,omitempty"` // hex HMAC of this entry, chained
}

// Appender durably appends events. Append returns only after the event is
// on disk (durable before the response that reports the action is sent).
// Implementations are safe for concurrent use.
type Appender interface {
	Append(ctx context.Context, e Event) error
}
