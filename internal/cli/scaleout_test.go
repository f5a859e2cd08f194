package cli

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/redistest"
	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// keyCacheBound is how soon a key created or revoked on one replica must
// be honoured by another: docs/cli.md and docs/limits.md promise "within
// a second" (the key cache polls the store's keys generation every
// 250 ms; the rest is slack for a loaded machine).
const keyCacheBound = time.Second

// scaleOut is two `bulwark serve` replicas with separate data directories
// and one master key file, sharing one PostgreSQL database (state, audit,
// usage) and one Redis (limits, breakers, idempotency), in front of fake
// upstreams.
type scaleOut struct {
	a, b  *harness
	up    *upstreamtest.Server // healthy upstream: config provider up-a
	bad   *upstreamtest.Server // failing upstream behind the routed deployment "flaky"
	dsn   string
	admin createdKey // admin:global key, created through A's CLI
}

const scaleOutConfig = `database: {driver: postgres}
limits: {backend: redis}
redis: {prefix: 'scaleout:'}
tools: {calls_per_minute: 2, time: {enabled: true}}
providers:
  - {name: up-a, type: openai, base_url: %s/v1}
  - {name: up-bad, type: openai, base_url: %s/v1}
prices:
  text: {input: 0, output: 1000000}
routing:
  retry: {max_attempts: 1}
  breaker: {consecutive_failures: 2, error_rate: 0, cooldown: 1m, half_open_probes: 1}
  deployments:
    flaky: {provider: up-bad, model: text}
  aliases:
    flaky-chat: {deployments: [flaky]}
`

// newScaleOut starts PostgreSQL, Redis, the upstreams and both replicas.
// The database and Redis URLs are process environment (read with
// os.Getenv, as in production); everything else is per-replica.
func newScaleOut(t *testing.T) *scaleOut {
	t.Helper()
	s := &scaleOut{up: upstreamtest.New(), bad: upstreamtest.New(), dsn: pgtest.Start(t)}
	t.Cleanup(s.up.Close)
	t.Cleanup(s.bad.Close)
	s.bad.SetFault(upstreamtest.Fault{Kind: upstreamtest.Status500})
	t.Setenv(config.EnvDatabaseURL, s.dsn)
	t.Setenv("BULWARK_REDIS_URL", "redis://"+redistest.Start(t)+"/0")

	shared := t.TempDir()
	keyFile := writeKeyFile(t, shared, 0o600)
	cfgPath := filepath.Join(shared, "bulwark.yaml")
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(scaleOutConfig, s.up.URL, s.bad.URL)), 0o600); err != nil {
		t.Fatal(err)
	}
	s.a, s.b = newHarness(t), newHarness(t)
	for _, h := range []*harness{s.a, s.b} {
		h.env[config.EnvMasterKeyFile] = keyFile
		h.env[config.EnvConfig] = cfgPath
	}
	s.admin = s.a.createKey("--name", "ops", "--scopes", "admin:global,llm")
	s.a.serve()
	s.b.serve()
	return s
}

// replicas returns both replicas with their names, for tables.
func (s *scaleOut) replicas() []struct {
	name string
	h    *harness
} {
	return []struct {
		name string
		h    *harness
	}{{"A", s.a}, {"B", s.b}}
}

// apiKey creates a key through h's admin API.
func (s *scaleOut) apiKey(t *testing.T, h *harness, name string) createdKey {
	t.Helper()
	code, body := h.call("POST", "/api/admin/keys", s.admin.Key, `{"name":"`+name+`","scopes":["llm"]}`)
	var k createdKey
	if err := json.Unmarshal([]byte(body), &k); code != http.StatusCreated || err != nil || k.Key == "" {
		t.Fatalf("create key %s on %s: %d %s", name, h.addr, code, body)
	}
	return k
}

// usage returns `bulwark usage --json --key id` run with h's config,
// summed over models.
func usageOf(t *testing.T, h *harness, id string) (requests, errs, cost int64) {
	t.Helper()
	var rows []struct {
		Requests   int64 `json:"requests"`
		Errors     int64 `json:"errors"`
		CostMicros int64 `json:"cost_micros"`
	}
	out := h.must("usage", "--json", "--key", id)
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatalf("usage output %q: %v", out, err)
	}
	for _, r := range rows {
		requests, errs, cost = requests+r.Requests, errs+r.Errors, cost+r.CostMicros
	}
	return requests, errs, cost
}

// pgConn opens a direct connection to the replicas' database, as an
// operator (or an attacker with database access) would.
func (s *scaleOut) pgConn(t *testing.T) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close(context.Background()) })
	return c
}

// rowsContaining counts, per table of the public schema, the rows whose
// text form (every column: text, arrays, bytea as hex) contains any of
// needles.
func rowsContaining(t *testing.T, c *pgx.Conn, needles ...string) map[string]int {
	t.Helper()
	ctx := context.Background()
	rows, err := c.Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	tables, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(tables) == 0 {
		t.Fatalf("list tables: %v (%d found)", err, len(tables))
	}
	found := map[string]int{}
	for _, tbl := range tables {
		for _, n := range needles {
			var count int
			q := `SELECT count(*) FROM ` + pgx.Identifier{tbl}.Sanitize() + ` r WHERE strpos(r::text, $1) > 0`
			if err := c.QueryRow(ctx, q, n).Scan(&count); err != nil {
				t.Fatalf("scan %s: %v", tbl, err)
			}
			found[tbl] += count
		}
	}
	return found
}

// TestScaleOutTwoReplicas proves DESIGN.md's scale-out promise end to end:
// two stateless replicas on one PostgreSQL and one Redis behave as one
// gateway — keys, providers, limits, budgets, idempotency, usage, breakers
// and the audit chain are shared, and nothing secret reaches the database
// or a log in clear. The audit tampering case runs last: it breaks the
// chain on purpose.
func TestScaleOutTwoReplicas(t *testing.T) {
	s := newScaleOut(t)
	t.Run("keys are shared within the key-cache bound", s.testKeys)
	t.Run("provider sealed on A serves B", s.testProvider)
	t.Run("rpm N across replicas admits N", s.testRPM)
	t.Run("tool calls_per_minute N across replicas admits N", s.testToolRate)
	t.Run("budget reserved from both replicas never overspends", s.testBudget)
	t.Run("idempotency replays across replicas", s.testIdempotency)
	t.Run("usage from both replicas is summarised", s.testUsage)
	t.Run("breaker opened on A is open on B", s.testBreaker)
	t.Run("audit is one chain and tampering is detected", s.testAudit)
}

func (s *scaleOut) testKeys(t *testing.T) {
	k := s.apiKey(t, s.a, "made-on-a")
	took := eventually(t, 5*time.Second, "a key created on A authenticates on B", func() bool {
		return s.b.status("/v1/models", k.Key) == http.StatusOK
	})
	t.Logf("key created on A accepted by B after %v", took)
	if took > keyCacheBound {
		t.Fatalf("B accepted A's new key after %v; docs promise within %v", took, keyCacheBound)
	}
	if st := s.a.status("/v1/models", k.Key); st != http.StatusOK {
		t.Fatalf("A refuses its own new key: %d", st) // and now A has it cached
	}
	if code, body := s.b.call("DELETE", "/api/admin/keys/"+k.ID, s.admin.Key, ""); code != http.StatusOK {
		t.Fatalf("revoke on B: %d %s", code, body)
	}
	took = eventually(t, 5*time.Second, "a key revoked on B is refused by A", func() bool {
		return s.a.status("/v1/models", k.Key) == http.StatusUnauthorized
	})
	t.Logf("key revoked on B refused by A after %v", took)
	if took > keyCacheBound {
		t.Fatalf("A honoured B's revocation after %v; docs promise within %v", took, keyCacheBound)
	}
	if st := s.b.status("/v1/models", k.Key); st != http.StatusUnauthorized {
		t.Fatalf("B still accepts the key it revoked: %d", st)
	}
}

func (s *scaleOut) testProvider(t *testing.T) {
	const secret = "sk-scaleout-Zq8uVn3TtW5yXb2"
	code, out := s.a.run(secret+"\n", "providers", "add", "--name", "sealed", "--type", "openai",
		"--base-url", s.up.URL+"/v1", "--api-key-stdin")
	if code != 0 {
		t.Fatalf("providers add on A: exit %d %s", code, s.a.logs.String())
	}
	if strings.Contains(out, secret) {
		t.Fatal("providers add printed the credential")
	}
	user := s.a.createKey("--name", "sealed-user").Key
	var r rtResult
	eventually(t, 5*time.Second, "B serves the provider added on A", func() bool {
		r = rtPost(t, s.b, user, chatBody("sealed/text", ""), nil)
		return r.status == http.StatusOK
	})
	if got := s.up.Last().Header.Get("Authorization"); got != "Bearer "+secret {
		t.Fatalf("upstream got Authorization %q from B; want the credential sealed on A", got)
	}

	c := s.pgConn(t)
	if found := rowsContaining(t, c, s.up.URL+"/v1"); found["providers"] != 1 {
		t.Fatalf("control: the provider's base URL is in %v rows; the scan does not see the providers table", found)
	}
	var stored string
	if err := c.QueryRow(context.Background(), `SELECT credential FROM providers WHERE name = 'sealed'`).Scan(&stored); err != nil || !strings.HasPrefix(stored, "enc:v1:") {
		t.Fatalf("stored credential %.12q…, %v; want barrier ciphertext enc:v1:", stored, err)
	}
	for tbl, n := range rowsContaining(t, c, secret, hex.EncodeToString([]byte(secret))) {
		if n > 0 {
			t.Errorf("the provider credential is in clear in %d row(s) of %s", n, tbl)
		}
	}
	for _, rp := range s.replicas() {
		if strings.Contains(rp.h.logs.String(), secret) {
			t.Errorf("the provider credential appears in replica %s's log", rp.name)
		}
	}
}

// spread sends n requests at once, alternately to A and B, and counts
// the statuses.
func (s *scaleOut) spread(t *testing.T, key, body string, n int) (map[int]int, []rtResult) {
	t.Helper()
	res := make([]rtResult, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			res[i] = rtPost(t, []*harness{s.a, s.b}[i%2], key, body, nil)
		})
	}
	close(start)
	wg.Wait()
	counts := map[int]int{}
	for _, r := range res {
		counts[r.status]++
	}
	return counts, res
}

func (s *scaleOut) testRPM(t *testing.T) {
	const n = 5
	k := s.a.createKey("--name", "rpm", "--rpm", fmt.Sprint(n)).Key
	counts, _ := s.spread(t, k, chatBody("up-a/text", ""), 3*n)
	if counts[http.StatusOK] != n || counts[http.StatusTooManyRequests] != 2*n {
		t.Fatalf("%d requests over two replicas with --rpm %d answered %v; want exactly %d×200 (not %d) and %d×429",
			3*n, n, counts, n, 2*n, 2*n)
	}
}

// testToolRate: tools.calls_per_minute 2 is two calls of a tool per key
// in all, not two per replica.
func (s *scaleOut) testToolRate(t *testing.T) {
	k := s.a.createKey("--name", "agent", "--scopes", "tools:time").Key
	var ok, limited int
	for _, rp := range s.replicas() {
		cs, err := mcpConnect(t, rp.h.addr, k)
		if err != nil {
			t.Fatalf("connect to %s: %v", rp.name, err)
		}
		for i := range 2 {
			text, isErr := call(t, cs, "time_now", map[string]any{})
			switch {
			case !isErr:
				ok++
			case strings.Contains(text, "rate limit for time_now exceeded; retry in"):
				limited++
			default:
				t.Fatalf("call %d on %s: %q", i, rp.name, text)
			}
		}
	}
	if ok != 2 || limited != 2 {
		t.Fatalf("two time_now calls on each replica with calls_per_minute 2: %d succeeded, %d limited; want 2 and 2", ok, limited)
	}
}

// perCall calibrates one call's cost: the fake upstream's completion
// tokens for chatBody, priced at 1 micro-USD per output token.
func (s *scaleOut) perCall(t *testing.T) int64 {
	t.Helper()
	r := rtPost(t, s.a, s.admin.Key, chatBody("up-a/text", ""), nil)
	var u struct {
		Usage struct {
			CompletionTokens int64 `json:"completion_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal([]byte(r.body), &u); err != nil || u.Usage.CompletionTokens == 0 {
		t.Fatalf("calibration: %d %s", r.status, r.body)
	}
	return u.Usage.CompletionTokens
}

func (s *scaleOut) testBudget(t *testing.T) {
	const covered, sent = 10, 40
	per := s.perCall(t)
	budget := covered * per
	k := s.a.createKey("--name", "budgeted", "--budget-usd", usd(budget))
	// max_tokens = per makes the worst case of a call exactly its cost, so
	// the budget covers exactly `covered` calls.
	body := chatBody("up-a/text", fmt.Sprintf(`,"max_tokens":%d`, per))
	counts, res := s.spread(t, k.Key, body, sent)
	for _, r := range res {
		if r.status == http.StatusTooManyRequests && !strings.Contains(r.body, "budget") {
			t.Fatalf("refusal does not name the budget: %s", r.body)
		}
	}
	if counts[http.StatusOK] != covered || counts[http.StatusTooManyRequests] != sent-covered {
		t.Fatalf("%d parallel calls over two replicas on a budget covering %d: %v", sent, covered, counts)
	}
	// Every call leaves a usage row, refusals included (as errors).
	var reqs, errs, spent int64
	eventually(t, 10*time.Second, "both replicas' usage rows are written", func() bool {
		reqs, errs, spent = usageOf(t, s.a, k.ID)
		return reqs >= sent
	})
	t.Logf("budget %d µUSD, spent %d over %v", budget, spent, counts)
	if reqs != sent || errs != sent-covered {
		t.Fatalf("usage rows: %d requests, %d errors; want %d and %d", reqs, errs, sent, sent-covered)
	}
	if spent > budget || spent != covered*per {
		t.Fatalf("settled cost %d µUSD for %d calls of %d; budget %d", spent, covered, per, budget)
	}
}

func (s *scaleOut) testIdempotency(t *testing.T) {
	k := s.a.createKey("--name", "idem").Key
	tests := []struct {
		name          string
		first, second *harness
	}{
		{"A then B", s.a, s.b},
		{"B then A", s.b, s.a},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := map[string]string{"Idempotency-Key": "order-" + strings.ReplaceAll(tt.name, " ", "-")}
			body := chatBody("up-a/text", `,"temperature":0.5`)
			before := len(s.up.Requests())
			first := rtPost(t, tt.first, k, body, hdr)
			if first.status != http.StatusOK || first.header.Get(gateway.HeaderReplayed) != "" {
				t.Fatalf("first: %d replayed=%q %s", first.status, first.header.Get(gateway.HeaderReplayed), first.body)
			}
			again := rtPost(t, tt.second, k, body, hdr)
			if again.status != http.StatusOK || again.header.Get(gateway.HeaderReplayed) != "true" || again.body != first.body {
				t.Fatalf("repeat on the other replica: %d replayed=%q same body=%v", again.status, again.header.Get(gateway.HeaderReplayed), again.body == first.body)
			}
			if got := len(s.up.Requests()) - before; got != 1 {
				t.Fatalf("the upstream saw %d calls for one Idempotency-Key sent to both replicas", got)
			}
		})
	}
}

func (s *scaleOut) testUsage(t *testing.T) {
	const onA, onB = 3, 4
	k := s.a.createKey("--name", "usage")
	for i := range onA + onB {
		h := s.a
		if i >= onA {
			h = s.b
		}
		if r := rtPost(t, h, k.Key, chatBody("up-a/text", ""), nil); r.status != http.StatusOK {
			t.Fatalf("call %d: %d %s", i, r.status, r.body)
		}
	}
	for _, rp := range s.replicas() {
		t.Run("usage run on "+rp.name, func(t *testing.T) {
			var reqs, errs int64
			eventually(t, 10*time.Second, "usage rows of both replicas", func() bool {
				reqs, errs, _ = usageOf(t, rp.h, k.ID)
				return reqs >= onA+onB
			})
			if reqs != onA+onB || errs != 0 {
				t.Fatalf("usage counts %d requests, %d errors; want %d and 0", reqs, errs, onA+onB)
			}
		})
	}
}

func (s *scaleOut) testBreaker(t *testing.T) {
	k := s.a.createKey("--name", "breaker").Key
	for i := range 2 { // consecutive_failures: 2
		if r := rtPost(t, s.a, k, chatBody("flaky-chat", ""), nil); r.status < 500 {
			t.Fatalf("failure %d on A: %d %s", i, r.status, r.body)
		}
	}
	if got := breakerState(t, s.b, s.admin.Key, "flaky"); got != "open" {
		t.Fatalf("B sees the breaker of flaky %q after two failures on A; want open", got)
	}
	calls := len(s.bad.Requests())
	r := rtPost(t, s.b, k, chatBody("flaky-chat", ""), nil)
	if r.status != http.StatusServiceUnavailable || !strings.Contains(r.body, "no_healthy_deployment") {
		t.Fatalf("B with the breaker open: %d %s; want 503 no_healthy_deployment", r.status, r.body)
	}
	if got := len(s.bad.Requests()) - calls; got != 0 {
		t.Fatalf("B called the open deployment %d times", got)
	}
}

func (s *scaleOut) testAudit(t *testing.T) {
	// Appends from both replicas at once: the chain must not fork.
	const each = 6
	ids := make(chan string, 2*each)
	var wg sync.WaitGroup
	for i := range 2 * each {
		wg.Go(func() {
			ids <- s.apiKey(t, []*harness{s.a, s.b}[i%2], fmt.Sprint("audited-", i)).ID
		})
	}
	wg.Wait()
	close(ids)
	export := s.b.must("audit", "export", "--json")
	for id := range ids {
		if !strings.Contains(export, `"action":"key.create","target":"`+id+`"`) {
			t.Fatalf("key.create of %s missing from the audit export", id)
		}
	}
	for _, rp := range s.replicas() {
		t.Run("verify from "+rp.name, func(t *testing.T) {
			out := rp.h.must("audit", "verify")
			if !strings.HasPrefix(out, "audit chain ok:") {
				t.Fatalf("verify: %q", out)
			}
		})
	}

	c := s.pgConn(t)
	var seq int64
	err := c.QueryRow(context.Background(),
		`UPDATE audit_events SET outcome = 'failure' WHERE seq = (SELECT min(seq) FROM audit_events WHERE action = 'key.revoke') RETURNING seq`).Scan(&seq)
	if err != nil {
		t.Fatalf("edit the revocation's audit row: %v", err)
	}
	for _, rp := range s.replicas() {
		t.Run("edited row fails verify from "+rp.name, func(t *testing.T) {
			before := len(rp.h.logs.String())
			code, out := rp.h.run("", "audit", "verify")
			msg := rp.h.logs.String()[before:]
			if code == 0 || !strings.Contains(msg, fmt.Sprintf("audit chain broken at entry %d", seq)) {
				t.Fatalf("verify after editing entry %d: exit %d, stdout %q, stderr %q", seq, code, out, msg)
			}
		})
	}
}
