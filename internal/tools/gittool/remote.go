package gittool

import (
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strings"
)

// urlCharsRe is the character set a remote URL may use. It leaves out
// '@' (credentials, and the userinfo/host confusion parsers disagree on),
// backslashes, '%' (encoded host tricks), whitespace and controls.
var urlCharsRe = regexp.MustCompile(`^https://[A-Za-z0-9.-]+(:[0-9]{1,5})?(/[A-Za-z0-9._~/+-]*)?$`)

// checkURLShape accepts only plain https URLs without credentials, query
// or fragment. Whether the host is allowed is decided by hostAllow.
func checkURLShape(s string) error {
	if len(s) > 2048 || !urlCharsRe.MatchString(s) {
		return fmt.Errorf("%w: remote URL must be https://host[:port]/path without credentials", ErrArgsRejected)
	}
	return nil
}

// hostAllow is the operator's allowlist of git hosts. An entry "host"
// allows port 443 only; "host:port" allows exactly that port. Matching is
// exact and case-insensitive (no wildcards). Immutable after creation.
type hostAllow map[string]bool

func newHostAllow(entries []string) (hostAllow, error) {
	h := hostAllow{}
	for _, e := range entries {
		e = strings.ToLower(strings.TrimSpace(e))
		host, port, err := net.SplitHostPort(e)
		if err != nil {
			host, port = e, "443"
		}
		if host == "" || strings.ContainsAny(host, "/@*[]% ") {
			return nil, fmt.Errorf("%w: bad allowed host %q", ErrInvalidConfig, e)
		}
		h[net.JoinHostPort(host, port)] = true
	}
	return h, nil
}

// allowsHostPort reports whether "host:port" (as a CONNECT target) is
// allowlisted.
func (h hostAllow) allowsHostPort(hp string) bool {
	host, port, err := net.SplitHostPort(hp)
	if err != nil {
		return false
	}
	return h[net.JoinHostPort(strings.ToLower(host), port)]
}

// allowsURL reports an error unless raw is a well-formed https URL whose
// host and port are allowlisted.
func (h hostAllow) allowsURL(raw string) error {
	if err := checkURLShape(raw); err != nil {
		return err
	}
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "https" || u.User != nil {
		return fmt.Errorf("%w: remote URL is not a plain https URL", ErrArgsRejected)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if !h.allowsHostPort(net.JoinHostPort(u.Hostname(), port)) {
		return fmt.Errorf("%w: host %q is not on the git host allowlist", ErrHostNotAllowed, u.Hostname())
	}
	return nil
}
