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
	// ESTIMATED counts the requests whose tokens were counted locally (the
	// upstream's usage report never came: a stream cut short, a client
	// gone), and EST. TOKENS is their prompt plus completion tokens, which
	// PROMPT and COMPLETION include.
	p.printf("KEY\tMODEL\tREQUESTS\tERRORS\tESTIMATED\tPROMPT\tCOMPLETION\tEST. TOKENS\tCOST USD\n")
	var tot [7]int64 // the column totals: requests, errors, estimated, prompt, completion, est. tokens, cost
	for _, r := range rows {
		cols := [7]int64{r.Requests, r.Errors, r.EstimatedRequests, r.PromptTokens, r.CompletionTokens,
			addSat(r.EstimatedPromptTokens, r.EstimatedCompletionTokens), r.CostMicros}
		p.printf("%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", r.KeyID, r.Model, cols[0], cols[1], cols[2], cols[3], cols[4], cols[5], usd(cols[6]))
		for i, v := range cols {
			tot[i] = addSat(tot[i], v)
		}
	}
	p.printf("total\t\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", tot[0], tot[1], tot[2], tot[3], tot[4], tot[5], usd(tot[6]))
	return p.flush(tw)
}

// addSat adds non-negative costs and counts, saturating at math.MaxInt64
// as the rows' own costs do.
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
