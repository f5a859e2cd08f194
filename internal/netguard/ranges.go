package netguard

import (
	"net/netip"
)

// blockedRange is a special-purpose block and why it is refused.
type blockedRange struct {
	prefix netip.Prefix
	reason string
}

// blockedV4 lists the IPv4 special-purpose blocks (IANA registry, RFC 6890
// and successors) that a tool must never reach unless the operator allows
// them explicitly.
var blockedV4 = mustRanges([][2]string{
	{"0.0.0.0/8", "this-network"},
	{"10.0.0.0/8", "private"},
	{"100.64.0.0/10", "carrier-grade NAT"},
	{"127.0.0.0/8", "loopback"},
	{"169.254.0.0/16", "link-local (cloud metadata)"},
	{"172.16.0.0/12", "private"},
	{"192.0.0.0/24", "IETF protocol assignments"},
	{"192.0.2.0/24", "documentation"},
	{"192.31.196.0/24", "AS112"},
	{"192.52.193.0/24", "AMT"},
	{"192.88.99.0/24", "6to4 relay"},
	{"192.168.0.0/16", "private"},
	{"192.175.48.0/24", "AS112"},
	{"198.18.0.0/15", "benchmarking"},
	{"198.51.100.0/24", "documentation"},
	{"203.0.113.0/24", "documentation"},
	{"224.0.0.0/4", "multicast"},
	{"240.0.0.0/4", "reserved"}, // includes 255.255.255.255 broadcast
})

// blockedV6 lists IPv6 blocks refused inside global unicast (2000::/3);
// everything outside 2000::/3 is refused as well, except NAT64 (below).
var blockedV6 = mustRanges([][2]string{
	{"2001::/23", "IETF protocol assignments (Teredo, benchmarking, ORCHID)"},
	{"2001:db8::/32", "documentation"},
	{"2002::/16", "6to4"},
	{"3fff::/20", "documentation"},
})

var (
	// nat64WellKnown embeds an IPv4 address in its last 32 bits (RFC 6052);
	// it is allowed only when the embedded address is.
	nat64WellKnown = netip.MustParsePrefix("64:ff9b::/96")
	// nat64Local is the local-use NAT64 prefix (RFC 8215): always internal.
	nat64Local    = netip.MustParsePrefix("64:ff9b:1::/48")
	globalUnicast = netip.MustParsePrefix("2000::/3")
	v4Compatible  = netip.MustParsePrefix("::/96")
)

func mustRanges(list [][2]string) []blockedRange {
	out := make([]blockedRange, 0, len(list))
	for _, r := range list {
		out = append(out, blockedRange{prefix: netip.MustParsePrefix(r[0]), reason: r[1]})
	}
	return out
}

// classify returns "" when addr is a public unicast address, otherwise the
// reason it is refused. IPv4-mapped addresses are unmapped first and NAT64
// addresses are judged by the IPv4 address they embed.
func classify(addr netip.Addr) string {
	addr = addr.WithZone("").Unmap()
	if addr.Is4() {
		return classify4(addr)
	}
	switch {
	case !addr.IsValid():
		return "invalid"
	case addr.IsUnspecified():
		return "unspecified"
	case addr.IsLoopback():
		return "loopback"
	case v4Compatible.Contains(addr):
		return "IPv4-compatible (deprecated)"
	case nat64Local.Contains(addr):
		return "local-use NAT64"
	case nat64WellKnown.Contains(addr):
		if r := classify4(embedded4(addr)); r != "" {
			return "NAT64 of " + r
		}
		return ""
	case addr.IsMulticast():
		return "multicast"
	case addr.IsLinkLocalUnicast():
		return "link-local"
	case addr.IsPrivate():
		return "unique local (private)"
	case !globalUnicast.Contains(addr):
		return "reserved"
	}
	for _, r := range blockedV6 {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	return ""
}

func classify4(addr netip.Addr) string {
	for _, r := range blockedV4 {
		if r.prefix.Contains(addr) {
			return r.reason
		}
	}
	return ""
}

// embedded4 returns the IPv4 address in the last 32 bits of a /96 prefix.
func embedded4(addr netip.Addr) netip.Addr {
	b := addr.As16()
	return netip.AddrFrom4([4]byte{b[12], b[13], b[14], b[15]})
}
