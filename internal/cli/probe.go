package cli

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// testProvider makes the cheapest authenticated call an upstream offers
// (listing models) to check the base URL and credential. The credential
// is sent only to the provider's own base URL and never printed; an
// upstream error body is summarised by status only.
func testProvider(ctx context.Context, in *instance.Instance, p *store.Provider) error {
	if p.Type == "mock" {
		return nil
	}
	cred, err := in.ProviderCredential(p)
	if err != nil {
		return err
	}
	base := strings.TrimRight(p.BaseURL, "/")
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/models", nil)
	if err != nil {
		return fmt.Errorf("base URL: %w", err)
	}
	switch p.Type {
	case "anthropic":
		req.Header.Set("x-api-key", cred)
		req.Header.Set("anthropic-version", "2023-06-01")
	case "gemini":
		req.Header.Set("x-goog-api-key", cred)
	default:
		req.Header.Set("Authorization", "Bearer "+cred)
	}
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("upstream unreachable: %w", redactURLError(err, cred))
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("upstream answered HTTP %d to GET %s/models", resp.StatusCode, base)
	}
	return nil
}

// redactURLError makes sure a credential never appears in an error.
func redactURLError(err error, cred string) error {
	if cred != "" && strings.Contains(err.Error(), cred) {
		return fmt.Errorf("%s", strings.ReplaceAll(err.Error(), cred, "[REDACTED]"))
	}
	return err
}
