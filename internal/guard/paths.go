package guard

import "strings"

// elided is the path of a finding whose path would take its scan past the
// path budget.
const elided = "…"

// pathArena writes the paths one scan needs — a finding's, or the
// two-segment path the trust function is asked about — and nothing else.
// Paths are written into chunks that are never copied once full, so a path
// handed out stays valid, and each scan writes at most pathBudget bytes of
// them in all: past that, a finding's path is elided and a string is
// treated as untrusted (injection detection reads more, never less). An
// ordinary body stays far below the budget; one that is not can only be
// built to multiply a long parent path by many siblings, each of whose
// paths repeats it.
type pathArena struct {
	w    *walker
	left int             // bytes the scan may still write
	b    strings.Builder // the current chunk
	root memo            // the root's trust, as node.trust
}

// pathBudget is the total path length one scan of a body of n bytes may
// write.
func pathBudget(n int) int { return 4*n + 64<<10 }

// arena returns the walker's path arena, with its whole budget. It lives
// in the walker, which the scan allocates anyway.
func (w *walker) arena() *pathArena {
	w.paths = pathArena{w: w, left: pathBudget(len(w.s))}
	return &w.paths
}

// path returns r's path followed by suffix, or ok false when it would
// exceed the budget.
func (a *pathArena) path(r ref, suffix string) (string, bool) {
	if r.n == root && r.i < 0 {
		return suffix, true
	}
	if a.left == 0 {
		return "", false
	}
	n := a.w.pathLen(r) + len(suffix)
	if n > a.left {
		a.left = 0 // every later path is elided too
		return "", false
	}
	a.left -= n
	if a.b.Cap()-a.b.Len() < n {
		// A fresh chunk, twice the last up to 64 KiB: the paths already
		// handed out keep the old one.
		size := min(max(2*a.b.Cap(), 256), 64<<10)
		a.b = strings.Builder{}
		a.b.Grow(max(n, size))
	}
	start := a.b.Len()
	a.w.writePath(&a.b, r)
	a.b.WriteString(suffix)
	return a.b.String()[start:], true
}

// finding returns the path a finding at r reports: its path, marked when
// the string is an object key, or elided past the budget.
func (a *pathArena) finding(r ref, key bool) string {
	if !key {
		if p, ok := a.path(r, ""); ok {
			return p
		}
		return elided
	}
	if p, ok := a.path(r, keySuffix); ok {
		return p
	}
	return elided + keySuffix
}

// trustOf asks roles about the string at r: about its path cut after the
// second segment, once per two-segment node. Past the budget the string
// is untrusted.
func (a *pathArena) trustOf(r ref, roles func(string) Trust) Trust {
	at := a.w.anchor(r)
	var m *memo
	switch {
	case at.i >= 0: // an element two segments deep at most: its own anchor
	case at.n == root:
		m = &a.root
	default:
		m = &a.w.nodes[at.n].trust
	}
	switch {
	case m == nil:
	case *m == trusted:
		return Trusted
	case *m == untrusted:
		return Untrusted
	}
	t := Untrusted
	if p, ok := a.path(at, ""); ok && roles(p) == Trusted {
		t = Trusted
	}
	if m != nil {
		*m = untrusted
		if t == Trusted {
			*m = trusted
		}
	}
	return t
}

// memo is a trust decision already taken, or unknown.
type memo uint8

const (
	unknown memo = iota
	untrusted
	trusted
)
