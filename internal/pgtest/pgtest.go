// Package pgtest runs a throwaway PostgreSQL server for tests: initdb in a
// temporary directory, the server on a random loopback port (as the
// "postgres" system user, else "daemon", when the tests run as root, since
// PostgreSQL refuses root), and a fresh
// database for each caller of Start.
//
// One server serves a whole test package when its TestMain calls Main;
// without Main each Start runs its own server, stopped when the test ends.
// The binaries come from /usr/lib/postgresql/15/bin (Debian's
// postgresql-15) or the directory BULWARK_PG_BIN names. Missing binaries
// fail the test: PostgreSQL tests are never skipped.
//
// Start and Main are safe for concurrent use.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvBin names the directory holding initdb and postgres.
const EnvBin = "BULWARK_PG_BIN"

// DefaultBin is where Debian's postgresql-15 package installs the server.
const DefaultBin = "/usr/lib/postgresql/15/bin"

// Bin returns the directory of the PostgreSQL binaries.
func Bin() string {
	if d := os.Getenv(EnvBin); d != "" {
		return d
	}
	return DefaultBin
}

// shared is the package-wide server Main manages.
var shared struct {
	mu      sync.Mutex
	enabled bool // Main is running the tests
	srv     *server
	err     error
}

// Main runs the tests of a package with one PostgreSQL server for all of
// them (started on first use) and stops it afterwards. Call it from
// TestMain: os.Exit(pgtest.Main(m)).
func Main(m *testing.M) int {
	shared.mu.Lock()
	shared.enabled = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		shared.srv.stop()
	}
	return code
}

// Start returns the superuser DSN of a new, empty database on a running
// test server.
func Start(t testing.TB) string {
	t.Helper()
	srv := serverFor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	name := "t_" + randomHex(8)
	if err := srv.exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("pgtest: create database: %v", err)
	}
	return srv.dsn(name)
}

// serverFor returns the package's shared server, or one for this test
// alone when Main is not in use.
func serverFor(t testing.TB) *server {
	t.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if !shared.enabled {
		srv, err := startServer()
		if err != nil {
			t.Fatalf("pgtest: %v", err)
		}
		t.Cleanup(srv.stop)
		return srv
	}
	if shared.srv == nil && shared.err == nil {
		shared.srv, shared.err = startServer()
	}
	if shared.err != nil {
		t.Fatalf("pgtest: %v", shared.err)
	}
	return shared.srv
}

// server is one running postgres process.
type server struct {
	dir    string
	data   string
	port   int
	cmd    *exec.Cmd
	exited chan struct{} // closed when the process has exited
	once   sync.Once
}

func (s *server) dsn(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", s.port, db)
}

// stop shuts the server down fast (SIGINT) and removes its files.
func (s *server) stop() {
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		<-s.exited
		_ = os.RemoveAll(s.dir)
	})
}

func (s *server) exec(ctx context.Context, sql string) error {
	_, err := s.query(ctx, sql)
	return err
}

// query runs sql on the maintenance database and returns the first
// column of its first row as text ("" when it returns none).
func (s *server) query(ctx context.Context, sql string) (string, error) {
	conn, err := pgx.Connect(ctx, s.dsn("postgres"))
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close(context.Background()) }()
	rows, err := conn.Query(ctx, sql, pgx.QueryExecModeSimpleProtocol)
	if err != nil {
		return "", err
	}
	defer rows.Close()
	var out string
	if rows.Next() {
		if v, err := rows.Values(); err == nil && len(v) > 0 {
			out = fmt.Sprint(v[0])
		}
	}
	rows.Close()
	return out, rows.Err()
}

func startServer() (*server, error) {
	bin := Bin()
	if _, err := os.Stat(filepath.Join(bin, "postgres")); err != nil {
		return nil, fmt.Errorf("PostgreSQL binaries missing in %s (install them with apt-get install postgresql-15, or point %s at a bin directory): %w", bin, EnvBin, err)
	}
	dir, err := os.MkdirTemp("", "bulwark-pg-")
	if err != nil {
		return nil, err
	}
	s, err := launch(bin, dir)
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return s, nil
}

// errExited: the server stopped before it was ready, most likely because
// another process took the port between freePort and its bind.
var errExited = errors.New("postgres exited before it was ready")

func launch(bin, dir string) (*server, error) {
	cred, err := dropRoot(dir)
	if err != nil {
		return nil, err
	}
	data := filepath.Join(dir, "data")
	initdb := exec.Command(filepath.Join(bin, "initdb"), "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")
	initdb.SysProcAttr = procAttr(cred)
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %w\n%s", err, out)
	}
	for range 3 {
		s, err := serve(bin, dir, data, cred)
		if !errors.Is(err, errExited) {
			return s, err
		}
	}
	return nil, errExited
}

// serve starts postgres on a free port and waits until it answers.
func serve(bin, dir, data string, cred *syscall.Credential) (*server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data, "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=16MB", "-c", "max_connections=100")
	cmd.SysProcAttr = procAttr(cred)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start postgres: %w", err)
	}
	s := &server{dir: dir, data: data, port: port, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait() // an interrupted server exits non-zero; nothing to report
		close(s.exited)
	}()
	if err := s.waitReady(); err != nil {
		_ = cmd.Process.Signal(syscall.SIGINT)
		<-s.exited
		return nil, err
	}
	return s, nil
}

// waitReady waits until this server — not another one that holds the
// port — answers.
func (s *server) waitReady() error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-s.exited:
			return errExited
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		dataDir, err := s.query(ctx, "SHOW data_directory")
		cancel()
		if err == nil && dataDir == s.data {
			return nil
		}
		if err == nil {
			err = fmt.Errorf("port %d answered by the server of %s", s.port, dataDir)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres not ready: %w", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// dropRoot returns credentials for a system user when running as root
// (PostgreSQL refuses to run as root) and hands dir to that user. It is
// never "nobody": the exec sandbox runs its commands as nobody under
// RLIMIT_NPROC, which the kernel counts per uid, so a test server's
// processes under that uid would use up the sandbox tests' process budget
// when packages run in parallel.
func dropRoot(dir string) (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	var u *user.User
	var err error
	for _, name := range serverUsers {
		if u, err = user.Lookup(name); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("running as root and none of the users %v exists (apt-get install postgresql creates postgres): %w", serverUsers, err)
	}
	uid, err1 := strconv.Atoi(u.Uid)
	gid, err2 := strconv.Atoi(u.Gid)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("%s's ids: %w", u.Username, err)
	}
	if uid == nobodyUID {
		return nil, fmt.Errorf("user %s has the sandbox's uid %d", u.Username, uid)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		return nil, err
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// serverUsers are the users the server may run as when the tests run as
// root, in order of preference.
var serverUsers = []string{"postgres", "daemon"}

// nobodyUID is the exec sandbox's default uid (sandbox.DefaultUID).
const nobodyUID = 65534

func freePort() (int, error) {
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
