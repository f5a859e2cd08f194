package secaudit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ErrTarget is wrapped by Probe when the target is not an http(s) URL.
var ErrTarget = errors.New("probe target must be an http:// or https:// URL with a host")

// ProbeOptions tunes Probe. The zero value verifies TLS against the system
// roots with a 5 s timeout per request.
type ProbeOptions struct {
	// RootCAs verifies the gateway's certificate (default: system roots).
	RootCAs *x509.CertPool
	// Timeout bounds each request (default 5 s).
	Timeout time.Duration

	// dial connects to the gateway (default: a net.Dialer with Timeout).
	// Whether the target is beyond loopback is decided on the URL's host,
	// never on where dial connects: tests connect a name or address that
	// is not loopback to a loopback listener, so that none listens beyond
	// loopback.
	dial func(ctx context.Context, network, addr string) (net.Conn, error)
}

// prober holds one probe's client and findings. Not safe for concurrent use.
type prober struct {
	base   *url.URL
	client *http.Client
	opt    ProbeOptions
	out    []Finding
}

// Probe checks a running gateway at base from the outside, the way an
// attacker on this host would see it: it sends no credential, follows no
// redirect and never changes state. It checks that the LLM and admin APIs
// demand authentication, whether /metrics is open, the security headers,
// the version banner and, over HTTPS, the TLS versions accepted. Findings
// come sorted, most urgent first.
func Probe(ctx context.Context, base string, opt ProbeOptions) ([]Finding, error) {
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("%w: %q", ErrTarget, base)
	}
	u.Path, u.RawQuery, u.Fragment = strings.TrimSuffix(u.Path, "/"), "", ""
	if opt.Timeout <= 0 {
		opt.Timeout = 5 * time.Second
	}
	if opt.dial == nil {
		opt.dial = (&net.Dialer{Timeout: opt.Timeout}).DialContext
	}
	p := &prober{base: u, opt: opt, client: probeClient(opt, false)}
	p.run(ctx)
	Sort(p.out)
	return p.out, nil
}

func probeClient(opt ProbeOptions, insecure bool) *http.Client {
	tr := &http.Transport{
		Proxy:               nil, // probe the gateway itself, not a proxy's view of it
		DialContext:         opt.dial,
		TLSHandshakeTimeout: opt.Timeout,
		TLSClientConfig:     &tls.Config{RootCAs: opt.RootCAs, MinVersion: tls.VersionTLS12, InsecureSkipVerify: insecure}, //nolint:gosec // G402: only after BW-NET-008 reported the untrusted certificate; the probe sends no credential
		DisableKeepAlives:   true,
	}
	return &http.Client{Transport: tr, Timeout: opt.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (p *prober) add(f Finding) { p.out = append(p.out, f) }

func (p *prober) run(ctx context.Context) {
	first, err := p.do(ctx, http.MethodGet, "/healthz", "")
	var uerr *tls.CertificateVerificationError
	if errors.As(err, &uerr) {
		p.add(Finding{ID: "BW-NET-008", Severity: Medium, Title: "gateway certificate is not trusted by this host",
			Evidence: fmt.Sprintf("%s: %v", p.base.Host, uerr.Err),
			Fix:      "serve a certificate from a CA clients trust (or pass --ca-file when probing a private CA)"})
		p.client = probeClient(p.opt, true)
		first, err = p.do(ctx, http.MethodGet, "/healthz", "")
	}
	if err != nil {
		p.add(Finding{ID: "BW-NET-000", Severity: High, Title: "gateway not reachable; live checks not run",
			Evidence: fmt.Sprintf("GET %s/healthz: %v", p.base.Redacted(), errors.Unwrap(err)),
			Fix:      "start `bulwark serve`, or pass the address it listens on to --deep"})
		return
	}
	p.checkHeaders(first)
	p.checkTransport(ctx, first)
	p.checkChat(ctx)
	p.checkAdmin(ctx)
	p.checkMetrics(ctx)
}

// response is what the checks need of an answer.
type response struct {
	status int
	header http.Header
	body   []byte
	tls    *tls.ConnectionState
}

func (p *prober) do(ctx context.Context, method, path, body string) (*response, error) {
	ref := *p.base
	ref.Path += path
	req, err := http.NewRequestWithContext(ctx, method, ref.String(), strings.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("probe: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("probe: read %s: %w", path, err)
	}
	return &response{status: resp.StatusCode, header: resp.Header, body: b, tls: resp.TLS}, nil
}

// wantHeaders are the headers every response of the gateway carries
// (internal/httpx.SecurityHeaders).
var wantHeaders = []struct{ name, value string }{
	{"X-Content-Type-Options", "nosniff"},
	{"X-Frame-Options", "DENY"},
	{"Referrer-Policy", "no-referrer"},
}

func (p *prober) checkHeaders(r *response) {
	var missing []string
	for _, h := range wantHeaders {
		if !strings.EqualFold(r.header.Get(h.name), h.value) {
			missing = append(missing, h.name)
		}
	}
	if len(missing) > 0 {
		p.add(Finding{ID: "BW-NET-004", Severity: Low, Title: "security headers missing",
			Evidence: "GET /healthz lacks " + strings.Join(missing, ", "),
			Fix:      "serve through Bulwark's own listener, or make the proxy in front keep these headers"})
	}
	for _, h := range []string{"Server", "X-Powered-By"} {
		if v := r.header.Get(h); v != "" {
			p.add(Finding{ID: "BW-NET-006", Severity: Low, Title: "server banner reveals software",
				Evidence: fmt.Sprintf("%s: %.60s", h, v),
				Fix:      "drop the header at the proxy in front (Bulwark sends none)"})
		}
	}
}

// checkTransport judges how the gateway was reached. Plain HTTP is
// flagged when the target's host is not a loopback address or
// "localhost" (loopbackHost): an unspecified address (0.0.0.0, ::), any
// other address and any other name — a name may resolve beyond loopback
// for the clients that use it, whatever it resolves to here.
func (p *prober) checkTransport(ctx context.Context, r *response) {
	if p.base.Scheme == "http" {
		if !loopbackHost(p.base.Hostname()) {
			p.add(Finding{ID: "BW-NET-010", Severity: High, Title: "gateway answers plain HTTP beyond loopback",
				Evidence: "reached http://" + p.base.Host,
				Fix:      "serve HTTPS (tls.cert_file) or listen on loopback behind a TLS proxy"})
		}
		return
	}
	if r.header.Get("Strict-Transport-Security") == "" {
		p.add(Finding{ID: "BW-NET-007", Severity: Medium, Title: "HTTPS without Strict-Transport-Security",
			Evidence: "GET /healthz over TLS has no HSTS header",
			Fix:      "set behind_tls_proxy: true (or tls.*) so Bulwark sends HSTS, or add it at the proxy"})
	}
	if r.tls != nil && r.tls.Version < tls.VersionTLS12 {
		p.add(oldTLS(fmt.Sprintf("negotiated %s", tls.VersionName(r.tls.Version))))
		return
	}
	if v, ok := p.acceptsOldTLS(ctx); ok {
		p.add(oldTLS("accepts a handshake limited to " + tls.VersionName(v)))
	}
}

func oldTLS(ev string) Finding {
	return Finding{ID: "BW-NET-009", Severity: High, Title: "TLS below 1.2 accepted", Evidence: ev,
		Fix: "require TLS 1.2 or later (Bulwark's own listener does; check the proxy in front)"}
}

// acceptsOldTLS tries a handshake that offers only TLS 1.0 and 1.1.
func (p *prober) acceptsOldTLS(ctx context.Context) (uint16, bool) {
	host := p.base.Host
	if p.base.Port() == "" {
		host = net.JoinHostPort(p.base.Hostname(), "443")
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11, //nolint:gosec // G402: probing whether the server accepts old versions is the point
		InsecureSkipVerify: true, ServerName: p.base.Hostname(), //nolint:gosec // G402: nothing is sent on this connection
	}
	ctx, cancel := context.WithTimeout(ctx, p.opt.Timeout)
	defer cancel()
	raw, err := p.opt.dial(ctx, "tcp", host)
	if err != nil {
		return 0, false
	}
	defer func() { _ = raw.Close() }()
	tc := tls.Client(raw, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return 0, false
	}
	return tc.ConnectionState().Version, true
}

// checkChat sends an unauthenticated chat completion: it must be refused
// with 401 in the OpenAI error shape, so SDKs report it as such.
func (p *prober) checkChat(ctx context.Context) {
	r, err := p.do(ctx, http.MethodPost, "/v1/chat/completions", `{"model":"bulwark-audit-probe","messages":[{"role":"user","content":"ping"}]}`)
	if err != nil {
		p.add(probeFailed("/v1/chat/completions", err))
		return
	}
	if r.status != http.StatusUnauthorized {
		p.add(Finding{ID: "BW-NET-001", Severity: Critical, Title: "LLM API answers without authentication",
			Evidence: fmt.Sprintf("POST /v1/chat/completions without a key: HTTP %d", r.status),
			Fix:      "put Bulwark's authentication in front of every /v1 route; never expose an upstream or a mock directly"})
		return
	}
	var body struct {
		Error *struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		} `json:"error"`
	}
	if json.Unmarshal(r.body, &body) != nil || body.Error == nil || body.Error.Message == "" || body.Error.Type == "" {
		p.add(Finding{ID: "BW-NET-002", Severity: Low, Title: "401 not in the OpenAI error shape",
			Evidence: "POST /v1/chat/completions: 401 without {\"error\":{\"message\",\"type\"}}",
			Fix:      "let Bulwark render the error; a proxy that rewrites error bodies confuses SDKs"})
	}
}

func (p *prober) checkAdmin(ctx context.Context) {
	r, err := p.do(ctx, http.MethodGet, "/api/admin/keys", "")
	if err != nil {
		p.add(probeFailed("/api/admin/keys", err))
		return
	}
	if r.status != http.StatusUnauthorized && r.status != http.StatusForbidden {
		p.add(Finding{ID: "BW-NET-003", Severity: Critical, Title: "admin API answers without authentication",
			Evidence: fmt.Sprintf("GET /api/admin/keys without a key: HTTP %d", r.status),
			Fix:      "never route /api/admin around Bulwark's authentication"})
	}
}

func (p *prober) checkMetrics(ctx context.Context) {
	r, err := p.do(ctx, http.MethodGet, "/metrics", "")
	if err != nil {
		p.add(probeFailed("/metrics", err))
		return
	}
	if r.status == http.StatusOK {
		p.add(Finding{ID: "BW-NET-005", Severity: Medium, Title: "/metrics readable without authentication",
			Evidence: "GET /metrics without a key from this host: HTTP 200",
			Fix:      "serve metrics on a loopback metrics.listen, or require an admin key (the default on the main listener)"})
	}
}

func probeFailed(path string, err error) Finding {
	return Finding{ID: "BW-NET-011", Severity: Medium, Title: "probe request failed",
		Evidence: fmt.Sprintf("%s: %v", path, errors.Unwrap(err)),
		Fix:      "check that the gateway is healthy and rerun the audit"}
}
