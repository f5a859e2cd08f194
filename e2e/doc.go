// Package e2e drives a running Bulwark with the official OpenAI and
// Anthropic Go SDKs against fake upstreams that speak the vendors' wire
// formats (internal/upstreamtest). It is a separate module so the SDKs stay
// out of Bulwark's own go.mod. Run with `cd e2e && go test ./...`.
package e2e
