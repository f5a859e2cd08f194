// Package redistest runs a real redis-server for tests: on a random loopback
// port, in a temporary directory, with persistence off, killed when the test
// (or the package's TestMain) ends. It never skips: a machine without
// redis-server fails the test with an install hint, because the Redis
// backends are only proven against the real thing.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
)

// Server is one redis-server process. Stop and Restart are safe for
// concurrent use with clients talking to the server (clients see errors
// while it is down, which is what outage tests need).
type Server struct {
	// Addr is host:port on 127.0.0.1.
	Addr string

	dir    string
	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start runs a redis-server for t and returns its address. The server is
// killed when t ends.
func Start(t testing.TB) string {
	t.Helper()
	s, err := Launch(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s.Addr
}

// StartServer is Start returning the Server, for tests that stop and
// restart it.
func StartServer(t testing.TB) *Server {
	t.Helper()
	s, err := Launch(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	return s
}

// Launch runs a redis-server with its working directory in dir; the caller
// stops it. TestMain uses it to share one server across a package.
func Launch(dir string) (*Server, error) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		return nil, fmt.Errorf("redistest: redis-server not found (install it: apt-get install -y redis-server): %w", err)
	}
	for range 5 { // a port picked free may be taken before redis binds it
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		s := &Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), dir: dir}
		if err = s.start(); err == nil {
			return s, nil
		}
	}
	return nil, fmt.Errorf("redistest: redis-server did not start on a free port")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("redistest: pick port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	cmd := exec.Command("redis-server",
		"--bind", "127.0.0.1", "--port", port, "--dir", s.dir,
		"--save", "", "--appendonly", "no", "--protected-mode", "yes",
		"--databases", "64", "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("redistest: start redis-server: %w", err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	if err := waitReady(s.Addr, exited, 5*time.Second); err != nil {
		_ = cmd.Process.Kill()
		<-exited
		return err
	}
	s.mu.Lock()
	s.cmd, s.exited = cmd, exited
	s.mu.Unlock()
	return nil
}

// waitReady polls until the server answers PING, and gives up early when
// the process exits (the port was taken).
func waitReady(addr string, exited <-chan struct{}, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for ctx.Err() == nil {
		if ping(ctx, addr) == nil {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("redistest: redis-server at %s exited", addr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	return fmt.Errorf("redistest: redis-server at %s not ready after %s", addr, timeout)
}

func ping(ctx context.Context, addr string) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if line != "+PONG\r\n" {
		return fmt.Errorf("unexpected reply %q", line)
	}
	return nil
}

// Stop kills the server and waits for it to exit. Stopping a stopped server
// does nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	cmd, exited := s.cmd, s.exited
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	_ = cmd.Process.Kill()
	<-exited
}

// Restart starts a stopped server again on the same port (empty: nothing
// was persisted).
func (s *Server) Restart() error {
	s.Stop()
	var err error
	for range 50 { // the old socket may linger for a moment
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	return err
}

// Shared is one server per test binary: the first call starts it, later
// calls return it. Stop it from TestMain after m.Run.
type Shared struct {
	once sync.Once
	srv  *Server
	err  error
	dir  string
}

// Get returns the shared server, starting it on first use.
func (sh *Shared) Get(t testing.TB) *Server {
	t.Helper()
	sh.once.Do(func() {
		sh.dir, sh.err = os.MkdirTemp("", "redistest-")
		if sh.err == nil {
			sh.srv, sh.err = Launch(sh.dir)
		}
	})
	if sh.err != nil {
		t.Fatal(sh.err)
	}
	return sh.srv
}

// Run runs the package's tests and then stops the shared server; use it
// as os.Exit(shared.Run(m)) in TestMain.
func (sh *Shared) Run(m *testing.M) int {
	code := m.Run()
	sh.Close()
	return code
}

// Client returns a new client (one "replica": its own connection pool) of
// the shared server, closed when t ends. It does not retry, so outage
// tests see errors at once.
func (sh *Shared) Client(t testing.TB) *goredis.Client {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: sh.Get(t).Addr, PoolSize: 64, MaxRetries: -1})
	t.Cleanup(func() { _ = c.Close() })
	return c
}

var prefixSeq atomic.Int64

// Prefix returns a key prefix no other call in this process returns, so
// tests sharing a server never see each other's keys.
func Prefix() string { return "t" + strconv.FormatInt(prefixSeq.Add(1), 10) + ":" }

// Close stops the shared server (if started) and removes its directory.
func (sh *Shared) Close() {
	if sh.srv != nil {
		sh.srv.Stop()
	}
	if sh.dir != "" {
		_ = os.RemoveAll(sh.dir)
	}
}
