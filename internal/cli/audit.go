package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/admin"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
)

var tenantName = admin.TenantName

func auditEvent(tenant, action, target string) audit.Event {
	return audit.Event{Tenant: tenant, Actor: cliActor, Action: action, Target: target}
}

func runAudit(ctx context.Context, e *Env, args []string) (err error) {
	if len(args) == 0 {
		return fmt.Errorf("%w: bulwark audit head|verify [--head SEQ:MAC]|export [--since T] [--json]|purge", errUsage)
	}
	fs := flag.NewFlagSet("audit "+args[0], flag.ContinueOnError)
	var c common
	c.register(fs)
	head := fs.String("head", "", "with verify: the head kept elsewhere (SEQ:MAC), to detect a cut-off tail")
	since := fs.String("since", "", "with export: RFC 3339 time or a duration like 24h")
	asJSON := fs.Bool("json", false, "JSON output")
	if _, err := parse(fs, args[1:]); err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	switch args[0] {
	case "head":
		h, err := in.Audit.Head(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return json.NewEncoder(e.Stdout).Encode(map[string]any{"seq": h.Seq, "mac": h.MAC})
		}
		return printf(e.Stdout, "%s\n", h.String())
	case "verify":
		var want *audit.Head
		if *head != "" {
			h, err := audit.ParseHead(*head)
			if err != nil {
				return fmt.Errorf("%w: %w", errUsage, err)
			}
			want = &h
		}
		rep, err := in.Audit.Verify(ctx, want)
		if err != nil {
			return err
		}
		return printf(e.Stdout, "audit chain ok: %d entries (%d–%d)%s\n", rep.Entries, rep.First, rep.Last, anchored(rep.Anchored))
	case "export":
		t, err := parseSince(*since)
		if err != nil {
			return err
		}
		enc := json.NewEncoder(e.Stdout)
		return in.Audit.Export(ctx, t, func(ev audit.Event) error {
			if *asJSON {
				return enc.Encode(ev)
			}
			_, err := fmt.Fprintf(e.Stdout, "%d\t%s\t%s\t%s\t%s\t%s\t%s\n", ev.Seq, ev.Time.Format(time.RFC3339Nano), ev.Tenant, ev.Actor, ev.Action, ev.Target, ev.Outcome)
			return err
		})
	case "purge":
		days := in.Cfg.Audit.RetentionDays
		if days <= 0 {
			return fmt.Errorf("audit.retention_days is not set: nothing to purge")
		}
		n, err := in.Audit.Purge(ctx, time.Now().AddDate(0, 0, -days))
		if err != nil {
			return err
		}
		return printf(e.Stdout, "purged %d entries older than %d days\n", n, days)
	}
	return fmt.Errorf("%w: unknown audit subcommand %q", errUsage, args[0])
}

func anchored(a bool) string {
	if a {
		return ", anchored after retention"
	}
	return ""
}

// parseSince reads --since: a span back from now (a Go duration such as
// 90m or 24h, or whole days as 7d), an RFC 3339 time, or a date (UTC
// midnight). A negative span or a time in the future is refused: either
// would silently select nothing.
func parseSince(s string) (time.Time, error) {
	return parseSinceAt(s, time.Now())
}

func parseSinceAt(s string, now time.Time) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	bad := func(why string) error {
		return fmt.Errorf("%w: --since %q %s (use 24h, 7d, 2026-11-01 or an RFC 3339 time)", errUsage, s, why)
	}
	var d time.Duration
	var err error
	if days, ok := strings.CutSuffix(s, "d"); ok {
		var n int
		if n, err = strconv.Atoi(days); err == nil {
			if n > 100*365 {
				return time.Time{}, bad("is too far back")
			}
			d = time.Duration(n) * 24 * time.Hour
		}
	} else {
		d, err = time.ParseDuration(s)
	}
	if err == nil {
		if d < 0 {
			return time.Time{}, bad("is a span into the future")
		}
		return now.Add(-d), nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		if t, err = time.Parse(time.DateOnly, s); err != nil {
			return time.Time{}, bad("is not a span, a date or an RFC 3339 time")
		}
	}
	if t.After(now) {
		return time.Time{}, bad("is in the future")
	}
	return t, nil
}

func runRotate(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("rotate", flag.ContinueOnError)
	var c common
	c.register(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	term, err := in.Barrier.Rotate(ctx)
	if err != nil {
		_ = in.Audit.Append(ctx, audit.Event{Tenant: store.DefaultTenant, Actor: cliActor, Action: "barrier.rotate", Outcome: audit.OutcomeFailure})
		return err
	}
	n, err := in.Rewrap(ctx)
	if err != nil {
		return fmt.Errorf("rotated to term %d, but re-wrap failed (run rotate again to retry): %w", term, err)
	}
	if err := in.Audit.Append(ctx, audit.Event{Tenant: store.DefaultTenant, Actor: cliActor, Action: "barrier.rotate",
		Target: fmt.Sprintf("term-%d", term), Details: map[string]string{"rewrapped": fmt.Sprint(n)}}); err != nil {
		return err
	}
	return printf(e.Stdout, "active term %d; re-wrapped %d records\n", term, n)
}

func runRekey(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("rekey", flag.ContinueOnError)
	var c common
	c.register(fs)
	fromStdin := fs.Bool("new-key-stdin", false, "read the new master key from stdin")
	fromFile := fs.String("new-key-file", "", "read the new master key from this file (mode 0600)")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if *fromStdin == (*fromFile != "") {
		return fmt.Errorf("%w: give exactly one of --new-key-stdin or --new-key-file (never the key on the command line)", errUsage)
	}
	src := barrier.Source{KeyFile: *fromFile, Production: true}
	if *fromStdin {
		line, err := readSecretLine(e.Stdin)
		if err != nil {
			return err
		}
		src.Key = line
	}
	newRoot, salt, err := newRootKey(src)
	if err != nil {
		return err
	}
	defer clear(newRoot)
	kind := "raw"
	if salt != nil {
		kind = "passphrase"
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	// The entry says which kind of key wraps the keyring now, never the
	// key or its salt.
	event := audit.Event{Tenant: store.DefaultTenant, Actor: cliActor, Action: "barrier.rekey", Details: map[string]string{"new_key": kind}}
	if salt != nil {
		err = in.Barrier.RekeySalt(ctx, newRoot, salt)
	} else {
		err = in.Barrier.Rekey(ctx, newRoot)
	}
	if err != nil {
		event.Outcome = audit.OutcomeFailure
		_ = in.Audit.Append(ctx, event)
		return err
	}
	if err := in.Audit.Append(ctx, event); err != nil {
		return err
	}
	err = printf(e.Stdout, "master key replaced (%s): restart serve on every replica with the new BULWARK_MASTER_KEY / BULWARK_MASTER_KEY_FILE\n", rekeyNote(kind))
	if in.Cfg.MasterKeyFile == "" && in.Cfg.MasterKey() == "" {
		warnf(e.Stderr, "note: %s/master.key still holds the old key; replace it with the new one\n", in.Cfg.DataDir)
	}
	if path := filepath.Join(in.Cfg.DataDir, instance.SaltFileName); exists(path) {
		warnf(e.Stderr, "note: %s is stale now (the salt is kept in the database); remove it, and any copy in other replicas' data directories\n", path)
	}
	return err
}

// exists reports whether path names a file (an unreadable one counts).
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

func rekeyNote(kind string) string {
	if kind == "passphrase" {
		return "a passphrase, with a fresh salt stored in the database beside the keyring"
	}
	return "a raw key; no passphrase salt is stored any more"
}

// newRootKey loads the new master key from src. A passphrase gets a fresh
// salt, returned with the key it derives: a new key never reuses the old
// salt. salt is nil for a raw key.
func newRootKey(src barrier.Source) (root, salt []byte, err error) {
	root, err = barrier.LoadRootKey(src)
	if !errors.Is(err, barrier.ErrNoSalt) {
		return root, nil, err
	}
	if src.Salt, err = barrier.NewSalt(); err != nil {
		return nil, nil, err
	}
	if root, err = barrier.LoadRootKey(src); err != nil {
		return nil, nil, err
	}
	return root, src.Salt, nil
}

// readSecretLine reads one line (a secret) from r, without echoing it
// anywhere.
func readSecretLine(r interface{ Read([]byte) (int, error) }) (string, error) {
	const maxSecret = 4096
	buf := make([]byte, 0, 128)
	defer func() { clear(buf) }()
	one := make([]byte, 1)
	for {
		n, err := r.Read(one)
		if n == 1 {
			if one[0] == '\n' {
				break
			}
			if len(buf) == maxSecret {
				return "", fmt.Errorf("secret on stdin is longer than %d bytes", maxSecret)
			}
			buf = append(buf, one[0])
			continue
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "", fmt.Errorf("reading stdin: %w", err)
		}
	}
	s := string(buf)
	if len(s) > 0 && s[len(s)-1] == '\r' {
		s = s[:len(s)-1]
	}
	if s == "" {
		return "", fmt.Errorf("no secret on stdin")
	}
	return s, nil
}
