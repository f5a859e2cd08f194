//go:build pprof

// This file serves net/http/pprof on a loopback address for the
// benchmark harness. Only binaries built with `-tags pprof` link it (through
// a blank import in their pprof.go), so release binaries carry no profiler.
// BULWARK_PPROF_ADDR names the address; anything but a loopback host:port
// is refused, because profiles expose memory contents.

package devpprof

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("BULWARK_PPROF_ADDR")
	if addr == "" {
		return
	}
	host, _, err := net.SplitHostPort(addr)
	if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
		fmt.Fprintln(os.Stderr, "BULWARK_PPROF_ADDR must be a loopback host:port")
		os.Exit(2)
	}
	ln, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "pprof:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux() // its own mux: nothing else is exposed
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	go func() { _ = http.Serve(ln, mux) }() //nolint:gosec // loopback-only profiling build; no timeouts needed
}
