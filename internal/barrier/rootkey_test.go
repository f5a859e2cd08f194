package barrier_test

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
)

func TestLoadRootKeyFromEnv(t *testing.T) {
	raw := newRoot(t)
	salt := bytes.Repeat([]byte{7}, barrier.SaltSize)
	const pass = "vivid otter gravel spoon 93"
	tests := []struct {
		name    string
		src     barrier.Source
		want    []byte // nil: derived from pass and salt
		wantErr error
	}{
		{name: "hex", src: barrier.Source{Key: hex.EncodeToString(raw)}, want: raw},
		{name: "hex upper case", src: barrier.Source{Key: strings.ToUpper(hex.EncodeToString(raw))}, want: raw},
		{name: "base64 std", src: barrier.Source{Key: base64.StdEncoding.EncodeToString(raw)}, want: raw},
		{name: "base64 raw url", src: barrier.Source{Key: base64.RawURLEncoding.EncodeToString(raw)}, want: raw},
		{name: "passphrase with salt", src: barrier.Source{Key: pass, Salt: salt}},
		{name: "passphrase without salt", src: barrier.Source{Key: pass}, wantErr: barrier.ErrNoSalt},
		{name: "short passphrase", src: barrier.Source{Key: "changeme", Salt: salt}, wantErr: barrier.ErrWeakKey},
		{name: "16-byte hex key", src: barrier.Source{Key: hex.EncodeToString(raw[:16]), Salt: salt}, wantErr: barrier.ErrWeakKey},
		{name: "nothing set", src: barrier.Source{}, wantErr: barrier.ErrNoRootKey},
		{name: "both set", src: barrier.Source{Key: hex.EncodeToString(raw), KeyFile: "/nonexistent"}, wantErr: errAny},
		{name: "production weak hex", src: barrier.Source{Key: strings.Repeat("00", 32), Production: true}, wantErr: barrier.ErrWeakKey},
		{name: "production weak passphrase", src: barrier.Source{Key: "passwordpassword", Salt: salt, Production: true}, wantErr: barrier.ErrWeakKey},
		{name: "production strong hex", src: barrier.Source{Key: hex.EncodeToString(raw), Production: true}, want: raw},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := barrier.LoadRootKey(tt.src)
			if tt.wantErr != nil {
				if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
					t.Fatalf("LoadRootKey: err = %v, want %v", err, tt.wantErr)
				}
				if tt.src.Key != "" && strings.Contains(err.Error(), tt.src.Key) {
					t.Fatalf("error %q contains the key", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("LoadRootKey: %v", err)
			}
			want := tt.want
			if want == nil {
				want = barrier.DerivePassphrase([]byte(pass), salt)
			}
			if !bytes.Equal(got, want) {
				t.Fatal("LoadRootKey returned the wrong key")
			}
		})
	}
}

// errAny marks a table case where any error will do.
var errAny = errors.New("any error")

func TestSourceFromEnv(t *testing.T) {
	env := map[string]string{"BULWARK_MASTER_KEY": "k", "BULWARK_MASTER_KEY_FILE": "/f"}
	src := barrier.SourceFromEnv(func(k string) string { return env[k] })
	if src.Key != "k" || src.KeyFile != "/f" {
		t.Fatalf("SourceFromEnv = %+v", src)
	}
}

func writeKeyFile(t *testing.T, content string, mode os.FileMode) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(p, mode); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestKeyFile(t *testing.T) {
	raw := newRoot(t)
	hexKey := hex.EncodeToString(raw)
	tests := []struct {
		name    string
		content string
		mode    os.FileMode
		wantErr error
	}{
		{"0600 with newline", hexKey + "\n", 0o600, nil},
		{"0400 no newline", hexKey, 0o400, nil},
		{"0600 CRLF", hexKey + "\r\n", 0o600, nil},
		{"0600 base64", base64.StdEncoding.EncodeToString(raw) + "\n", 0o600, nil},
		{"0644 world readable", hexKey + "\n", 0o644, barrier.ErrKeyFilePermissions},
		{"0640 group readable", hexKey + "\n", 0o640, barrier.ErrKeyFilePermissions},
		{"0604 other readable", hexKey + "\n", 0o604, barrier.ErrKeyFilePermissions},
		{"0620 group writable", hexKey + "\n", 0o620, barrier.ErrKeyFilePermissions},
		{"passphrase content", "correct horse battery staple\n", 0o600, errAny},
		{"short key", hexKey[:32] + "\n", 0o600, errAny},
		{"two newlines inside", hexKey[:32] + "\n" + hexKey[32:], 0o600, errAny},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := writeKeyFile(t, tt.content, tt.mode)
			got, err := barrier.LoadRootKey(barrier.Source{KeyFile: p})
			if tt.wantErr == nil {
				if err != nil || !bytes.Equal(got, raw) {
					t.Fatalf("LoadRootKey(%s): %v", tt.name, err)
				}
				return
			}
			if err == nil || (tt.wantErr != errAny && !errors.Is(err, tt.wantErr)) {
				t.Fatalf("LoadRootKey: err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), hexKey[:16]) {
				t.Fatalf("error %q leaks key material", err)
			}
			if errors.Is(err, barrier.ErrKeyFilePermissions) && !strings.Contains(err.Error(), "chmod 600 "+p) {
				t.Fatalf("permission error %q does not name the fix", err)
			}
		})
	}
	t.Run("directory", func(t *testing.T) {
		dir := t.TempDir()
		if _, err := barrier.LoadRootKey(barrier.Source{KeyFile: dir}); err == nil {
			t.Fatal("a directory was accepted as a key file")
		}
	})
	t.Run("missing", func(t *testing.T) {
		_, err := barrier.LoadRootKey(barrier.Source{KeyFile: filepath.Join(t.TempDir(), "none")})
		if !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("missing key file: err = %v, want ErrNotExist", err)
		}
	})
}

func TestGenerateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.key")
	key, err := barrier.GenerateKeyFile(p)
	if err != nil || len(key) != barrier.KeySize {
		t.Fatalf("GenerateKeyFile = %d bytes, %v", len(key), err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
	}
	loaded, err := barrier.LoadRootKey(barrier.Source{KeyFile: p, Production: true})
	if err != nil || !bytes.Equal(loaded, key) {
		t.Fatalf("generated key does not load back in production mode: %v", err)
	}
	if _, err := barrier.GenerateKeyFile(p); !errors.Is(err, fs.ErrExist) {
		t.Fatalf("GenerateKeyFile over an existing file: err = %v, want ErrExist", err)
	}
	if again, _ := barrier.LoadRootKey(barrier.Source{KeyFile: p}); !bytes.Equal(again, key) {
		t.Fatal("a refused GenerateKeyFile changed the existing key")
	}
}

func TestDerivePassphrase(t *testing.T) {
	pass := []byte("vivid otter gravel spoon 93")
	s1 := bytes.Repeat([]byte{1}, barrier.SaltSize)
	s2 := bytes.Repeat([]byte{2}, barrier.SaltSize)
	a := barrier.DerivePassphrase(pass, s1)
	if len(a) != barrier.KeySize {
		t.Fatalf("derived %d bytes, want %d", len(a), barrier.KeySize)
	}
	if b := barrier.DerivePassphrase(pass, s1); !bytes.Equal(a, b) {
		t.Fatal("same passphrase and salt gave different keys")
	}
	if c := barrier.DerivePassphrase(pass, s2); bytes.Equal(a, c) {
		t.Fatal("different salts gave the same key")
	}
	if d := barrier.DerivePassphrase([]byte("vivid otter gravel spoon 94"), s1); bytes.Equal(a, d) {
		t.Fatal("different passphrases gave the same key")
	}
	s3, err := barrier.NewSalt()
	s4, _ := barrier.NewSalt()
	if err != nil || len(s3) != barrier.SaltSize || bytes.Equal(s3, s4) {
		t.Fatalf("NewSalt: %v (len %d, repeated %v)", err, len(s3), bytes.Equal(s3, s4))
	}
}

func TestKeyFileProductionRefusesWeakKey(t *testing.T) {
	p := writeKeyFile(t, strings.Repeat("00", 32)+"\n", 0o600)
	if _, err := barrier.LoadRootKey(barrier.Source{KeyFile: p}); err != nil {
		t.Fatalf("development mode: %v", err)
	}
	if _, err := barrier.LoadRootKey(barrier.Source{KeyFile: p, Production: true}); !errors.Is(err, barrier.ErrWeakKey) {
		t.Fatalf("production mode with an all-zero key file: err = %v, want ErrWeakKey", err)
	}
}

func TestLoadOrGenerateKeyFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "master.key")
	first, created, err := barrier.LoadOrGenerateKeyFile(p)
	if err != nil || !created || len(first) != barrier.KeySize {
		t.Fatalf("first call = created %v, %v; want a new key", created, err)
	}
	second, created, err := barrier.LoadOrGenerateKeyFile(p)
	if err != nil || created || !bytes.Equal(first, second) {
		t.Fatalf("second call = created %v, %v, same key %v; want the existing key", created, err, bytes.Equal(first, second))
	}
	if err := os.Chmod(p, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := barrier.LoadOrGenerateKeyFile(p); !errors.Is(err, barrier.ErrKeyFilePermissions) {
		t.Fatalf("world-readable existing key file: err = %v, want ErrKeyFilePermissions", err)
	}
}
