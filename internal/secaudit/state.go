package secaudit

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/guard/gatewayhook"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/postgres"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// checkState opens the store (only if it already holds Bulwark state and
// a key is configured) and checks keys, providers, the keyring and the
// audit chain.
func checkState(ctx context.Context, in Input) []Finding {
	c := in.Config
	has, err := HasStore(ctx, c)
	if err != nil {
		return []Finding{{ID: "BW-STA-001", Severity: Critical, Title: "store cannot be opened",
			Evidence: err.Error(), // names the variable or host, never the connection string
			Fix:      "set the database URL variable named above in this environment, as for serve"}}
	}
	if !has {
		return nil // BW-FS-000 or no store yet: nothing to read
	}
	if c.MasterKey() == "" && c.MasterKeyFile == "" && !exists(filepath.Join(c.DataDir, devKeyFile)) {
		return []Finding{{ID: "BW-STA-001", Severity: Critical, Title: "store cannot be opened",
			Evidence: "store present but no master key configured and no " + devKeyFile + " in the data directory",
			Fix:      "set BULWARK_MASTER_KEY_FILE to the key this store was created with"}}
	}
	inst, err := instance.Open(ctx, c, in.Log)
	if err != nil {
		return []Finding{{ID: "BW-STA-001", Severity: Critical, Title: "store cannot be opened",
			Evidence: err.Error(), // barrier and store errors never carry key material
			Fix:      "check the master key source and the file permissions named above"}}
	}
	defer func() { _ = inst.Close() }() // read-only use
	out := checkAudit(ctx, in, inst)
	out = append(out, checkKeys(ctx, in, inst)...)
	out = append(out, checkProviders(ctx, in, inst)...)
	return out
}

// HasStore reports whether the store cfg selects already holds Bulwark
// state, so that auditing creates none: with SQLite, whether the database
// file is in the data directory; with PostgreSQL (database.driver
// postgres), whether the database holds a keyring, read as instance.Open
// would connect (the URL from the environment) but without applying any
// migration, so an empty database stays empty. Errors name the URL's
// variable or the server, never the connection string.
func HasStore(ctx context.Context, cfg *config.Config) (bool, error) {
	if cfg.Database.DriverName() != config.DriverPostgres {
		return exists(filepath.Join(cfg.DataDir, sqlite.FileName)), nil
	}
	dsn, err := cfg.Database.PostgresDSN(os.Getenv, cfg.Production())
	if err != nil {
		return false, err // names the variable, never its value
	}
	return postgres.HasKeyring(ctx, dsn, postgres.Options{}) // names the server, never the password
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}

// checkAudit verifies the chain with the audit package's own Verify and
// derives the keyring term's age from the chain.
func checkAudit(ctx context.Context, in Input, inst *instance.Instance) []Finding {
	var out []Finding
	if _, err := inst.Audit.Verify(ctx, nil); err != nil {
		ev := "verification failed"
		var be *audit.BrokenError
		if errors.As(err, &be) {
			ev = be.Error()
		}
		return append(out, Finding{ID: "BW-AUD-001", Severity: Critical, Title: "audit chain does not verify",
			Evidence: ev,
			Fix:      "treat as an incident: restore the database from a backup and compare with `bulwark audit export`; keep `audit head` outside the host"})
	}
	since, ok, err := termSince(ctx, inst)
	if err != nil {
		return append(out, Finding{ID: "BW-AUD-002", Severity: Medium, Title: "audit log cannot be read",
			Evidence: err.Error(), Fix: "check the database file and its permissions"})
	}
	if ok {
		if age := in.Now().Sub(since); age > in.MaxKeyAge {
			out = append(out, Finding{ID: "BW-BAR-001", Severity: Medium, Title: "encryption key term older than the rotation age",
				Evidence: fmt.Sprintf("active term %d in use for at least %d days (limit %d)", inst.Barrier.ActiveTerm(),
					int(age.Hours()/24), int(in.MaxKeyAge.Hours()/24)),
				Fix: "run `bulwark rotate` (adds a term and re-wraps stored secrets without downtime)"})
		}
	}
	return out
}

// termSince returns when the active term started, as far as the audit
// chain tells: the last successful barrier.rotate, or else the oldest
// entry kept. After retention purged the rotation the oldest kept entry is
// still a lower bound on the term's age, which is what the check needs.
func termSince(ctx context.Context, inst *instance.Instance) (time.Time, bool, error) {
	var first, rotated time.Time
	err := inst.Audit.Export(ctx, time.Time{}, func(ev audit.Event) error {
		if first.IsZero() {
			first = ev.Time
		}
		if ev.Action == "barrier.rotate" && ev.Outcome == audit.OutcomeSuccess {
			rotated = ev.Time
		}
		return nil
	})
	if err != nil {
		return time.Time{}, false, fmt.Errorf("audit export: %w", err)
	}
	if !rotated.IsZero() {
		return rotated, true, nil
	}
	return first, !first.IsZero(), nil
}

func checkKeys(ctx context.Context, in Input, inst *instance.Instance) []Finding {
	keys, err := inst.Store.ListKeys(ctx, "")
	if err != nil {
		return []Finding{{ID: "BW-STA-002", Severity: Medium, Title: "keys cannot be listed", Evidence: err.Error(),
			Fix: "check the database file"}}
	}
	now := in.Now()
	var out []Finding
	for i := range keys {
		k := &keys[i]
		if !k.Active(now) {
			continue // revoked or expired keys cannot authenticate
		}
		out = append(out, checkKey(in, k, now)...)
	}
	return out
}

func checkKey(in Input, k *store.Key, now time.Time) []Finding {
	ev := fmt.Sprintf("key %s (tenant %s)", k.ID, k.Tenant)
	admin := slices.Contains(k.Scopes, auth.ScopeAdmin) || slices.Contains(k.Scopes, auth.ScopeAdminGlobal)
	var out []Finding
	if admin {
		out = append(out, Finding{ID: "BW-KEY-001", Severity: Low, Title: "active key with admin scope",
			Evidence: ev + ", scopes " + strings.Join(k.Scopes, ","),
			Fix:      "keep admin keys few and in a secrets manager; revoke the ones nobody needs (`bulwark keys revoke ID`)"})
	}
	if k.ExpiresAt == nil {
		sev := Low
		if admin {
			sev = Medium
		}
		out = append(out, Finding{ID: "BW-KEY-002", Severity: sev, Title: "active key never expires", Evidence: ev,
			Fix: "rotate it into a key with --expires (`bulwark keys create --expires 2160h`, then revoke the old one)"})
	}
	last := k.CreatedAt
	if k.LastUsedAt != nil {
		last = *k.LastUsedAt
	}
	if idle := now.Sub(last); idle > StaleKeyAge {
		out = append(out, Finding{ID: "BW-KEY-003", Severity: Medium, Title: "active key unused for over 90 days",
			Evidence: fmt.Sprintf("%s, idle %d days", ev, int(idle.Hours()/24)),
			Fix:      "revoke it (`bulwark keys revoke ID`): an unused key is only a liability"})
	}
	if slices.Contains(k.Scopes, auth.ScopeGuardBypass) {
		out = append(out, Finding{ID: "BW-KEY-004", Severity: Medium, Title: "active key bypasses guardrails", Evidence: ev,
			Fix: "remove the guard:bypass scope unless the key's traffic is screened elsewhere"})
	}
	if tp, err := in.Config.Guard.TenantPolicy(k.Tenant); err == nil {
		if p, err := gatewayhook.Overlay(tp, k.Guard); err == nil {
			if off := offDetectors(p); off != "" {
				out = append(out, Finding{ID: "BW-KEY-005", Severity: Medium, Title: "guardrail detectors off for a key",
					Evidence: fmt.Sprintf("%s: %s off", ev, off),
					Fix:      "use log instead of off (`bulwark keys update ID --guard ...`) or fix the tenant policy"})
			}
		}
	}
	return out
}

// providerRef is a provider from the config file or from the store.
type providerRef struct {
	where, tenant, name, baseURL, env string
}

func (p providerRef) String() string {
	return fmt.Sprintf("provider %s/%s (%s)", p.tenant, p.name, p.where)
}

// checkProvider checks what both kinds of provider share: the credential
// variable and the transport the credential travels over.
func checkProvider(in Input, p providerRef) []Finding {
	var out []Finding
	if p.env != "" && in.Getenv(p.env) == "" {
		out = append(out, Finding{ID: "BW-PRV-002", Severity: High, Title: "provider credential variable is not set",
			Evidence: fmt.Sprintf("%s reads %s, which is empty here", p, p.env),
			Fix:      "set the variable in the service environment, or store the credential encrypted (`bulwark providers add --api-key-stdin`)"})
	}
	if u, err := url.Parse(p.baseURL); err == nil && u.Scheme == "http" && !loopbackHost(u.Hostname()) {
		out = append(out, Finding{ID: "BW-PRV-003", Severity: Medium, Title: "provider credential sent over plain HTTP",
			Evidence: fmt.Sprintf("%s base URL %s://%s", p, u.Scheme, u.Host),
			Fix:      "use an https:// base URL"})
	}
	return out
}

// loopbackHost reports whether a URL's host (u.Hostname(): no port; the
// brackets of an IPv6 address are tolerated) is a loopback address or
// "localhost". An IPv6 host is joined to its port with brackets: without
// them "::1" read as a host and port was no address, and IPv6 loopback
// counted as beyond loopback.
func loopbackHost(h string) bool {
	return config.IsLoopback(net.JoinHostPort(strings.Trim(h, "[]"), "0"))
}

// checkProviders checks every stored provider: a credential that is not
// barrier ciphertext is critical whatever else holds.
func checkProviders(ctx context.Context, in Input, inst *instance.Instance) []Finding {
	ps, err := inst.Store.ListProviders(ctx, "")
	if err != nil {
		return []Finding{{ID: "BW-STA-002", Severity: Medium, Title: "providers cannot be listed", Evidence: err.Error(),
			Fix: "check the database file"}}
	}
	var out []Finding
	old := 0
	for i := range ps {
		p := &ps[i]
		ref := providerRef{where: "store", tenant: p.Tenant, name: p.Name, baseURL: p.BaseURL, env: p.CredentialEnv}
		out = append(out, checkProvider(in, ref)...)
		if p.Credential == "" {
			continue
		}
		ct, err := barrier.ParseText(p.Credential)
		if err != nil {
			out = append(out, Finding{ID: "BW-PRV-001", Severity: Critical, Title: "provider credential stored in clear",
				Evidence: ref.String() + ": credential column is not " + barrier.TextPrefix + " ciphertext (value not shown)",
				Fix:      "rotate the upstream credential (treat it as exposed), then store the new one with `bulwark providers add --api-key-stdin`"})
			continue
		}
		if _, err := inst.ProviderCredential(p); err != nil {
			out = append(out, Finding{ID: "BW-PRV-004", Severity: High, Title: "provider credential does not decrypt for its row",
				Evidence: ref.String() + ": authentication failed (moved from another row, or damaged)",
				Fix:      "store the credential again with `bulwark providers add --api-key-stdin`"})
			continue
		}
		if inst.Barrier.NeedsRewrap(ct) {
			old++
		}
	}
	if old > 0 {
		out = append(out, Finding{ID: "BW-BAR-002", Severity: Low, Title: "credentials still encrypted under an older key term",
			Evidence: fmt.Sprintf("%d provider credentials below active term %d", old, inst.Barrier.ActiveTerm()),
			Fix:      "run `bulwark rotate`, which re-wraps them"})
	}
	return out
}
