package cli

import (
	"context"
	"database/sql"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/secaudit"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// auditRun runs security-audit with --json and decodes the report.
func (h *harness) auditRun(args ...string) (int, auditReport) {
	h.t.Helper()
	code, out := h.run("", append([]string{"security-audit", "--json"}, args...)...)
	var rep auditReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		h.t.Fatalf("security-audit --json printed %q: %v (stderr %s)", out, err, h.logs.String())
	}
	return code, rep
}

func hasID(rep auditReport, prefix string) bool {
	for _, f := range rep.Findings {
		if strings.HasPrefix(f.ID, prefix) {
			return true
		}
	}
	return false
}

// TestSecurityAuditNoSecretInOutput: with a key, an encrypted provider
// credential and one stored in clear behind the barrier's back, the JSON
// is valid, reports the clear one as critical, and neither output stream
// holds any of the secrets or the master key.
func TestSecurityAuditNoSecretInOutput(t *testing.T) {
	const upstream, plain = "sk-upstream-SECRET-4d9f1a", "sk-plain-SECRET-77e0c2"
	h := newHarness(t)
	var root createdKey
	if err := json.Unmarshal([]byte(h.must("init", "--json")), &root); err != nil {
		t.Fatal(err)
	}
	if code, _ := h.run(upstream+"\n", "providers", "add", "--name", "oa", "--type", "openai",
		"--base-url", "https://api.openai.com/v1", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add: %s", h.logs.String())
	}
	if code, _ := h.run("x\n", "providers", "add", "--name", "leaky", "--type", "openai",
		"--base-url", "https://api.openai.com/v1", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add: %s", h.logs.String())
	}
	db, err := sql.Open("sqlite", filepath.Join(h.dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("UPDATE providers SET credential = ? WHERE name = 'leaky'", plain); err != nil {
		t.Fatal(err)
	}
	_ = db.Close()
	master, err := os.ReadFile(filepath.Join(h.dir, "master.key"))
	if err != nil {
		t.Fatal(err)
	}

	code, raw := h.run("", "security-audit", "--json")
	var rep auditReport
	if err := json.Unmarshal([]byte(raw), &rep); err != nil {
		t.Fatalf("--json output %q: %v", raw, err)
	}
	if code != 1 || !rep.Failed {
		t.Fatalf("exit %d failed=%t, want 1 with a critical finding", code, rep.Failed)
	}
	var found bool
	for _, f := range rep.Findings {
		found = found || (f.ID == "BW-PRV-001" && f.Severity == secaudit.Critical && strings.Contains(f.Evidence, "leaky"))
	}
	if !found || rep.Counts["critical"] == 0 {
		t.Fatalf("no critical BW-PRV-001 for the clear credential: %+v", rep.Findings)
	}
	_, human := h.run("", "security-audit")
	all := raw + human + h.logs.String()
	for name, secret := range map[string]string{"virtual key": root.Key, "encrypted credential": upstream,
		"clear credential": plain, "master key": strings.TrimSpace(string(master))} {
		if strings.Contains(all, secret) {
			t.Errorf("the %s appears in the audit output", name)
		}
	}
}

func TestSecurityAuditExitCodes(t *testing.T) {
	const rawKey = "7d1f0c9e4b2a58e3a6c4d2f1b0e9a8c76d5e4f3a2b1c0d9e8f7a6b5c4d3e2f1a"
	tests := []struct {
		name string
		env  map[string]string
		args []string
		want int
	}{
		{"generated key is high", nil, nil, 1},
		{"generated key below --fail-on critical", nil, []string{"--fail-on", "critical"}, 0},
		{"key from the environment is low", map[string]string{"BULWARK_MASTER_KEY": rawKey}, nil, 0},
		{"--fail-on low catches it", map[string]string{"BULWARK_MASTER_KEY": rawKey}, []string{"--fail-on", "low"}, 1},
		{"unknown severity", nil, []string{"--fail-on", "severe"}, 2},
		{"stray argument", nil, []string{"extra"}, 2},
		{"two deep targets", nil, []string{"--deep", "http://127.0.0.1:1", "http://127.0.0.1:2"}, 2},
		{"deep target not http", nil, []string{"--deep=ftp://127.0.0.1"}, 2},
		{"unreadable config", nil, []string{"--config", "/nonexistent/bulwark.yaml"}, 2},
		{"unknown flag", nil, []string{"--fxi"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t)
			for k, v := range tt.env {
				h.env[k] = v
			}
			if code, _ := h.run("", append([]string{"security-audit"}, tt.args...)...); code != tt.want {
				t.Fatalf("exit %d, want %d; stderr: %s", code, tt.want, h.logs.String())
			}
		})
	}
}

// TestSecurityAuditFix: --fix repairs the data directory's modes, reports
// each fix, records one audit event, and a second run is clean and fixes
// nothing.
func TestSecurityAuditFix(t *testing.T) {
	h := newHarness(t)
	h.must("init")
	db := filepath.Join(h.dir, sqlite.FileName)
	for path, mode := range map[string]os.FileMode{h.dir: 0o755, db: 0o644} {
		if err := os.Chmod(path, mode); err != nil {
			t.Fatal(err)
		}
	}
	if _, rep := h.auditRun(); !hasID(rep, "BW-FS-001") || !hasID(rep, "BW-FS-004") {
		t.Fatalf("bad modes not reported: %+v", rep.Findings)
	}
	_, rep := h.auditRun("--fix")
	fixed := map[string]string{}
	for _, a := range rep.Fixed {
		fixed[a.ID] = a.To
	}
	if fixed["BW-FS-001"] != "0700" || fixed["BW-FS-004"] != "0600" {
		t.Fatalf("fixed %+v", rep.Fixed)
	}
	if hasID(rep, "BW-FS-") {
		t.Fatalf("file findings remain after --fix: %+v", rep.Findings)
	}
	for path, want := range map[string]os.FileMode{h.dir: 0o700, db: 0o600} {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != want {
			t.Fatalf("%s: %v %v, want %04o", path, fi.Mode(), err, want)
		}
	}
	if _, again := h.auditRun("--fix"); len(again.Fixed) != 0 || hasID(again, "BW-FS-") {
		t.Fatalf("second --fix: fixed %+v, findings %+v", again.Fixed, again.Findings)
	}
	if n := strings.Count(h.must("audit", "export", "--json"), `"action":"security_audit.fix"`); n != 1 {
		t.Fatalf("%d security_audit.fix events, want 1 (only the run that changed something)", n)
	}
	h.must("audit", "verify")
}

// TestSecurityAuditDeep: the live probe finds nothing wrong with a served
// default instance (by URL and by the configured listener), and reports
// missing authentication on a deliberately open handler.
func TestSecurityAuditDeep(t *testing.T) {
	h := newHarness(t)
	h.must("init")
	h.serve()
	_, rep := h.auditRun("--deep", h.addr)
	if hasID(rep, "BW-NET-") {
		t.Fatalf("served default instance: %+v", rep.Findings)
	}
	h.env["BULWARK_LISTEN"] = strings.TrimPrefix(h.addr, "http://")
	if _, rep := h.auditRun("--deep"); hasID(rep, "BW-NET-") {
		t.Fatalf("configured listener: %+v", rep.Findings)
	}

	open := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		_, _ = io.WriteString(w, `{"choices":[]}`)
	}))
	defer open.Close()
	code, rep := h.auditRun("--deep", open.URL)
	if code != 1 || !hasID(rep, "BW-NET-001") || !hasID(rep, "BW-NET-003") {
		t.Fatalf("open handler: exit %d, %+v", code, rep.Findings)
	}
}

// TestSecurityAuditPostgres: with database.driver postgres there is no
// bulwark.db in the data directory, yet security-audit reads the shared
// database (a credential stored in clear there is critical) and --fix
// records its event in the shared audit chain, which still verifies.
func TestSecurityAuditPostgres(t *testing.T) {
	const plain = "sk-plain-SECRET-pg-31c7"
	dsn := pgtest.Start(t)
	t.Setenv(config.EnvDatabaseURL, dsn)
	h := newHarness(t)
	h.env[config.EnvMasterKeyFile] = writeKeyFile(t, t.TempDir(), 0o600)
	cfg := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte("database: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h.env[config.EnvConfig] = cfg
	h.must("init")
	if code, _ := h.run("x\n", "providers", "add", "--name", "leaky", "--type", "openai",
		"--base-url", "https://api.openai.com/v1", "--api-key-stdin"); code != 0 {
		t.Fatalf("providers add: %s", h.logs.String())
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close(ctx) }()
	if _, err := conn.Exec(ctx, "UPDATE providers SET credential = $1 WHERE name = 'leaky'", plain); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(h.dir, 0o755); err != nil {
		t.Fatal(err)
	}

	code, rep := h.auditRun("--fix")
	if fixed := len(rep.Fixed); code != 1 || fixed != 1 || rep.Fixed[0].ID != "BW-FS-001" {
		t.Fatalf("exit %d, fixed %+v; want 1 (critical finding) and the data directory's mode fixed", code, rep.Fixed)
	}
	var critical bool
	for _, f := range rep.Findings {
		critical = critical || (f.ID == "BW-PRV-001" && f.Severity == secaudit.Critical && strings.Contains(f.Evidence, "leaky"))
	}
	if !critical || !hasID(rep, "BW-KEY-001") {
		t.Fatalf("state in PostgreSQL not audited: %+v", rep.Findings)
	}
	if n := strings.Count(h.must("audit", "export", "--json"), `"action":"security_audit.fix"`); n != 1 {
		t.Fatalf("%d security_audit.fix events in the shared chain, want 1", n)
	}
	h.must("audit", "verify")
	if strings.Contains(h.logs.String(), plain) || strings.Contains(h.logs.String(), dsn) {
		t.Fatal("the credential or the connection string appears in the output")
	}
}
