package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"text/tabwriter"

	"github.com/bulwarkhq/bulwark/internal/store"
)

func runUsage(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	var c common
	c.register(fs)
	key := fs.String("key", "", "only this key id")
	tenant := fs.String("tenant", "", "only this tenant")
	since := fs.String("since", "", "RFC 3339 time or a duration like 24h")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	t, err := parseSince(*since)
	if err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	rows, err := in.Store.SummariseUsage(ctx, store.UsageFilter{KeyID: *key, Tenant: *tenant, Since: t})
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []store.UsageSummary{}
		}
		return json.NewEncoder(e.Stdout).Encode(rows)
	}
	tw := tabwriter.NewWriter(e.Stdout, 0, 4, 2, ' ', 0)
	p := &printer{w: tw}
	p.printf("KEY\tMODEL\tREQUESTS\tERRORS\tPROMPT\tCOMPLETION\tCOST USD\n")
	var total int64
	for _, r := range rows {
		total = addSat(total, r.CostMicros)
		p.printf("%s\t%s\t%d\t%d\t%d\t%d\t%s\n", r.KeyID, r.Model, r.Requests, r.Errors, r.PromptTokens, r.CompletionTokens, usd(r.CostMicros))
	}
	p.printf("\t\t\t\t\ttotal\t%s\n", usd(total))
	return p.flush(tw)
}

// addSat adds non-negative costs, saturating at math.MaxInt64 as the rows'
// own costs do.
func addSat(a, b int64) int64 {
	if b > math.MaxInt64-a {
		return math.MaxInt64
	}
	return a + b
}

// usd formats integer micro-USD exactly.
func usd(micros int64) string {
	sign := ""
	if micros < 0 {
		sign, micros = "-", -micros
	}
	return fmt.Sprintf("%s%d.%06d", sign, micros/1_000_000, micros%1_000_000)
}
