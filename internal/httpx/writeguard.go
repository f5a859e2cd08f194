package httpx

import (
	"context"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// WriteGuard bounds the writes of one response to a client that stops
// reading. The server sets no write deadline (http.Server.WriteTimeout
// would bound whole responses, long streams included), and neither a
// cancelled context nor a closed upstream unblocks a Write stuck on a
// client's zero TCP window: a client that reads nothing would keep the
// handler, and every slot its request holds, for as long as it likes. A
// started guard:
//
//   - keeps a write deadline stall ahead of the response's writes: Check,
//     called before each write, renews it once a quarter of it has passed,
//     read from a coarse clock (one atomic load per write: no clock read,
//     timer operation or syscall). A write that makes no progress is cut
//     after between ¾·stall (less one clock tick) and stall;
//   - when ctx ends (a request or attempt deadline, a client that left),
//     pulls the deadline in to at most ExpireGrace from then (one context
//     hook per Start, no goroutine), so a blocked write returns within it,
//     while a client that reads still gets the few bytes that end its
//     response (an error event).
//
// The writer is found through the Unwrap chain, as http.ResponseController
// finds it; a writer that cannot take a deadline leaves the guard inert.
// The zero value is ready to Start; Start and Release go together, on the
// goroutine that writes, and Release must come before the handler returns:
// after it the hook never touches the connection (which may serve the next
// request; the server clears the deadline between requests).
type WriteGuard struct {
	dl    writeDeadliner // nil when inert
	stall time.Duration
	// renewAt is the clock reading past which Check renews the deadline.
	// Only the writing goroutine reads or writes it.
	renewAt int64
	stop    func() bool // unregisters the context hook

	mu    sync.Mutex
	gen   uint64 // bumped by Release: a hook of an earlier Start finds it changed
	ended bool   // ctx ended: the deadline stays where expire put it
}

// ExpireGrace is how long a guarded write may still take once the
// guard's context has ended (at most the stall bound itself).
const ExpireGrace = 500 * time.Millisecond

type writeDeadliner interface{ SetWriteDeadline(time.Time) error }

// Start arms the guard for the writes to w that follow: a deadline stall
// ahead, renewed by Check, and pulled in when ctx ends. A stall of zero or
// less leaves it inert.
func (g *WriteGuard) Start(ctx context.Context, w http.ResponseWriter, stall time.Duration) {
	g.Release() // a guard started twice lets go of the first
	g.renewAt = math.MaxInt64
	dl := deadlinerOf(w)
	if stall <= 0 || dl == nil {
		return
	}
	clockOnce.Do(startClock)
	g.mu.Lock()
	g.dl, g.stall, g.ended = dl, stall, false
	gen := g.gen
	g.set()
	g.mu.Unlock()
	g.stop = context.AfterFunc(ctx, func() { g.expire(gen) })
}

// Check renews the deadline when a quarter of it has passed. Call it
// before each write; it is cheap enough for every one. A nil guard does
// nothing.
func (g *WriteGuard) Check() {
	if g != nil && clockNow.Load() >= g.renewAt {
		g.renew()
	}
}

// Release disarms the context hook. The deadline stays (the server clears
// it once the response is finished), renewed if due, or if the context
// had ended, so the response's last bytes get the full stall bound.
func (g *WriteGuard) Release() {
	if g.stop == nil {
		return
	}
	g.stop()
	g.stop = nil
	g.mu.Lock()
	defer g.mu.Unlock()
	g.gen++
	if g.ended || clockNow.Load() >= g.renewAt {
		g.ended = false
		g.set()
	}
	g.dl, g.renewAt = nil, math.MaxInt64
}

func (g *WriteGuard) renew() {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.dl == nil || g.ended {
		g.renewAt = math.MaxInt64
		return
	}
	g.set()
}

// set puts the deadline stall from now; g.mu is held.
func (g *WriteGuard) set() {
	now := time.Now()
	_ = g.dl.SetWriteDeadline(now.Add(g.stall))
	g.renewAt = int64(now.Sub(clockBase) + g.stall/4)
}

// expire is the context hook: a write blocked now returns within the
// grace, and the deadline is no longer renewed.
func (g *WriteGuard) expire(gen uint64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if gen != g.gen || g.dl == nil {
		return
	}
	g.ended = true
	_ = g.dl.SetWriteDeadline(time.Now().Add(min(g.stall, ExpireGrace)))
}

// deadlinerOf finds the writer that sets write deadlines, as
// http.ResponseController does.
func deadlinerOf(w http.ResponseWriter) writeDeadliner {
	for {
		switch t := w.(type) {
		case writeDeadliner:
			return t
		case interface{ Unwrap() http.ResponseWriter }:
			w = t.Unwrap()
		default:
			return nil
		}
	}
}

// The coarse clock: nanoseconds since clockBase, advanced every clockTick
// by one goroutine for the whole process, started by the first guard. A
// stall bound must be several ticks long (configuration asks for ≥ 1 s).
const clockTick = 250 * time.Millisecond

var (
	clockOnce sync.Once
	clockBase time.Time
	clockNow  atomic.Int64
)

func startClock() {
	clockBase = time.Now()
	go func() {
		t := time.NewTicker(clockTick)
		for range t.C {
			clockNow.Store(int64(time.Since(clockBase)))
		}
	}()
}
