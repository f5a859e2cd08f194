package cli

import (
	"context"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/bulwarkhq/bulwark/internal/admin"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/instance"
	"github.com/bulwarkhq/bulwark/internal/store"
)

func runProviders(ctx context.Context, e *Env, args []string) error {
	if len(args) == 0 {
		return fmt.Errorf("%w: bulwark providers add|list|remove|test", errUsage)
	}
	switch args[0] {
	case "add":
		return providersAdd(ctx, e, args[1:])
	case "list":
		return providersList(ctx, e, args[1:])
	case "remove", "test":
		return providersOne(ctx, e, args[0], args[1:])
	}
	return fmt.Errorf("%w: unknown providers subcommand %q", errUsage, args[0])
}

func providersAdd(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("providers add", flag.ContinueOnError)
	var c common
	c.register(fs)
	name := fs.String("name", "", "provider name (the part before / in model addresses)")
	typ := fs.String("type", "", "openai | anthropic | gemini | mock")
	baseURL := fs.String("base-url", "", "upstream base URL, e.g. https://api.openai.com/v1")
	models := fs.String("models", "", "comma-separated models served (optional)")
	tenant := fs.String("tenant", store.DefaultTenant, "tenant that owns the provider")
	keyEnv := fs.String("api-key-env", "", "read the credential from this environment variable at request time (stores the name only)")
	keyStdin := fs.Bool("api-key-stdin", false, "read the credential from stdin and store it encrypted")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	if err := admin.ValidateProvider(*name, *typ, *baseURL); err != nil {
		return fmt.Errorf("%w: %v", errUsage, publicMessage(err))
	}
	if *keyStdin && *keyEnv != "" {
		return fmt.Errorf("%w: give --api-key-env or --api-key-stdin, not both", errUsage)
	}
	var secret []byte
	if *keyStdin {
		line, err := readSecretLine(e.Stdin)
		if err != nil {
			return err
		}
		secret = []byte(line)
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	p := store.Provider{Tenant: *tenant, Name: *name, Type: *typ, BaseURL: *baseURL, Models: splitCSV(*models), CredentialEnv: *keyEnv}
	if err := in.PutProvider(ctx, cliActor, p, secret); err != nil {
		return err
	}
	how := "no credential"
	switch {
	case *keyStdin:
		how = "credential stored encrypted"
	case *keyEnv != "":
		how = "credential from $" + *keyEnv
	}
	return printf(e.Stdout, "provider %s/%s (%s) saved; %s\n", *tenant, *name, *typ, how)
}

func publicMessage(err error) string {
	s := err.Error()
	if i := strings.Index(s, ": "); i >= 0 {
		return s[i+2:]
	}
	return s
}

func providersList(ctx context.Context, e *Env, args []string) error {
	return runList(ctx, e, args, listing[store.Provider]{
		name:    "providers list",
		columns: []string{"TENANT", "NAME", "TYPE", "BASE URL", "MODELS", "CREDENTIAL"},
		load: func(ctx context.Context, in *instance.Instance, tenant string) ([]store.Provider, error) {
			return in.Store.ListProviders(ctx, tenant)
		},
		row: func(p *store.Provider) []string {
			return []string{p.Tenant, p.Name, p.Type, p.BaseURL, strings.Join(p.Models, ","), credentialKind(p)}
		},
	})
}

// credentialKind says how a provider's credential is held, never what it is.
func credentialKind(p *store.Provider) string {
	switch {
	case p.Credential != "":
		return "encrypted"
	case p.CredentialEnv != "":
		return "$" + p.CredentialEnv
	}
	return "none"
}

func providersOne(ctx context.Context, e *Env, verb string, args []string) (err error) {
	fs := flag.NewFlagSet("providers "+verb, flag.ContinueOnError)
	var c common
	c.register(fs)
	tenant := fs.String("tenant", store.DefaultTenant, "tenant that owns the provider")
	pos, err := parse(fs, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return fmt.Errorf("%w: bulwark providers %s NAME", errUsage, verb)
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	if verb == "remove" {
		ev := audit.Event{Tenant: *tenant, Actor: cliActor, Action: "provider.remove", Target: pos[0]}
		if err := in.Store.DeleteProvider(ctx, *tenant, pos[0], in.Audit.Func(ev)); err != nil {
			return err
		}
		return printf(e.Stdout, "removed provider %s/%s\n", *tenant, pos[0])
	}
	p, err := in.Store.GetProvider(ctx, *tenant, pos[0])
	if err != nil {
		return err
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	if err := testProvider(tctx, in, p); err != nil {
		return fmt.Errorf("provider %s: %w", p.Name, err)
	}
	return printf(e.Stdout, "provider %s ok (%s)\n", p.Name, time.Since(start).Round(time.Millisecond))
}
