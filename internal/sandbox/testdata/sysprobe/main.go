// Command sysprobe makes the system calls named on its command line and
// prints "name=ERRNO" (or "name=ok") for each, one a line. The sandbox
// tests run it inside bwrap to observe the seccomp filter from the inside.
//
// Arguments are chosen as Flatpak's try-syscall does: a bad descriptor,
// pointer or flag, so that without the filter the kernel fails the call
// with EBADF, EFAULT or EINVAL (or it succeeds harmlessly) and never has
// an effect; with the filter it fails with EPERM (or ENOSYS). Some are
// refused by missing capabilities too; the tests know which.
package main

import (
	"fmt"
	"os"
	"syscall"

	"golang.org/x/sys/unix"
)

const bad = 1 // an address that is never mapped

// badSockType is a socket type with flag bits no kernel accepts.
const badSockType = 0xf0

type call struct {
	nr   uintptr
	args [6]uintptr
}

func calls() map[string]call {
	pid := uintptr(os.Getpid())
	return map[string]call{
		"ptrace":            {unix.SYS_PTRACE, [6]uintptr{0xffff, pid}},
		"process_vm_readv":  {unix.SYS_PROCESS_VM_READV, [6]uintptr{pid, 0, 0, 0, 0, 0xff}},
		"process_vm_writev": {unix.SYS_PROCESS_VM_WRITEV, [6]uintptr{pid, 0, 0, 0, 0, 0xff}},
		"kcmp":              {unix.SYS_KCMP, [6]uintptr{pid, pid, 0xff}},
		"pidfd_getfd":       {unix.SYS_PIDFD_GETFD, [6]uintptr{^uintptr(0), 0, 0}},
		"mount":             {unix.SYS_MOUNT, [6]uintptr{bad, bad, bad}},
		"umount2":           {unix.SYS_UMOUNT2, [6]uintptr{bad, 0xffffffff}},
		"pivot_root":        {unix.SYS_PIVOT_ROOT, [6]uintptr{bad, bad}},
		"chroot":            {unix.SYS_CHROOT, [6]uintptr{bad}},
		"unshare":           {unix.SYS_UNSHARE, [6]uintptr{unix.CLONE_NEWUSER}},
		"unshare-bad":       {unix.SYS_UNSHARE, [6]uintptr{unix.CLONE_NEWNS | 1}},
		"setns":             {unix.SYS_SETNS, [6]uintptr{^uintptr(0), 0}},
		"open_tree":         {unix.SYS_OPEN_TREE, [6]uintptr{^uintptr(0), bad, 0}},
		"move_mount":        {unix.SYS_MOVE_MOUNT, [6]uintptr{^uintptr(0), bad, ^uintptr(0), bad, 0}},
		"fsopen":            {unix.SYS_FSOPEN, [6]uintptr{bad, 0}},
		"fsconfig":          {unix.SYS_FSCONFIG, [6]uintptr{^uintptr(0), 0xff, 0, 0, 0}},
		"fsmount":           {unix.SYS_FSMOUNT, [6]uintptr{^uintptr(0), 0, 0}},
		"fspick":            {unix.SYS_FSPICK, [6]uintptr{^uintptr(0), bad, 0}},
		"mount_setattr":     {unix.SYS_MOUNT_SETATTR, [6]uintptr{^uintptr(0), bad, 0, bad, 0}},
		// CLONE_NEWUSER|CLONE_FS is invalid: without the filter clone
		// fails with EINVAL and never creates a process.
		"clone-newuser": {unix.SYS_CLONE, [6]uintptr{unix.CLONE_NEWUSER | unix.CLONE_FS}},
		"clone-newnet":  {unix.SYS_CLONE, [6]uintptr{unix.CLONE_NEWNET | unix.CLONE_THREAD}},
		// CLONE_THREAD without CLONE_SIGHAND: EINVAL, no namespace bit.
		"clone-plain":       {unix.SYS_CLONE, [6]uintptr{unix.CLONE_THREAD}},
		"clone3":            {unix.SYS_CLONE3, [6]uintptr{bad, 0}},
		"kexec_load":        {unix.SYS_KEXEC_LOAD, [6]uintptr{0, 0, 0, 0xffffffff}},
		"kexec_file_load":   {unix.SYS_KEXEC_FILE_LOAD, [6]uintptr{^uintptr(0), ^uintptr(0), 0, 0, 0xffffffff}},
		"init_module":       {unix.SYS_INIT_MODULE, [6]uintptr{bad, 0, bad}},
		"finit_module":      {unix.SYS_FINIT_MODULE, [6]uintptr{^uintptr(0), bad, 0xffffffff}},
		"delete_module":     {unix.SYS_DELETE_MODULE, [6]uintptr{bad, 0}},
		"bpf":               {unix.SYS_BPF, [6]uintptr{0xffff, 0, 0}},
		"perf_event_open":   {unix.SYS_PERF_EVENT_OPEN, [6]uintptr{bad, 0, ^uintptr(0), ^uintptr(0), 0}},
		"userfaultfd":       {unix.SYS_USERFAULTFD, [6]uintptr{0x5}},
		"io_uring_setup":    {unix.SYS_IO_URING_SETUP, [6]uintptr{1, bad}},
		"io_uring_enter":    {unix.SYS_IO_URING_ENTER, [6]uintptr{^uintptr(0), 0, 0, 0, 0, 0}},
		"io_uring_register": {unix.SYS_IO_URING_REGISTER, [6]uintptr{^uintptr(0), 0, 0, 0}},
		"keyctl":            {unix.SYS_KEYCTL, [6]uintptr{0xffff}},
		"add_key":           {unix.SYS_ADD_KEY, [6]uintptr{bad, bad, 0, 0, 0}},
		"request_key":       {unix.SYS_REQUEST_KEY, [6]uintptr{bad, bad, 0, 0}},
		"acct":              {unix.SYS_ACCT, [6]uintptr{bad}},
		"swapon":            {unix.SYS_SWAPON, [6]uintptr{bad, 0}},
		"swapoff":           {unix.SYS_SWAPOFF, [6]uintptr{bad}},
		// No magic numbers: reboot can never act, even if allowed.
		"reboot":            {unix.SYS_REBOOT, [6]uintptr{0, 0, 0, 0}},
		"settimeofday":      {unix.SYS_SETTIMEOFDAY, [6]uintptr{bad, 0}},
		"clock_settime":     {unix.SYS_CLOCK_SETTIME, [6]uintptr{0, bad}},
		"clock_adjtime":     {unix.SYS_CLOCK_ADJTIME, [6]uintptr{0, bad}},
		"adjtimex":          {unix.SYS_ADJTIMEX, [6]uintptr{bad}},
		"quotactl":          {unix.SYS_QUOTACTL, [6]uintptr{0xffffffff, bad, 0, bad}},
		"quotactl_fd":       {unix.SYS_QUOTACTL_FD, [6]uintptr{^uintptr(0), 0xffffffff, 0, bad}},
		"syslog":            {unix.SYS_SYSLOG, [6]uintptr{0xff, 0, 0}},
		"vhangup":           {unix.SYS_VHANGUP, [6]uintptr{}},
		"fanotify_init":     {unix.SYS_FANOTIFY_INIT, [6]uintptr{0xffffffff, 0}},
		"nfsservctl":        {unix.SYS_NFSSERVCTL, [6]uintptr{}},
		"lookup_dcookie":    {unix.SYS_LOOKUP_DCOOKIE, [6]uintptr{0, bad, 0}},
		"open_by_handle_at": {unix.SYS_OPEN_BY_HANDLE_AT, [6]uintptr{^uintptr(0), bad, 0}},
		"name_to_handle_at": {unix.SYS_NAME_TO_HANDLE_AT, [6]uintptr{^uintptr(0), bad, bad, bad, 0}},
		"mbind":             {unix.SYS_MBIND, [6]uintptr{bad, 0, 0xffff, 0, 0, 0}},
		"migrate_pages":     {unix.SYS_MIGRATE_PAGES, [6]uintptr{^uintptr(0), 0, bad, bad}},
		"move_pages":        {unix.SYS_MOVE_PAGES, [6]uintptr{^uintptr(0), 1, bad, bad, bad, 0xffff}},
		"get_mempolicy":     {unix.SYS_GET_MEMPOLICY, [6]uintptr{bad, bad, 0, 0, 0xffff}},
		"set_mempolicy":     {unix.SYS_SET_MEMPOLICY, [6]uintptr{0xffff, 0, 0}},
		// personality: 0xffffffff only queries; PER_BSD (6) would change it.
		"personality-query": {unix.SYS_PERSONALITY, [6]uintptr{0xffffffff}},
		"personality-bsd":   {unix.SYS_PERSONALITY, [6]uintptr{6}},
		// ioctl on stdin (/dev/null, not a terminal): ENOTTY unfiltered.
		"ioctl-tiocsti":    {unix.SYS_IOCTL, [6]uintptr{0, unix.TIOCSTI, bad}},
		"ioctl-tiocsti-hi": {unix.SYS_IOCTL, [6]uintptr{0, 1<<32 | unix.TIOCSTI, bad}},
		"ioctl-tioclinux":  {unix.SYS_IOCTL, [6]uintptr{0, unix.TIOCLINUX, bad}},
		"ioctl-tcgets":     {unix.SYS_IOCTL, [6]uintptr{0, unix.TCGETS, bad}},
		// socket and socketpair with a type of invalid flags: unfiltered,
		// the kernel answers EINVAL before it looks at the family, so no
		// socket is ever made; the filter answers EAFNOSUPPORT first.
		"socket-unix":     {unix.SYS_SOCKET, [6]uintptr{unix.AF_UNIX, badSockType}},
		"socket-inet":     {unix.SYS_SOCKET, [6]uintptr{unix.AF_INET, badSockType}},
		"socket-inet6":    {unix.SYS_SOCKET, [6]uintptr{unix.AF_INET6, badSockType}},
		"socket-netlink":  {unix.SYS_SOCKET, [6]uintptr{unix.AF_NETLINK, badSockType}},
		"socket-packet":   {unix.SYS_SOCKET, [6]uintptr{unix.AF_PACKET, badSockType}},
		"socket-alg":      {unix.SYS_SOCKET, [6]uintptr{unix.AF_ALG, badSockType}},
		"socket-vsock":    {unix.SYS_SOCKET, [6]uintptr{unix.AF_VSOCK, badSockType}},
		"socket-vsock-hi": {unix.SYS_SOCKET, [6]uintptr{1<<32 | unix.AF_VSOCK, badSockType}},
		"socketpair-unix": {unix.SYS_SOCKETPAIR, [6]uintptr{unix.AF_UNIX, badSockType, 0, bad}},
		"socketpair-inet": {unix.SYS_SOCKETPAIR, [6]uintptr{unix.AF_INET, badSockType, 0, bad}},
		// The seccomp descriptor must have been closed by bwrap.
		"fd3":    {unix.SYS_FCNTL, [6]uintptr{3, unix.F_GETFD}},
		"getpid": {unix.SYS_GETPID, [6]uintptr{}},
	}
}

func main() {
	table := calls()
	for _, name := range os.Args[1:] {
		if name == "x32" {
			foreignABI()
			fmt.Printf("%s=survived\n", name)
			continue
		}
		c, ok := table[name]
		if !ok {
			fmt.Printf("%s=unknown\n", name)
			continue
		}
		_, _, e := syscall.RawSyscall6(c.nr, c.args[0], c.args[1], c.args[2], c.args[3], c.args[4], c.args[5])
		if e == 0 {
			fmt.Printf("%s=ok\n", name)
			continue
		}
		fmt.Printf("%s=%s\n", name, unix.ErrnoName(e))
	}
}
