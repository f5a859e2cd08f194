package cli

import (
	"context"
	"flag"

	"github.com/bulwarkhq/bulwark/internal/instance"
)

// listing is what one "<noun> list" subcommand owns: where its records
// come from and how one shows as a table row. The rest — the common flags,
// --tenant and --json, opening the data directory, and the two output forms
// — is runList's, so every list command takes the same flags and prints
// the same way.
type listing[T any] struct {
	name    string   // the flag set's name, e.g. "keys list"
	columns []string // the table's header
	// load reads the records; tenant is empty for every tenant.
	load func(ctx context.Context, in *instance.Instance, tenant string) ([]T, error)
	row  func(*T) []string // one record's cells, in columns' order
}

// runList runs a list subcommand: [--tenant T] [--json].
func runList[T any](ctx context.Context, e *Env, args []string, l listing[T]) (err error) {
	fs := flag.NewFlagSet(l.name, flag.ContinueOnError)
	var c common
	c.register(fs)
	tenant := fs.String("tenant", "", "only this tenant")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	rows, err := l.load(ctx, in, *tenant)
	if err != nil {
		return err
	}
	if *asJSON {
		return printJSONList(e.Stdout, rows)
	}
	return printTable(e.Stdout, l.columns, rows, l.row)
}
