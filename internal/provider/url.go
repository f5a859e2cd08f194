package provider

import (
	"context"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// newRequest is http.NewRequestWithContext with the URL parsed once per
// distinct upstream URL: every call to a provider's endpoint parsed the
// same string again (a tenth of building the request). The parsed URL
// is kept as a template and copied into each request, which may change
// its copy. The cache holds at most maxURLs entries (provider base URLs ×
// endpoints; Gemini's model-bearing paths are many but bounded by it).
func newRequest(ctx context.Context, method, rawURL string, body io.Reader) (*http.Request, error) {
	tmpl, err := parsedURL(rawURL)
	if err != nil {
		return nil, err
	}
	// An empty URL parses to an empty one for free; the template is copied
	// over it (its allocation reused).
	req, err := http.NewRequestWithContext(ctx, method, "", body)
	if err != nil {
		return nil, err
	}
	*req.URL = *tmpl
	req.Host = tmpl.Host
	return req, nil
}

var (
	urls    sync.Map // string → *url.URL, never modified
	urlsLen atomic.Int32
)

const maxURLs = 1024

func parsedURL(raw string) (*url.URL, error) {
	if v, ok := urls.Load(raw); ok {
		return v.(*url.URL), nil
	}
	u, err := url.Parse(raw)
	if err != nil {
		return nil, err
	}
	u.Host = strings.TrimSuffix(u.Host, ":") // as NewRequest's removeEmptyPort
	if urlsLen.Load() < maxURLs {
		if _, loaded := urls.LoadOrStore(raw, u); !loaded {
			urlsLen.Add(1)
		}
	}
	return u, nil
}
