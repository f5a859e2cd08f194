package cli

import (
	"context"

	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/provider"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/upstreams"
)

// testProvider makes the cheapest authenticated call the upstream offers,
// through the same client and header hygiene as the gateway.
func testProvider(ctx context.Context, in *instance.Instance, p *store.Provider) error {
	return provider.Test(ctx, upstreams.FromStore(in, *p))
}
