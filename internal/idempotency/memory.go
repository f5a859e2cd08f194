package idempotency

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// Memory is the in-process Store. It is safe for concurrent use and bounded
// by Options.MaxEntries and MaxBytes, and per scope by MaxEntriesPerScope
// and MaxBytesPerScope; expired entries are swept lazily.
type Memory struct {
	opts Options

	mu        sync.Mutex
	entries   map[string]*entry
	scopes    map[string]*scopeUse
	bytes     int64
	seq       uint64
	lastSweep time.Time
}

type entry struct {
	k       string // map key
	hash    [32]byte
	token   string
	done    chan struct{}
	resp    *Response // nil while in flight
	size    int64
	expires time.Time // lease end while in flight, window end once completed

	scope *scopeUse
	elem  *list.Element // in scope.inflight or (resp != nil) scope.completed
}

// scopeUse is what one scope holds: its entries in flight in order of
// their start, its completed ones in order of completion (both therefore
// in order of expiry, oldest first), and their stored bytes.
type scopeUse struct {
	name                string
	inflight, completed list.List // of *entry
	bytes               int64
}

func (u *scopeUse) entries() int { return u.inflight.Len() + u.completed.Len() }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty store.
func NewMemory(opts Options) *Memory {
	return &Memory{opts: opts.WithDefaults(), entries: make(map[string]*entry), scopes: make(map[string]*scopeUse)}
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
		m.drop(e)
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
	if u := m.scopes[scope]; u != nil && u.entries() >= m.opts.MaxEntriesPerScope {
		// The scope's share is used: forget its expired entries, then its
		// oldest answers; if all it holds is in flight, refuse it alone.
		m.sweepScope(u, now)
		for u.entries() >= m.opts.MaxEntriesPerScope && u.completed.Len() > 0 {
			m.drop(u.completed.Front().Value.(*entry))
		}
		if u.entries() >= m.opts.MaxEntriesPerScope {
			return Begun{}, fmt.Errorf("%w: this caller's share is in flight", ErrCapacity)
		}
	}
	if len(m.entries) >= m.opts.MaxEntries {
		m.sweep(now)
		if len(m.entries) >= m.opts.MaxEntries {
			return Begun{}, ErrCapacity
		}
	}
	u := m.scopes[scope]
	if u == nil {
		u = &scopeUse{name: scope}
		m.scopes[scope] = u
	}
	m.seq++
	t := Ticket{Scope: scope, Key: key, Hash: hash, Token: strconv.FormatUint(m.seq, 36)}
	e := &entry{k: k, hash: hash, token: t.Token, done: make(chan struct{}), expires: now.Add(m.opts.Lease), scope: u}
	e.elem = u.inflight.PushBack(e)
	m.entries[k] = e
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
	if size > m.opts.MaxBytesPerScope {
		m.drop(e)
		return fmt.Errorf("%w: %d bytes, more than a caller's share", ErrTooLarge, size)
	}
	u := e.scope
	for u.bytes+size > m.opts.MaxBytesPerScope && u.completed.Len() > 0 {
		m.drop(u.completed.Front().Value.(*entry)) // the scope's oldest answer
	}
	if m.bytes+size > m.opts.MaxBytes {
		m.sweep(now)
	}
	if size > m.opts.MaxBytes-m.bytes {
		m.drop(e)
		return fmt.Errorf("%w: %d bytes", ErrTooLarge, size)
	}
	stored := resp.clone()
	e.resp, e.size, e.expires = stored, size, now.Add(m.opts.Window)
	u.inflight.Remove(e.elem)
	e.elem = u.completed.PushBack(e)
	u.bytes += size
	m.bytes += size
	close(e.done)
	return nil
}

// Abandon implements Store.
func (m *Memory) Abandon(_ context.Context, t Ticket) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.entries[mapKey(t.Scope, t.Key)]
	if e == nil || e.token != t.Token || e.resp != nil {
		return ErrNotOwner
	}
	m.drop(e)
	return nil
}

// drop removes an entry and wakes its waiters if it was in flight.
func (m *Memory) drop(e *entry) {
	delete(m.entries, e.k)
	m.bytes -= e.size
	u := e.scope
	u.bytes -= e.size
	if e.resp == nil {
		u.inflight.Remove(e.elem)
		close(e.done)
	} else {
		u.completed.Remove(e.elem)
	}
	if u.entries() == 0 && m.scopes[u.name] == u {
		delete(m.scopes, u.name)
	}
}

func (m *Memory) sweep(now time.Time) {
	m.lastSweep = now
	for _, e := range m.entries {
		if !now.Before(e.expires) {
			m.drop(e)
		}
	}
}

// sweepScope drops u's expired entries: each list is in order of expiry,
// so only its expired front is visited.
func (m *Memory) sweepScope(u *scopeUse, now time.Time) {
	for _, l := range []*list.List{&u.inflight, &u.completed} {
		for l.Len() > 0 {
			e := l.Front().Value.(*entry)
			if now.Before(e.expires) {
				break
			}
			m.drop(e)
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
