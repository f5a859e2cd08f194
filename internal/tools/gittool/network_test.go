package gittool

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/cgi"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/netguard"
	"github.com/bulwarkhq/bulwark/internal/sandbox/sandboxtest"
)

// countingListener accepts on 127.0.0.1 and counts connections: an
// internal service that must never be reached.
func countingListener(t *testing.T) (addr string, count func() int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			n.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String(), n.Load
}

func TestNetworkDisabledByDefault(t *testing.T) {
	r := newRunner(t, Config{})
	ws := sandboxtest.Workspace(t)
	for _, args := range [][]string{
		{"clone", "https://github.com/a/b"}, {"fetch"}, {"pull"}, {"push", "origin", "main"},
	} {
		if _, err := r.Run(context.Background(), ws, args); !errors.Is(err, ErrNetworkDisabled) {
			t.Fatalf("git %v: err = %v, want ErrNetworkDisabled", args, err)
		}
	}
}

func TestInternalAddressUnreachable(t *testing.T) {
	addr, conns := countingListener(t)
	_, port, _ := net.SplitHostPort(addr)
	tests := []struct {
		name    string
		allow   []string
		args    []string
		wantErr error // nil: git runs and must fail to connect
		remote  string
	}{
		{name: "not allowlisted", allow: []string{"github.com"}, args: []string{"clone", "https://" + addr + "/r.git"}, wantErr: ErrHostNotAllowed},
		{name: "plain http", allow: []string{addr}, args: []string{"clone", "http://" + addr + "/r.git"}, wantErr: ErrArgsRejected},
		{name: "remote in repo config", allow: []string{"github.com"}, args: []string{"fetch"}, remote: "https://" + addr + "/r.git", wantErr: ErrHostNotAllowed},
		{name: "pushurl in repo config", allow: []string{"github.com"}, args: []string{"push", "origin", "main"}, remote: "https://github.com/a/b\n\tpushurl = https://" + addr + "/r.git", wantErr: ErrHostNotAllowed},
		{name: "branch remote is a URL", allow: []string{"github.com"}, args: []string{"pull"}, remote: "https://github.com/a/b\n[branch \"main\"]\n\tremote = https://" + addr + "/r.git", wantErr: ErrHostNotAllowed},
		{name: "branch remote names another remote", allow: []string{"github.com"}, args: []string{"fetch"}, remote: "https://github.com/a/b\n[remote \"evil\"]\n\turl = https://" + addr + "/r.git\n[branch \"main\"]\n\tremote = evil", wantErr: ErrHostNotAllowed},
		{name: "allowlisted by mistake: netguard refuses at dial", allow: []string{addr}, args: []string{"clone", "https://" + addr + "/r.git"}},
		{name: "localhost name: netguard refuses at dial", allow: []string{"localhost:" + port}, args: []string{"clone", "https://localhost:" + port + "/r.git"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, Config{Network: NetworkConfig{Enabled: true, AllowHosts: tt.allow}})
			ws := sandboxtest.Workspace(t)
			if tt.remote != "" {
				git(t, r, ws, "init", "-q")
				appendConfig(t, ws, "[remote \"origin\"]\n\turl = "+tt.remote+"\n")
			}
			res, err := r.Run(context.Background(), ws, tt.args)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
			} else if err != nil || res.ExitCode == 0 {
				t.Fatalf("clone of an internal address: err %v exit %d", err, res.ExitCode)
			}
			time.Sleep(50 * time.Millisecond)
			if n := conns(); n != 0 {
				t.Fatalf("internal listener saw %d connections", n)
			}
		})
	}
}

func TestProxyRefuses(t *testing.T) {
	addr, conns := countingListener(t)
	allow, err := newHostAllow([]string{"github.com", addr})
	if err != nil {
		t.Fatal(err)
	}
	pol := &netguard.Policy{}
	p, err := newConnectProxy(allow, pol.DialContext)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	auth := "Proxy-Authorization: " + p.auth + "\r\n"
	tests := []struct {
		name, req string
		want      int
	}{
		{"no credential", "CONNECT github.com:443 HTTP/1.1\r\nHost: github.com:443\r\n\r\n", 407},
		{"wrong credential", "CONNECT github.com:443 HTTP/1.1\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n\r\n", 407},
		{"plain GET", "GET http://github.com/ HTTP/1.1\r\nHost: github.com\r\n" + auth + "\r\n", 405},
		{"host not allowlisted", "CONNECT evil.example:443 HTTP/1.1\r\n" + auth + "\r\n", 403},
		{"allowlisted host, other port", "CONNECT github.com:22 HTTP/1.1\r\n" + auth + "\r\n", 403},
		{"allowlisted internal address", "CONNECT " + addr + " HTTP/1.1\r\n" + auth + "\r\n", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := net.Dial("tcp", p.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			fmt.Fprint(c, tt.req)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.want {
				t.Fatalf("status %d, want %d", resp.StatusCode, tt.want)
			}
		})
	}
	if n := conns(); n != 0 {
		t.Fatalf("internal listener saw %d connections", n)
	}
}

// gitServer serves a bare repository over smart HTTPS with git's own
// http-backend, the way a real forge does, on 127.0.0.1.
func gitServer(t *testing.T) (srv *httptest.Server, bare, caFile string) {
	t.Helper()
	root := sandboxtest.OpenDir(t)
	bare = filepath.Join(root, "r.git")
	hostGit(t, root, "init", "-q", "--bare", "--initial-branch=main", bare)
	hostGit(t, bare, "config", "http.receivepack", "true")
	seed := filepath.Join(root, "seed")
	hostGit(t, root, "init", "-q", "--initial-branch=main", seed)
	if err := os.WriteFile(filepath.Join(seed, "README"), []byte("upstream\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	hostGit(t, seed, "add", "README")
	hostGit(t, seed, "commit", "-q", "-m", "upstream commit")
	hostGit(t, seed, "push", "-q", bare, "main")
	srv = httptest.NewTLSServer(&cgi.Handler{
		Path: "/usr/lib/git-core/git-http-backend",
		Env: []string{"GIT_PROJECT_ROOT=" + root, "GIT_HTTP_EXPORT_ALL=1", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_CONFIG_GLOBAL=/dev/null", "HOME=/nonexistent"},
	})
	t.Cleanup(srv.Close)
	caFile = filepath.Join(root, "ca.pem")
	pemBytes := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	if err := os.WriteFile(caFile, pemBytes, 0o644); err != nil {
		t.Fatal(err)
	}
	return srv, bare, caFile
}

// TestCloneCommitPushThroughProxy is the allowed path end to end: an
// operator allowlists one (here internal) git server by host and address
// prefix; clone, pull, fetch and push work through Bulwark's proxy.
func TestCloneCommitPushThroughProxy(t *testing.T) {
	srv, bare, caFile := gitServer(t)
	host := strings.TrimPrefix(srv.URL, "https://")
	r := newRunner(t, Config{Network: NetworkConfig{
		Enabled: true, AllowHosts: []string{host}, CAFile: caFile,
		Policy: &netguard.Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}},
	}})
	ws := sandboxtest.Workspace(t)
	git(t, r, ws, "clone", "-q", srv.URL+"/r.git", ".")
	if b, err := os.ReadFile(filepath.Join(ws, "README")); err != nil || string(b) != "upstream\n" {
		t.Fatalf("clone content %q %v", b, err)
	}
	writeFile(t, ws, "new.txt", "from the agent\n", 0o644)
	git(t, r, ws, "add", "new.txt")
	git(t, r, ws, "commit", "-q", "-m", "agent commit")
	git(t, r, ws, "push", "-q", "origin", "main")
	if out := hostGit(t, bare, "log", "--format=%s", "main"); out != "agent commit\nupstream commit\n" {
		t.Fatalf("server log = %q", out)
	}
	git(t, r, ws, "fetch", "-q", "origin")
	git(t, r, ws, "pull", "-q", "origin", "main")
}
