// Package gittool runs git for agents so that a model controlling every
// argument and every file of its workspace still cannot run a program,
// read the host or reach the network beyond what the operator allowed.
//
// Four layers, each sufficient against a different mistake in the others:
//
//  1. ValidateArgs: a fixed set of subcommands, each with an exact option
//     allowlist and validated positional shapes (paths, revisions, branch
//     names, https URLs).
//  2. The repository's .git/config is parsed with git's own parser and git
//     is not run at all if it holds any key outside a short allowlist; so
//     include, includeIf, filter, fsmonitor, hooksPath, sshCommand, pager,
//     editor, credential helpers, proxies and url rewrites never apply.
//  3. Every invocation starts with forced -c values that switch off every
//     config-driven program and every protocol but https, with an
//     environment built from scratch (no system or global config).
//  4. git runs in the bubblewrap sandbox (package sandbox): only the
//     workspace is visible and writable, no network namespace unless the
//     call is an enabled network operation, and then every connection goes
//     through an in-process CONNECT proxy that admits only allowlisted
//     hosts and dials through netguard's dial-time address check.
package gittool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/bulwarkhq/bulwark/internal/netguard"
	"github.com/bulwarkhq/bulwark/internal/sandbox"
)

// Errors callers branch on (all returned wrapped).
var (
	// ErrArgsRejected means the argv is outside the allowlist.
	ErrArgsRejected = errors.New("git: arguments not allowed")
	// ErrUnsafeRepo means the workspace repository carries configuration
	// or layout Bulwark refuses to run git on.
	ErrUnsafeRepo = errors.New("git: unsafe repository")
	// ErrNetworkDisabled means a network operation was asked for while
	// tools.git.network.enabled is off.
	ErrNetworkDisabled = errors.New("git: network operations are disabled")
	// ErrHostNotAllowed means a remote is not on the host allowlist.
	ErrHostNotAllowed = errors.New("git: host not allowed")
	// ErrInvalidConfig means the operator configuration is unusable.
	ErrInvalidConfig = errors.New("git: invalid config")
	// ErrSandboxUnavailable means the sandbox cannot be created here.
	ErrSandboxUnavailable = sandbox.ErrUnavailable
)

// Config configures a Runner.
type Config struct {
	// GitPath is the absolute path of git on the host (and inside the
	// sandbox, which mounts /usr read-only). Default /usr/bin/git.
	GitPath string
	// AuthorName and AuthorEmail are the identity of every commit.
	AuthorName, AuthorEmail string
	// Network configures clone/fetch/pull/push.
	Network NetworkConfig
	// Sandbox configures bwrap, prlimit and the limits of each git run.
	Sandbox sandbox.Config
}

// NetworkConfig configures git's network operations.
type NetworkConfig struct {
	// Enabled turns clone/fetch/pull/push on. Off by default.
	Enabled bool
	// AllowHosts lists the git hosts that may be reached: "host" (port
	// 443) or "host:port". https only; exact, case-insensitive.
	AllowHosts []string
	// Policy is the dial-time address check; nil means netguard's zero
	// Policy (public unicast only). An allowlisted host still cannot
	// reach an internal address unless Policy allows it.
	Policy *netguard.Policy
	// CAFile is an optional PEM bundle on the host for private git
	// servers, bound read-only into the sandbox. Default: the system CAs.
	CAFile string
}

// Result is what a git run produced.
type Result = sandbox.Result

// Runner runs validated git commands in workspaces. It is safe for
// concurrent use; Close releases the network proxy.
type Runner struct {
	gitPath        string
	author, email  string
	networkEnabled bool
	allow          hostAllow
	caFile         string
	proxy          *connectProxy
	box            *sandbox.Sandbox
}

// New validates cfg, probes the sandbox and, when network operations are
// enabled, starts the loopback CONNECT proxy.
func New(cfg Config) (*Runner, error) {
	r := &Runner{gitPath: cfg.GitPath, author: cfg.AuthorName, email: cfg.AuthorEmail,
		networkEnabled: cfg.Network.Enabled, caFile: cfg.Network.CAFile}
	if r.gitPath == "" {
		r.gitPath = "/usr/bin/git"
	}
	if r.author == "" {
		r.author = "Bulwark Agent"
	}
	if r.email == "" {
		r.email = "agent@bulwark.invalid"
	}
	if err := r.validate(); err != nil {
		return nil, err
	}
	allow, err := newHostAllow(cfg.Network.AllowHosts)
	if err != nil {
		return nil, err
	}
	r.allow = allow
	box, err := sandbox.New(cfg.Sandbox)
	if err != nil {
		return nil, fmt.Errorf("git: %w", err)
	}
	r.box = box
	if r.networkEnabled {
		pol := cfg.Network.Policy
		if pol == nil {
			pol = &netguard.Policy{}
		}
		if r.proxy, err = newConnectProxy(allow, pol.DialContext); err != nil {
			return nil, fmt.Errorf("git: start proxy: %w", err)
		}
	}
	return r, nil
}

func (r *Runner) validate() error {
	if !filepath.IsAbs(r.gitPath) || filepath.Clean(r.gitPath) != r.gitPath {
		return fmt.Errorf("%w: git path must be clean and absolute", ErrInvalidConfig)
	}
	if fi, err := os.Stat(r.gitPath); err != nil || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%w: %s is not executable", ErrInvalidConfig, r.gitPath)
	}
	for _, v := range []string{r.author, r.email} {
		if checkText(200)(v) != nil {
			return fmt.Errorf("%w: author name/email must be one short line", ErrInvalidConfig)
		}
	}
	if r.caFile != "" && !filepath.IsAbs(r.caFile) {
		return fmt.Errorf("%w: CA file must be an absolute path", ErrInvalidConfig)
	}
	return nil
}

// Probe re-checks the sandbox; `bulwark serve` calls it at startup.
func (r *Runner) Probe() error { return r.box.Probe() }

// Close stops the network proxy, if any. Runs in flight lose the network.
func (r *Runner) Close() error {
	if r.proxy != nil {
		return r.proxy.Close()
	}
	return nil
}

// Summary renders a git argv for an audit entry with secrets redacted.
func Summary(args []string) string { return sandbox.Summary(args) }

// Run validates args (without the leading "git"), checks the workspace
// repository and runs git in the sandbox with workspaceDir mounted at
// /workspace. A non-zero git exit status is reported in Result, not as an
// error; errors mean git was not run (or could not be).
func (r *Runner) Run(ctx context.Context, workspaceDir string, args []string) (Result, error) {
	p, err := ValidateArgs(args)
	if err != nil {
		return Result{}, err
	}
	if p.Network && !r.networkEnabled {
		return Result{}, ErrNetworkDisabled
	}
	ws, err := filepath.Abs(workspaceDir)
	if err != nil {
		return Result{}, fmt.Errorf("git: workspace: %w", err)
	}
	repo, err := r.checkRepo(ctx, ws)
	if err != nil {
		return Result{}, err
	}
	if p.Network {
		if err := r.checkRemote(p, repo); err != nil {
			return Result{}, err
		}
	}
	return r.exec(ctx, ws, p, args)
}

// exec runs an already validated command; Run's checks must come first.
func (r *Runner) exec(ctx context.Context, ws string, p Parsed, args []string) (Result, error) {
	spec := sandbox.Spec{
		Workspace: ws,
		Argv:      r.argv(p, args),
		Env:       r.env(p),
		ShareNet:  p.Network,
	}
	if p.Network {
		spec.ReadOnly = []string{"/etc/ssl/certs"}
		if r.caFile != "" {
			spec.ReadOnly = append(spec.ReadOnly, r.caFile)
		}
	}
	res, err := r.box.Run(ctx, spec)
	if err != nil {
		return res, fmt.Errorf("git: %w", err)
	}
	return res, nil
}

// checkRemote makes sure every URL the operation may contact is an
// allowlisted https URL. The proxy enforces the same list at connect time.
func (r *Runner) checkRemote(p Parsed, repo repoConfig) error {
	urls := repo.remoteURLs(p.Remote, p.RemoteGiven)
	if len(urls) == 0 {
		return fmt.Errorf("%w: remote %q is not configured", ErrArgsRejected, truncate(p.Remote, 60))
	}
	for _, u := range urls {
		if err := r.allow.allowsURL(u); err != nil {
			return err
		}
	}
	return nil
}
