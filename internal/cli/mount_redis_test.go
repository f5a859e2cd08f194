package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/bulwarkhq/bulwark/internal/redistest"
)

// redisServe configures h for limits.backend redis against the Redis at
// url with one upstream. The URL goes in the process environment: like
// provider credentials, it is read with os.Getenv.
func redisServe(t *testing.T, h *harness, upstream, url string) {
	t.Helper()
	cfg := fmt.Sprintf(`providers:
  - {name: up-a, type: openai, base_url: %s/v1}
limits: {backend: redis}
redis: {prefix: 'e2e:', read_timeout: 300ms, dial_timeout: 300ms}
`, upstream)
	path := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = path
	t.Setenv("BULWARK_REDIS_URL", url)
}

// Two `bulwark serve` replicas on one Redis: a key limited to 5 requests
// per minute gets exactly 5 answers across both; an Idempotency-Key used on
// one is replayed by the other; stopping Redis refuses
// requests (503, fail closed) and they flow again when it is back. The
// Redis password never reaches a log.
func TestServeReplicasShareRedisLimits(t *testing.T) {
	srv := redistest.StartServer(t)
	up := newRTUpstream(t)
	const password = "s3cret-redis-pw"
	url := "redis://:" + password + "@" + srv.Addr + "/0"
	// The server has no password: the URL's is sent with AUTH and refused,
	// so configure one first.
	setPassword(t, srv.Addr, password)

	h1 := newHarness(t)
	redisServe(t, h1, up.url, url)
	key := h1.createKey("--name", "shared", "--rpm", "5").Key
	h1.serve()
	h2 := &harness{t: t, dir: h1.dir, logs: &syncBuffer{}, env: map[string]string{}}
	for k, v := range h1.env {
		h2.env[k] = v
	}
	h2.serve()

	var mu sync.Mutex
	counts := map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Go(func() {
			h := []*harness{h1, h2}[i%2]
			r := rtPost(t, h, key, chatBody("up-a/text", ""), nil)
			mu.Lock()
			counts[r.status]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if counts[200] != 5 || counts[429] != 35 {
		t.Fatalf("two replicas answered %v; want exactly 5×200 and 35×429 for --rpm 5", counts)
	}

	other := h1.createKey("--name", "other", "--rpm", "100").Key
	// An Idempotency-Key answered by one replica is replayed by the other.
	before := up.calls.Load()
	idem := map[string]string{"Idempotency-Key": "retry-7f3a"}
	first := rtPost(t, h1, other, chatBody("up-a/text", ""), idem)
	again := rtPost(t, h2, other, chatBody("up-a/text", ""), idem)
	if first.status != 200 || again.status != 200 || again.header.Get("Idempotent-Replayed") != "true" ||
		again.body != first.body || up.calls.Load() != before+1 {
		t.Fatalf("idempotent retry on the other replica: %d then %d (replayed %q), upstream calls %d; want one call and a replay",
			first.status, again.status, again.header.Get("Idempotent-Replayed"), up.calls.Load()-before)
	}
	srv.Stop()
	for _, h := range []*harness{h1, h2} {
		if r := rtPost(t, h, other, chatBody("up-a/text", ""), nil); r.status != 503 {
			t.Fatalf("redis down: status %d, want 503 (fail closed)", r.status)
		}
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	setPassword(t, srv.Addr, password)
	eventually(t, 5*time.Second, "requests flow again after redis restarts", func() bool {
		return rtPost(t, h1, other, chatBody("up-a/text", ""), nil).status == 200
	})
	for _, h := range []*harness{h1, h2} {
		if strings.Contains(h.logs.String(), password) {
			t.Fatal("the Redis password appears in the server log")
		}
	}
}

func TestServeRedisBackendNeedsURL(t *testing.T) {
	h := newHarness(t)
	redisServe(t, h, "http://127.0.0.1:1", "")
	code, _ := h.run("", "serve")
	if code == 0 || !strings.Contains(h.logs.String(), "BULWARK_REDIS_URL") {
		t.Fatalf("serve without the Redis URL: exit %d, log %q; want a refusal naming BULWARK_REDIS_URL", code, h.logs.String())
	}
}

// setPassword makes the test Redis require password, as a production one
// would.
func setPassword(t *testing.T, addr, password string) {
	t.Helper()
	c := goredis.NewClient(&goredis.Options{Addr: addr})
	defer c.Close()
	if err := c.ConfigSet(context.Background(), "requirepass", password).Err(); err != nil {
		t.Fatal(err)
	}
}
