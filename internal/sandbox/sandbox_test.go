package sandbox

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

var summaryCases = []struct {
	name   string
	args   []string
	want   string
	secret string // must not appear in the summary
}{
	{name: "plain", args: []string{"log", "--oneline", "-n", "5"}, want: "log --oneline -n 5"},
	{name: "url credentials", args: []string{"clone", "https://user:ghp_abcdefghijklmnopqrstuvwxyz0123456789@github.com/a/b"},
		want: "clone https://[REDACTED]@github.com/a/b", secret: "ghp_abc"},
	{name: "password flag", args: []string{"login", "--password=hunter2hunter2"}, want: "login --password=[REDACTED]", secret: "hunter2"},
	{name: "token flag split", args: []string{"cli", "--token", "abc123"}, want: "cli --token [REDACTED]", secret: "abc123"},
	{name: "env assignment", args: []string{"API_KEY=supersecretvalue"}, want: "API_KEY=[REDACTED]", secret: "supersecret"},
	{name: "authorization header", args: []string{"-H", "Authorization: Bearer abc.def.ghi"}, want: `-H "Authorization: [REDACTED]"`, secret: "abc.def"},
	{name: "openai key", args: []string{"x", "sk-proj-AbCdEfGh12345678"}, want: "x [REDACTED]", secret: "AbCdEf"},
	{name: "high entropy", args: []string{"echo", "Zx9Qw3Er7Ty1Ui5Op2As8Df4Gh6Jk0L"}, want: "echo [REDACTED]", secret: "Zx9Qw3"},
	{name: "commit id kept", args: []string{"show", "0123456789abcdef0123456789abcdef01234567"}, want: "show 0123456789abcdef0123456789abcdef01234567"},
	{name: "low entropy kept", args: []string{"echo", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, want: "echo aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"},
	{name: "quoted", args: []string{"commit", "-m", "two words"}, want: `commit -m "two words"`},
	{name: "empty arg", args: []string{"x", ""}, want: `x ""`},
}

func TestSummary(t *testing.T) {
	for _, tt := range summaryCases {
		t.Run(tt.name, func(t *testing.T) {
			got := Summary(tt.args)
			if got != tt.want {
				t.Fatalf("Summary = %q, want %q", got, tt.want)
			}
			if tt.secret != "" && strings.Contains(got, tt.secret) {
				t.Fatalf("secret in summary: %q", got)
			}
		})
	}
	long := make([]string, 500)
	for i := range long {
		long[i] = strings.Repeat("x", 300)
	}
	if got := Summary(long); len(got) > summaryTotalMax+8 {
		t.Fatalf("summary not bounded: %d bytes", len(got))
	}
}

// FuzzSummary: a planted credential never survives, whatever surrounds it.
func FuzzSummary(f *testing.F) {
	for _, tt := range summaryCases {
		f.Add(strings.Join(tt.args, "\x1f"))
	}
	const token = "ghp_Q7w8E9r0T1y2U3i4O5p6A7s8D9f0G1h2J3k4"
	f.Fuzz(func(t *testing.T, joined string) {
		args := strings.Split(joined, "\x1f")
		for _, form := range []string{"https://u:" + token + "@h/x", "--password=" + token, token} {
			got := Summary(append(slices.Clone(args), form))
			if strings.Contains(got, token[4:20]) {
				t.Fatalf("token survived in %q", got)
			}
		}
	})
}

func TestArgv(t *testing.T) {
	s, err := build(Config{Limits: Limits{Processes: 7, MemoryBytes: 1 << 20, FileSizeBytes: 4096, CPUSeconds: 3}})
	if err != nil {
		t.Fatal(err)
	}
	argv, err := s.Argv(Spec{Workspace: "/srv/ws", Dir: "sub", Argv: []string{"/bin/echo", "hi"}})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(argv, " ")
	for _, want := range []string{
		"/usr/bin/prlimit --nproc=7:7 --as=1048576:1048576 --fsize=4096:4096 --cpu=3:3 --core=0:0 -- /usr/bin/bwrap",
		"--unshare-all --unshare-user --disable-userns --uid 65534 --gid 65534",
		"--cap-drop ALL --new-session --die-with-parent --as-pid-1 --seccomp 3",
		"--ro-bind /usr /usr", "--tmpfs /tmp --dev /dev --proc /proc",
		"--bind /srv/ws /workspace --chdir /workspace/sub -- /bin/echo hi",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("argv lacks %q:\n%s", want, joined)
		}
	}
	for _, never := range []string{"--share-net", "/etc/shadow", "--ro-bind /etc /etc", "--bind / "} {
		if strings.Contains(joined, never) {
			t.Errorf("argv contains %q", never)
		}
	}
	withNet, _ := s.Argv(Spec{Workspace: "/srv/ws", Argv: []string{"/bin/true"}, ShareNet: true})
	if !slices.Contains(withNet, "--share-net") {
		t.Error("ShareNet not honoured")
	}
}

func TestSpecRejected(t *testing.T) {
	s, err := New(Config{})
	if err != nil {
		t.Fatalf("New: %v (is bubblewrap installed?)", err)
	}
	tests := []struct {
		name string
		spec Spec
	}{
		{"relative workspace", Spec{Workspace: "ws", Argv: []string{"/bin/true"}}},
		{"missing workspace", Spec{Workspace: "/nonexistent/ws", Argv: []string{"/bin/true"}}},
		{"relative program", Spec{Workspace: "/", Argv: []string{"true"}}},
		{"no program", Spec{Workspace: "/"}},
		{"dir escapes", Spec{Workspace: "/", Dir: "../x", Argv: []string{"/bin/true"}}},
		{"absolute dir", Spec{Workspace: "/", Dir: "/etc", Argv: []string{"/bin/true"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := s.Run(context.Background(), tt.spec); !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("err = %v, want ErrInvalidSpec", err)
			}
		})
	}
}

func TestLimitsDefaults(t *testing.T) {
	l := Limits{}.withDefaults()
	if l.Processes != DefaultProcesses || l.Timeout != DefaultTimeout || l.OutputBytes != DefaultOutputBytes {
		t.Fatalf("defaults not applied: %+v", l)
	}
	if l := (Limits{Timeout: time.Second}).withDefaults(); l.Timeout != time.Second {
		t.Fatalf("explicit timeout overridden: %v", l.Timeout)
	}
}

// TestBuildRefusesIDsThatWrap: a run-as id must fit the kernel's 32-bit
// uid_t; 1<<32 would otherwise wrap to 0 and run the sandbox as root.
func TestBuildRefusesIDsThatWrap(t *testing.T) {
	tests := []struct {
		name     string
		uid, gid int64
	}{
		{name: "negative uid", uid: -1, gid: 1000},
		{name: "negative gid", uid: 1000, gid: -1},
		{name: "uid wraps to root", uid: 1 << 32, gid: 1000},
		{name: "gid wraps to root", uid: 1000, gid: 1 << 32},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(Config{RunAsUID: int(tt.uid), RunAsGID: int(tt.gid)})
			if !errors.Is(err, ErrInvalidSpec) {
				t.Fatalf("build(uid %d, gid %d) err = %v, want ErrInvalidSpec", tt.uid, tt.gid, err)
			}
		})
	}
}
