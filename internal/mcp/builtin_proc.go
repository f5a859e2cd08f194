package mcp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/bulwarkhq/bulwark/internal/identity"
	"github.com/bulwarkhq/bulwark/internal/sandbox"
	"github.com/bulwarkhq/bulwark/internal/tools/exectool"
	"github.com/bulwarkhq/bulwark/internal/tools/gittool"
)

// procTools builds git and exec, which run in the sandbox over the caller's
// tenant workspace, and registers what must be closed (git's network proxy).
func (b *Builtins) procTools(cfg BuiltinConfig) error {
	if (cfg.Git != nil || cfg.Exec != nil) && b.cfg.WorkspaceRoot == "" {
		return errors.New("mcp: git and exec need tools.workspace_root")
	}
	if cfg.Git != nil {
		r, err := gittool.New(*cfg.Git)
		if err != nil {
			return sandboxStartup("git", err)
		}
		b.closers = append(b.closers, r.Close)
		b.tools = append(b.tools, b.gitTool(r))
	}
	if cfg.Exec != nil {
		r, err := exectool.New(*cfg.Exec)
		if err != nil {
			return sandboxStartup("exec", err)
		}
		b.tools = append(b.tools, b.execTool(r))
	}
	return nil
}

// workspaceDir returns the host directory of the caller's workspace, after
// fs.ForTenant has validated the tenant name and created the directory
// through os.Root (so it is never a planted symlink).
func (b *Builtins) workspaceDir(id *identity.Identity) (string, error) {
	if _, err := b.workspace(id); err != nil {
		return "", err
	}
	return filepath.Join(b.cfg.WorkspaceRoot, id.Tenant), nil
}

func (b *Builtins) gitTool(r *gittool.Runner) Tool {
	return Tool{
		Name: "git", Scope: ScopeGit,
		Description: "Run an allowlisted git subcommand in your workspace (" + strings.Join(gittool.Subcommands(), ", ") + "); args exclude the leading \"git\".",
		InputSchema: schema(`"args":{"type":"array","items":{"type":"string"},"minItems":1}`, "args"),
		Summarize:   gitSummary,
		Handler: func(ctx context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Args []string `json:"args"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			dir, err := b.workspaceDir(id)
			if err != nil {
				return Result{}, err
			}
			res, err := r.Run(ctx, dir, in.Args)
			if err != nil {
				return Result{}, procPublic(err, gittool.ErrArgsRejected, gittool.ErrUnsafeRepo, gittool.ErrNetworkDisabled, gittool.ErrHostNotAllowed)
			}
			return procResult(res), nil
		},
	}
}

func (b *Builtins) execTool(r *exectool.Runner) Tool {
	return Tool{
		Name: "exec", Scope: ScopeExec,
		Description: "Run an operator-allowlisted program (argv[0] is its absolute path) in your workspace, sandboxed, without a shell.",
		InputSchema: schema(`"argv":{"type":"array","items":{"type":"string"},"minItems":1},"dir":{"type":"string"}`, "argv"),
		Summarize:   execSummary,
		Handler: func(ctx context.Context, id *identity.Identity, args json.RawMessage) (Result, error) {
			var in struct {
				Argv []string `json:"argv"`
				Dir  string   `json:"dir"`
			}
			if err := DecodeArgs(args, &in); err != nil {
				return Result{}, err
			}
			if in.Dir == "" {
				in.Dir = "."
			}
			dir, err := b.workspaceDir(id)
			if err != nil {
				return Result{}, err
			}
			res, err := r.RunDir(ctx, dir, in.Dir, in.Argv)
			if err != nil {
				return Result{}, procPublic(err, exectool.ErrCommandNotAllowed, exectool.ErrArgumentRejected)
			}
			return procResult(res), nil
		},
	}
}

// argvArgs are the arguments of git (Args) and exec (Argv, Dir).
type argvArgs struct {
	Args []string `json:"args"`
	Argv []string `json:"argv"`
	Dir  string   `json:"dir"`
}

// argvSummary renders git or exec arguments for the audit log with the
// sandbox's argv redaction (--password=x, --token x, NAME=secret, URL
// credentials, token formats), which knows command lines better than the
// generic JSON summary. Arguments that do not decode as the tool's own
// (the call will be refused) get the generic summary.
func argvSummary(field string, render func(argvArgs) string) func(json.RawMessage) string {
	return func(args json.RawMessage) string {
		var in argvArgs
		if err := DecodeArgs(args, &in); err != nil || (field == "args" && (in.Argv != nil || in.Dir != "")) || (field == "argv" && in.Args != nil) {
			return summarizeArgs(args)
		}
		return render(in)
	}
}

var (
	gitSummary = argvSummary("args", func(in argvArgs) string { return "git " + gittool.Summary(redactCredentials(in.Args)) })

	execSummary = argvSummary("argv", func(in argvArgs) string {
		s := exectool.Summary(redactCredentials(in.Argv))
		if in.Dir != "" {
			s += " (in " + exectool.Summary([]string{in.Dir}) + ")"
		}
		return s
	})
)

// HTTP credentials inside one argument, such as "http.extraHeader=
// Authorization: Bearer x" or "-H", "Authorization: Basic x", which the argv
// summary's NAME=value rule would otherwise cut in the wrong place:
// everything after "Authorization:" is a secret, and so is a token68 value
// of 8 characters or more after "Bearer" or "Basic" (a commit message
// saying "basic auth" stays readable).
var (
	authzHeaderRE = regexp.MustCompile(`(?i)\b(authorization\s*[:=]\s*)\S.*$`)
	authzSchemeRE = regexp.MustCompile(`(?i)\b((?:bearer|basic)\s+)[A-Za-z0-9._~+/-]{8,}=*`)
)

// redactCredentials replaces HTTP credentials in args before summarising.
func redactCredentials(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		a = authzHeaderRE.ReplaceAllString(a, "${1}"+redacted)
		out[i] = authzSchemeRE.ReplaceAllString(a, "${1}"+redacted)
	}
	return out
}

// procPublic shows the refusals a caller can act on and hides the rest.
func procPublic(err error, public ...error) error {
	for _, p := range public {
		if errors.Is(err, p) {
			return Refuse(p.Error(), err)
		}
	}
	if errors.Is(err, sandbox.ErrUnavailable) {
		return Refuse("the sandbox is unavailable; nothing was run", err)
	}
	return err
}

// procResult renders a sandboxed run for the model.
func procResult(res sandbox.Result) Result {
	text := func(b []byte) string {
		if utf8.Valid(b) {
			return string(b)
		}
		return fmt.Sprintf("(%d bytes of binary output)", len(b))
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, "exit %d", res.ExitCode)
	if res.TimedOut {
		sb.WriteString(" (timed out)")
	}
	if res.Truncated {
		sb.WriteString(" (output truncated)")
	}
	sb.WriteString("\n")
	sb.WriteString(text(res.Stdout))
	if len(res.Stderr) > 0 {
		sb.WriteString("\n--- stderr ---\n")
		sb.WriteString(text(res.Stderr))
	}
	return Result{Text: sb.String(), Data: map[string]any{
		"exit_code": res.ExitCode, "timed_out": res.TimedOut, "truncated": res.Truncated,
		"duration_ms": res.Duration.Milliseconds(),
	}, Audit: map[string]string{
		// The exit status, timeout and truncation of the sandboxed process
		// (the entry's own duration_ms and bytes cover the whole call).
		"exit_code": strconv.Itoa(res.ExitCode), "timed_out": strconv.FormatBool(res.TimedOut),
		"truncated": strconv.FormatBool(res.Truncated), "process_ms": strconv.FormatInt(res.Duration.Milliseconds(), 10),
	}}
}
