// Package seccomp builds the seccomp filter Bulwark's process sandbox
// installs through bubblewrap (`bwrap --seccomp FD`): a classic-BPF
// program, assembled in pure Go with golang.org/x/net/bpf, that refuses
// the system calls a git or exec tool never needs and that widen the
// kernel's attack surface (ptrace, mounts and namespaces, modules, bpf,
// io_uring, keyrings, clocks, terminal injection, socket families a tool
// never opens, …).
//
// The filter is a deny-list on top of bwrap's namespaces: a refused call
// fails with EPERM (clone3 with ENOSYS, so libc falls back to clone, whose
// flags the filter can check), so a tool reports a clear error instead of
// dying. A call from another architecture's ABI (32-bit int 0x80 on
// x86_64, or the x32 ABI) kills the process: it is never legitimate here
// and would otherwise slip past numbers keyed on the native table.
//
// The program is a pure function of the architecture name: the same bytes
// on every run (a golden test pins them).
package seccomp

import (
	"encoding/binary"
	"errors"
	"fmt"

	"golang.org/x/net/bpf"
)

// ErrUnsupportedArch is returned (wrapped) for an architecture the filter
// has no syscall table for. The sandbox then refuses to run rather than
// run unfiltered.
var ErrUnsupportedArch = errors.New("seccomp: unsupported architecture")

// maxInstructions is the kernel's BPF_MAXINSNS.
const maxInstructions = 4096

// Instructions returns the filter for goarch ("amd64", "arm64") as BPF
// instructions, for review and for running in golang.org/x/net/bpf's VM.
func Instructions(goarch string) ([]bpf.Instruction, error) {
	a, ok := arches[goarch]
	if !ok {
		return nil, fmt.Errorf("%w: %q (supported: amd64, arm64)", ErrUnsupportedArch, goarch)
	}
	p := []bpf.Instruction{
		bpf.LoadAbsolute{Off: offArch, Size: 4},
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: a.audit, SkipTrue: 1},
		bpf.RetConstant{Val: retKillProcess},
		bpf.LoadAbsolute{Off: offNr, Size: 4},
	}
	if a.x32 {
		p = append(p,
			bpf.JumpIf{Cond: bpf.JumpGreaterOrEqual, Val: x32Bit, SkipFalse: 1},
			bpf.RetConstant{Val: retKillProcess})
	}
	// Each rule is a self-contained block: "nr == N ? body : next rule",
	// where every path through body returns. No jump crosses a block, so
	// no offset can outgrow the 8-bit jump fields however long the list.
	// A matched rule loads an argument into A; that is safe because it
	// returns before the next rule compares A with a syscall number.
	for _, r := range rules {
		nr, ok := r.number(goarch)
		if !ok {
			continue
		}
		body := r.body()
		p = append(p, bpf.JumpIf{Cond: bpf.JumpEqual, Val: nr, SkipFalse: uint8(len(body))}) //nolint:gosec // G115: a body is at most a few instructions
		p = append(p, body...)
	}
	p = append(p, bpf.RetConstant{Val: retAllow})
	if len(p) > maxInstructions {
		return nil, fmt.Errorf("seccomp: program has %d instructions, the kernel takes %d", len(p), maxInstructions)
	}
	return p, nil
}

// body is what runs once a rule's syscall number matched.
func (r rule) body() []bpf.Instruction {
	refuse := bpf.RetConstant{Val: retErrno | r.errno}
	allow := bpf.RetConstant{Val: retAllow}
	load := bpf.LoadAbsolute{Off: argLo(r.arg), Size: 4}
	n := len(r.values)
	switch r.match {
	case denyIfBits:
		return []bpf.Instruction{load,
			bpf.JumpIf{Cond: bpf.JumpBitsSet, Val: r.values[0], SkipTrue: 1},
			allow, refuse}
	case denyIfEqual, denyUnlessIn:
		// A hit on value i jumps over the remaining n-1-i compares and the
		// first return, landing on the second.
		b := []bpf.Instruction{load}
		for i, v := range r.values {
			b = append(b, bpf.JumpIf{Cond: bpf.JumpEqual, Val: v, SkipTrue: uint8(n - i)}) //nolint:gosec // G115: a handful of values
		}
		if r.match == denyIfEqual {
			return append(b, allow, refuse)
		}
		return append(b, refuse, allow)
	default:
		return []bpf.Instruction{refuse}
	}
}

// Program returns the filter for goarch as the bytes bwrap reads from its
// --seccomp descriptor: an array of struct sock_filter {u16 code; u8 jt;
// u8 jf; u32 k} in the (little-endian) byte order of both supported
// architectures.
func Program(goarch string) ([]byte, error) {
	insns, err := Instructions(goarch)
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insns)
	if err != nil {
		return nil, fmt.Errorf("seccomp: assemble: %w", err)
	}
	out := make([]byte, 0, 8*len(raw))
	for _, in := range raw {
		out = binary.LittleEndian.AppendUint16(out, in.Op)
		out = append(out, in.Jt, in.Jf)
		out = binary.LittleEndian.AppendUint32(out, in.K)
	}
	return out, nil
}

// Denied returns the names of the system calls the filter refuses (some
// only for certain arguments) on goarch, in the program's order.
func Denied(goarch string) ([]string, error) {
	if _, ok := arches[goarch]; !ok {
		return nil, fmt.Errorf("%w: %q", ErrUnsupportedArch, goarch)
	}
	var names []string
	for _, r := range rules {
		if _, ok := r.number(goarch); ok {
			names = append(names, r.name)
		}
	}
	return names, nil
}
