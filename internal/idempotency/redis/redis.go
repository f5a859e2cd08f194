// Package redis is the idempotency.Store in Redis, so that replicas share
// Idempotency-Keys: a retry that lands on another replica replays the
// stored response, and concurrent repeats across replicas reach the
// upstream once. Each operation is one Lua script, so claiming a key,
// completing it and abandoning it can never interleave.
//
// Keys: one hash per (scope, key) entry holding the body hash, the owner's
// token, the logical expiry and, once completed, the response; an index
// (sorted set of entries by expiry), a hash of stored sizes and a byte
// counter bound the store like the memory one: MaxEntries live entries
// (ErrCapacity beyond) and MaxBytes of stored responses (ErrTooLarge).
// Per scope, two sorted sets (its entries; its completed entries) and a
// byte counter hold each caller to its share (MaxEntriesPerScope,
// MaxBytesPerScope) across every replica, evicting its own oldest answers
// as the memory store does. Every key has a TTL, so an idle store empties
// itself.
package redis

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
)

// DefaultPrefix starts every key when Options.Prefix is empty.
const DefaultPrefix = "bulwark:"

// Options configure a Store: the memory store's options plus a key prefix.
type Options struct {
	idempotency.Options
	// Prefix starts every key (default "bulwark:"); the store adds "idem:".
	Prefix string
}

// Store is an idempotency.Store in Redis. It is safe for concurrent use by
// any number of goroutines and replicas. Begun.Done is nil for in-flight
// keys: idempotency.Await polls.
type Store struct {
	c    goredis.Scripter
	opts Options
	idx  []string // index, sizes, byte counter
}

var _ idempotency.Store = (*Store)(nil)

// New returns a store on c.
func New(c goredis.Scripter, opts Options) *Store {
	opts.Options = opts.WithDefaults()
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	p := opts.Prefix + "idem:"
	return &Store{c: c, opts: opts, idx: []string{p + "index", p + "sizes", p + "bytes"}}
}

// entryKey joins scope and key without ambiguity ("key:" + "1k" differs
// from "key:1" + "k"). The scripts read the scope back from it (see
// luaDrop): keep the two in step.
func (s *Store) entryKey(scope, key string) string {
	return s.opts.Prefix + "idem:e:" + strconv.Itoa(len(scope)) + ":" + scope + key
}

func (s *Store) now() int64 { return s.opts.Now().UnixMicro() }

// keys returns KEYS for a script on one entry: the entry, the shared
// bookkeeping and its scope's (entries, completed entries, bytes).
func (s *Store) keys(scope, key string) []string {
	sc := strconv.Itoa(len(scope)) + ":" + scope
	p := s.opts.Prefix + "idem:"
	return []string{s.entryKey(scope, key), s.idx[0], s.idx[1], s.idx[2], p + "s:" + sc, p + "c:" + sc, p + "b:" + sc}
}

// ttl is the TTL of the shared bookkeeping keys: longer than any entry.
func (s *Store) ttl() int64 { return (s.opts.Window + s.opts.Lease + time.Minute).Milliseconds() }

// Begin implements idempotency.Store.
func (s *Store) Begin(ctx context.Context, scope, key string, hash [32]byte) (idempotency.Begun, error) {
	if err := idempotency.ValidateKey(key); err != nil {
		return idempotency.Begun{}, err //nolint:wrapcheck // the sentinel is the answer
	}
	tok := newToken()
	out, err := beginScript.Run(ctx, s.c, s.keys(scope, key), s.now(), string(hash[:]), tok,
		s.opts.Lease.Microseconds(), s.opts.MaxEntries, s.ttl(), s.opts.MaxEntriesPerScope).Slice()
	if err != nil {
		return idempotency.Begun{}, fmt.Errorf("redis idempotency: begin: %w", err)
	}
	what, _ := out[0].(string)
	switch what {
	case "new":
		return idempotency.Begun{Outcome: idempotency.New,
			Ticket: idempotency.Ticket{Scope: scope, Key: key, Hash: hash, Token: tok}}, nil
	case "conflict":
		return idempotency.Begun{Outcome: idempotency.Conflict}, nil
	case "inflight":
		return idempotency.Begun{Outcome: idempotency.InFlight}, nil
	case "full":
		return idempotency.Begun{}, idempotency.ErrCapacity
	case "scopefull":
		return idempotency.Begun{}, fmt.Errorf("%w: this caller's share is in flight", idempotency.ErrCapacity)
	case "replay":
		r, err := decode(out[1:])
		if err != nil {
			return idempotency.Begun{}, fmt.Errorf("redis idempotency: stored response: %w", err)
		}
		return idempotency.Begun{Outcome: idempotency.Replay, Response: r}, nil
	}
	return idempotency.Begun{}, fmt.Errorf("redis idempotency: begin: unexpected reply %q", what)
}

// Complete implements idempotency.Store.
func (s *Store) Complete(ctx context.Context, t idempotency.Ticket, resp idempotency.Response) error {
	hdr, err := json.Marshal(resp.Header)
	if err != nil {
		return fmt.Errorf("redis idempotency: encode headers: %w", err)
	}
	size := int64(len(resp.Body)) + int64(len(hdr)) + 64
	out, err := completeScript.Run(ctx, s.c, s.keys(t.Scope, t.Key), s.now(), t.Token,
		s.opts.Window.Microseconds(), resp.Status, hdr, resp.Body, size, s.opts.MaxBytes, s.ttl(), s.opts.MaxBytesPerScope).Text()
	if err != nil {
		return fmt.Errorf("redis idempotency: complete: %w", err)
	}
	switch out {
	case "ok":
		return nil
	case "toolarge":
		return fmt.Errorf("%w: %d bytes", idempotency.ErrTooLarge, size)
	}
	return idempotency.ErrNotOwner
}

// Abandon implements idempotency.Store.
func (s *Store) Abandon(ctx context.Context, t idempotency.Ticket) error {
	ok, err := abandonScript.Run(ctx, s.c, s.keys(t.Scope, t.Key), t.Token).Int()
	if err != nil {
		return fmt.Errorf("redis idempotency: abandon: %w", err)
	}
	if ok != 1 {
		return idempotency.ErrNotOwner
	}
	return nil
}

// Len returns the number of live entries (in flight or completed).
func (s *Store) Len(ctx context.Context) (int, error) {
	c, ok := s.c.(goredis.Cmdable)
	if !ok {
		return 0, errors.New("redis idempotency: client cannot run commands")
	}
	n, err := c.ZCount(ctx, s.idx[0], "("+strconv.FormatInt(s.now(), 10), "+inf").Result()
	if err != nil {
		return 0, fmt.Errorf("redis idempotency: len: %w", err)
	}
	return int(n), nil
}

// decode reads {status, headers JSON, body} as returned by beginScript.
func decode(v []any) (*idempotency.Response, error) {
	if len(v) != 3 {
		return nil, fmt.Errorf("%d fields", len(v))
	}
	st, _ := v[0].(string)
	hdr, _ := v[1].(string)
	body, _ := v[2].(string)
	status, err := strconv.Atoi(st)
	if err != nil {
		return nil, fmt.Errorf("status: %w", err)
	}
	r := &idempotency.Response{Status: status, Body: []byte(body)}
	if err := json.Unmarshal([]byte(hdr), &r.Header); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if r.Header == nil {
		r.Header = http.Header{}
	}
	return r, nil
}
