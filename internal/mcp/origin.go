package mcp

import (
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// originPolicy decides whether a browser Origin may call /mcp. Requests
// without an Origin header come from non-browser clients and are allowed
// (they carry a bearer token a web page cannot attach by itself); a present
// Origin must be on the allowlist exactly (scheme, host and port), which
// defeats DNS rebinding: the attacker's page has the attacker's origin. It is
// immutable after construction and safe for concurrent use.
type originPolicy struct {
	allowed map[string]bool
}

func newOriginPolicy(allow []string) (*originPolicy, error) {
	p := &originPolicy{allowed: map[string]bool{}}
	for _, a := range allow {
		o, err := canonicalOrigin(a)
		if err != nil {
			return nil, fmt.Errorf("mcp: allowed origin %q: %w", a, err)
		}
		p.allowed[o] = true
	}
	return p, nil
}

// allow reports whether the request's Origin header values are acceptable.
func (p *originPolicy) allow(values []string) bool {
	switch len(values) {
	case 0:
		return true
	case 1:
		o, err := canonicalOrigin(values[0])
		return err == nil && p.allowed[o]
	default:
		return false // several Origin headers: ambiguous, refuse
	}
}

var errBadOrigin = errors.New("not a serialized origin")

// canonicalOrigin parses an RFC 6454 serialized origin
// ("scheme://host[:port]") and returns it lowercased with the default port
// removed. "null", paths, userinfo, queries and non-http schemes are refused.
func canonicalOrigin(s string) (string, error) {
	if s == "" || s != strings.TrimSpace(s) || strings.EqualFold(s, "null") {
		return "", errBadOrigin
	}
	for _, r := range s {
		if r < 0x21 || r > 0x7e {
			return "", errBadOrigin
		}
	}
	u, err := url.Parse(s)
	if err != nil || u.User != nil || u.Opaque != "" || u.RawQuery != "" || u.Fragment != "" || strings.Contains(s, "?") || strings.Contains(s, "#") {
		return "", errBadOrigin
	}
	if u.Path != "" && u.Path != "/" {
		return "", errBadOrigin
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme != "http" && scheme != "https" {
		return "", errBadOrigin
	}
	host := strings.ToLower(u.Hostname())
	if host == "" {
		return "", errBadOrigin
	}
	port := u.Port()
	if (scheme == "http" && port == "80") || (scheme == "https" && port == "443") {
		port = ""
	}
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port != "" {
		return scheme + "://" + host + ":" + port, nil
	}
	return scheme + "://" + host, nil
}
