package gateway

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/idempotency"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// TestOneKeyCannotExhaustIdempotencyForOthers: the idempotency store's
// bounds (max_entries, default 10 000 live keys; max_bytes, default 64 MiB
// of stored responses; completed entries kept for the 24 h window) are
// shared by every caller with no per-caller share. One ordinary llm key
// that completes max_entries cheap requests, each with a fresh
// Idempotency-Key, makes every other key's idempotent requests fail with
// 503 idempotency_unavailable for a day; one that stores max_bytes of
// answers (a few large echoes or embeddings) makes every other key's
// answers unstorable, so their retries run — and are billed — again.
// The bounds are scaled down here (the defaults behave the same, only
// slower to fill).
func TestOneKeyCannotExhaustIdempotencyForOthers(t *testing.T) {
	attacker := &identity.Identity{KeyID: "key_attacker", Tenant: "t1", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}
	victim := &identity.Identity{KeyID: "key_victim", Tenant: "t2", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}}
	body := func(text string) string {
		return `{"model":"mock/echo","messages":[{"role":"user","content":"` + text + `"}]}`
	}

	t.Run("entries", func(t *testing.T) {
		e := newEnv(t, func(_ *Config, d *Deps) {
			d.Routing.Idempotency = idempotency.NewMemory(idempotency.Options{MaxEntries: 50})
		})
		e.identity = attacker
		for i := range 50 {
			if resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body("hi"), map[string]string{"Idempotency-Key": fmt.Sprintf("a-%d", i)}); resp.StatusCode != http.StatusOK {
				t.Fatalf("attacker request %d: %d %s", i, resp.StatusCode, b)
			}
		}
		e.identity = victim
		resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body("hello"), map[string]string{"Idempotency-Key": "v-1"})
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("after another key completed max_entries idempotent requests, the victim's first idempotent request got %d: %s", resp.StatusCode, b)
		}
	})

	t.Run("bytes", func(t *testing.T) {
		e := newEnv(t, func(_ *Config, d *Deps) {
			d.Routing.Idempotency = idempotency.NewMemory(idempotency.Options{MaxBytes: 4 << 20})
		})
		e.identity = attacker
		// Fill the store greedily: answers of halving sizes, each size
		// while it still fits (an answer that does not fit is simply not
		// stored).
		n := 0
		for size := 1 << 20; size >= 64; size /= 2 {
			for range 4 {
				n++
				if resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body(strings.Repeat("x", size)), map[string]string{"Idempotency-Key": fmt.Sprintf("a-%d", n)}); resp.StatusCode != http.StatusOK {
					t.Fatalf("attacker request %d: %d %.200s", n, resp.StatusCode, b)
				}
			}
		}
		e.identity = victim
		hdr := map[string]string{"Idempotency-Key": "v-1"}
		if resp, b := e.do(t, http.MethodPost, "/v1/chat/completions", body(strings.Repeat("hello ", 400)), hdr); resp.StatusCode != http.StatusOK {
			t.Fatalf("victim: %d %s", resp.StatusCode, b)
		}
		resp, _ := e.do(t, http.MethodPost, "/v1/chat/completions", body(strings.Repeat("hello ", 400)), hdr)
		if resp.Header.Get(HeaderReplayed) != "true" {
			t.Fatalf("after another key stored max_bytes of answers, the victim's retry with the same Idempotency-Key ran again (status %d, not replayed): its answer could not be stored", resp.StatusCode)
		}
	})
}
