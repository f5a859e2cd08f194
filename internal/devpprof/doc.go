// Package devpprof serves net/http/pprof on a loopback address for the
// benchmark harness, and is empty unless built with the pprof tag (see
// devpprof.go): release binaries carry no profiler.
package devpprof
