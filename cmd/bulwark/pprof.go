//go:build pprof

package main

// Profiling build for the benchmark harness only: see internal/devpprof.
import _ "github.com/bulwarkhq/bulwark/internal/devpprof"
