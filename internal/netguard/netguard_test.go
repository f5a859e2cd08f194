package netguard

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

var addrCases = []struct {
	name string
	addr string
	ok   bool
}{
	{"public v4", "93.184.216.34", true},
	{"public v4 google dns", "8.8.8.8", true},
	{"public v6", "2606:4700:4700::1111", true},
	{"nat64 of public", "64:ff9b::808:808", true},
	{"mapped public", "::ffff:8.8.8.8", true},
	{"loopback", "127.0.0.1", false},
	{"loopback high", "127.255.255.254", false},
	{"this network", "0.0.0.0", false},
	{"this network 0/8", "0.1.2.3", false},
	{"rfc1918 10", "10.0.0.1", false},
	{"rfc1918 172", "172.16.5.4", false},
	{"rfc1918 172 top", "172.31.255.255", false},
	{"rfc1918 192", "192.168.1.1", false},
	{"metadata", "169.254.169.254", false},
	{"link local v4", "169.254.0.1", false},
	{"cgnat", "100.64.0.1", false},
	{"cgnat top", "100.127.255.255", false},
	{"ietf 192.0.0", "192.0.0.170", false},
	{"doc net1", "192.0.2.1", false},
	{"doc net2", "198.51.100.7", false},
	{"doc net3", "203.0.113.9", false},
	{"benchmark", "198.18.0.1", false},
	{"multicast v4", "224.0.0.1", false},
	{"reserved 240", "240.0.0.1", false},
	{"broadcast", "255.255.255.255", false},
	{"v6 loopback", "::1", false},
	{"v6 unspecified", "::", false},
	{"mapped loopback", "::ffff:127.0.0.1", false},
	{"mapped metadata", "::ffff:169.254.169.254", false},
	{"mapped private", "::ffff:10.0.0.1", false},
	{"v4 compatible loopback", "::127.0.0.1", false},
	{"v4 compatible public", "::8.8.8.8", false},
	{"nat64 of private", "64:ff9b::a00:1", false},
	{"nat64 of loopback", "64:ff9b::7f00:1", false},
	{"nat64 of metadata", "64:ff9b::a9fe:a9fe", false},
	{"nat64 local use", "64:ff9b:1::808:808", false},
	{"ula", "fd00::1", false},
	{"ula fc", "fc00::1", false},
	{"link local v6", "fe80::1", false},
	{"link local v6 zone", "fe80::1%eth0", false},
	{"site local v6", "fec0::1", false},
	{"multicast v6", "ff02::1", false},
	{"doc v6", "2001:db8::1", false},
	{"doc v6 3fff", "3fff::1", false},
	{"teredo", "2001::1", false},
	{"6to4", "2002:7f00:1::1", false},
	{"discard only", "100::1", false},
	{"siit translated", "::ffff:0:7f00:1", false},
}

func TestCheckAddr(t *testing.T) {
	var p Policy
	for _, tt := range addrCases {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckAddr(netip.MustParseAddr(tt.addr))
			if tt.ok && err != nil {
				t.Fatalf("CheckAddr(%s) = %v, want allowed", tt.addr, err)
			}
			if !tt.ok && !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("CheckAddr(%s) = %v, want ErrForbiddenAddress", tt.addr, err)
			}
		})
	}
}

func TestAllowPrefixes(t *testing.T) {
	p := Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("10.1.2.0/24"), netip.MustParsePrefix("127.0.0.1/32")}}
	tests := []struct {
		name string
		addr string
		ok   bool
	}{
		{"inside allowed prefix", "10.1.2.3", true},
		{"mapped inside allowed prefix", "::ffff:10.1.2.3", true},
		{"allowed loopback host", "127.0.0.1", true},
		{"other loopback", "127.0.0.2", false},
		{"neighbouring private", "10.1.3.1", false},
		{"metadata still refused", "169.254.169.254", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := p.CheckAddr(netip.MustParseAddr(tt.addr))
			if (err == nil) != tt.ok {
				t.Fatalf("CheckAddr(%s) = %v, want ok=%v", tt.addr, err, tt.ok)
			}
		})
	}
}

func TestControlRefusesOddNetworks(t *testing.T) {
	var p Policy
	for _, network := range []string{"unix", "ip:icmp", ""} {
		t.Run(network, func(t *testing.T) {
			if err := p.Control(network, "8.8.8.8:53", nil); !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("Control(%q) = %v, want refusal", network, err)
			}
		})
	}
	if err := p.Control("tcp4", "not-an-address", nil); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("unparsable address: %v", err)
	}
}

// countingListener is a loopback listener that records every accepted
// connection: tests that must not connect assert it stays at zero.
type countingListener struct {
	net.Listener
	accepts atomic.Int64
	wg      sync.WaitGroup
}

func newCountingListener(t *testing.T) *countingListener {
	t.Helper()
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	cl.wg.Add(1)
	go func() {
		defer cl.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			cl.accepts.Add(1)
			c.Close()
		}
	}()
	t.Cleanup(func() { ln.Close(); cl.wg.Wait() })
	return cl
}

func (cl *countingListener) port() string {
	_, port, _ := net.SplitHostPort(cl.Addr().String())
	return port
}

// stubResolver answers each lookup with the next answer in its list
// (repeating the last), simulating DNS rebinding.
type stubResolver struct {
	mu      sync.Mutex
	answers [][]netip.Addr
	calls   int
}

func (s *stubResolver) LookupNetIP(_ context.Context, _, _ string) ([]netip.Addr, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := min(s.calls, len(s.answers)-1)
	s.calls++
	return s.answers[i], nil
}

func TestDialRefusesForbiddenWithoutConnecting(t *testing.T) {
	ln := newCountingListener(t)
	var p Policy
	d := NewDialer(&p)
	ctx := context.Background()
	for _, host := range []string{"127.0.0.1", "[::ffff:127.0.0.1]", "localhost"} {
		t.Run(host, func(t *testing.T) {
			_, err := d.DialContext(ctx, "tcp", host+":"+ln.port())
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("dial %s: %v, want ErrForbiddenAddress", host, err)
			}
			_, err = p.DialContext(ctx, "tcp", host+":"+ln.port())
			if !errors.Is(err, ErrForbiddenAddress) {
				t.Fatalf("policy dial %s: %v, want ErrForbiddenAddress", host, err)
			}
		})
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("listener saw %d connections, want 0", n)
	}
}

func TestDNSRebindingFailsAtDial(t *testing.T) {
	ln := newCountingListener(t)
	res := &stubResolver{answers: [][]netip.Addr{
		{netip.MustParseAddr("93.184.216.34")},
		{netip.MustParseAddr("127.0.0.1")},
	}}
	p := Policy{Resolver: res}
	ctx := context.Background()
	if err := p.CheckHost(ctx, "rebind.example"); err != nil {
		t.Fatalf("first answer is public, CheckHost should pass: %v", err)
	}
	_, err := p.DialContext(ctx, "tcp", "rebind.example:"+ln.port())
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("dial after rebinding: %v, want ErrForbiddenAddress", err)
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("listener saw %d connections, want 0", n)
	}
}

func TestCheckHostChecksEveryAddress(t *testing.T) {
	res := &stubResolver{answers: [][]netip.Addr{{
		netip.MustParseAddr("93.184.216.34"), netip.MustParseAddr("169.254.169.254"),
	}}}
	p := Policy{Resolver: res}
	if err := p.CheckHost(context.Background(), "mixed.example"); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("CheckHost with a private second address = %v, want refusal", err)
	}
}

func TestMixedAnswersNeverReachPrivate(t *testing.T) {
	ln := newCountingListener(t)
	// 192.0.2.1 is documentation space (refused, so never dialled); the
	// second answer is the loopback listener: both must be refused.
	res := &stubResolver{answers: [][]netip.Addr{{
		netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("127.0.0.1"),
	}}}
	p := Policy{Resolver: res}
	_, err := p.DialContext(context.Background(), "tcp", "mixed.example:"+ln.port())
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("dial: %v", err)
	}
	if n := ln.accepts.Load(); n != 0 {
		t.Fatalf("listener saw %d connections, want 0", n)
	}
}

func TestAllowlistReachesInternal(t *testing.T) {
	tests := []struct {
		name   string
		policy Policy
		host   string
	}{
		{"prefix", Policy{AllowPrefixes: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}}, "127.0.0.1"},
		{"host name", Policy{AllowHosts: []string{"Intranet.Test."}, Resolver: &stubResolver{answers: [][]netip.Addr{{netip.MustParseAddr("127.0.0.1")}}}}, "intranet.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ln := newCountingListener(t)
			c, err := tt.policy.DialContext(context.Background(), "tcp", net.JoinHostPort(tt.host, ln.port()))
			if err != nil {
				t.Fatalf("allowlisted dial: %v", err)
			}
			c.Close()
			if err := tt.policy.CheckHost(context.Background(), tt.host); err != nil {
				t.Fatalf("CheckHost: %v", err)
			}
		})
	}
}

func TestTransportIgnoresEnvironmentProxy(t *testing.T) {
	proxy := newCountingListener(t)
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:"+proxy.port())
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:"+proxy.port())
	target := newCountingListener(t)
	tr := NewTransport(&Policy{})
	if tr.Proxy != nil {
		t.Fatal("transport has a proxy function")
	}
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	_, err := client.Get("http://127.0.0.1:" + target.port() + "/")
	if !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("GET loopback: %v, want ErrForbiddenAddress", err)
	}
	if proxy.accepts.Load()+target.accepts.Load() != 0 {
		t.Fatal("a connection was made")
	}
}

func FuzzCheckAddr(f *testing.F) {
	for _, tt := range addrCases {
		f.Add(tt.addr)
	}
	var p Policy
	f.Fuzz(func(t *testing.T, s string) {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return
		}
		if p.CheckAddr(a) != nil {
			return
		}
		u := a.Unmap()
		if u.IsLoopback() || u.IsPrivate() || u.IsLinkLocalUnicast() || u.IsMulticast() ||
			u.IsUnspecified() || u.IsInterfaceLocalMulticast() || u.IsLinkLocalMulticast() {
			t.Fatalf("CheckAddr(%s) allowed an internal address", s)
		}
		if u.Is4() && classify4(u) != "" {
			t.Fatalf("CheckAddr(%s) allowed a blocked v4 address", s)
		}
	})
}

func TestNilPolicyIsDefault(t *testing.T) {
	ln := newCountingListener(t)
	var p *Policy
	if err := p.CheckAddr(netip.MustParseAddr("127.0.0.1")); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("nil policy CheckAddr = %v", err)
	}
	client := &http.Client{Transport: NewTransport(p), Timeout: 5 * time.Second}
	if _, err := client.Get("http://127.0.0.1:" + ln.port() + "/"); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("nil policy transport = %v", err)
	}
	if _, err := NewDialer(p).Dial("tcp", "127.0.0.1:"+ln.port()); !errors.Is(err, ErrForbiddenAddress) {
		t.Fatalf("nil policy dialer = %v", err)
	}
	if ln.accepts.Load() != 0 {
		t.Fatal("a connection was made")
	}
}
