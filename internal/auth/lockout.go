package auth

import (
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// Lockout counts failed authentication attempts per client and locks a
// client out, with exponential backoff, once it exceeds the per-minute
// allowance. A locked-out client still gets in with a valid key: only
// failures are refused early, so a shared NAT cannot be used to lock out
// honest callers. Safe for concurrent use; memory is bounded.
type Lockout struct {
	perMinute int
	now       func() time.Time

	mu      sync.Mutex
	clients map[string]*failures
}

type failures struct {
	windowStart time.Time
	count       int
	lockedUntil time.Time
	strikes     int // lockouts so far; each doubles the next
	lastSeen    time.Time
	unreported  int // failures since the last one reported first (see Note)
}

const (
	maxTrackedClients = 100_000
	baseLockout       = time.Minute
	maxLockout        = time.Hour
)

// NewLockout allows perMinute failures per client per minute.
func NewLockout(perMinute int) *Lockout {
	return &Lockout{perMinute: perMinute, now: time.Now, clients: map[string]*failures{}}
}

// Locked reports whether client is locked out, and for how long.
func (l *Lockout) Locked(client string) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.clients[client]
	if f == nil {
		return false, 0
	}
	if d := f.lockedUntil.Sub(l.now()); d > 0 {
		return true, d
	}
	return false, 0
}

// Fail records a failure. It returns whether this failure is the first of
// its window (worth auditing) and whether the client is now locked out.
func (l *Lockout) Fail(client string) (first bool, locked bool, retry time.Duration) {
	first, _, locked, retry = l.fail(client, false)
	return first, locked, retry
}

// Note records a failure as Fail does and, when it is worth auditing,
// how many failures of client came since the last one that was (and were
// not taken by Unreported). Each failure is thus either reported first
// or counted in exactly one later report.
func (l *Lockout) Note(client string) (first bool, unreported int, locked bool, retry time.Duration) {
	return l.fail(client, false)
}

// fail records a failure of client. force reports it whatever its place
// in the window (first is then true), taking the unreported count.
func (l *Lockout) fail(client string, force bool) (first bool, unreported int, locked bool, retry time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	f := l.clients[client]
	if f == nil {
		l.prune(now)
		if len(l.clients) >= maxTrackedClients {
			return force, 0, false, 0 // table full of active lockouts: do not grow (a forced report still goes out)
		}
		f = &failures{windowStart: now}
		l.clients[client] = f
	}
	f.lastSeen = now
	if now.Sub(f.windowStart) >= time.Minute {
		f.windowStart, f.count = now, 0
	}
	f.count++
	first = f.count == 1 || force
	if d := f.lockedUntil.Sub(now); d > 0 {
		return first, f.report(first), true, d
	}
	if f.count > l.perMinute {
		d := baseLockout << min(f.strikes, 6)
		d = min(d, maxLockout)
		f.strikes++
		f.lockedUntil = now.Add(d)
		f.count = 0
		return true, f.report(true), true, d
	}
	return first, f.report(first), false, 0
}

// report returns and resets the unreported count when this failure is
// reported, and counts it otherwise.
func (f *failures) report(reported bool) int {
	if !reported {
		f.unreported++
		return 0
	}
	n := f.unreported
	f.unreported = 0
	return n
}

// Unreported returns, and forgets, the failures counted but not yet
// reported of every client whose window has ended (of every client, when
// all is set), for a summary. Clients whose window has ended with nothing
// left to report and that were never locked out are dropped: their next
// failure starts a new window anyway.
func (l *Lockout) Unreported(all bool) map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	out := map[string]int{}
	for k, f := range l.clients {
		ended := now.Sub(f.windowStart) >= time.Minute
		if f.unreported > 0 && (ended || all) {
			out[k] = f.unreported
			f.unreported = 0
		}
		if ended && f.unreported == 0 && f.strikes == 0 && !now.Before(f.lockedUntil) {
			delete(l.clients, k)
		}
	}
	return out
}

// prune keeps memory bounded without forgetting active lockouts: it drops
// clients that are not locked out (idle ones first); locked-out clients
// are kept, so flooding the table cannot lift anybody's lockout.
func (l *Lockout) prune(now time.Time) {
	if len(l.clients) < maxTrackedClients {
		return
	}
	for k, f := range l.clients {
		if now.Sub(f.lastSeen) > maxLockout && now.After(f.lockedUntil) {
			delete(l.clients, k)
		}
	}
	for k, f := range l.clients {
		if len(l.clients) < maxTrackedClients*9/10 {
			break
		}
		if now.After(f.lockedUntil) {
			delete(l.clients, k)
		}
	}
}

// LockoutKey groups client addresses for the lockout: an IPv6 client is
// its /64 (one host usually owns a whole /64, so rotating addresses inside
// it must not reset the count); an IPv4 client is its address.
func LockoutKey(client string) string {
	a, err := netip.ParseAddr(client)
	if err != nil || a.Is4() || a.Is4In6() {
		return client
	}
	p, err := a.Prefix(64)
	if err != nil {
		return client
	}
	return p.String()
}

// ClientIP returns the connecting address, or — only when the connection
// comes from a trusted proxy — the rightmost X-Forwarded-For entry that is
// not itself a trusted proxy.
func ClientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil || !inPrefixes(peer.Unmap(), trusted) {
		return host
	}
	hops := strings.Split(strings.Join(r.Header.Values("X-Forwarded-For"), ","), ",")
	for i := len(hops) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(hops[i]))
		if err != nil {
			return peer.String() // a garbled header: fall back to the proxy itself
		}
		if !inPrefixes(a.Unmap(), trusted) {
			return a.Unmap().String()
		}
	}
	return peer.String()
}

func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
