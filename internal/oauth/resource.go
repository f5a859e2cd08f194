package oauth

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
)

// ProtectedResourceMetadataPath is where RFC 9728 metadata is served.
const ProtectedResourceMetadataPath = "/.well-known/oauth-protected-resource"

// ResourceMetadata is the RFC 9728 protected resource metadata document.
type ResourceMetadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported,omitempty"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name,omitempty"`
}

// ResourceMetadataHandler serves m (mount at GET
// /.well-known/oauth-protected-resource). Only the header bearer method is
// advertised: tokens in query strings end up in logs.
func ResourceMetadataHandler(m ResourceMetadata) http.Handler {
	if len(m.BearerMethodsSupported) == 0 {
		m.BearerMethodsSupported = []string{"header"}
	}
	if m.AuthorizationServers == nil {
		m.AuthorizationServers = []string{}
	}
	return jsonDocument(m)
}

// ResourceMetadataURL returns the RFC 9728 metadata URL for a server whose
// public base URL is base ("https://gw.example.com").
func ResourceMetadataURL(base string) string {
	return strings.TrimSuffix(base, "/") + ProtectedResourceMetadataPath
}

// validateResource checks an absolute https URL without fragment or
// userinfo; plain http is accepted only for loopback hosts (development and
// tests).
func validateResource(s string) error {
	u, err := url.Parse(s)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return errors.New("oauth: resource must be an absolute URL")
	}
	if u.Fragment != "" || u.User != nil || u.RawQuery != "" {
		return errors.New("oauth: resource must not carry userinfo, query or fragment")
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if isLoopbackHost(u.Hostname()) {
			return nil
		}
	}
	return fmt.Errorf("oauth: resource %q must use https (http only on loopback)", u.Redacted())
}

func isLoopbackHost(h string) bool {
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// Challenge is one parsed WWW-Authenticate challenge (RFC 9110 §11.6.1).
type Challenge struct {
	Scheme string
	Params map[string]string
}

// BearerChallenge renders a Bearer challenge (RFC 6750 §3) with the given
// parameters in order (name, value, name, value...). Values are quoted;
// characters that cannot appear in a quoted-string are dropped, so a value
// can never inject another parameter or header.
func BearerChallenge(kv ...string) string {
	var b strings.Builder
	b.WriteString("Bearer")
	for i := 0; i+1 < len(kv); i += 2 {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte(' ')
		b.WriteString(kv[i])
		b.WriteString(`="`)
		for _, r := range kv[i+1] {
			if r == '"' || r == '\\' || r < 0x20 || r == 0x7f || r > 0x7e {
				continue
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
	}
	return b.String()
}

// ErrChallengeSyntax reports a WWW-Authenticate value that does not parse.
var ErrChallengeSyntax = errors.New("malformed WWW-Authenticate challenge")

// ParseChallenge parses a single challenge: a scheme followed by
// comma-separated auth-params (token=token or token="quoted"). Repeated
// parameter names are refused: a client must not pick one of two
// resource_metadata values at random.
func ParseChallenge(h string) (Challenge, error) {
	h = strings.TrimSpace(h)
	scheme, rest, _ := strings.Cut(h, " ")
	if !isToken(scheme) {
		return Challenge{}, ErrChallengeSyntax
	}
	c := Challenge{Scheme: scheme, Params: map[string]string{}}
	p := &challengeParser{s: rest}
	for {
		p.skipSpace()
		if p.done() {
			return c, nil
		}
		name, val, err := p.param()
		if err != nil {
			return Challenge{}, err
		}
		name = strings.ToLower(name)
		if _, dup := c.Params[name]; dup {
			return Challenge{}, ErrChallengeSyntax
		}
		c.Params[name] = val
		p.skipSpace()
		if p.done() {
			return c, nil
		}
		if p.s[p.i] != ',' {
			return Challenge{}, ErrChallengeSyntax
		}
		p.i++
	}
}

type challengeParser struct {
	s string
	i int
}

func (p *challengeParser) done() bool { return p.i >= len(p.s) }

func (p *challengeParser) skipSpace() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *challengeParser) param() (string, string, error) {
	start := p.i
	for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
		p.i++
	}
	name := p.s[start:p.i]
	p.skipSpace()
	if name == "" || p.done() || p.s[p.i] != '=' {
		return "", "", ErrChallengeSyntax
	}
	p.i++
	p.skipSpace()
	if p.done() {
		return "", "", ErrChallengeSyntax
	}
	if p.s[p.i] != '"' {
		start = p.i
		for p.i < len(p.s) && isTokenChar(p.s[p.i]) {
			p.i++
		}
		if start == p.i {
			return "", "", ErrChallengeSyntax
		}
		return name, p.s[start:p.i], nil
	}
	p.i++
	var b strings.Builder
	for p.i < len(p.s) {
		ch := p.s[p.i]
		switch {
		case ch == '"':
			p.i++
			return name, b.String(), nil
		case ch == '\\' && p.i+1 < len(p.s):
			b.WriteByte(p.s[p.i+1])
			p.i += 2
		case ch < 0x20 && ch != '\t' || ch == 0x7f:
			return "", "", ErrChallengeSyntax
		default:
			b.WriteByte(ch)
			p.i++
		}
	}
	return "", "", ErrChallengeSyntax
}

func isToken(s string) bool {
	return s != "" && !slices.ContainsFunc([]byte(s), func(c byte) bool { return !isTokenChar(c) })
}

// isTokenChar reports RFC 9110 tchar.
func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
