package mcp

import (
	"bufio"
	"os"
	"path/filepath"
	"strings"
	"testing"

	sdk "github.com/modelcontextprotocol/go-sdk/mcp"
)

func loadCorpus(t *testing.T, files ...string) []string {
	t.Helper()
	var out []string
	for _, f := range files {
		fh, err := os.Open(filepath.Join("testdata", "traversal", f))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			if line := strings.TrimRight(sc.Text(), "\r"); line != "" {
				out = append(out, line)
			}
		}
		fh.Close()
	}
	return out
}

// TestTraversalCorpusThroughMCP sends every public traversal payload as a
// path from tenant beta: nothing of tenant acme's workspace or of the host
// is ever returned, and nothing outside beta's workspace is written.
func TestTraversalCorpusThroughMCP(t *testing.T) {
	root := t.TempDir()
	b := newBuiltins(t, BuiltinConfig{WorkspaceRoot: root, FSRead: true, FSWrite: true})
	fx := newFixture(t, fixtureOpts{noTestTools: true, tools: b.Tools()})
	acme := fx.mustConnect(secretAll, Version20251125)
	if _, isErr, _ := structured(t, acme, "fs_write", map[string]any{"path": "etc/passwd", "content": "ACME-CANARY"}); isErr {
		t.Fatal("acme could not write its canary")
	}
	hostCanary := filepath.Join(filepath.Dir(root), "host-canary.txt")
	if err := os.WriteFile(hostCanary, []byte("HOST-CANARY"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(hostCanary) })
	beta := fx.mustConnect(secretOther, Version20260728)

	payloads := loadCorpus(t, "LFI-Jhaddix.txt", "directory_traversal.txt")
	payloads = append(payloads, "../acme/etc/passwd", "../../host-canary.txt", "..%2facme%2fetc%2fpasswd", "/proc/self/environ")
	for _, p := range payloads {
		for _, tool := range []string{"fs_read", "fs_list"} {
			res, err := beta.CallTool(t.Context(), &sdk.CallToolParams{Name: tool, Arguments: map[string]any{"path": p}})
			if err != nil {
				t.Fatalf("%s %q: protocol error %v", tool, p, err)
			}
			for _, c := range res.Content {
				text := c.(*sdk.TextContent).Text
				if strings.Contains(text, "ACME-CANARY") || strings.Contains(text, "HOST-CANARY") || strings.Contains(text, "root:x:0:0") || strings.Contains(text, root) {
					t.Fatalf("%s %q returned %q", tool, p, text)
				}
			}
		}
		_, _ = beta.CallTool(t.Context(), &sdk.CallToolParams{Name: "fs_write", Arguments: map[string]any{"path": p, "content": "BETA-WAS-HERE"}})
	}
	// Nothing beta wrote landed outside beta's workspace.
	err := filepath.WalkDir(filepath.Dir(root), func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return nil //nolint:nilerr // an entry the test cannot read is one beta (same process) could not have written either
		}
		if d.IsDir() || strings.HasPrefix(path, filepath.Join(root, "beta")+string(filepath.Separator)) {
			return nil
		}
		data, _ := os.ReadFile(path)
		if strings.Contains(string(data), "BETA-WAS-HERE") {
			t.Errorf("beta wrote %s", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if data, _ := os.ReadFile(filepath.Join(root, "acme", "etc", "passwd")); string(data) != "ACME-CANARY" {
		t.Fatalf("acme's canary changed: %q", data)
	}
	t.Logf("%d payloads × 3 tools refused or confined", len(payloads))
}
