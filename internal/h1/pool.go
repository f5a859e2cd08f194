package h1

import (
	"syscall"
	"time"
)

// pool holds one host's idle connections, most recently used last.
type pool struct {
	conns   []*conn
	janitor *time.Timer // closes what stays idle past IdleTimeout
}

func (t *Transport) takeIdle(addr string) *conn {
	t.mu.Lock()
	defer t.mu.Unlock()
	p := t.idle[addr]
	if p == nil || len(p.conns) == 0 {
		return nil
	}
	c := p.conns[len(p.conns)-1]
	p.conns[len(p.conns)-1] = nil
	p.conns = p.conns[:len(p.conns)-1]
	return c
}

// put returns c to its pool, or closes it when the pool is full.
func (t *Transport) put(c *conn) {
	c.idleAt = time.Now()
	c.reused = true
	t.mu.Lock()
	p := t.idle[c.addr]
	if p == nil {
		p = &pool{}
		t.idle[c.addr] = p
	}
	if len(p.conns) >= t.o.MaxIdlePerHost {
		t.mu.Unlock()
		c.closeConn()
		return
	}
	p.conns = append(p.conns, c)
	if p.janitor == nil {
		addr := c.addr
		p.janitor = time.AfterFunc(t.o.IdleTimeout, func() { t.sweep(addr) })
	}
	t.mu.Unlock()
}

// sweep closes addr's connections idle past IdleTimeout (the oldest come
// first) and runs again when the next one would expire.
func (t *Transport) sweep(addr string) {
	now := time.Now()
	t.mu.Lock()
	p := t.idle[addr]
	if p == nil {
		t.mu.Unlock()
		return
	}
	n := 0
	for n < len(p.conns) && now.Sub(p.conns[n].idleAt) >= t.o.IdleTimeout {
		n++
	}
	stale := append([]*conn(nil), p.conns[:n]...)
	p.conns = append(p.conns[:0], p.conns[n:]...)
	if len(p.conns) == 0 {
		p.janitor = nil
		delete(t.idle, addr)
	} else {
		p.janitor.Reset(t.o.IdleTimeout - now.Sub(p.conns[0].idleAt))
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.closeConn()
	}
}

func (p *pool) closeAll() {
	if p.janitor != nil {
		p.janitor.Stop()
	}
	for _, c := range p.conns {
		c.closeConn()
	}
}

// usable reports whether an idle connection may carry a request: not idle
// past IdleTimeout, and neither closed by the upstream nor holding bytes
// nobody asked for — a buggy upstream's surplus would otherwise be read as
// the next caller's answer. The check is one non-blocking peek.
func (c *conn) usable() bool {
	if time.Since(c.idleAt) >= c.t.o.IdleTimeout || c.br.Buffered() > 0 {
		return false
	}
	sc, ok := c.nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the one healthy answer: a read of
		// 0 is the upstream's close, of 1 a byte it should not have sent.
		alive = err == syscall.EAGAIN
		return true
	})
	return err == nil && alive
}
