package cli

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func writeKeyFile(t testing.TB, dir string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(dir, "root.key")
	key := make([]byte, 32)
	if _, err := rand.Read(key); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(hex.EncodeToString(key)+"\n"), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestProductionRefusesBadSettings(t *testing.T) {
	strongHex := "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"
	tests := []struct {
		name    string
		env     func(h *harness) map[string]string
		wantMsg string
	}{
		{"no master key", func(h *harness) map[string]string { return nil }, "needs a master key"},
		{"weak master key", func(h *harness) map[string]string { return map[string]string{"BULWARK_MASTER_KEY": "changeme"} }, "weak"},
		{"short master key", func(h *harness) map[string]string { return map[string]string{"BULWARK_MASTER_KEY": "abc123"} }, "weak"},
		{"key file readable by others", func(h *harness) map[string]string {
			return map[string]string{"BULWARK_MASTER_KEY_FILE": writeKeyFile(h.t, h.t.TempDir(), 0o644)}
		}, "chmod 600"},
		{"beyond loopback without TLS", func(h *harness) map[string]string {
			return map[string]string{"BULWARK_MASTER_KEY": strongHex, "BULWARK_LISTEN": "0.0.0.0:0"}
		}, "without TLS"},
		{"data dir readable by others", func(h *harness) map[string]string {
			if err := os.MkdirAll(h.dir, 0o755); err != nil {
				h.t.Fatal(err)
			}
			if err := os.Chmod(h.dir, 0o755); err != nil {
				h.t.Fatal(err)
			}
			return map[string]string{"BULWARK_MASTER_KEY": strongHex}
		}, "chmod 700"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			h.env["BULWARK_ENV"] = "production"
			for k, v := range tt.env(h) {
				h.env[k] = v
			}
			code, _ := h.run("", "serve")
			stderr := strings.TrimSpace(h.logs.String())
			if code == 0 {
				t.Fatal("production started")
			}
			if !strings.Contains(stderr, tt.wantMsg) || strings.Count(stderr, "\n") != 0 {
				t.Fatalf("want one stderr line naming %q, got:\n%s", tt.wantMsg, stderr)
			}
			if strings.Contains(stderr, strongHex) || strings.Contains(stderr, "changeme") {
				t.Fatal("the refused key is echoed on stderr")
			}
		})
	}
}

func TestProductionStartsWithGoodSettings(t *testing.T) {
	h := newHarness(t)
	h.env["BULWARK_ENV"] = "production"
	h.env["BULWARK_MASTER_KEY_FILE"] = writeKeyFile(t, t.TempDir(), 0o600)
	h.serve()
	if got := h.status("/healthz", ""); got != http.StatusOK {
		t.Fatalf("healthz %d", got)
	}
}

func TestWrongMasterKeyFailsStartup(t *testing.T) {
	h := newHarness(t)
	h.env["BULWARK_MASTER_KEY_FILE"] = writeKeyFile(t, t.TempDir(), 0o600)
	h.must("init")
	other := t.TempDir()
	p := filepath.Join(other, "other.key")
	if err := os.WriteFile(p, []byte(strings.Repeat("ab", 32)), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_MASTER_KEY_FILE"] = p
	code, _ := h.run("", "serve")
	if code == 0 || !strings.Contains(h.logs.String(), "does not open the stored keyring") {
		t.Fatalf("wrong key: exit %d, stderr %s", code, h.logs.String())
	}
}

// TestNoSecretInClearAnywhere creates keys and a provider credential,
// uses them, fails some authentications, and then scans the database, its
// WAL and every log line for any of the secrets.
func TestNoSecretInClearAnywhere(t *testing.T) {
	h := newHarness(t)
	keyFile := writeKeyFile(t, t.TempDir(), 0o600)
	h.env["BULWARK_MASTER_KEY_FILE"] = keyFile
	masterHex, err := os.ReadFile(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	admin := h.createKey("--name", "admin", "--scopes", "admin:global,llm")
	h.serve()
	app := h.createKey("--name", "app")
	providerSecret := "sk-upstream-" + strings.Repeat("Zq9", 16)
	if code, _ := h.run(providerSecret+"\n", "providers", "add", "--name", "up", "--type", "openai", "--base-url", "http://127.0.0.1:1/v1", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add failed: %s", h.logs.String())
	}
	var rotated createdKey
	if err := json.Unmarshal([]byte(h.must("keys", "rotate", app.ID, "--json")), &rotated); err != nil {
		t.Fatal(err)
	}
	h.status("/v1/models", app.Key)
	h.status("/api/admin/keys", admin.Key)
	h.status("/v1/models", app.Key[:len(app.Key)-1]+"x") // a checksum failure
	req, _ := http.NewRequest("POST", h.addr+"/api/admin/providers", strings.NewReader(
		`{"name":"viaapi","type":"anthropic","base_url":"http://127.0.0.1:1","api_key":"`+providerSecret+`-2"}`))
	req.Header.Set("Authorization", "Bearer "+admin.Key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("admin provider put: %v %v", resp.StatusCode, err)
	}
	resp.Body.Close()
	h.stop()

	secrets := map[string]string{
		"admin key": admin.Key, "admin secret part": admin.Key[23:60], "app key": app.Key,
		"rotated key": rotated.Key, "rotated secret part": rotated.Key[23:60],
		"provider credential": providerSecret, "provider credential via API": providerSecret + "-2",
	}
	secrets["master key"] = strings.TrimSpace(string(masterHex))
	files := h.dataFiles()
	if _, ok := files[filepath.Join(h.dir, "bulwark.db")]; !ok {
		t.Fatalf("database not found among %v", keys(files))
	}
	files["logs"] = []byte(h.logs.String())
	for fname, content := range files {
		for what, s := range secrets {
			if bytes.Contains(content, []byte(s)) {
				t.Errorf("%s found in clear in %s", what, fname)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// TestKill9DuringKeyBurst starts a child process that creates keys as fast
// as it can and prints each id once the command acknowledged it; the
// child is killed with SIGKILL mid-burst. Every acknowledged key must exist
// and the audit chain must verify.
func TestKill9DuringKeyBurst(t *testing.T) {
	if os.Getenv("BULWARK_BURST_CHILD") != "" {
		burstChild()
		return
	}
	h := newHarness(t)
	h.must("init") // creates the data dir and keys up front
	cmd := exec.Command(os.Args[0], "-test.run=^TestKill9DuringKeyBurst$", "-test.count=1")
	cmd.Env = append(os.Environ(), "BULWARK_BURST_CHILD=1", "BULWARK_DATA_DIR="+h.dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = h.logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var acked []string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if id, ok := strings.CutPrefix(sc.Text(), "ACK "); ok {
			acked = append(acked, id)
			if len(acked) == 15 {
				_ = cmd.Process.Signal(syscall.SIGKILL)
				break
			}
		}
	}
	_ = cmd.Wait()
	if len(acked) < 15 {
		t.Fatalf("child acknowledged only %d keys: %s", len(acked), h.logs.String())
	}
	list := h.must("keys", "list", "--json")
	for _, id := range acked {
		if !strings.Contains(list, `"id":"`+id+`"`) {
			t.Errorf("acknowledged key %s missing after kill -9", id)
		}
	}
	out := h.must("audit", "verify")
	if !strings.Contains(out, "audit chain ok") {
		t.Fatalf("audit verify: %s", out)
	}
	// Every acknowledged creation is in the audit log too.
	export := h.must("audit", "export", "--json")
	for _, id := range acked {
		if !strings.Contains(export, `"target":"`+id+`"`) {
			t.Errorf("key %s has no audit entry", id)
		}
	}
}

func burstChild() {
	e := &Env{Stdin: strings.NewReader(""), Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
	for i := 0; ; i++ {
		var out bytes.Buffer
		e.Stdout = &out
		if code := Run(context.Background(), e, []string{"keys", "create", "--name", fmt.Sprint("burst-", i), "--json"}); code != 0 {
			os.Exit(3)
		}
		id := strings.SplitN(strings.SplitN(out.String(), `"id":"`, 2)[1], `"`, 2)[0]
		fmt.Printf("ACK %s\n", id)
	}
}

func TestConfigValidate(t *testing.T) {
	h := newHarness(t)
	good := filepath.Join(t.TempDir(), "ok.yaml")
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	_ = os.WriteFile(good, []byte("listen: 127.0.0.1:9000\n"), 0o600)
	_ = os.WriteFile(bad, []byte("listen: 127.0.0.1:9000\nlistn: x\n"), 0o600)
	if code, out := h.run("", "config", "validate", "--config", good); code != 0 || !strings.Contains(out, "config ok") {
		t.Fatalf("good config: %d %s %s", code, out, h.logs.String())
	}
	if code, _ := h.run("", "config", "validate", "--config", bad); code == 0 || !strings.Contains(h.logs.String(), "line 2: field listn not found") {
		t.Fatalf("bad config accepted: %s", h.logs.String())
	}
}

// TestGracefulShutdownFinishesInFlight: SIGTERM (here: the serve context
// ending) closes the listener at once, but a request already in flight —
// a slow streamed completion — runs to its honest end.
func TestGracefulShutdownFinishesInFlight(t *testing.T) {
	h := newHarness(t)
	cfg := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(cfg, []byte("providers:\n  - {name: mock, type: mock}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env["BULWARK_CONFIG"] = cfg
	k := h.createKey("--name", "app")
	h.serve()
	type result struct {
		status int
		body   string
		err    error
	}
	done := make(chan result, 1)
	go func() {
		req, _ := http.NewRequest("POST", h.addr+"/v1/chat/completions", strings.NewReader(
			`{"model":"mock/slow","stream":true,"messages":[{"role":"user","content":"one two three four five"}]}`))
		req.Header.Set("Authorization", "Bearer "+k.Key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			done <- result{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		done <- result{status: resp.StatusCode, body: string(b), err: err}
	}()
	time.Sleep(100 * time.Millisecond) // the request is in flight (slow waits 200ms before its first byte)
	start := time.Now()
	h.stop()
	if time.Since(start) > 10*time.Second {
		t.Fatal("shutdown did not finish within its grace")
	}
	r := <-done
	if r.err != nil || r.status != http.StatusOK || !strings.Contains(r.body, "data: [DONE]") {
		t.Fatalf("in-flight request cut by shutdown: status %d err %v body %q", r.status, r.err, r.body)
	}
	if _, err := http.Get(h.addr + "/healthz"); err == nil {
		t.Fatal("the listener still accepts after shutdown")
	}
}
