package provider

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// Errors returned by Test.
var (
	ErrUpstreamAuth        = errors.New("provider: upstream rejected the credential")
	ErrUpstreamUnreachable = errors.New("provider: upstream unreachable")
	ErrUpstreamStatus      = errors.New("provider: upstream returned an error status")
)

// Test makes one cheap authenticated call (list models) to check that the
// provider is reachable and accepts its credential. Errors name the
// provider and the status, never the credential or the upstream body.
func Test(ctx context.Context, cfg Config) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	if cfg.Type == TypeMock {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	fam, path := FamilyOpenAI, "/models"
	switch cfg.Type {
	case TypeAnthropic:
		fam, path = FamilyAnthropic, "/v1/models"
	case TypeGemini:
		fam, path = FamilyGemini, "/v1beta/models"
	}
	req, err := NewRequest(ctx, cfg, Call{Family: fam, Method: http.MethodGet, Path: path, In: http.Header{}})
	if err != nil {
		return err
	}
	resp, err := NewClient(NewTransport(ClientOptions{MaxIdleConnsPerHost: 1})).Do(req)
	if err != nil {
		return fmt.Errorf("%w: provider %q", ErrUpstreamUnreachable, cfg.Name)
	}
	defer func() { _ = resp.Body.Close() }() // drained below; only the status matters
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return fmt.Errorf("%w: provider %q (HTTP %d)", ErrUpstreamAuth, cfg.Name, resp.StatusCode)
	case resp.StatusCode >= 300:
		return fmt.Errorf("%w: provider %q (HTTP %d)", ErrUpstreamStatus, cfg.Name, resp.StatusCode)
	}
	return nil
}
