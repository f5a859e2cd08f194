package seccomp

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

var update = flag.Bool("update", false, "rewrite testdata/program.golden")

const auditArchI386 = 0x40000003

// data is a struct seccomp_data.
type data struct {
	nr   uint32
	arch uint32
	args [6]uint64
}

// vmBytes lays d out for golang.org/x/net/bpf's VM. The VM loads words
// big-endian (it filters packets) where the kernel loads them in native
// order, so every 32-bit word is written big-endian at the offset where
// the little-endian kernel finds it: the low half of args[i] first.
func (d data) vmBytes() []byte {
	b := make([]byte, 64)
	binary.BigEndian.PutUint32(b[offNr:], d.nr)
	binary.BigEndian.PutUint32(b[offArch:], d.arch)
	for i, a := range d.args {
		binary.BigEndian.PutUint32(b[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(b[offArgs+8*i+4:], uint32(a>>32))
	}
	return b
}

// vm runs the bytes Program hands to bwrap, decoded back, in a BPF VM.
func vm(t testing.TB, goarch string) *bpf.VM {
	t.Helper()
	prog, err := Program(goarch)
	if err != nil {
		t.Fatal(err)
	}
	raw := make([]bpf.RawInstruction, len(prog)/8)
	for i := range raw {
		b := prog[8*i:]
		raw[i] = bpf.RawInstruction{Op: binary.LittleEndian.Uint16(b), Jt: b[2], Jf: b[3], K: binary.LittleEndian.Uint32(b[4:])}
	}
	insns, ok := bpf.Disassemble(raw)
	if !ok {
		t.Fatal("program does not disassemble")
	}
	m, err := bpf.NewVM(insns)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func decide(t testing.TB, m *bpf.VM, d data) uint32 {
	t.Helper()
	v, err := m.Run(d.vmBytes())
	if err != nil {
		t.Fatal(err)
	}
	return uint32(v) //nolint:gosec // the VM returns the 32-bit constant as an int
}

// nr returns the number of the syscall called name on goarch.
func nr(t testing.TB, goarch, name string) uint32 {
	t.Helper()
	for _, r := range rules {
		if r.name == name {
			if n, ok := r.number(goarch); ok {
				return n
			}
		}
	}
	t.Fatalf("no %s on %s", name, goarch)
	return 0
}

var unlisted = map[string][]uint32{ // read, write, openat, execve, getpid on each arch
	"amd64": {0, 1, 257, 59, 39},
	"arm64": {63, 64, 56, 221, 172},
}

const (
	eperm        = retErrno | errnoEPERM
	enosys       = retErrno | errnoENOSYS
	eafnosupport = retErrno | errnoEAFNOSUPPORT
)

type decisionCase struct {
	name string
	in   data
	want uint32
}

// TestDecisions runs the program bwrap receives in a BPF VM against
// synthetic seccomp_data: every rule's refusal, the argument checks both
// ways, foreign ABIs, and ordinary calls that must pass.
func TestDecisions(t *testing.T) {
	for goarch, a := range arches {
		m := vm(t, goarch)
		call := func(name string, args ...uint64) data {
			d := data{nr: nr(t, goarch, name), arch: a.audit}
			copy(d.args[:], args)
			return d
		}
		other := arches["amd64"].audit
		if goarch == "amd64" {
			other = arches["arm64"].audit
		}
		tests := []decisionCase{
			{name: "wrong arch killed", in: data{nr: 20, arch: auditArchI386}, want: retKillProcess},
			{name: "other 64-bit arch killed", in: data{nr: unlisted[goarch][0], arch: other}, want: retKillProcess},
			{name: "clone3 ENOSYS", in: call("clone3"), want: enosys},
			{name: "clone without namespaces", in: call("clone", 0x01200011), want: retAllow},
			{name: "clone NEWUSER", in: call("clone", 0x10000000|0x11), want: eperm},
			{name: "clone NEWNET", in: call("clone", 0x40000000), want: eperm},
			{name: "clone NEWNS", in: call("clone", 0x00020000), want: eperm},
			{name: "clone NEWCGROUP", in: call("clone", 0x02000000), want: eperm},
			{name: "clone NEWUSER with high bits", in: call("clone", 1<<40|0x10000000), want: eperm},
			{name: "ioctl TCGETS", in: call("ioctl", 0, 0x5401), want: retAllow},
			{name: "ioctl TIOCSTI", in: call("ioctl", 0, tiocsti), want: eperm},
			{name: "ioctl TIOCSTI with high bits", in: call("ioctl", 0, 1<<32|tiocsti), want: eperm},
			{name: "ioctl TIOCLINUX", in: call("ioctl", 0, tioclinux), want: eperm},
			{name: "ioctl TIOCSTI as fd is fine", in: call("ioctl", tiocsti, 0x5401), want: retAllow},
			{name: "personality query", in: call("personality", 0xffffffff), want: retAllow},
			{name: "personality PER_LINUX", in: call("personality", 0), want: retAllow},
			{name: "personality PER_LINUX32", in: call("personality", 8), want: retAllow},
			{name: "personality UNAME26", in: call("personality", 0x20000), want: retAllow},
			{name: "personality PER_LINUX32|UNAME26", in: call("personality", 0x20008), want: retAllow},
			{name: "personality PER_BSD", in: call("personality", 6), want: eperm},
			{name: "personality READ_IMPLIES_EXEC", in: call("personality", 0x0400000), want: eperm},
			{name: "personality ADDR_NO_RANDOMIZE", in: call("personality", 0x0040000), want: eperm},
			{name: "socket AF_UNIX", in: call("socket", 1, 1), want: retAllow},
			{name: "socket AF_INET", in: call("socket", 2, 1), want: retAllow},
			{name: "socket AF_INET6", in: call("socket", 10, 2), want: retAllow},
			{name: "socket AF_NETLINK", in: call("socket", 16, 3), want: retAllow},
			{name: "socket AF_UNSPEC", in: call("socket", 0, 1), want: eafnosupport},
			{name: "socket AF_PACKET", in: call("socket", 17, 3), want: eafnosupport},
			{name: "socket AF_RDS", in: call("socket", 21, 5), want: eafnosupport},
			{name: "socket AF_TIPC", in: call("socket", 30, 5), want: eafnosupport},
			{name: "socket AF_ALG", in: call("socket", 38, 5), want: eafnosupport},
			{name: "socket AF_VSOCK", in: call("socket", 40, 1), want: eafnosupport},
			{name: "socket AF_XDP", in: call("socket", 44, 3), want: eafnosupport},
			// The kernel reads the family as an int: only the low half counts.
			{name: "socket AF_VSOCK with high bits", in: call("socket", 1<<32|40, 1), want: eafnosupport},
			{name: "socket AF_UNIX with high bits", in: call("socket", 1<<32|1, 1), want: retAllow},
			{name: "socketpair AF_UNIX", in: call("socketpair", 1, 1), want: retAllow},
			{name: "socketpair AF_INET", in: call("socketpair", 2, 1), want: eafnosupport},
			{name: "socketpair AF_TIPC", in: call("socketpair", 30, 5), want: eafnosupport},
		}
		if a.x32 {
			tests = append(tests,
				decisionCase{name: "x32 getpid killed", in: data{nr: x32Bit | 39, arch: a.audit}, want: retKillProcess},
				decisionCase{name: "x32 top number killed", in: data{nr: 0xffffffff, arch: a.audit}, want: retKillProcess})
		}
		for _, n := range unlisted[goarch] {
			tests = append(tests, decisionCase{name: "unlisted " + strconv.Itoa(int(n)), in: data{nr: n, arch: a.audit, args: [6]uint64{tiocsti, tiocsti, 0x10000000}}, want: retAllow})
		}
		for _, r := range rules {
			if _, ok := r.number(goarch); !ok || r.match != denyAlways {
				continue
			}
			tests = append(tests, decisionCase{name: r.name, in: call(r.name), want: retErrno | r.errno})
		}
		for _, tt := range tests {
			t.Run(goarch+"/"+tt.name, func(t *testing.T) {
				if got := decide(t, m, tt.in); got != tt.want {
					t.Fatalf("decision %#x, want %#x", got, tt.want)
				}
			})
		}
	}
}

// model is the policy written plainly, independent of the assembler.
func model(goarch string, d data) uint32 {
	a := arches[goarch]
	if d.arch != a.audit || (a.x32 && d.nr >= x32Bit) {
		return retKillProcess
	}
	for _, r := range rules {
		n, ok := r.number(goarch)
		if !ok || n != d.nr {
			continue
		}
		v := uint32(d.args[r.arg]) //nolint:gosec // the kernel reads these arguments as 32 bits
		denied := true
		switch r.match {
		case denyIfBits:
			denied = v&r.values[0] != 0
		case denyIfEqual:
			denied = slices.Contains(r.values, v)
		case denyUnlessIn:
			denied = !slices.Contains(r.values, v)
		}
		if denied {
			return retErrno | r.errno
		}
		return retAllow
	}
	return retAllow
}

// FuzzFilter: for any syscall number and arguments, the program decides
// what the plain model decides: refused exactly when the call is on the
// deny-list (and its arguments match), killed exactly for a foreign ABI.
func FuzzFilter(f *testing.F) {
	for _, r := range rules {
		f.Add(uint32(r.amd64), false, uint8(0), uint64(0x10000000), uint64(tiocsti)) //nolint:gosec // seeds
		f.Add(uint32(r.arm64), true, uint8(0), uint64(0), uint64(1<<32|tioclinux))   //nolint:gosec // seeds
	}
	f.Add(uint32(x32Bit|39), false, uint8(0), uint64(0), uint64(0))
	f.Add(uint32(20), false, uint8(1), uint64(6), uint64(0))
	vms := map[string]*bpf.VM{"amd64": vm(f, "amd64"), "arm64": vm(f, "arm64")}
	f.Fuzz(func(t *testing.T, n uint32, arm bool, archSel uint8, a0, a1 uint64) {
		goarch := "amd64"
		if arm {
			goarch = "arm64"
		}
		d := data{nr: n, arch: arches[goarch].audit, args: [6]uint64{a0, a1, a0, a1, a0, a1}}
		switch archSel % 4 {
		case 1:
			d.arch = auditArchI386
		case 2:
			d.arch = uint32(a0 >> 32)
		}
		if got, want := decide(t, vms[goarch], d), model(goarch, d); got != want {
			t.Fatalf("%s nr %d arch %#x args %#x %#x: program %#x, model %#x", goarch, n, d.arch, a0, a1, got, want)
		}
	})
}

// TestBriefList: every call the policy names is on the deny-list of each
// architecture that has it.
func TestBriefList(t *testing.T) {
	required := strings.Fields(`ptrace process_vm_readv process_vm_writev mount umount2 pivot_root
		chroot unshare setns clone clone3 kexec_load kexec_file_load init_module finit_module
		delete_module bpf perf_event_open userfaultfd keyctl add_key request_key acct swapon
		swapoff reboot settimeofday clock_settime clock_adjtime adjtimex quotactl open_by_handle_at
		name_to_handle_at lookup_dcookie personality ioctl io_uring_setup io_uring_enter
		io_uring_register mbind migrate_pages move_pages nfsservctl syslog vhangup kcmp
		fanotify_init open_tree move_mount fsopen fsconfig fsmount fspick mount_setattr
		socket socketpair`)
	x86only := []string{"uselib", "iopl", "ioperm", "modify_ldt"}
	for goarch := range arches {
		names, err := Denied(goarch)
		if err != nil {
			t.Fatal(err)
		}
		want := required
		if goarch == "amd64" {
			want = append(slices.Clone(required), x86only...)
		}
		for _, n := range want {
			if !slices.Contains(names, n) {
				t.Errorf("%s: %s is not denied", goarch, n)
			}
		}
	}
}

func TestUnsupportedArch(t *testing.T) {
	for _, goarch := range []string{"riscv64", "386", "arm", ""} {
		t.Run(goarch, func(t *testing.T) {
			if _, err := Program(goarch); !errors.Is(err, ErrUnsupportedArch) {
				t.Fatalf("Program(%q) err = %v, want ErrUnsupportedArch", goarch, err)
			}
		})
	}
}

// TestGolden pins the program bytes: the filter is deterministic, and any
// change to it shows up in review as a changed golden file.
func TestGolden(t *testing.T) {
	var b strings.Builder
	for _, goarch := range []string{"amd64", "arm64"} {
		p1, err := Program(goarch)
		if err != nil {
			t.Fatal(err)
		}
		p2, _ := Program(goarch)
		if string(p1) != string(p2) {
			t.Fatalf("%s: two builds differ", goarch)
		}
		sum := sha256.Sum256(p1)
		fmt.Fprintf(&b, "%s instructions=%d sha256=%s\n", goarch, len(p1)/8, hex.EncodeToString(sum[:]))
	}
	path := filepath.Join("testdata", "program.golden")
	if *update {
		if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if b.String() != string(want) {
		t.Fatalf("program changed (go test -update to accept):\n%s\nwant:\n%s", b.String(), want)
	}
}

// TestNumbersMatchXSys checks the syscall numbers in rules against
// golang.org/x/sys/unix's tables for both architectures, whatever the
// host is.
func TestNumbersMatchXSys(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "golang.org/x/sys").Output()
	if err != nil {
		t.Fatalf("go list golang.org/x/sys: %v", err)
	}
	dir := strings.TrimSpace(string(out))
	for goarch := range arches {
		table := sysnums(t, filepath.Join(dir, "unix", "zsysnum_linux_"+goarch+".go"))
		for _, r := range rules {
			got, ok := r.number(goarch)
			want, exists := table["SYS_"+strings.ToUpper(r.name)]
			switch {
			case ok != exists:
				t.Errorf("%s/%s: in rules %v, in x/sys %v", goarch, r.name, ok, exists)
			case ok && got != want:
				t.Errorf("%s/%s = %d, x/sys says %d", goarch, r.name, got, want)
			}
		}
	}
}

func sysnums(t *testing.T, path string) map[string]uint32 {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	m := map[string]uint32{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) == 3 && fs[1] == "=" && strings.HasPrefix(fs[0], "SYS_") {
			if n, err := strconv.ParseUint(fs[2], 10, 32); err == nil {
				m[fs[0]] = uint32(n)
			}
		}
	}
	if len(m) < 100 {
		t.Fatalf("%s: only %d syscalls parsed", path, len(m))
	}
	return m
}
