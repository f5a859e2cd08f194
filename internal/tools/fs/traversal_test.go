package fs

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// loadPayloads reads one corpus file from testdata/traversal, one payload a
// line, substituting each of files for {FILE} in templates.
func loadPayloads(t *testing.T, name string, files []string) []string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "traversal", name))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" {
			continue
		}
		if !strings.Contains(line, "{FILE}") {
			out = append(out, line)
			continue
		}
		for _, file := range files {
			out = append(out, strings.ReplaceAll(line, "{FILE}", file))
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 {
		t.Fatalf("%s: no payloads", name)
	}
	return out
}

// variants returns the payload as sent and its URL-decoded forms, since a
// model may well decode what it copied from a web page.
func variants(p string) []string {
	out := []string{p}
	for range 2 {
		d, err := url.PathUnescape(p)
		if err != nil || d == p {
			break
		}
		out = append(out, d)
		p = d
	}
	return out
}

// snapshot hashes every file under dir except the workspace itself.
func snapshot(t *testing.T, dir, skip string) map[string][32]byte {
	t.Helper()
	out := map[string][32]byte{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == skip {
			return filepath.SkipDir
		}
		if d.Type().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			out[p] = sha256.Sum256(b)
		} else {
			out[p] = [32]byte{}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestTraversalCorpora(t *testing.T) {
	w, ws, base := newWorkspace(t, Limits{})
	siblingCanary := filepath.Join(base, "work-evil", "canary.txt")
	parentCanary := filepath.Join(base, "canary.txt")
	mustWrite(t, siblingCanary, "CANARY-SIBLING-5a1e")
	mustWrite(t, parentCanary, "CANARY-PARENT-5a1e")
	mustWrite(t, filepath.Join(base, "work-evil", "outside-sentinel-7f3a"), "x")
	mustWrite(t, filepath.Join(ws, "legit.txt"), "inside")
	// {FILE} targets: the sibling and parent canaries by a path relative to
	// / (for deep ../ runs) and relative to the workspace's parent, plus
	// /etc/passwd.
	abs := strings.TrimPrefix(siblingCanary, "/")
	files := []string{abs, strings.TrimPrefix(parentCanary, "/"), "work-evil/canary.txt", "canary.txt", "etc/passwd"}
	before := snapshot(t, base, ws)
	passwd, _ := os.ReadFile("/etc/passwd")

	corpora := []string{"directory_traversal.txt", "deep_traversal.txt", "traversals-8-deep-exotic-encoding.txt", "LFI-Jhaddix.txt"}
	// The corpora run in parallel (writes are fsync-bound); the group
	// returns only when all are done, before the outside is re-checked.
	t.Run("corpora", func(t *testing.T) {
		for _, name := range corpora {
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				tryCorpus(t, w, name, files, passwd)
			})
		}
	})
	after := snapshot(t, base, ws)
	if len(after) != len(before) {
		t.Fatalf("files outside the workspace changed: %d before, %d after", len(before), len(after))
	}
	for p, h := range before {
		if after[p] != h {
			t.Fatalf("%s changed", p)
		}
	}
	if now, _ := os.ReadFile("/etc/passwd"); !bytes.Equal(now, passwd) {
		t.Fatal("/etc/passwd changed")
	}
	if b, _ := os.ReadFile(siblingCanary); string(b) != "CANARY-SIBLING-5a1e" {
		t.Fatalf("sibling canary = %q", b)
	}
}

// tryCorpus uses every distinct payload of one corpus (and its decoded
// forms) as a Read, List and Write path.
func tryCorpus(t *testing.T, w *Workspace, name string, files []string, passwd []byte) {
	tried, refused := 0, 0
	seen := map[string]bool{}
	for _, payload := range loadPayloads(t, name, files) {
		for _, p := range variants(payload) {
			if seen[p] {
				continue
			}
			seen[p] = true
			tried++
			b, err := w.Read(p, 0, 0)
			if err != nil {
				refused++
			} else if got := string(b); got != "PWNED" && got != "inside" {
				t.Fatalf("Read(%q) = %q: not a file this test wrote inside the workspace", p, got)
			}
			if bytes.Contains(b, []byte("CANARY-")) || (len(passwd) > 0 && bytes.Contains(b, passwd[:min(len(passwd), 16)])) {
				t.Fatalf("Read(%q) returned outside content", p)
			}
			entries, _ := w.List(p)
			for _, e := range entries {
				if e.Name == "outside-sentinel-7f3a" || e.Name == "canary.txt" && p != "." {
					t.Fatalf("List(%q) listed outside the workspace: %+v", p, entries)
				}
			}
			_ = w.Write(p, []byte("PWNED"))
		}
	}
	if refused == 0 {
		t.Fatalf("%s: nothing refused out of %d", name, tried)
	}
	t.Logf("%s: %d paths tried, %d reads refused", name, tried, refused)
}

// FuzzWorkspaceConfinement drives Read, List and Write with arbitrary paths
// against a workspace whose neighbour holds a canary and which contains
// links pointing at it: nothing outside may ever be read, listed or changed.
func FuzzWorkspaceConfinement(f *testing.F) {
	for _, tt := range pathCases {
		f.Add(tt.in)
	}
	for _, s := range []string{"out/canary.txt", "abs/canary.txt", "../work-evil/canary.txt", "out", "abs"} {
		f.Add(s)
	}
	base := filepath.Join(f.TempDir(), "x")
	ws := filepath.Join(base, "work")
	evil := filepath.Join(base, "work-evil")
	for _, d := range []string{ws, evil} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			f.Fatal(err)
		}
	}
	canary := filepath.Join(evil, "canary.txt")
	if err := os.WriteFile(canary, []byte("CANARY-FUZZ"), 0o644); err != nil {
		f.Fatal(err)
	}
	// Listings are checked for a name no seed contains (writes may create
	// files called canary.txt inside the workspace, which is fine).
	if err := os.WriteFile(filepath.Join(evil, "only-outside-93c1"), nil, 0o644); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink("../work-evil", filepath.Join(ws, "out")); err != nil {
		f.Fatal(err)
	}
	if err := os.Symlink(evil, filepath.Join(ws, "abs")); err != nil {
		f.Fatal(err)
	}
	w, err := Open(ws, Limits{MaxWriteBytes: 64})
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { w.Close() })
	f.Fuzz(func(t *testing.T, p string) {
		if b, err := w.Read(p, 0, 0); err == nil && bytes.Contains(b, []byte("CANARY")) {
			t.Fatalf("Read(%q) returned the canary", p)
		}
		if entries, err := w.List(p); err == nil {
			for _, e := range entries {
				if e.Name == "only-outside-93c1" {
					t.Fatalf("List(%q) listed outside the workspace", p)
				}
			}
		}
		_ = w.Write(p, []byte("PWNED"))
		if b, _ := os.ReadFile(canary); string(b) != "CANARY-FUZZ" {
			t.Fatalf("Write(%q) changed the canary", p)
		}
		if _, err := w.Read(p, 0, 0); err != nil && strings.Contains(err.Error(), base) {
			t.Fatalf("error leaks the host path: %v", err)
		}
	})
}
