package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bulwarkhq/bulwark/internal/config"
	"github.com/bulwarkhq/bulwark/internal/pgtest"
	"github.com/bulwarkhq/bulwark/internal/store"
	"github.com/bulwarkhq/bulwark/internal/store/sqlite"
)

// rekeyBackend is one database for TestRekeyBetweenKeyKinds: replica
// makes a process with its own data directory (PostgreSQL) or the
// shared one (SQLite) holding key in BULWARK_MASTER_KEY; salt reads
// the stored passphrase salt (nil: none).
type rekeyBackend struct {
	replica func(key string) *harness
	salt    func() []byte
	// conn is the PostgreSQL connection for row scans and fault
	// injection; nil for SQLite.
	conn *pgx.Conn
}

func postgresBackend(t *testing.T) rekeyBackend {
	dsn := pgtest.Start(t)
	t.Setenv(config.EnvDatabaseURL, dsn)
	cfg := filepath.Join(t.TempDir(), "bulwark.yaml")
	if err := os.WriteFile(cfg, []byte("database: {driver: postgres}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	return rekeyBackend{
		conn: conn,
		replica: func(key string) *harness {
			h := newHarness(t) // an empty data directory of its own
			h.env[config.EnvMasterKey], h.env[config.EnvConfig] = key, cfg
			return h
		},
		salt: func() []byte {
			var salt []byte
			err := conn.QueryRow(context.Background(), "SELECT salt FROM keyring_salt").Scan(&salt)
			if errors.Is(err, pgx.ErrNoRows) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			return salt
		},
	}
}

func sqliteBackend(t *testing.T) rekeyBackend {
	dir := filepath.Join(t.TempDir(), "data")
	return rekeyBackend{
		replica: func(key string) *harness {
			h := newHarness(t)
			h.dir, h.env["BULWARK_DATA_DIR"] = dir, dir
			h.env[config.EnvMasterKey] = key
			return h
		},
		salt: func() []byte {
			s, err := sqlite.Open(context.Background(), filepath.Join(dir, sqlite.FileName))
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			salt, err := s.KeyringSalt(context.Background())
			if errors.Is(err, store.ErrNotFound) {
				return nil
			}
			if err != nil {
				t.Fatal(err)
			}
			return salt
		},
	}
}

func rawKey(t *testing.T) string {
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(k)
}

// `bulwark rekey` from a raw key to a passphrase, to another passphrase
// and back to a raw key: each passphrase gets a fresh salt stored with
// the re-wrapped keyring, a raw key leaves none, and a process started
// afterwards with only the new key (on PostgreSQL with an empty data
// directory) opens the keyring and authenticates a key made before.
// The old key opens nothing; no key or salt reaches stdout, a log, an
// audit entry or a row. A rekey to a passphrase used to be refused
// ("needs a per-installation salt").
func TestRekeyBetweenKeyKinds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		backend func(*testing.T) rekeyBackend
	}{
		{"sqlite", sqliteBackend},
		{"postgres", postgresBackend},
	} {
		t.Run(tt.name, func(t *testing.T) { testRekeyBetweenKeyKinds(t, tt.backend(t)) })
	}
}

func testRekeyBetweenKeyKinds(t *testing.T, db rekeyBackend) {
	const pass1, pass2 = "vivid otter gravel spoon 93 quartz", "amber walrus tundra kettle 57 plume"
	raw1, raw2 := rawKey(t), rawKey(t)
	first := db.replica(raw1)
	var admin createdKey
	if out := first.must("init", "--json"); json.Unmarshal([]byte(out), &admin) != nil || admin.Key == "" {
		t.Fatalf("init: %q", out)
	}
	// A replica serving throughout keeps the keyring it holds.
	running := db.replica(raw1)
	running.serve()
	t.Cleanup(running.stop)
	watchStopped := func() string {
		t.Helper()
		resp := running.get("/metrics", admin.Key)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		for _, line := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(line, "bulwark_keyring_watch_stopped "); ok {
				return v
			}
		}
		return "absent"
	}
	if v := watchStopped(); v != "0" {
		t.Fatalf("bulwark_keyring_watch_stopped = %s before any rekey; want 0", v)
	}

	var logs []*harness
	rekey := func(from, to string) string {
		t.Helper()
		h := db.replica(from)
		logs = append(logs, h)
		code, out := h.run(to+"\n", "rekey", "--new-key-stdin")
		if code != 0 {
			t.Fatalf("rekey: exit %d, stderr %q", code, h.logs.String())
		}
		return out
	}
	opens := func(key string) bool {
		t.Helper()
		h := db.replica(key)
		logs = append(logs, h)
		code, _ := h.run("", "keys", "list")
		return code == 0
	}
	serves := func(key string) {
		t.Helper()
		h := db.replica(key)
		logs = append(logs, h)
		h.serve()
		defer h.stop()
		if st := h.status("/v1/models", admin.Key); st != http.StatusOK {
			t.Fatalf("the admin key made before the rekeys, on a fresh serve: %d", st)
		}
		if _, err := os.Stat(filepath.Join(h.dir, "passphrase.salt")); !os.IsNotExist(err) {
			t.Fatalf("a salt file was written (%v); the salt belongs in the database", err)
		}
	}

	// raw → passphrase
	if db.salt() != nil {
		t.Fatal("a salt is stored for a raw key")
	}
	if out := rekey(raw1, pass1); !strings.Contains(out, "passphrase") {
		t.Fatalf("rekey output %q does not say the new key is a passphrase", out)
	}
	salt1 := db.salt()
	if len(salt1) != 16 {
		t.Fatalf("stored salt after a rekey to a passphrase: %x", salt1)
	}
	serves(pass1)
	if opens(raw1) {
		t.Fatal("the old raw key still opens the keyring")
	}

	// passphrase → passphrase: a new salt, never the old one
	rekey(pass1, pass2)
	salt2 := db.salt()
	if len(salt2) != 16 || string(salt2) == string(salt1) {
		t.Fatalf("salt after a rekey to another passphrase: %x (was %x); want a fresh one", salt2, salt1)
	}
	serves(pass2)
	if opens(pass1) {
		t.Fatal("the old passphrase still opens the keyring")
	}

	// passphrase → raw: the salt goes with it
	if out := rekey(pass2, raw2); !strings.Contains(out, "raw key") {
		t.Fatalf("rekey output %q does not say the new key is raw", out)
	}
	if s := db.salt(); s != nil {
		t.Fatalf("salt %x still stored after a rekey to a raw key", s)
	}
	serves(raw2)
	if opens(pass2) {
		t.Fatal("the old passphrase still opens the keyring")
	}

	if st := running.status("/v1/models", admin.Key); st != http.StatusOK {
		t.Fatalf("a replica serving during the rekeys: %d; want it to keep its keyring", st)
	}
	eventually(t, 10*time.Second, "the running replica logs that it needs a restart", func() bool {
		return strings.Contains(running.logs.String(), "keyring watch stopped")
	})
	if v := watchStopped(); v != "1" {
		t.Fatalf("bulwark_keyring_watch_stopped = %s once the watch stopped; want 1 (what operators alert on)", v)
	}

	out := db.replica(raw2).must("audit", "export", "--json")
	for _, want := range []string{`"new_key":"passphrase"`, `"new_key":"raw"`} {
		if !strings.Contains(out, want) {
			t.Errorf("audit export lacks %s: %s", want, out)
		}
	}
	// No key or salt may show in the audit log or any process's output.
	for _, s := range []string{pass1, pass2, raw1, raw2, hex.EncodeToString(salt1), hex.EncodeToString(salt2)} {
		if strings.Contains(out, s) {
			t.Errorf("a key or salt is in the audit log: %q", s)
		}
		for _, h := range append(logs, first, running) {
			if strings.Contains(h.logs.String(), s) {
				t.Errorf("a key or salt is in a process's output: %q", s)
			}
		}
	}
	if db.conn != nil {
		for tbl, n := range rowsContaining(t, db.conn, pass1, pass2, hex.EncodeToString([]byte(pass1)), hex.EncodeToString([]byte(pass2)), raw1, raw2) {
			if n > 0 {
				t.Errorf("a key is in %d row(s) of %s", n, tbl)
			}
		}
	}
}

// A rekey whose salt write fails (PostgreSQL refuses it here, as a crash
// between the two writes would) leaves the keyring under the old key and
// the old salt: the old passphrase still opens, the new one does not, and
// the failure is audited.
func TestRekeyFailureKeepsTheOldKey(t *testing.T) {
	const pass1, pass2 = "vivid otter gravel spoon 93 quartz", "amber walrus tundra kettle 57 plume"
	db := postgresBackend(t)
	db.replica(pass1).must("init")
	salt := db.salt()
	ctx := context.Background()
	for _, q := range []string{
		`CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'salt write refused'; END $$`,
		"CREATE TRIGGER refuse BEFORE INSERT OR UPDATE OR DELETE ON keyring_salt FOR EACH ROW EXECUTE FUNCTION refuse()",
	} {
		if _, err := db.conn.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	for _, to := range []string{pass2, rawKey(t)} {
		h := db.replica(pass1)
		if code, _ := h.run(to+"\n", "rekey", "--new-key-stdin"); code == 0 {
			t.Fatal("rekey succeeded although its salt write was refused")
		}
		if strings.Contains(h.logs.String(), to) {
			t.Fatal("the new key is in the error")
		}
		if string(db.salt()) != string(salt) {
			t.Fatal("a failed rekey changed the stored salt")
		}
		if code, _ := db.replica(to).run("", "keys", "list"); code == 0 {
			t.Fatal("the new key of a failed rekey opens the keyring")
		}
		db.replica(pass1).must("keys", "list")
	}
	out := db.replica(pass1).must("audit", "export", "--json")
	if !strings.Contains(out, `"action":"barrier.rekey"`) || !strings.Contains(out, `"outcome":"failure"`) {
		t.Fatalf("the failed rekey is not audited: %s", out)
	}
}

// A rekey from a passphrase to a raw key removes the salt with it; it
// used to stay behind, describing a key that no longer existed. A raw
// key needs no salt and ignores one left in the database.
func TestRekeyPassphraseToRawClearsTheSalt(t *testing.T) {
	const pass = "vivid otter gravel spoon 93 quartz"
	for _, tt := range []struct {
		name    string
		backend func(*testing.T) rekeyBackend
	}{
		{"sqlite", sqliteBackend},
		{"postgres", postgresBackend},
	} {
		t.Run(tt.name, func(t *testing.T) {
			db, raw := tt.backend(t), rawKey(t)
			db.replica(pass).must("init")
			if len(db.salt()) != 16 {
				t.Fatal("no salt stored for a passphrase")
			}
			if code, _ := db.replica(pass).run(raw+"\n", "rekey", "--new-key-stdin"); code != 0 {
				t.Fatal("rekey to a raw key failed")
			}
			if s := db.salt(); s != nil {
				t.Fatalf("salt %x still stored after a rekey to a raw key", s)
			}
			db.replica(raw).must("keys", "list")
		})
	}
}

// A raw key opens the keyring whatever salt the database holds: a salt
// describes a passphrase key, and a raw key is not derived.
func TestRawKeyIgnoresAStoredSalt(t *testing.T) {
	db, raw := sqliteBackend(t), rawKey(t)
	h := db.replica(raw)
	h.must("init")
	s, err := sqlite.Open(context.Background(), filepath.Join(h.dir, sqlite.FileName))
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := s.LoadKeyring(context.Background())
	if err == nil {
		_, err = s.PutKeyringSalt(context.Background(), []byte("stale-salt-16byt"), v)
	}
	_ = s.Close()
	if err != nil {
		t.Fatal(err)
	}
	db.replica(raw).must("keys", "list")
}
