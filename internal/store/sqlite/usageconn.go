package sqlite

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/bulwarkhq/bulwark/internal/store"
)

// usageConn is the connection usage batches are written on, opened through
// the SQLite library itself rather than database/sql. A usage row is
// written per request, so its cost is paid on every call, and measurement
// (docs/performance.md, "Sixth round") put a third of it in what the
// database/sql driver adds around the library: it opens every connection
// SQLITE_OPEN_FULLMUTEX, so each of a row's binds, its step and its
// reset take and release the connection's mutex, and it copies every text
// value into memory it allocates and frees per bind. This connection is
// opened NOMUTEX — its own mutex serialises every use, as SQLite requires
// of such a connection — keeps its statements prepared, and binds text from
// one scratch buffer it owns (SQLITE_STATIC: SQLite reads it during the
// step, which happens before the buffer is refilled).
type usageConn struct {
	mu  sync.Mutex
	tls *libc.TLS
	db  uintptr
	// Prepared once, reset after each use. insertGroup writes usageGroup
	// rows in one statement: a batch's full groups go through it, the rest
	// through insert. generation, providersGeneration and keyringVersion
	// are the polled reads (see readInt).
	begin, insert, insertGroup, commit, rollback    uintptr
	generation, providersGeneration, keyringVersion uintptr
	scratch                                         uintptr // C memory for a row's text values
	scratchLen                                      int
}

// openUsageConn opens path (created and migrated by Open) with the
// handle's pragmas: the busy timeout, foreign keys and the synchronous
// level of the usage handle (WAL is a property of the file, set by Open).
func openUsageConn(path, synchronous string) (_ *usageConn, err error) {
	c := &usageConn{tls: libc.NewTLS()}
	defer func() {
		if err != nil {
			_ = c.close() // the open error is the one to report
		}
	}()
	name, err := libc.CString(path)
	if err != nil {
		return nil, err
	}
	defer libc.Xfree(c.tls, name)
	pdb := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	// No SQLITE_OPEN_URI: the path is a file name, taken literally.
	rc := sqlite3.Xsqlite3_open_v2(c.tls, name, pdb,
		sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_NOMUTEX|sqlite3.SQLITE_OPEN_EXRESCODE, 0)
	c.db = *(*uintptr)(cmem(pdb))
	if rc != sqlite3.SQLITE_OK {
		return nil, c.errorf(rc, "open")
	}
	if rc := sqlite3.Xsqlite3_busy_timeout(c.tls, c.db, busyTimeoutMS); rc != sqlite3.SQLITE_OK {
		return nil, c.errorf(rc, "busy timeout")
	}
	for _, q := range []string{"PRAGMA foreign_keys=1", "PRAGMA synchronous=" + synchronous} {
		if err := c.execOnce(q); err != nil {
			return nil, err
		}
	}
	for _, s := range []struct {
		p   *uintptr
		sql string
	}{{&c.begin, "BEGIN IMMEDIATE"}, {&c.insert, insertUsageSQL}, {&c.insertGroup, insertUsageGroupSQL}, {&c.commit, "COMMIT"}, {&c.rollback, "ROLLBACK"},
		{&c.generation, keysGenerationSQL}, {&c.keyringVersion, keyringVersionSQL},
		{&c.providersGeneration, providersGenerationSQL}} {
		if *s.p, err = c.prepare(s.sql); err != nil {
			return nil, err
		}
	}
	return c, nil
}

// busyTimeoutMS matches the database/sql handles' busy_timeout pragma.
const busyTimeoutMS = 15000

// cmem views C memory (allocated by libc, never by Go) as a pointer.
// unsafe.Add from nil rather than unsafe.Pointer(p): the value is not a Go
// pointer, and the race detector's pointer checks accept it only this way.
func cmem(p uintptr) unsafe.Pointer {
	return unsafe.Add(unsafe.Pointer(nil), p) //nolint:gosec // G103: C memory owned by this connection
}

// prepare compiles one statement, kept for the connection's life.
func (c *usageConn) prepare(sql string) (uintptr, error) {
	z, err := libc.CString(sql)
	if err != nil {
		return 0, err
	}
	defer libc.Xfree(c.tls, z)
	pst := c.tls.Alloc(int(unsafe.Sizeof(uintptr(0))))
	defer c.tls.Free(int(unsafe.Sizeof(uintptr(0))))
	if rc := sqlite3.Xsqlite3_prepare_v3(c.tls, c.db, z, -1, sqlite3.SQLITE_PREPARE_PERSISTENT, pst, 0); rc != sqlite3.SQLITE_OK {
		return 0, c.errorf(rc, "prepare")
	}
	return *(*uintptr)(cmem(pst)), nil
}

// execOnce runs a statement that returns no rows.
func (c *usageConn) execOnce(sql string) error {
	st, err := c.prepare(sql)
	if err != nil {
		return err
	}
	defer sqlite3.Xsqlite3_finalize(c.tls, st)
	return c.run(st)
}

// run steps a statement to its end and resets it.
func (c *usageConn) run(st uintptr) error {
	rc := sqlite3.Xsqlite3_step(c.tls, st)
	for rc == sqlite3.SQLITE_ROW { // a pragma may answer with its value
		rc = sqlite3.Xsqlite3_step(c.tls, st)
	}
	sqlite3.Xsqlite3_reset(c.tls, st)
	if rc != sqlite3.SQLITE_DONE {
		return c.errorf(rc, "step")
	}
	return nil
}

// errorf describes a failed call with SQLite's message for the connection.
func (c *usageConn) errorf(rc int32, op string) error {
	msg := libc.GoString(sqlite3.Xsqlite3_errstr(c.tls, rc))
	if c.db != 0 {
		msg = libc.GoString(sqlite3.Xsqlite3_errmsg(c.tls, c.db))
	}
	return fmt.Errorf("%s: %s (%d)", op, msg, rc)
}

// write appends rows in one transaction, checking ctx between statements.
// Full groups of usageGroup rows go in one statement each: a statement's
// fixed cost (the step, the program's start, the reset) is then paid once
// per group rather than per row — BenchmarkInsertUsage, 0.88–0.91× the
// time per row (docs/performance.md, "Seventeenth round"). A group whose
// text would pass maxGroupText goes row by row, so what one row may hold
// is what it held before groups.
func (c *usageConn) write(ctx context.Context, rows []store.Usage) (err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == 0 {
		return errors.New("usage connection is closed")
	}
	if err := c.run(c.begin); err != nil {
		return err
	}
	defer func() {
		if err != nil && sqlite3.Xsqlite3_get_autocommit(c.tls, c.db) == 0 {
			err = errors.Join(err, c.run(c.rollback))
		}
	}()
	for len(rows) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		st, n := c.insert, 1
		if len(rows) >= usageGroup && textLen(rows[:usageGroup]) <= maxGroupText {
			st, n = c.insertGroup, usageGroup
		}
		if err := c.bind(st, rows[:n]); err != nil {
			return err
		}
		if err := c.run(st); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return c.run(c.commit)
}

// readInt runs *st, a kept read of one integer, and reports whether it
// found a row. The key cache polls the keys' generation four times a
// second, the provider cache the providers' generation and the barrier
// the keyring's version once a second. On a handle of the pool each poll
// cost what a cold read costs: every usage batch committed since had
// changed the file under that connection, so its read began by dropping
// its page cache and re-reading the pages, and the statement was compiled
// anew. Read here, after the connection's own commits, the pages are
// still cached and the statement is kept; only another connection's write
// (a key change, an audit entry, another process) makes it read from the
// file.
func (c *usageConn) readInt(st *uintptr) (v int64, found bool, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.db == 0 {
		return 0, false, errors.New("usage connection is closed")
	}
	defer sqlite3.Xsqlite3_reset(c.tls, *st)
	switch rc := sqlite3.Xsqlite3_step(c.tls, *st); rc {
	case sqlite3.SQLITE_ROW:
		return sqlite3.Xsqlite3_column_int64(c.tls, *st, 0), true, nil
	case sqlite3.SQLITE_DONE:
		return 0, false, nil
	default:
		return 0, false, c.errorf(rc, "step")
	}
}

// bind sets the values of rows, one statement's worth, in
// insertUsageSQL's column order, row after row (row i's parameters are
// i·usageColumns+1 …). The rows' text values are copied end to end into
// the scratch buffer and bound where they lie, all of them live until the
// step: an empty string is bound as a zero-length value at a non-NULL
// address, so it stays an empty string (a NULL address would bind NULL).
func (c *usageConn) bind(st uintptr, rows []store.Usage) error {
	if err := c.reserve(textLen(rows)); err != nil {
		return err
	}
	off := 0
	for i := range rows {
		var err error
		if off, err = c.bindRow(st, int32(i*usageColumns), &rows[i], off); err != nil { //nolint:gosec // G115: i < usageGroup
			return err
		}
	}
	return nil
}

// bindRow binds one row's values to the parameters after base, its text
// at off in the scratch buffer, and returns where its text ends.
func (c *usageConn) bindRow(st uintptr, base int32, u *store.Usage, off int) (int, error) {
	texts := [...]struct {
		col int32
		v   string
	}{{2, u.RequestID}, {3, u.Tenant}, {4, u.KeyID}, {5, u.Model}, {6, u.Provider}, {7, u.Deployment}, {20, u.Endpoint}}
	buf := unsafe.Slice((*byte)(cmem(c.scratch)), c.scratchLen) //nolint:gosec // G103: the connection's own C buffer, scratchLen bytes
	for _, t := range texts {
		copy(buf[off:], t.v)
		if rc := sqlite3.Xsqlite3_bind_text(c.tls, st, base+t.col, c.scratch+uintptr(off), int32(len(t.v)), 0); rc != sqlite3.SQLITE_OK { //nolint:gosec // G115: reserve bounds every length by the buffer's int32 size
			return 0, c.errorf(rc, "bind")
		}
		off += len(t.v)
	}
	ints := [...]struct {
		col int32
		v   int64
	}{{1, millis(u.Time)}, {8, u.PromptTokens}, {9, u.CompletionTokens}, {10, u.CachedTokens}, {11, u.CacheWriteTokens},
		{12, u.ReasoningTokens}, {13, u.CostMicros}, {14, u.LatencyMS}, {15, u.TTFBMS}, {16, int64(u.Status)},
		{17, boolInt(u.Stream)}, {18, boolInt(u.Estimated)}, {19, u.CacheWrite1hTokens}}
	for _, iv := range ints {
		if rc := sqlite3.Xsqlite3_bind_int64(c.tls, st, base+iv.col, iv.v); rc != sqlite3.SQLITE_OK {
			return 0, c.errorf(rc, "bind")
		}
	}
	return off, nil
}

// boolInt is SQLite's integer for a boolean column.
func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// reserve makes the scratch buffer hold at least n bytes (and at least
// one, so every bound address is non-NULL).
func (c *usageConn) reserve(n int) error {
	if n < c.scratchLen {
		return nil
	}
	if n > maxUsageText {
		return fmt.Errorf("usage row text is %d bytes, over the %d-byte limit", n, maxUsageText)
	}
	size := max(2*n, 512)
	p := sqlite3.Xsqlite3_malloc(c.tls, int32(size)) //nolint:gosec // G115: size ≤ 2 MiB
	if p == 0 {
		return errors.New("out of memory for the usage row")
	}
	if c.scratch != 0 {
		sqlite3.Xsqlite3_free(c.tls, c.scratch)
	}
	c.scratch, c.scratchLen = p, size
	return nil
}

// maxUsageText bounds a row's text (ids and names, each far shorter).
const maxUsageText = 1 << 20

// maxGroupText bounds the text of the rows one grouped statement binds
// (real rows hold a few hundred bytes each).
const maxGroupText = 64 << 10

// textLen is the length of rows' text values, end to end.
func textLen(rows []store.Usage) int {
	n := 0
	for i := range rows {
		u := &rows[i]
		n += len(u.RequestID) + len(u.Tenant) + len(u.KeyID) + len(u.Model) + len(u.Provider) + len(u.Deployment) + len(u.Endpoint)
	}
	return n
}

// close releases the statements, the connection and the scratch buffer.
func (c *usageConn) close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.tls == nil {
		return nil
	}
	for _, st := range []*uintptr{&c.begin, &c.insert, &c.insertGroup, &c.commit, &c.rollback, &c.generation, &c.keyringVersion, &c.providersGeneration} {
		if *st != 0 {
			sqlite3.Xsqlite3_finalize(c.tls, *st)
			*st = 0
		}
	}
	var err error
	if c.db != 0 {
		if rc := sqlite3.Xsqlite3_close_v2(c.tls, c.db); rc != sqlite3.SQLITE_OK {
			err = c.errorf(rc, "close")
		}
		c.db = 0
	}
	if c.scratch != 0 {
		sqlite3.Xsqlite3_free(c.tls, c.scratch)
		c.scratch, c.scratchLen = 0, 0
	}
	c.tls.Close()
	c.tls = nil
	return err
}
