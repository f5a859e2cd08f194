// Package fetch implements Bulwark's http_fetch tool: a GET client that can
// reach only public addresses (plus what the operator allowlists), checked
// by netguard when each connection is made, so DNS rebinding, redirects and
// odd IP notations cannot reach loopback, private networks or cloud
// metadata. Responses are capped in size and time, redirects are capped and
// re-validated, and no proxy from the environment is ever used.
package fetch

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"time"

	"github.com/bulwarkhq/bulwark/internal/netguard"
)

// Errors callers branch on. A refused address wraps
// netguard.ErrForbiddenAddress.
var (
	ErrInvalidURL        = errors.New("invalid URL")
	ErrTooManyRedirects  = errors.New("too many redirects")
	ErrTimeout           = errors.New("fetch timed out")
	ErrForbiddenAddress  = netguard.ErrForbiddenAddress
	errRedirectForbidden = errors.New("redirect refused")
)

// Config is the operator's configuration (tools.fetch.*). Zero fields take
// defaults.
type Config struct {
	// AllowHosts are internal host names fetch may reach (exact match).
	AllowHosts []string
	// AllowPrefixes are internal address ranges fetch may reach.
	AllowPrefixes []netip.Prefix
	// MaxRedirects caps redirects followed; default 5. Negative means none.
	MaxRedirects int
	// MaxBytes caps the response body kept; default 1 MiB.
	MaxBytes int64
	// Timeout caps the whole request, redirects and body included; default 30s.
	Timeout time.Duration
	// Resolver overrides DNS (tests); nil uses the system resolver.
	Resolver netguard.Resolver
	// UserAgent sent with every request; default "Bulwark-fetch/1".
	UserAgent string
	// RootCAs verifies HTTPS servers (for an internal CA); nil means the
	// system roots. Certificate verification is never disabled.
	RootCAs *x509.CertPool
}

// Options narrow one call; they can only lower the configured caps.
type Options struct {
	MaxBytes int64         // 0 means the configured cap
	Timeout  time.Duration // 0 means the configured cap
	Accept   string        // optional Accept header
}

// Result is a fetched response.
type Result struct {
	Status    int         `json:"status"`
	Header    http.Header `json:"header"`
	Body      []byte      `json:"body"`
	Truncated bool        `json:"truncated"` // body was longer than the cap
	FinalURL  string      `json:"final_url"` // after redirects
}

// Client fetches URLs under a netguard policy. It is safe for concurrent
// use.
type Client struct {
	cfg    Config
	policy *netguard.Policy
	http   *http.Client
}

// New builds a Client from cfg.
func New(cfg Config) (*Client, error) {
	if cfg.MaxRedirects == 0 {
		cfg.MaxRedirects = 5
	}
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 1 << 20
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "Bulwark-fetch/1"
	}
	for _, p := range cfg.AllowPrefixes {
		if !p.IsValid() {
			return nil, fmt.Errorf("fetch: invalid allow prefix %v", p)
		}
	}
	c := &Client{cfg: cfg, policy: &netguard.Policy{
		AllowHosts: cfg.AllowHosts, AllowPrefixes: cfg.AllowPrefixes, Resolver: cfg.Resolver,
	}}
	tr := netguard.NewTransport(c.policy)
	tr.TLSClientConfig = &tls.Config{RootCAs: cfg.RootCAs, MinVersion: tls.VersionTLS12}
	c.http = &http.Client{
		Transport:     tr,
		CheckRedirect: c.checkRedirect,
	}
	return c, nil
}

// checkRedirect re-validates every hop (scheme, userinfo, notation, early
// address check) and caps the count; the dial-time check still applies.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	maxHops := max(c.cfg.MaxRedirects, 0)
	if len(via) > maxHops {
		return fmt.Errorf("%w (limit %d)", ErrTooManyRedirects, maxHops)
	}
	if _, err := ValidateURL(req.URL.String()); err != nil {
		return fmt.Errorf("%w to %s: %w", errRedirectForbidden, req.URL.Redacted(), err)
	}
	if err := c.policy.CheckHost(req.Context(), req.URL.Hostname()); err != nil {
		return fmt.Errorf("%w to %s: %w", errRedirectForbidden, req.URL.Redacted(), err)
	}
	req.Header.Del("Cookie")
	return nil
}

// Get fetches rawURL. The body is cut at the byte cap (Truncated is set);
// a non-2xx status is a Result, not an error.
func (c *Client) Get(ctx context.Context, rawURL string, opts Options) (*Result, error) {
	u, err := ValidateURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w", err)
	}
	timeout, limit := c.cfg.Timeout, c.cfg.MaxBytes
	if opts.Timeout > 0 && opts.Timeout < timeout {
		timeout = opts.Timeout
	}
	if opts.MaxBytes > 0 && opts.MaxBytes < limit {
		limit = opts.MaxBytes
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := c.policy.CheckHost(ctx, u.Hostname()); err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), classify(ctx, err))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("fetch: %w: %w", ErrInvalidURL, err)
	}
	req.Header.Set("User-Agent", c.cfg.UserAgent)
	if opts.Accept != "" {
		req.Header.Set("Accept", opts.Accept)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("fetch %s: %w", u.Redacted(), classify(ctx, err))
	}
	defer func() { _ = resp.Body.Close() }() // read side: errors surface from ReadAll
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		return nil, fmt.Errorf("fetch %s: reading body: %w", u.Redacted(), classify(ctx, err))
	}
	res := &Result{Status: resp.StatusCode, Header: resp.Header.Clone(), Body: body, FinalURL: resp.Request.URL.Redacted()}
	if int64(len(body)) > limit {
		res.Body, res.Truncated = body[:limit], true
	}
	return res, nil
}

// classify maps a deadline to ErrTimeout and keeps other errors (which
// carry ErrForbiddenAddress, ErrInvalidURL or ErrTooManyRedirects) as they
// are.
func classify(ctx context.Context, err error) error {
	if errors.Is(err, ErrForbiddenAddress) || errors.Is(err, ErrInvalidURL) || errors.Is(err, ErrTooManyRedirects) {
		return err
	}
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: %w", ErrTimeout, err)
	}
	return err
}
