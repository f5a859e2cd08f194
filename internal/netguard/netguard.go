// Package netguard decides which network addresses Bulwark's tools may
// connect to. The decision is made at dial time, on the address the socket
// is about to connect to (net.Dialer.Control), so DNS rebinding, redirects
// and alternative IP notations cannot route around it: whatever name or URL
// led there, a connection to loopback, private, link-local (cloud metadata),
// CGNAT, NAT64-of-private, IPv4-mapped-private, multicast, reserved or
// documentation space is refused unless the operator allowlisted it.
//
// CheckHost gives callers an early, clear error, but it is advisory only:
// the dial-time check is the authority.
package netguard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"syscall"
	"time"
)

// ErrForbiddenAddress is returned (wrapped) when a connection to an address
// the policy does not allow is attempted. Callers branch on it with
// errors.Is.
var ErrForbiddenAddress = errors.New("forbidden address")

// Resolver looks up the addresses of a host name. *net.Resolver satisfies it.
type Resolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// Policy says which internal destinations the operator allows. The zero
// value allows only public unicast addresses. A Policy must not be modified
// after first use; it is then safe for concurrent use.
type Policy struct {
	// AllowHosts lists internal host names (exact, case-insensitive, no
	// wildcards) that may be reached whatever they resolve to. It applies
	// only to connections made through Policy.DialContext / NewTransport,
	// which know the host name; the bare NewDialer sees addresses only.
	AllowHosts []string
	// AllowPrefixes lists address ranges that may be reached even though
	// they are internal (for example 10.1.2.0/24 for an intranet service).
	AllowPrefixes []netip.Prefix
	// Resolver resolves host names for DialContext and CheckHost; nil means
	// net.DefaultResolver. Tests use it to simulate DNS rebinding.
	Resolver Resolver
}

// CheckAddr reports whether a connection to addr is allowed, returning an
// error wrapping ErrForbiddenAddress if not.
func (p *Policy) CheckAddr(addr netip.Addr) error {
	if !addr.IsValid() {
		return fmt.Errorf("%w: invalid address", ErrForbiddenAddress)
	}
	if p.prefixAllowed(addr) {
		return nil
	}
	if reason := classify(addr); reason != "" {
		return fmt.Errorf("%w: %s is %s", ErrForbiddenAddress, addr.WithZone(""), reason)
	}
	return nil
}

func (p *Policy) prefixAllowed(addr netip.Addr) bool {
	if p == nil {
		return false
	}
	plain := addr.WithZone("")
	for _, pre := range p.AllowPrefixes {
		if pre.Contains(plain) || pre.Contains(plain.Unmap()) {
			return true
		}
	}
	return false
}

// HostAllowed reports whether host is on the operator's AllowHosts list.
func (p *Policy) HostAllowed(host string) bool {
	if p == nil {
		return false
	}
	h := strings.TrimSuffix(strings.ToLower(host), ".")
	for _, a := range p.AllowHosts {
		if h != "" && strings.TrimSuffix(strings.ToLower(a), ".") == h {
			return true
		}
	}
	return false
}

// Control is a net.Dialer Control function: it runs after the address is
// resolved and before the socket connects, and refuses forbidden addresses.
// Only TCP and UDP over IP are allowed.
func (p *Policy) Control(network, address string, _ syscall.RawConn) error {
	switch network {
	case "tcp", "tcp4", "tcp6", "udp", "udp4", "udp6":
	default:
		return fmt.Errorf("%w: network %q not allowed", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrForbiddenAddress)
	}
	return p.CheckAddr(ap.Addr())
}

// controlAllowedHost is the Control for a host the operator allowlisted by
// name: internal addresses are fine, but addresses that are never a real
// destination stay refused.
func controlAllowedHost(network, address string, _ syscall.RawConn) error {
	if !strings.HasPrefix(network, "tcp") && !strings.HasPrefix(network, "udp") {
		return fmt.Errorf("%w: network %q not allowed", ErrForbiddenAddress, network)
	}
	ap, err := netip.ParseAddrPort(address)
	if err != nil {
		return fmt.Errorf("%w: unparsable address", ErrForbiddenAddress)
	}
	a := ap.Addr().Unmap()
	if a.IsUnspecified() || a.IsMulticast() || a == netip.AddrFrom4([4]byte{255, 255, 255, 255}) {
		return fmt.Errorf("%w: %s is not a unicast address", ErrForbiddenAddress, a.WithZone(""))
	}
	return nil
}

// Dial timeouts: long enough for a slow public host, short enough that a
// blackholed address does not hold a tool call for minutes.
const (
	dialTimeout = 10 * time.Second
	keepAlive   = 30 * time.Second
)

// NewDialer returns a dialer whose every connection is checked by p.Control.
// It knows addresses only, so p.AllowHosts does not apply; use
// p.DialContext or NewTransport when names must be allowlisted.
func NewDialer(p *Policy) *net.Dialer {
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive, Control: p.Control}
	if r, ok := p.resolver().(*net.Resolver); ok {
		d.Resolver = r
	}
	return d
}

func (p *Policy) resolver() Resolver {
	if p != nil && p.Resolver != nil {
		return p.Resolver
	}
	return net.DefaultResolver
}

// DialContext connects to address ("host:port") under the policy. It
// resolves the host itself and dials each address in turn, every one checked
// at connect time; a host on AllowHosts may reach internal addresses.
func (p *Policy) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return nil, fmt.Errorf("netguard: dial %q: %w", address, err)
	}
	d := &net.Dialer{Timeout: dialTimeout, KeepAlive: keepAlive, Control: p.Control}
	if p.HostAllowed(host) {
		d.Control = controlAllowedHost
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return d.DialContext(ctx, network, address)
	}
	addrs, err := p.resolver().LookupNetIP(ctx, ipNetwork(network), host)
	if err != nil {
		return nil, fmt.Errorf("netguard: resolve %q: %w", host, err)
	}
	if len(addrs) == 0 {
		return nil, fmt.Errorf("netguard: resolve %q: no addresses", host)
	}
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, network, net.JoinHostPort(a.WithZone("").String(), port))
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("netguard: dial %q: %w", host, errors.Join(errs...))
}

func ipNetwork(network string) string {
	switch {
	case strings.HasSuffix(network, "4"):
		return "ip4"
	case strings.HasSuffix(network, "6"):
		return "ip6"
	}
	return "ip"
}

// CheckHost resolves host and refuses it if any of its addresses is
// forbidden (an attacker controls which one a client would pick). It exists
// for early, clear errors; the dial-time check remains the authority, so a
// name that answers public here and private at dial time still fails.
func (p *Policy) CheckHost(ctx context.Context, host string) error {
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if p.HostAllowed(host) {
		return nil
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return p.CheckAddr(ip)
	}
	addrs, err := p.resolver().LookupNetIP(ctx, "ip", host)
	if err != nil {
		return fmt.Errorf("netguard: resolve %q: %w", host, err)
	}
	for _, a := range addrs {
		if err := p.CheckAddr(a); err != nil {
			return fmt.Errorf("host %q resolves to a forbidden address: %w", host, err)
		}
	}
	if len(addrs) == 0 {
		return fmt.Errorf("netguard: resolve %q: no addresses", host)
	}
	return nil
}

// NewTransport returns an HTTP transport that never uses a proxy from the
// environment and dials only through p.DialContext, with bounded timeouts.
// The caller owns it; it is safe for concurrent use.
func NewTransport(p *Policy) *http.Transport {
	return &http.Transport{
		Proxy:                  nil,
		DialContext:            p.DialContext,
		ForceAttemptHTTP2:      true,
		TLSHandshakeTimeout:    10 * time.Second,
		ResponseHeaderTimeout:  30 * time.Second,
		ExpectContinueTimeout:  time.Second,
		IdleConnTimeout:        60 * time.Second,
		MaxIdleConns:           16,
		MaxIdleConnsPerHost:    4,
		MaxResponseHeaderBytes: 64 << 10,
	}
}
