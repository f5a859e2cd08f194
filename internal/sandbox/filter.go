package sandbox

import (
	"fmt"
	"os"
	"runtime"

	"github.com/bulwarkhq/bulwark/internal/sandbox/seccomp"
)

// seccompFD is the descriptor bwrap reads the seccomp program from: the
// first of exec.Cmd.ExtraFiles. bwrap reads it to the end and closes it
// before the program starts, so the program never inherits it (tested).
const seccompFD = 3

// pipeCapacity is the smallest pipe buffer Linux gives (16 pages of 4 KiB;
// the default is 64 KiB). A program that fits is written whole before
// bwrap starts, so the write can never block.
const pipeCapacity = 64 << 10

// hostFilter compiles the filter for the architecture Bulwark runs on.
// There is no way to run without it: an architecture without a syscall
// table makes the sandbox unavailable (fail closed).
func hostFilter() ([]byte, error) {
	prog, err := seccomp.Program(runtime.GOARCH)
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp filter: %w: %w", ErrUnavailable, err)
	}
	return prog, nil
}

// filterPipe returns the read end of a pipe that holds prog and is
// already closed for writing.
func filterPipe(prog []byte) (*os.File, error) {
	if len(prog) > pipeCapacity {
		return nil, fmt.Errorf("sandbox: seccomp program of %d bytes exceeds a pipe buffer", len(prog))
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("sandbox: seccomp pipe: %w", err)
	}
	_, werr := w.Write(prog)
	if cerr := w.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil {
		_ = r.Close()
		return nil, fmt.Errorf("sandbox: seccomp pipe: %w", werr)
	}
	return r, nil
}
