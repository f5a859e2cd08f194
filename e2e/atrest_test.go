package e2e

import (
	"context"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"

	"github.com/bulwarkhq/bulwark/internal/upstreamtest"
)

// TestCredentialsAtRest stores a provider key through the CLI
// (--api-key-stdin), uses it, then scans the data directory (database,
// WAL, everything) and the server log: the key must appear nowhere in
// clear, yet reach its upstream.
func TestCredentialsAtRest(t *testing.T) {
	s := newStack(t)
	if s.mode != "binary" {
		t.Fatalf("needs the bulwark binary with the gateway wired (mode %s)", s.mode)
	}
	const stored = "sk-e2e-STORED-SECRET-9876543210fedcba"
	cmd := exec.Command(s.bin, "providers", "add", "--name", "vault", "--type", "openai", "--base-url", s.openai.URL+"/v1", "--api-key-stdin")
	cmd.Env, cmd.Stdin = s.env, strings.NewReader(stored+"\n")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("providers add: %v: %s", err, out)
	}
	if strings.Contains(string(out), stored) {
		t.Error("providers add printed the credential")
	}
	c := openaiClient(s)
	ctx := context.Background()
	var res *openai.ChatCompletion
	deadline := time.Now().Add(5 * time.Second) // the server caches provider lists for a second
	for {
		res, err = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "vault/gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("stored key")}})
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	if res.Choices[0].Message.Content != "stored key" {
		t.Errorf("reply %q", res.Choices[0].Message.Content)
	}
	if got := s.openai.Last().Header.Get("Authorization"); got != "Bearer "+stored {
		t.Errorf("upstream got %q, want the stored key", got)
	}
	// Failures too: their logs and bodies must not carry the key either.
	s.openai.SetFault(upstreamtest.Fault{Kind: upstreamtest.Status500, Body: `{"error":{"message":"bad key ` + stored + `"}}`, Times: 1})
	_, _ = c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "vault/gpt-4o-mini",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")}})

	files := 0
	err = filepath.WalkDir(s.dataDir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, secret := range []string{stored, upstreamKey} {
			if strings.Contains(string(b), secret) {
				t.Errorf("credential in clear in %s", filepath.Base(path))
			}
		}
		return nil
	})
	if err != nil || files == 0 {
		t.Fatalf("scan data dir: %v (%d files)", err, files)
	}
	if logs := s.logs(); strings.Contains(logs, stored) || strings.Contains(logs, upstreamKey) {
		t.Error("credential in bulwark's log")
	}
}
