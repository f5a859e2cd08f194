package fetch

import (
	"fmt"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
)

const maxURLBytes = 8192

// ValidateURL parses rawURL and refuses anything fetch must not request:
// schemes other than http and https, userinfo, opaque or host-less URLs,
// control characters, backslashes, non-ASCII host names (use punycode),
// ports out of range and every non-standard IP notation (decimal
// "2130706433", octal "0177.0.0.1", hex "0x7f.1", short "127.1"), which
// other parsers would read as an address. It does not decide whether the
// address is allowed: that is netguard's job at dial time.
func ValidateURL(rawURL string) (*url.URL, error) {
	if rawURL == "" || len(rawURL) > maxURLBytes {
		return nil, fmt.Errorf("%w: length must be 1-%d bytes", ErrInvalidURL, maxURLBytes)
	}
	for i := 0; i < len(rawURL); i++ {
		if c := rawURL[i]; c < 0x21 || c == 0x7f || c == '\\' {
			return nil, fmt.Errorf("%w: control character, space or backslash", ErrInvalidURL)
		}
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: unparsable", ErrInvalidURL)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return nil, fmt.Errorf("%w: scheme %q not allowed (http and https only)", ErrInvalidURL, u.Scheme)
	case u.Opaque != "" || u.Host == "":
		return nil, fmt.Errorf("%w: no host", ErrInvalidURL)
	case u.User != nil || strings.Contains(u.Host, "@"):
		return nil, fmt.Errorf("%w: credentials (userinfo) in URL not allowed", ErrInvalidURL)
	}
	if err := checkPort(u.Port(), u.Host); err != nil {
		return nil, err
	}
	if err := checkHost(u.Hostname()); err != nil {
		return nil, err
	}
	u.Fragment, u.RawFragment = "", ""
	return u, nil
}

func checkPort(port, host string) error {
	if port == "" {
		if strings.HasSuffix(host, ":") {
			return fmt.Errorf("%w: empty port", ErrInvalidURL)
		}
		return nil
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 || port[0] == '0' {
		return fmt.Errorf("%w: bad port", ErrInvalidURL)
	}
	return nil
}

// checkHost accepts a bracketed IPv6 literal (already unbracketed by
// url.Hostname), a strict dotted-quad IPv4 literal, or an ASCII DNS name
// whose last label is not numeric (WHATWG URL parsers treat a numeric last
// label as an IPv4 address in some notation, so such hosts are refused).
func checkHost(host string) error {
	if host == "" {
		return fmt.Errorf("%w: no host", ErrInvalidURL)
	}
	if strings.Contains(host, ":") {
		a, err := netip.ParseAddr(host)
		if err != nil || a.Zone() != "" {
			return fmt.Errorf("%w: bad IPv6 literal", ErrInvalidURL)
		}
		return nil
	}
	name := strings.TrimSuffix(host, ".")
	labels := strings.Split(name, ".")
	if numericLabel(labels[len(labels)-1]) {
		if a, err := netip.ParseAddr(host); err == nil && a.Is4() {
			return nil
		}
		return fmt.Errorf("%w: non-standard IP address notation %q", ErrInvalidURL, host)
	}
	if len(name) > 253 {
		return fmt.Errorf("%w: host name too long", ErrInvalidURL)
	}
	for _, l := range labels {
		if !dnsLabel(l) {
			return fmt.Errorf("%w: host %q is not an ASCII DNS name (use punycode)", ErrInvalidURL, host)
		}
	}
	return nil
}

// numericLabel reports whether a URL parser could read l as (part of) an
// IPv4 address: decimal digits, or 0x followed by hex digits.
func numericLabel(l string) bool {
	if l == "" {
		return false
	}
	if len(l) >= 2 && l[0] == '0' && (l[1] == 'x' || l[1] == 'X') {
		return strings.Trim(l[2:], "0123456789abcdefABCDEF") == ""
	}
	return strings.Trim(l, "0123456789") == ""
}

func dnsLabel(l string) bool {
	if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		if !labelByte(l[i]) {
			return false
		}
	}
	return true
}

// labelByte reports whether c may appear in a host label: ASCII letters,
// digits, '-' and '_'.
func labelByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
