package cli

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/secaudit"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// deepFlag is --deep (probe the configured listener) or --deep=URL; a
// positional URL after --deep also names the target.
type deepFlag struct {
	set bool
	url string
}

func (d *deepFlag) String() string   { return d.url }
func (d *deepFlag) IsBoolFlag() bool { return true }
func (d *deepFlag) Set(s string) error {
	switch s {
	case "true":
		d.set = true
	case "false":
		d.set, d.url = false, ""
	default:
		d.set, d.url = true, s
	}
	return nil
}

type auditFlags struct {
	common
	asJSON, fix bool
	failOn      secaudit.Severity
	deep        deepFlag
	caFile      string
	in          secaudit.Input
}

func parseAuditFlags(e *Env, args []string) (*auditFlags, error) {
	fs := flag.NewFlagSet("security-audit", flag.ContinueOnError)
	var f auditFlags
	f.register(fs)
	fs.BoolVar(&f.asJSON, "json", false, "machine-readable output")
	fs.BoolVar(&f.fix, "fix", false, "apply the safe fixes (file modes), then audit again")
	failOn := fs.String("fail-on", "high", "exit 1 when a finding is at or above: info, low, medium, high, critical")
	fs.DurationVar(&f.in.MaxKeyAge, "max-key-age", secaudit.DefaultMaxKeyAge, "rotation age of the keyring's active term")
	fs.Var(&f.deep, "deep", "also probe the running gateway: --deep (configured listener) or --deep URL")
	fs.StringVar(&f.caFile, "ca-file", "", "with --deep: PEM roots that verify the gateway's certificate")
	pos, err := parse(fs, args)
	if err != nil {
		return nil, err
	}
	if len(pos) > 1 || (len(pos) == 1 && (!f.deep.set || f.deep.url != "")) {
		return nil, fmt.Errorf("%w: unexpected argument %q (only --deep takes a URL)", errUsage, pos[len(pos)-1])
	}
	if len(pos) == 1 {
		f.deep.url = pos[0]
	}
	if f.failOn, err = secaudit.ParseSeverity(*failOn); err != nil {
		return nil, fmt.Errorf("%w: --fail-on: %w", errUsage, err)
	}
	cfg, err := f.load(e)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	f.in.Config, f.in.Getenv = cfg, e.Getenv
	if f.in.ConfigPath = f.configPath; f.in.ConfigPath == "" {
		f.in.ConfigPath = e.Getenv(config.EnvConfig)
	}
	return &f, nil
}

// auditReport is the --json document.
type auditReport struct {
	Findings []secaudit.Finding `json:"findings"`
	Fixed    []secaudit.Applied `json:"fixed"`
	Counts   map[string]int     `json:"counts"`
	FailOn   string             `json:"fail_on"`
	Failed   bool               `json:"failed"`
}

func runSecurityAudit(ctx context.Context, e *Env, args []string) error {
	f, err := parseAuditFlags(e, args)
	if err != nil {
		return err
	}
	found := secaudit.Run(ctx, f.in)
	fixed := []secaudit.Applied{}
	var recErr error // reported after the findings: the fixes were made
	if f.fix {
		applied, ferr := secaudit.Fix(found)
		fixed = append(fixed, applied...)
		recErr = recordFixes(ctx, f.in.Config, applied, ferr)
		if ferr != nil {
			warnf(e.Stderr, "fix stopped: %v\n", ferr)
		}
		found = secaudit.Run(ctx, f.in) // what remains
	}
	if f.deep.set {
		probed, err := f.probe(ctx)
		if err != nil {
			return err
		}
		found = append(found, probed...)
		secaudit.Sort(found)
	}
	if found == nil {
		found = []secaudit.Finding{}
	}
	rep := auditReport{Findings: found, Fixed: fixed, Counts: map[string]int{}, FailOn: f.failOn.String()}
	for _, x := range found {
		rep.Counts[x.Severity.String()]++
	}
	n := secaudit.AtLeast(found, f.failOn)
	rep.Failed = n > 0
	if f.asJSON {
		err = json.NewEncoder(e.Stdout).Encode(rep)
	} else {
		err = printAudit(e.Stdout, rep)
	}
	if err != nil {
		return err
	}
	if recErr != nil {
		return recErr
	}
	if n > 0 {
		return fmt.Errorf("%d finding(s) at or above %s", n, f.failOn)
	}
	return nil
}

// probe runs the live checks against --deep's URL or the configured
// listener (an unspecified host is probed on loopback).
func (f *auditFlags) probe(ctx context.Context) ([]secaudit.Finding, error) {
	target := f.deep.url
	if target == "" {
		target = listenURL(f.in.Config)
	}
	opt := secaudit.ProbeOptions{}
	if f.caFile != "" {
		pem, err := os.ReadFile(f.caFile)
		if err != nil {
			return nil, fmt.Errorf("%w: --ca-file: %w", errUsage, err)
		}
		opt.RootCAs = x509.NewCertPool()
		if !opt.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("%w: --ca-file %s holds no certificate", errUsage, f.caFile)
		}
	}
	found, err := secaudit.Probe(ctx, target, opt)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", errUsage, err)
	}
	return found, nil
}

func listenURL(c *config.Config) string {
	host, port, err := net.SplitHostPort(c.Listen)
	if err != nil {
		return "http://" + c.Listen // Validate refused it already; Probe reports it
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	scheme := "http"
	if c.TLS.Enabled() {
		scheme = "https"
	}
	return scheme + "://" + net.JoinHostPort(host, port)
}

// recordFixes appends one audit event for the fixes applied, when the
// configured store (SQLite in the data directory, or PostgreSQL) already
// holds Bulwark state (the audit never creates one).
func recordFixes(ctx context.Context, cfg *config.Config, applied []secaudit.Applied, ferr error) (err error) {
	ids := make([]string, 0, len(applied))
	for _, a := range applied {
		ids = append(ids, a.ID)
	}
	if len(applied) == 0 && ferr == nil {
		return nil
	}
	has, err := secaudit.HasStore(ctx, cfg)
	if err != nil {
		return fmt.Errorf("recording the fixes in the audit log: %w", err)
	}
	if !has {
		return nil // no audit log to write to, and the audit never creates one
	}
	in, err := instance.Open(ctx, cfg, newLogger(io.Discard, cfg.Log.Level))
	if err != nil {
		return fmt.Errorf("recording the fixes in the audit log: %w", err)
	}
	defer closeInstance(in, &err)
	ev := audit.Event{Tenant: store.DefaultTenant, Actor: cliActor, Action: "security_audit.fix", Target: "file_modes",
		Details: map[string]string{"findings": strings.Join(ids, ","), "count": fmt.Sprint(len(applied))}}
	if ferr != nil {
		ev.Outcome = audit.OutcomeFailure
	}
	return in.Audit.Append(ctx, ev)
}

func printAudit(w io.Writer, rep auditReport) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	p := &printer{w: tw}
	for _, a := range rep.Fixed {
		p.printf("fixed %s: %s mode %s -> %s\n", a.ID, a.Path, a.From, a.To)
	}
	if len(rep.Findings) == 0 {
		p.printf("no findings\n")
		return p.flush(tw)
	}
	p.printf("SEVERITY\tID\tFINDING\n")
	for _, f := range rep.Findings {
		p.printf("%s\t%s\t%s\n", strings.ToUpper(f.Severity.String()), f.ID, f.Title)
		p.printf("\t\t  evidence: %s\n", f.Evidence)
		p.printf("\t\t  fix: %s\n", f.Fix)
	}
	var parts []string
	for _, s := range []string{"critical", "high", "medium", "low", "info"} {
		if n := rep.Counts[s]; n > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", n, s))
		}
	}
	p.printf("\n%d findings: %s (fail on %s and above)\n", len(rep.Findings), strings.Join(parts, ", "), rep.FailOn)
	return p.flush(tw)
}
