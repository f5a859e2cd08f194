// Package cli implements the bulwark command line: serve, init, keys,
// tenants, providers, usage, audit, security-audit, rotate, rekey and config
// validate. Every state-changing command works on the data directory
// directly (also while serve runs) and is audited. Secrets are read from
// stdin or files, never from argv, and are printed only once, when created.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
)

// Env is the process environment a command runs in; tests substitute it.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
}

// errUsage marks a command-line mistake (exit status 2).
var errUsage = errors.New("usage")

type command struct {
	summary string
	run     func(ctx context.Context, e *Env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"serve":     {"run the gateway", runServe},
		"init":      {"create the first admin key (printed once)", runInit},
		"keys":      {"manage virtual keys: create, list, revoke, rotate, update", runKeys},
		"tenants":   {"manage tenants: create, list", runTenants},
		"providers": {"manage upstream providers: add, list, remove, test", runProviders},
		"usage":     {"summarise usage and cost", runUsage},
		"audit":     {"audit log: head, verify, export, purge", runAudit},
		"rotate":    {"add a new encryption term and re-wrap stored secrets", runRotate},
		"rekey":     {"replace the master key (new key from stdin or a file)", runRekey},
		"config":    {"config validate: check a configuration without serving", runConfig},
		"version":   {"print the version", runVersion},

		"security-audit": {"audit files, config, keys and a live gateway (--deep); --fix the safe ones", runSecurityAudit},
	}
}

// Version is set at build time with -ldflags "-X ...cli.Version=…".
var Version = "dev"

// Main runs the CLI and returns the process exit status.
func Main(args []string) int {
	e := &Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, e, args)
}

// Run dispatches args (without the program name).
func Run(ctx context.Context, e *Env, args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(e.Stderr)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	cmd, ok := commands()[args[0]]
	if !ok {
		warnf(e.Stderr, "bulwark: unknown command %q\n", args[0])
		usage(e.Stderr)
		return 2
	}
	if err := cmd.run(ctx, e, args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		warnf(e.Stderr, "bulwark %s: %v\n", args[0], err)
		if errors.Is(err, errUsage) {
			return 2
		}
		return 1
	}
	return 0
}

func usage(w io.Writer) {
	warnf(w, "usage: bulwark <command> [flags]\n\ncommands:\n")
	cmds := commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		warnf(w, "  %-15s %s\n", n, cmds[n].summary)
	}
	warnf(w, "\nRun 'bulwark <command> -h' for a command's flags. See docs/cli.md.\n")
}

// common holds the flags every state command takes.
type common struct {
	configPath string
	dataDir    string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.StringVar(&c.configPath, "config", "", "config file (default $BULWARK_CONFIG)")
	fs.StringVar(&c.dataDir, "data-dir", "", "data directory (default $BULWARK_DATA_DIR or ./bulwark-data)")
}

// load reads the configuration with the flag values taking precedence.
func (c *common) load(e *Env) (*config.Config, error) {
	path := c.configPath
	if path == "" {
		path = e.Getenv(config.EnvConfig)
	}
	getenv := e.Getenv
	if c.dataDir != "" {
		getenv = func(k string) string {
			if k == config.EnvDataDir {
				return c.dataDir
			}
			return e.Getenv(k)
		}
	}
	return config.Load(path, getenv)
}

// open loads the config and opens the data directory.
func (c *common) open(ctx context.Context, e *Env) (*instance.Instance, error) {
	cfg, err := c.load(e)
	if err != nil {
		return nil, err
	}
	in, err := instance.Open(ctx, cfg, newLogger(e.Stderr, cfg.Log.Level))
	if err != nil {
		return nil, err
	}
	if in.GeneratedKey {
		warnf(e.Stderr, "warning: no master key configured; generated %s/master.key (development only — set BULWARK_MASTER_KEY_FILE in production)\n", cfg.DataDir)
	}
	return in, nil
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level)) // validated by config
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// parse parses flags that may come before or after positional arguments
// ("keys revoke ID --json" and "keys revoke --json ID" both work).
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	fs.SetOutput(io.Discard)
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, fmt.Errorf("%w: %w", errUsage, err)
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func splitCSV(s string) []string {
	if s == "" {
		return nil
	}
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

func runVersion(_ context.Context, e *Env, _ []string) error {
	return printf(e.Stdout, "bulwark %s\n", Version)
}

func runConfig(_ context.Context, e *Env, args []string) error {
	if len(args) == 0 || args[0] != "validate" {
		return fmt.Errorf("%w: bulwark config validate [--config FILE]", errUsage)
	}
	fs := flag.NewFlagSet("config validate", flag.ContinueOnError)
	var c common
	c.register(fs)
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	cfg, err := c.load(e)
	if err != nil {
		return err
	}
	warnings, err := cfg.CheckProduction()
	if err != nil {
		return err
	}
	for _, w := range warnings {
		warnf(e.Stderr, "%s\n", w)
	}
	// The database and Redis URLs are read from the process environment,
	// as serve reads them, so a URL serve would miss is reported here.
	if err := cfg.CheckBackends(os.Getenv); err != nil {
		return err
	}
	return printf(e.Stdout, "config ok (%s mode, listen %s, data dir %s)\n", cfg.Env, cfg.Listen, cfg.DataDir)
}
