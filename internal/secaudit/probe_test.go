package secaudit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// gateway answers like Bulwark: security headers on every response, 401
// in the OpenAI shape without a key, admin and metrics behind auth.
func gateway(hsts bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "no-referrer")
		if hsts {
			h.Set("Strict-Transport-Security", "max-age=63072000")
		}
		_, _ = io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/healthz" {
			_, _ = io.WriteString(w, `{"status":"ok"}`)
			return
		}
		h.Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"missing API key","type":"invalid_request_error","code":"missing_api_key"}}`)
	})
}

// open answers everything, the way an upstream or a misrouted proxy would.
var open = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Server", "nginx/1.18.0")
	_, _ = io.Copy(io.Discard, r.Body)
	_, _ = io.WriteString(w, `{}`)
})

func TestProbe(t *testing.T) {
	tests := []struct {
		name   string
		server func(t *testing.T) (url string, opt ProbeOptions)
		want   []string
		absent []string
	}{
		{"bulwark-like over http", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewServer(gateway(false))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{}
		}, nil, nil},
		{"open handler", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewServer(open)
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{}
		}, []string{"BW-NET-001", "BW-NET-003", "BW-NET-004", "BW-NET-005", "BW-NET-006"}, nil},
		{"401 in another shape", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				gateway(false).ServeHTTP(&plainBody{ResponseWriter: w}, r)
			}))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{}
		}, []string{"BW-NET-002"}, []string{"BW-NET-001"}},
		{"redirect is not followed", func(t *testing.T) (string, ProbeOptions) {
			target := httptest.NewServer(gateway(false))
			t.Cleanup(target.Close)
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/healthz" {
					gateway(false).ServeHTTP(w, r)
					return
				}
				http.Redirect(w, r, target.URL+r.URL.Path, http.StatusTemporaryRedirect)
			}))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{}
		}, []string{"BW-NET-001", "BW-NET-003"}, nil},
		{"https, trusted, TLS 1.2+", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewTLSServer(gateway(true))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{RootCAs: pool(s)}
		}, nil, nil},
		{"https without HSTS", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewTLSServer(gateway(false))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{RootCAs: pool(s)}
		}, []string{"BW-NET-007"}, []string{"BW-NET-009", "BW-NET-008"}},
		{"https accepting TLS 1.0", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewUnstartedServer(gateway(true))
			s.TLS = &tls.Config{MinVersion: tls.VersionTLS10} //nolint:gosec // the weakness under test
			s.StartTLS()
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{RootCAs: pool(s)}
		}, []string{"BW-NET-009"}, nil},
		{"https with an untrusted certificate", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewTLSServer(gateway(true))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{}
		}, []string{"BW-NET-008"}, []string{"BW-NET-000", "BW-NET-001"}},
		{"plain http beyond loopback", func(t *testing.T) (string, ProbeOptions) {
			// What an operator probing a 0.0.0.0 listener sees, served
			// from loopback (see TestProbePlainHTTPBeyondLoopback).
			s := httptest.NewServer(gateway(false))
			t.Cleanup(s.Close)
			return "http://0.0.0.0:8787", ProbeOptions{dial: dialOnly(t, s, nil)}
		}, []string{"BW-NET-010"}, []string{"BW-NET-000", "BW-NET-001"}},
		{"metrics request fails", func(t *testing.T) (string, ProbeOptions) {
			s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/metrics" {
					panic(http.ErrAbortHandler) // the connection drops without an answer
				}
				gateway(false).ServeHTTP(w, r)
			}))
			t.Cleanup(s.Close)
			return s.URL, ProbeOptions{Timeout: time.Second}
		}, []string{"BW-NET-011"}, []string{"BW-NET-005"}},
		{"nothing listening", func(t *testing.T) (string, ProbeOptions) {
			l, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			addr := l.Addr().String()
			_ = l.Close()
			return "http://" + addr, ProbeOptions{Timeout: time.Second}
		}, []string{"BW-NET-000"}, []string{"BW-NET-001"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url, opt := tt.server(t)
			found, err := Probe(context.Background(), url, opt)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == nil && tt.absent == nil && len(found) != 0 {
				t.Fatalf("want no finding, got %+v", found)
			}
			expectIDs(t, found, tt.want, tt.absent)
		})
	}
}

// dialOnly returns a dial for ProbeOptions that connects every
// connection to s, a loopback listener, whatever address the probe asks
// for; asked, if not nil, records those addresses. Tests reach a gateway
// under an address beyond loopback this way without listening beyond
// loopback.
func dialOnly(t *testing.T, s *httptest.Server, asked *[]string) func(context.Context, string, string) (net.Conn, error) {
	t.Helper()
	if !loopbackHost(s.Listener.Addr().(*net.TCPAddr).IP.String()) {
		t.Fatalf("test server on %s, beyond loopback", s.Listener.Addr())
	}
	var mu sync.Mutex
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		if asked != nil {
			mu.Lock()
			*asked = append(*asked, addr)
			mu.Unlock()
		}
		var d net.Dialer
		return d.DialContext(ctx, network, s.Listener.Addr().String())
	}
}

// BW-NET-010: a gateway reached over plain HTTP under any host but a
// loopback address or "localhost" is flagged. Every target is served by
// the same loopback listener; only the URL differs, and the probe must
// have asked to connect to the URL's own host and port.
func TestProbePlainHTTPBeyondLoopback(t *testing.T) {
	tests := []struct {
		host    string
		flagged bool
	}{
		{"0.0.0.0", true},             // every interface, the case operators probe
		{"[::]", true},                // the same in IPv6
		{"192.0.2.10", true},          // an interface address (TEST-NET-1)
		{"[2001:db8::10]", true},      // and in IPv6
		{"[::ffff:192.0.2.10]", true}, // IPv4-mapped
		{"gateway.example.test", true},
		{"127.0.0.1", false},
		{"127.0.0.2", false},
		{"[::1]", false},
		{"[::ffff:127.0.0.1]", false},
		{"localhost", false},
	}
	s := httptest.NewServer(gateway(false))
	t.Cleanup(s.Close)
	for _, tt := range tests {
		t.Run(tt.host, func(t *testing.T) {
			var asked []string
			found, err := Probe(context.Background(), "http://"+tt.host+":8787", ProbeOptions{dial: dialOnly(t, s, &asked)})
			if err != nil {
				t.Fatal(err)
			}
			if tt.flagged {
				expectIDs(t, found, []string{"BW-NET-010"}, []string{"BW-NET-000", "BW-NET-001"})
			} else {
				expectIDs(t, found, nil, []string{"BW-NET-010", "BW-NET-000", "BW-NET-001"})
			}
			if want := strings.Trim(tt.host, "[]"); len(asked) == 0 || !slices.ContainsFunc(asked, func(a string) bool {
				h, port, _ := net.SplitHostPort(a)
				return h == want && port == "8787"
			}) {
				t.Fatalf("probe dialled %v, want %s:8787", asked, tt.host)
			}
		})
	}
}

// plainBody replaces the JSON error body with text.
type plainBody struct{ http.ResponseWriter }

func (p *plainBody) Write(b []byte) (int, error) {
	if strings.HasPrefix(string(b), `{"error"`) {
		return p.ResponseWriter.Write([]byte("Unauthorized\n"))
	}
	return p.ResponseWriter.Write(b)
}

func pool(s *httptest.Server) *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(s.Certificate())
	return p
}

func TestProbeTarget(t *testing.T) {
	for _, bad := range []string{"", "localhost:8787", "ftp://x", "http://", "://x"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := Probe(context.Background(), bad, ProbeOptions{}); !errors.Is(err, ErrTarget) {
				t.Fatalf("Probe(%q) error %v, want ErrTarget", bad, err)
			}
		})
	}
}
