package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
)

// TestAuditedLoadKeepsOneChain: concurrent requests whose prompts carry PII
// under the default policy each write a guard.request and a
// guard.response entry (the echo upstream returns the prompt), durably,
// through the real binary — entries from concurrent requests share
// commits (group commit). Every request is answered, every entry is in
// the chain exactly once, and `bulwark audit verify` accepts the chain.
func TestAuditedLoadKeepsOneChain(t *testing.T) {
	g := startGuardBulwark(t)
	const workers, each = 32, 8
	var wg sync.WaitGroup
	errs := make(chan error, workers*each)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				body := fmt.Sprintf(`{"model":"openai/gpt-4o-mini","messages":[{"role":"user","content":"Request %d-%d: write to jane.doe@example.com about the invoice."}]}`, w, i)
				req, _ := http.NewRequest(http.MethodPost, g.base+"/v1/chat/completions", strings.NewReader(body))
				req.Header.Set("Authorization", "Bearer "+g.keys["default"])
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					errs <- err
					continue
				}
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					errs <- fmt.Errorf("status %d", resp.StatusCode)
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("a request failed: %v", err)
	}
	out := string(g.cli("audit", "verify"))
	if !strings.Contains(out, "audit chain ok") {
		t.Fatalf("audit verify: %s", out)
	}
	counts := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(g.cli("audit", "export", "--json")))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var e struct {
			Action string `json:"action"`
		}
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			t.Fatalf("audit export line %q: %v", sc.Text(), err)
		}
		counts[e.Action]++
	}
	if n := workers * each; counts["guard.request"] != n || counts["guard.response"] != n {
		t.Fatalf("audit holds %v, want %d guard.request and %d guard.response entries", counts, n, n)
	}
}
