package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// foreignABI calls getpid through the x32 ABI (x86_64 numbers with bit 30
// set). The i386 entry (int 0x80) is not tried: on some virtual machines
// it faults before seccomp sees it, which would prove nothing.
func foreignABI() {
	_, _, _ = syscall.RawSyscall(0x40000000|unix.SYS_GETPID, 0, 0, 0)
}
