package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/auth"
	"github.com/bulwarkhq/bulwark/internal/guard/gatewayhook"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/limit"
	"github.com/bulwarkhq/bulwark/internal/store"
)

// cliActor names the operator in audit entries.
const cliActor = "admin:cli"

func runInit(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("init", flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print {\"id\",\"key\"} as JSON")
	force := fs.Bool("force", false, "create another admin key even if one exists")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	keys, err := in.Store.ListKeys(ctx, "")
	if err != nil {
		return err
	}
	for _, k := range keys {
		if k.Active(time.Now()) && hasScope(k.Scopes, auth.ScopeAdminGlobal) && !*force {
			return fmt.Errorf("already initialised: admin key %s exists (use --force for another, or 'bulwark keys create --scopes admin:global')", k.ID)
		}
	}
	full, rec, err := in.Keys.Create(ctx, cliActor, auth.KeySpec{Name: "admin", Tenant: store.DefaultTenant,
		Scopes: []string{auth.ScopeAdminGlobal, auth.ScopeLLM}})
	if err != nil {
		return err
	}
	return printCreated(e.Stdout, *asJSON, rec, full)
}

func hasScope(scopes []string, s string) bool {
	for _, x := range scopes {
		if x == s {
			return true
		}
	}
	return false
}

func printCreated(w io.Writer, asJSON bool, rec *store.Key, full string) error {
	if asJSON {
		// Printing the secret once, at creation, is the point of this command.
		return json.NewEncoder(w).Encode(struct { //nolint:gosec // G117: shown once by design
			*store.Key
			Secret string `json:"key"`
		}{rec, full})
	}
	return printf(w, "id:     %s\ntenant: %s\nscopes: %s\nkey:    %s\n\nThis is the only time the key is shown. Store it now.\n",
		rec.ID, rec.Tenant, strings.Join(rec.Scopes, ","), full)
}

func runKeys(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: bulwark keys create|list|revoke|rotate|update", errUsage)
	}
	switch args[0] {
	case "create":
		return keysCreate(ctx, e, args[1:])
	case "list":
		return keysList(ctx, e, args[1:])
	case "revoke", "rotate":
		return keysChange(ctx, e, args[0], args[1:])
	case "update":
		return keysUpdate(ctx, e, args[1:])
	}
	return fmt.Errorf("%w: unknown keys subcommand %q", errUsage, args[0])
}

func keysCreate(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("keys create", flag.ContinueOnError)
	var c common
	c.register(fs)
	name := fs.String("name", "", "key name (required)")
	tenant := fs.String("tenant", store.DefaultTenant, "tenant")
	scopes := fs.String("scopes", auth.ScopeLLM, "comma-separated scopes")
	models := fs.String("models", "", "comma-separated allowed models (default: all of the tenant's)")
	tools := fs.String("tools", "", "comma-separated allowed MCP tools (default: all the scopes allow)")
	expires := fs.Duration("expires", 0, "lifetime, e.g. 720h (default: never)")
	noLog := fs.Bool("no-log", false, "store usage only, never bodies")
	guardFlag := fs.String("guard", "", "guardrail settings over the tenant's, e.g. pii=redact,secrets=block,injection=block")
	asJSON := fs.Bool("json", false, "print the result as JSON")
	lf := registerLimitFlags(fs)
	if _, err := parse(fs, args); err != nil {
		return err
	}
	limits, err := lf.apply(limit.Spec{}, visited(fs))
	if err != nil {
		return err
	}
	guardSettings, err := gatewayhook.Settings(*guardFlag)
	if err != nil {
		return fmt.Errorf("%w: --guard: %w", errUsage, err)
	}
	if *name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	full, rec, err := in.Keys.Create(ctx, cliActor, auth.KeySpec{Name: *name, Tenant: *tenant, Scopes: splitCSV(*scopes),
		Models: splitCSV(*models), Tools: splitCSV(*tools), Expires: *expires, NoLog: *noLog, Guard: guardSettings,
		Limits: limits.JSON()})
	if err != nil {
		return err
	}
	return printCreated(e.Stdout, *asJSON, rec, full)
}

func keysList(ctx context.Context, e *Env, args []string) error {
	return runList(ctx, e, args, listing[store.Key]{
		name:    "keys list",
		columns: []string{"ID", "TENANT", "NAME", "SCOPES", "STATUS", "CREATED"},
		load: func(ctx context.Context, in *instance.Instance, tenant string) ([]store.Key, error) {
			return in.Store.ListKeys(ctx, tenant)
		},
		row: func(k *store.Key) []string {
			return []string{k.ID, k.Tenant, k.Name, strings.Join(k.Scopes, ","), keyStatus(k), k.CreatedAt.Format(time.RFC3339)}
		},
	})
}

func keyStatus(k *store.Key) string {
	switch {
	case k.RevokedAt != nil:
		return "revoked"
	case k.ExpiresAt != nil && !time.Now().Before(*k.ExpiresAt):
		return "expired"
	}
	return "active"
}

func keysChange(ctx context.Context, e *Env, verb string, args []string) (err error) {
	fs := flag.NewFlagSet("keys "+verb, flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: bulwark keys %s ID", errUsage, verb)
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	if verb == "revoke" {
		if err := in.Keys.Revoke(ctx, cliActor, "", pos[0]); err != nil {
			return err
		}
		return printf(e.Stdout, "revoked %s\n", pos[0])
	}
	full, err := in.Keys.Rotate(ctx, cliActor, "", pos[0])
	if err != nil {
		return err
	}
	if *asJSON {
		return json.NewEncoder(e.Stdout).Encode(map[string]string{"id": pos[0], "key": full})
	}
	return printf(e.Stdout, "id:  %s\nkey: %s\n\nThe old secret no longer works. This is the only time the new key is shown.\n", pos[0], full)
}

func keysUpdate(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("keys update", flag.ContinueOnError)
	var c common
	c.register(fs)
	var u auth.KeyUpdate
	set := map[string]bool{}
	name := fs.String("name", "", "new name")
	scopes := fs.String("scopes", "", "comma-separated scopes (replaces)")
	models := fs.String("models", "", "comma-separated models (replaces; empty string: all)")
	tools := fs.String("tools", "", "comma-separated tools (replaces)")
	expires := fs.Duration("expires", 0, "new lifetime from now (0: never expires)")
	noLog := fs.Bool("no-log", false, "store usage only")
	guardFlag := fs.String("guard", "", "guardrail settings over the tenant's (replaces; empty string: the tenant's)")
	lf := registerLimitFlags(fs)
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: bulwark keys update ID [--name N] [--scopes a,b] [--models m] [--expires D] [--no-log=true|false]", errUsage)
	}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["name"] {
		u.Name = name
	}
	if set["scopes"] {
		u.Scopes = nonNil(splitCSV(*scopes))
	}
	if set["models"] {
		u.Models = nonNil(splitCSV(*models))
	}
	if set["tools"] {
		u.Tools = nonNil(splitCSV(*tools))
	}
	if set["expires"] {
		u.Expires = expires
	}
	if set["no-log"] {
		u.NoLog = noLog
	}
	if set["guard"] {
		g, err := gatewayhook.Settings(*guardFlag)
		if err != nil {
			return fmt.Errorf("%w: --guard: %w", errUsage, err)
		}
		u.Guard = &g
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	u.MergeLimits = lf.merge(set)
	k, err := in.Keys.Update(ctx, cliActor, "", pos[0], u)
	if err != nil {
		return err
	}
	return json.NewEncoder(e.Stdout).Encode(k)
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

func runTenants(ctx context.Context, e *Env, args []string) (err error) {
	if len(args) == 0 {
		return fmt.Errorf("%w: bulwark tenants create NAME | list [--json]", errUsage)
	}
	fs := flag.NewFlagSet("tenants "+args[0], flag.ContinueOnError)
	var c common
	c.register(fs)
	asJSON := fs.Bool("json", false, "print as JSON")
	pos, err := parse(fs, args[1:])
	if err != nil {
		return err
	}
	switch args[0] {
	case "create":
		if len(pos) != 1 || !tenantName.MatchString(pos[0]) {
			return fmt.Errorf("%w: bulwark tenants create NAME (1–63 of a-z 0-9 _ -)", errUsage)
		}
		in, oerr := c.open(ctx, e)
		if oerr != nil {
			return oerr
		}
		defer closeInstance(in, &err) // the named result, not a shadow
		if err := in.Store.CreateTenant(ctx, pos[0], in.Audit.Func(auditEvent(pos[0], "tenant.create", pos[0]))); err != nil {
			return err
		}
		return printf(e.Stdout, "created tenant %s\n", pos[0])
	case "list":
		in, oerr := c.open(ctx, e)
		if oerr != nil {
			return oerr
		}
		defer closeInstance(in, &err) // the named result, not a shadow
		ts, err := in.Store.ListTenants(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			return printJSONList(e.Stdout, ts)
		}
		p := &printer{w: e.Stdout}
		for _, t := range ts {
			p.printf("%s\n", t.Name)
		}
		return p.err
	}
	return fmt.Errorf("%w: unknown tenants subcommand %q", errUsage, args[0])
}
