package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/bulwarkhq/bulwark/internal/store"
	llmusage "github.com/bulwarkhq/bulwark/internal/usage"
)

func runUsage(ctx context.Context, e *Env, args []string) (err error) {
	fs := flag.NewFlagSet("usage", flag.ContinueOnError)
	var c common
	c.register(fs)
	key := fs.String("key", "", "only this key id")
	tenant := fs.String("tenant", "", "only this tenant")
	endpoint := fs.String("endpoint", "", "only this endpoint (messages, messages.count_tokens, gemini.countTokens…)")
	since := fs.String("since", "", "RFC 3339 time or a duration like 24h")
	asJSON := fs.Bool("json", false, "print as JSON")
	if _, err := parse(fs, args); err != nil {
		return err
	}
	t, err := parseSince(*since)
	if err != nil {
		return err
	}
	if err := checkEndpoint(*endpoint); err != nil {
		return err
	}
	in, err := c.open(ctx, e)
	if err != nil {
		return err
	}
	defer closeInstance(in, &err)
	rows, err := in.Store.SummariseUsage(ctx, store.UsageFilter{KeyID: *key, Tenant: *tenant, Endpoint: *endpoint, Since: t})
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
	p.printf("KEY\tMODEL\tENDPOINT")
	for _, c := range usageColumns {
		p.printf("\t%s", c.head)
	}
	p.printf("\tCOST USD\n")
	var tot [len(usageColumns) + 1]int64 // the column totals, cost last
	for _, r := range rows {
		p.printf("%s\t%s\t%s", r.KeyID, r.Model, endpointCell(r.Endpoint))
		for i, c := range usageColumns {
			v := c.value(r)
			p.printf("\t%d", v)
			tot[i] = addSat(tot[i], v)
		}
		p.printf("\t%s\n", usd(r.CostMicros))
		tot[len(usageColumns)] = addSat(tot[len(usageColumns)], r.CostMicros)
	}
	p.printf("total\t\t")
	for _, v := range tot[:len(usageColumns)] {
		p.printf("\t%d", v)
	}
	p.printf("\t%s\n", usd(tot[len(usageColumns)]))
	return p.flush(tw)
}

// usageColumns are the summary table's counts, in order. ESTIMATED counts
// the requests whose tokens were counted locally (the upstream's usage
// report never came: a stream cut short, a client gone), and EST. TOKENS
// is their prompt plus completion tokens, which PROMPT and COMPLETION
// include. The CACHE columns are parts of PROMPT billed at cache prices:
// reads, writes, and the writes with a one-hour TTL (part of CACHE WRITE,
// billed at twice the input price where the five-minute rest is 1.25×).
var usageColumns = [...]struct {
	head  string
	value func(store.UsageSummary) int64
}{
	{"REQUESTS", func(r store.UsageSummary) int64 { return r.Requests }},
	{"ERRORS", func(r store.UsageSummary) int64 { return r.Errors }},
	{"ESTIMATED", func(r store.UsageSummary) int64 { return r.EstimatedRequests }},
	{"PROMPT", func(r store.UsageSummary) int64 { return r.PromptTokens }},
	{"COMPLETION", func(r store.UsageSummary) int64 { return r.CompletionTokens }},
	{"EST. TOKENS", func(r store.UsageSummary) int64 { return addSat(r.EstimatedPromptTokens, r.EstimatedCompletionTokens) }},
	{"CACHE READ", func(r store.UsageSummary) int64 { return r.CachedTokens }},
	{"CACHE WRITE", func(r store.UsageSummary) int64 { return r.CacheWriteTokens }},
	{"CACHE WRITE 1H", func(r store.UsageSummary) int64 { return r.CacheWrite1hTokens }},
}

// checkEndpoint refuses an --endpoint no usage row is written with: a
// typo would answer with an empty table, as if nothing had been called.
func checkEndpoint(name string) error {
	if name == "" || slices.Contains(llmusage.Endpoints(), name) {
		return nil
	}
	return fmt.Errorf("%w: --endpoint %q is not an endpoint (use one of %s)", errUsage, name, strings.Join(llmusage.Endpoints(), ", "))
}

// endpointCell is a summary row's endpoint in the table: "-" for the rows
// written before usage rows named their endpoint.
func endpointCell(name string) string {
	if name == "" {
		return "-"
	}
	return name
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
