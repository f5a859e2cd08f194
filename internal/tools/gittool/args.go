package gittool

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// optKind says how an allowlisted option takes its value.
type optKind int

const (
	flagOnly  optKind = iota // no value: --oneline
	valueNext                // value is the next argument: -n 5, -m msg
	valueEq                  // value after '=': --format=%h
)

// option is one allowlisted option of one subcommand.
type option struct {
	kind  optKind
	check func(string) error // validates the value; nil for flagOnly
}

// command is the allowlist for one subcommand.
type command struct {
	opts map[string]option
	// positional validates the arguments before "--" (never starting with
	// '-'); nil means none are accepted.
	positional func([]string) error
	// paths says whether "--" followed by workspace paths is accepted.
	paths bool
	// forced options are inserted right after the subcommand.
	forced []string
	// network marks clone/fetch/pull/push.
	network bool
	// require lists options of which at least one must be present.
	require []string
}

// Parsed is the outcome of validating an argv.
type Parsed struct {
	// Sub is the subcommand.
	Sub string
	// Network reports a network operation (clone, fetch, pull, push).
	Network bool
	// Remote is the remote named or given as URL by fetch/pull/push
	// ("origin" when none is given) or the URL given to clone.
	Remote string
	// RemoteGiven reports that the caller named the remote; otherwise git
	// may choose one from the branch configuration.
	RemoteGiven bool
}

func flags(names ...string) map[string]option {
	m := make(map[string]option, len(names))
	for _, n := range names {
		m[n] = option{kind: flagOnly}
	}
	return m
}

func with(m map[string]option, kind optKind, check func(string) error, names ...string) map[string]option {
	for _, n := range names {
		m[n] = option{kind: kind, check: check}
	}
	return m
}

// Forced options per family, so repository or user config cannot bring an
// external diff driver, a textconv program or submodule recursion back.
var (
	diffForced = []string{"--no-ext-diff", "--no-textconv", "--ignore-submodules=all", "--no-color"}
	logForced  = []string{"--no-ext-diff", "--no-textconv", "--no-show-signature", "--no-color"}
)

// logOpts are shared by log and show.
func logOpts() map[string]option {
	m := flags("--oneline", "--stat", "--shortstat", "--name-only", "--name-status",
		"-p", "--patch", "--no-patch", "-s", "--no-merges", "--reverse", "--graph",
		"--decorate", "--no-decorate", "--abbrev-commit", "--first-parent", "--all")
	m = with(m, valueEq, checkFormat, "--format", "--pretty")
	m = with(m, valueEq, checkDate, "--since", "--until", "--after", "--before")
	m = with(m, valueEq, checkText(200), "--author", "--grep")
	m = with(m, valueNext, checkCount, "-n")
	return with(m, valueEq, checkCount, "--max-count")
}

// commands is the complete allowlist. A subcommand or option absent here
// is refused; see docs/tools-git-exec.md for the rationale of each entry.
var commands = map[string]command{
	"status": {
		opts: with(flags("-s", "--short", "-b", "--branch", "--long", "--porcelain", "--porcelain=v1", "--porcelain=v2"),
			valueEq, oneOf("no", "normal", "all"), "--untracked-files"),
		positional: eachPath, paths: true, forced: []string{"--ignore-submodules=all"},
	},
	"log":  {opts: logOpts(), positional: eachRev, paths: true, forced: logForced},
	"show": {opts: logOpts(), positional: eachRev, paths: true, forced: logForced},
	"diff": {
		opts: with(flags("--cached", "--staged", "--stat", "--shortstat", "--numstat",
			"--name-only", "--name-status", "--ignore-all-space", "-w"), valueEq, checkCount, "--unified"),
		positional: maxN(2, eachRev), paths: true, forced: diffForced,
	},
	"add": {
		opts:       flags("-A", "--all", "--update", "--intent-to-add", "-N", "--dry-run", "--force", "-f"),
		positional: eachPath, paths: true,
	},
	"commit": {
		opts: with(with(flags("-a", "--all", "--amend", "--allow-empty", "-q", "--quiet"),
			valueNext, checkMessage, "-m"), valueEq, checkMessage, "--message"),
		paths: true, require: []string{"-m", "--message"},
		forced: []string{"--no-verify", "--no-gpg-sign", "--no-edit"},
	},
	"branch": {
		opts: flags("-a", "--all", "-r", "--remotes", "-v", "-vv", "--list",
			"--show-current", "-d", "--delete", "-D", "-m", "--move"),
		positional: maxN(2, eachRef),
	},
	"checkout": {
		opts:       with(flags("--detach", "-q", "--quiet"), valueNext, checkBranch, "-b"),
		positional: maxN(1, eachRev), paths: true,
	},
	"switch": {
		opts:       with(flags("--detach", "-q", "--quiet"), valueNext, checkBranch, "-c", "--create"),
		positional: maxN(1, eachRev),
	},
	"restore": {
		opts:       with(flags("--staged", "--worktree", "-q", "--quiet"), valueEq, checkRev, "--source"),
		positional: eachPath, paths: true,
	},
	"init": {
		opts: with(flags("-q", "--quiet"), valueEq, checkBranch, "--initial-branch"),
	},
	"clone": {
		opts: with(with(flags("--single-branch", "--no-tags", "-q", "--quiet"),
			valueEq, checkCount, "--depth"), valueNext, checkBranch, "--branch", "-b"),
		positional: cloneArgs, network: true,
		forced: []string{"--no-recurse-submodules", "--no-local"},
	},
	"fetch": {
		opts:       with(flags("--prune", "--tags", "--no-tags", "-q", "--quiet"), valueEq, checkCount, "--depth"),
		positional: remoteArgs, network: true,
		forced: []string{"--no-recurse-submodules", "--no-write-fetch-head"},
	},
	"pull": {
		opts:       flags("--ff-only", "-q", "--quiet"),
		positional: remoteArgs, network: true,
		forced: []string{"--ff-only", "--no-rebase", "--no-recurse-submodules", "--no-edit",
			"--no-verify", "--no-gpg-sign"},
	},
	"push": {
		opts:       flags("--set-upstream", "--tags", "-q", "--quiet", "--dry-run"),
		positional: remoteArgs, network: true,
		forced: []string{"--recurse-submodules=no", "--no-verify", "--no-signed"},
	},
	"rev-parse": {
		opts: flags("--abbrev-ref", "--short", "--verify", "--symbolic-full-name",
			"--is-inside-work-tree", "-q", "--quiet"),
		positional: eachRev,
	},
	"ls-files": {
		opts: flags("-c", "--cached", "-m", "--modified", "-o", "--others", "-d", "--deleted",
			"-s", "--stage", "--exclude-standard", "-z"),
		positional: eachPath, paths: true,
	},
}

// Subcommands returns the allowlisted subcommands.
func Subcommands() []string {
	out := make([]string, 0, len(commands))
	for k := range commands {
		out = append(out, k)
	}
	return out
}

// maxArgs bounds one call's argv.
const maxArgs = 128

// ValidateArgs checks argv (without the leading "git") against the
// allowlist and returns what it describes. Every refusal wraps
// ErrArgsRejected. It is pure and safe for concurrent use.
func ValidateArgs(args []string) (Parsed, error) {
	if len(args) == 0 {
		return Parsed{}, reject("no subcommand")
	}
	if len(args) > maxArgs {
		return Parsed{}, reject("too many arguments")
	}
	for _, a := range args {
		if strings.IndexByte(a, 0) >= 0 || len(a) > 64<<10 {
			return Parsed{}, reject("argument too long or contains NUL")
		}
	}
	spec, ok := commands[args[0]]
	if !ok {
		return Parsed{}, reject("subcommand " + quoteShort(args[0]) + " is not allowed")
	}
	positional, seen, err := parseOptions(spec, args[1:])
	if err != nil {
		return Parsed{}, err
	}
	if spec.positional == nil && len(positional) > 0 {
		return Parsed{}, reject(args[0] + " takes no positional arguments")
	}
	if spec.positional != nil {
		if err := spec.positional(positional); err != nil {
			return Parsed{}, err
		}
	}
	if len(spec.require) > 0 && !anySeen(seen, spec.require) {
		return Parsed{}, reject(args[0] + " requires " + strings.Join(spec.require, " or "))
	}
	p := Parsed{Sub: args[0], Network: spec.network}
	if spec.network {
		p.Remote = "origin"
		if len(positional) > 0 {
			p.Remote, p.RemoteGiven = positional[0], true
		}
	}
	return p, nil
}

// parseOptions walks the arguments after the subcommand: options must be
// allowlisted exactly (no abbreviations, no bundled short flags), values
// are validated, and everything after "--" must be a workspace path.
func parseOptions(spec command, args []string) (positional []string, seen map[string]bool, err error) {
	seen = map[string]bool{}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			if !spec.paths {
				return nil, nil, reject(`"--" is not accepted here`)
			}
			for _, p := range args[i+1:] {
				if err := checkPath(p); err != nil {
					return nil, nil, err
				}
			}
			return positional, seen, nil
		}
		if !strings.HasPrefix(a, "-") {
			positional = append(positional, a)
			continue
		}
		name, val, hasEq := a, "", false
		if strings.HasPrefix(a, "--") {
			if n, v, ok := strings.Cut(a, "="); ok {
				if _, exact := spec.opts[a]; !exact {
					name, val, hasEq = n, v, true
				}
			}
		}
		o, ok := spec.opts[name]
		if !ok {
			return nil, nil, reject("option " + quoteShort(name) + " is not allowed")
		}
		seen[name] = true
		switch {
		case o.kind == flagOnly && hasEq, o.kind == valueNext && hasEq, o.kind == valueEq && !hasEq:
			return nil, nil, reject("option " + name + " used in the wrong form")
		case o.kind == valueNext:
			if i+1 >= len(args) {
				return nil, nil, reject("option " + name + " needs a value")
			}
			i++
			val = args[i]
		}
		if o.check != nil {
			if err := o.check(val); err != nil {
				return nil, nil, fmt.Errorf("option %s: %w", name, err)
			}
		}
	}
	return positional, seen, nil
}

func anySeen(seen map[string]bool, names []string) bool {
	for _, n := range names {
		if seen[n] {
			return true
		}
	}
	return false
}

var (
	revRe    = regexp.MustCompile(`^[A-Za-z0-9_@][A-Za-z0-9_@./{}~^:+-]*$`)
	branchRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_./-]*$`)
	remoteRe = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)
	dateRe   = regexp.MustCompile(`^[A-Za-z0-9 :.,+-]{1,64}$`)
	countRe  = regexp.MustCompile(`^[0-9]{1,6}$`)
	// formatRe: a pretty format is a known name or literal text with
	// placeholders from a fixed set of data-only ones. %G (signature
	// verification, which runs gpg) and %C (colours) are not among them.
	formatRe = regexp.MustCompile(`^(?:(?:t?format:)?(?:[^%\x00-\x1f\x7f]|%(?:H|h|T|t|P|p|an|ae|ad|ar|at|ai|aI|as|cn|ce|cd|cr|ct|ci|cI|cs|s|f|b|B|d|D|n|%|x09|x00))*|oneline|short|medium|full|fuller|reference)$`)
)

func checkRev(s string) error {
	if len(s) > 256 || !revRe.MatchString(s) || strings.Contains(s, "::") || strings.Contains(s, "//") {
		return reject("revision " + quoteShort(s) + " is not allowed")
	}
	return nil
}

func checkRef(s string) error {
	if checkBranch(s) == nil {
		return nil
	}
	return checkRev(s)
}

func checkBranch(s string) error {
	if len(s) > 200 || !branchRe.MatchString(s) || strings.Contains(s, "..") ||
		strings.Contains(s, "//") || strings.HasSuffix(s, "/") || strings.HasSuffix(s, ".") ||
		strings.HasSuffix(s, ".lock") {
		return reject("branch name " + quoteShort(s) + " is not allowed")
	}
	return nil
}

// checkPath accepts a path relative to the workspace that stays inside it
// and is not a pathspec with magic (":(...)") or the repository's own
// metadata. The sandbox mounts only the workspace, so this is defence in
// depth and a clear error.
func checkPath(s string) error {
	bad := s == "" || len(s) > 4096 || strings.HasPrefix(s, "/") || strings.HasPrefix(s, "-") ||
		strings.HasPrefix(s, ":") || strings.ContainsAny(s, "\\\x00\n\r")
	if !bad {
		c := path.Clean(s)
		bad = c == ".." || strings.HasPrefix(c, "../")
		for _, part := range strings.Split(c, "/") {
			if strings.EqualFold(part, ".git") {
				bad = true
			}
		}
	}
	if bad {
		return reject("path " + quoteShort(s) + " is not a path inside the workspace")
	}
	return nil
}

func checkFormat(s string) error {
	if len(s) > 512 || !formatRe.MatchString(s) {
		return reject("format " + quoteShort(s) + " uses a placeholder that is not allowed")
	}
	return nil
}

func checkDate(s string) error {
	if !dateRe.MatchString(s) {
		return reject("date " + quoteShort(s) + " is not allowed")
	}
	return nil
}

func checkCount(s string) error {
	if !countRe.MatchString(s) {
		return reject("count " + quoteShort(s) + " is not a number")
	}
	return nil
}

func checkMessage(s string) error {
	if s == "" || len(s) > 64<<10 {
		return reject("commit message empty or too long")
	}
	return nil
}

func checkText(n int) func(string) error {
	return func(s string) error {
		if s == "" || len(s) > n || strings.ContainsAny(s, "\x00\n\r") {
			return reject("value empty, too long or multi-line")
		}
		return nil
	}
}

func oneOf(vals ...string) func(string) error {
	return func(s string) error {
		for _, v := range vals {
			if s == v {
				return nil
			}
		}
		return reject("value " + quoteShort(s) + " is not one of " + strings.Join(vals, ", "))
	}
}

func each(check func(string) error) func([]string) error {
	return func(args []string) error {
		for _, a := range args {
			if err := check(a); err != nil {
				return err
			}
		}
		return nil
	}
}

var (
	eachPath = each(checkPath)
	eachRev  = each(checkRev)
	eachRef  = each(checkRef)
)

func maxN(n int, f func([]string) error) func([]string) error {
	return func(args []string) error {
		if len(args) > n {
			return reject("at most " + strconv.Itoa(n) + " positional arguments")
		}
		return f(args)
	}
}

// cloneArgs: <url> [<directory>].
func cloneArgs(args []string) error {
	if len(args) < 1 || len(args) > 2 {
		return reject("clone takes a URL and an optional directory")
	}
	if err := checkURLShape(args[0]); err != nil {
		return err
	}
	if len(args) == 2 {
		return checkPath(args[1])
	}
	return nil
}

// remoteArgs: [<remote> [<refspec>...]] where remote is a configured
// remote name or an https URL.
func remoteArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	if !remoteRe.MatchString(args[0]) || len(args[0]) > 100 {
		if err := checkURLShape(args[0]); err != nil {
			return err
		}
	}
	for _, r := range args[1:] {
		if err := checkRefspec(r); err != nil {
			return err
		}
	}
	return nil
}

func checkRefspec(s string) error {
	src, dst, hasDst := strings.Cut(strings.TrimPrefix(s, "+"), ":")
	if err := checkBranch(src); err != nil {
		return reject("refspec " + quoteShort(s) + " is not allowed")
	}
	if hasDst {
		if err := checkBranch(dst); err != nil {
			return reject("refspec " + quoteShort(s) + " is not allowed")
		}
	}
	return nil
}

func quoteShort(s string) string {
	if len(s) > 60 {
		s = s[:60] + "…"
	}
	return strconv.Quote(s)
}

func reject(why string) error { return fmt.Errorf("%w: %s", ErrArgsRejected, why) }
