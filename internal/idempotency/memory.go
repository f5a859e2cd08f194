package idempotency

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process Store. It is safe for concurrent use and bounded
// by Options.MaxEntries and MaxBytes; expired entries are swept lazily.
type Memory struct {
	opts Options

	mu        sync.Mutex
	entries   map[string]*entry
	bytes     int64
	seq       uint64
	lastSweep time.Time
}

type entry struct {
	hash    [32]byte
	token   string
	done    chan struct{}
	resp    *Response // nil while in flight
	size    int64
	expires time.Time // lease end while in flight, window end once completed
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory(opts Options) *Memory {
	return &Memory{opts: opts.withDefaults(), entries: make(map[string]*entry)}
}

// Len returns the number of tracked keys.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

func mapKey(scope, key string) string {
	return strconv.Itoa(len(scope)) + ":" + scope + key
}

// Begin implements Store.
func (m *Memory) Begin(_ context.Context, scope, key string, hash [32]byte) (Begun, error) {
	if err := ValidateKey(key); err != nil {
		return Begun{}, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.opts.Now()
	if now.Sub(m.lastSweep) >= time.Minute {
		m.sweep(now)
	}
	k := mapKey(scope, key)
	if e := m.entries[k]; e != nil && !now.Before(e.expires) {
		m.drop(k, e)
	}
	if e := m.entries[k]; e != nil {
		switch {
		case e.hash != hash:
			return Begun{Outcome: Conflict}, nil
		case e.resp != nil:
			return Begun{Outcome: Replay, Response: e.resp.clone()}, nil
		default:
			return Begun{Outcome: InFlight, Done: e.done}, nil
		}
	}
	if len(m.entries) >= m.opts.MaxEntries {
		m.sweep(now)
		if len(m.entries) >= m.opts.MaxEntries {
			return Begun{}, ErrCapacity
		}
	}
	m.seq++
	t := Ticket{Scope: scope, Key: key, Hash: hash, Token: strconv.FormatUint(m.seq, 36)}
	m.entries[k] = &entry{hash: hash, token: t.Token, done: make(chan struct{}), expires: now.Add(m.opts.Lease)}
	return Begun{Outcome: New, Ticket: t}, nil
}

// Complete implements Store.
func (m *Memory) Complete(_ context.Context, t Ticket, resp Response) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := mapKey(t.Scope, t.Key)
	e := m.entries[k]
	if e == nil || e.token != t.Token || e.resp != nil {
		return ErrNotOwner
	}
	now := m.opts.Now()
	size := resp.size()
	if m.bytes+size > m.opts.MaxBytes {
		m.sweep(now)
	}
	if size > m.opts.MaxBytes-m.bytes {
		m.drop(k, e)
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	stored := resp.clone()
	e.resp, e.size, e.expires = stored, size, now.Add(m.opts.Window)
	m.bytes += size
	close(e.done)
	return nil
}

// Abandon implements Store.
func (m *Memory) Abandon(_ context.Context, t Ticket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	k := mapKey(t.Scope, t.Key)
	e := m.entries[k]
	if e == nil || e.token != t.Token || e.resp != nil {
		return ErrNotOwner
	}
	m.drop(k, e)
	return nil
}

// drop removes an entry and wakes its waiters if it was in flight.
func (m *Memory) drop(k string, e *entry) {
	delete(m.entries, k)
	m.bytes -= e.size
	if e.resp == nil {
		close(e.done)
	}
}

func (m *Memory) sweep(now time.Time) {
	m.lastSweep = now
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			m.drop(k, e)
		}
	}
}

func (r Response) size() int64 {
	n := int64(len(r.Body)) + 64
	for k, vs := range r.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v))
		}
	}
	return n
}

func (r *Response) clone() *Response {
	return &Response{Status: r.Status, Header: r.Header.Clone(), Body: append([]byte(nil), r.Body...)}
}
