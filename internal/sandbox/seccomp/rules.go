package seccomp

// Return values of a seccomp filter (linux/seccomp.h) and the errnos used.
const (
	retKillProcess = 0x80000000
	retErrno       = 0x00050000
	retAllow       = 0x7fff0000

	errnoEPERM        = 1
	errnoENOSYS       = 38
	errnoEAFNOSUPPORT = 97 // the same number on amd64 and arm64
)

// Offsets into struct seccomp_data: int nr; __u32 arch; __u64
// instruction_pointer; __u64 args[6]. The kernel loads 32-bit words in
// native byte order; both supported architectures are little-endian, so
// the low word of args[i] is at argLo(i).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

func argLo(i int) uint32 { return uint32(offArgs + 8*i) } //nolint:gosec // G115: i is 0..5

// x32Bit marks an x32-ABI system call on x86_64 (__X32_SYSCALL_BIT). Such
// calls carry AUDIT_ARCH_X86_64 but their own numbers, so a deny-list
// keyed on x86_64 numbers would not see them: they are killed outright.
const x32Bit = 0x40000000

// archInfo is what the filter needs to know about one architecture.
type archInfo struct {
	audit uint32 // AUDIT_ARCH_* in seccomp_data.arch
	x32   bool   // reject syscall numbers with x32Bit set
}

var arches = map[string]archInfo{
	"amd64": {audit: 0xc000003e, x32: true}, // EM_X86_64 | 64BIT | LE
	"arm64": {audit: 0xc00000b7},            // EM_AARCH64 | 64BIT | LE
}

// match says how a rule decides from the low 32 bits of one argument.
type match int

const (
	denyAlways   match = iota // every call is refused
	denyIfEqual               // refused if the argument equals one of values
	denyUnlessIn              // refused unless the argument equals one of values
	denyIfBits                // refused if the argument has any bit of values[0]
)

// Arguments the rules inspect.
const (
	tiocsti   = 0x5412 // TIOCSTI: push a byte into a terminal's input queue
	tioclinux = 0x541c // TIOCLINUX: console selection paste, same effect

	// CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET, the mask
	// Docker's default profile uses. CLONE_NEWTIME (0x80) is not in it: in
	// clone(2)'s flags those bits are the exit signal.
	cloneNewNamespaces = 0x7e020000
)

// Address families socket(2) may open: local sockets, IP (git's traffic
// to Bulwark's proxy when a tool shares the network) and netlink (glibc's
// getaddrinfo and getifaddrs ask NETLINK_ROUTE about interfaces). Every
// other family — AF_VSOCK, AF_ALG, AF_PACKET, AF_RDS, AF_TIPC, AF_XDP,
// AF_BLUETOOTH, AF_KEY, … — is kernel code a tool never needs, and several
// have had local privilege escalations reachable without capabilities.
// Flatpak's list, without AF_UNSPEC (which no family implements).
const (
	afUnix    = 1
	afInet    = 2
	afInet6   = 10
	afNetlink = 16
)

var allowedFamilies = []uint32{afUnix, afInet, afInet6, afNetlink}

// Persona values personality(2) may set: PER_LINUX, PER_LINUX32,
// UNAME26, PER_LINUX32|UNAME26, and 0xffffffff which only queries.
var allowedPersonas = []uint32{0x0, 0x8, 0x20000, 0x20008, 0xffffffff}

// none marks a system call that does not exist on an architecture.
const none = -1

// rule is one entry of the deny-list. The ioctl command and personality
// arguments are compared on their low 32 bits only, because the kernel
// declares them unsigned int and ignores the upper half: a 64-bit compare
// is what let 1<<32|TIOCSTI through Flatpak's filter (CVE-2019-10063).
type rule struct {
	name         string
	amd64, arm64 int
	errno        uint32
	match        match
	arg          int
	values       []uint32
}

func (r rule) number(goarch string) (uint32, bool) {
	n := r.amd64
	if goarch == "arm64" {
		n = r.arm64
	}
	if n == none {
		return 0, false
	}
	return uint32(n), true //nolint:gosec // G115: syscall numbers are small and positive
}

func deny(name string, amd64, arm64 int) rule {
	return rule{name: name, amd64: amd64, arm64: arm64, errno: errnoEPERM}
}

// rules is the deny-list, in the order the program tests it (a call not
// on it passes every compare, one instruction each, then is allowed). Syscall
// numbers are from golang.org/x/sys/unix (zsysnum_linux_{amd64,arm64}.go);
// TestNumbersMatchXSys checks them against that source.
var rules = []rule{
	// ioctl first: tools call it often (isatty) and it is the only hot
	// call the list inspects; everything else pays one compare for it.
	{name: "ioctl", amd64: 16, arm64: 29, errno: errnoEPERM, match: denyIfEqual, arg: 1,
		values: []uint32{tiocsti, tioclinux}},
	// Debugging and reading other processes.
	deny("ptrace", 101, 117),
	deny("process_vm_readv", 310, 270),
	deny("process_vm_writev", 311, 271),
	deny("kcmp", 312, 272),
	deny("pidfd_getfd", 438, 438),
	// Mounts, namespaces and root changes, including the new mount API,
	// which would otherwise bypass the mount(2) rule.
	deny("mount", 165, 40),
	deny("umount2", 166, 39),
	deny("pivot_root", 155, 41),
	deny("chroot", 161, 51),
	deny("unshare", 272, 97),
	deny("setns", 308, 268),
	deny("open_tree", 428, 428),
	deny("move_mount", 429, 429),
	deny("fsopen", 430, 430),
	deny("fsconfig", 431, 431),
	deny("fsmount", 432, 432),
	deny("fspick", 433, 433),
	deny("mount_setattr", 442, 442),
	{name: "clone", amd64: 56, arm64: 220, errno: errnoEPERM, match: denyIfBits, arg: 0,
		values: []uint32{cloneNewNamespaces}},
	// clone3 passes its flags in memory, which seccomp cannot read: ENOSYS
	// makes glibc fall back to clone(2), whose flags the rule above checks.
	{name: "clone3", amd64: 435, arm64: 435, errno: errnoENOSYS},
	// Kernel code and modules.
	deny("kexec_load", 246, 104),
	deny("kexec_file_load", 320, 294),
	deny("init_module", 175, 105),
	deny("finit_module", 313, 273),
	deny("delete_module", 176, 106),
	deny("bpf", 321, 280),
	deny("perf_event_open", 298, 241),
	deny("userfaultfd", 323, 282),
	deny("io_uring_setup", 425, 425),
	deny("io_uring_enter", 426, 426),
	deny("io_uring_register", 427, 427),
	// Kernel keyring.
	deny("keyctl", 250, 219),
	deny("add_key", 248, 217),
	deny("request_key", 249, 218),
	// Host-wide state: accounting, swap, power, clocks, quotas, logs.
	deny("acct", 163, 89),
	deny("swapon", 167, 224),
	deny("swapoff", 168, 225),
	deny("reboot", 169, 142),
	deny("settimeofday", 164, 170),
	deny("clock_settime", 227, 112),
	deny("clock_adjtime", 305, 266),
	deny("adjtimex", 159, 171),
	deny("quotactl", 179, 60),
	deny("quotactl_fd", 443, 443),
	deny("syslog", 103, 116),
	deny("vhangup", 153, 58),
	deny("fanotify_init", 300, 262),
	deny("nfsservctl", 180, 42),
	deny("lookup_dcookie", 212, 18),
	deny("uselib", 134, none),
	// File handles bypass path-based confinement.
	deny("open_by_handle_at", 304, 265),
	deny("name_to_handle_at", 303, 264),
	// NUMA policy and page migration.
	deny("mbind", 237, 235),
	deny("migrate_pages", 256, 238),
	deny("move_pages", 279, 239),
	deny("get_mempolicy", 239, 236),
	deny("set_mempolicy", 238, 237),
	// x86 I/O ports and descriptor tables.
	deny("iopl", 172, none),
	deny("ioperm", 173, none),
	deny("modify_ldt", 154, none),
	// Socket address families, answered as the kernel answers a family it
	// lacks, so programs fall back (to IPv4, or without netlink) as they
	// would on a kernel built without it. socketpair(2) exists only for
	// local sockets.
	{name: "socket", amd64: 41, arm64: 198, errno: errnoEAFNOSUPPORT, match: denyUnlessIn, arg: 0,
		values: allowedFamilies},
	{name: "socketpair", amd64: 53, arm64: 199, errno: errnoEAFNOSUPPORT, match: denyUnlessIn, arg: 0,
		values: []uint32{afUnix}},
	// Arguments checked.
	{name: "personality", amd64: 135, arm64: 92, errno: errnoEPERM, match: denyUnlessIn, arg: 0,
		values: allowedPersonas},
}
