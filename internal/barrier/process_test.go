package barrier_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/barrier"
	"github.com/bulwarkhq/bulwark/internal/barrier/barriertest"
)

// fileStore is a KeyringStore shared between processes: a file holding
// version | blob, updated under flock and replaced by rename. It stands in
// for the SQLite row so these tests can use real processes.
type fileStore struct{ dir string }

func (s fileStore) locked(f func() error) error {
	lf, err := os.OpenFile(filepath.Join(s.dir, "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return err
	}
	defer lf.Close()
	if err := syscall.Flock(int(lf.Fd()), syscall.LOCK_EX); err != nil {
		return err
	}
	defer func() { _ = syscall.Flock(int(lf.Fd()), syscall.LOCK_UN) }()
	return f()
}

func (s fileStore) read() ([]byte, int64, error) {
	b, err := os.ReadFile(filepath.Join(s.dir, "keyring"))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, nil
	}
	if err != nil || len(b) < 8 {
		return nil, 0, fmt.Errorf("read keyring file: %v", err)
	}
	return b[8:], int64(binary.BigEndian.Uint64(b)), nil
}

// LoadKeyring implements barrier.KeyringStore.
func (s fileStore) LoadKeyring(context.Context) (blob []byte, ver int64, err error) {
	err = s.locked(func() error {
		blob, ver, err = s.read()
		if err == nil && ver == 0 {
			err = barrier.ErrNotFound
		}
		return err
	})
	return blob, ver, err
}

// SaveKeyring implements barrier.KeyringStore.
func (s fileStore) SaveKeyring(_ context.Context, blob []byte, expect int64) error {
	return s.locked(func() error {
		_, ver, err := s.read()
		if err != nil {
			return err
		}
		if ver != expect {
			return barrier.ErrConflict
		}
		tmp := filepath.Join(s.dir, "keyring.tmp")
		data := binary.BigEndian.AppendUint64(nil, uint64(ver+1))
		if err := os.WriteFile(tmp, append(data, blob...), 0o600); err != nil {
			return err
		}
		return os.Rename(tmp, filepath.Join(s.dir, "keyring"))
	})
}

func TestFileStoreConformance(t *testing.T) {
	barriertest.RunKeyringStore(t, func(t *testing.T) barrier.KeyringStore { return fileStore{t.TempDir()} })
}

// TestHelperProcess is the body of a child process playing `bulwark rotate`:
// it rotates N times on the shared store, then writes a ciphertext sealed
// under its last term. It does nothing when run as an ordinary test.
func TestHelperProcess(t *testing.T) {
	dir := os.Getenv("BARRIER_HELPER_DIR")
	if dir == "" {
		return
	}
	root, _ := hex.DecodeString(os.Getenv("BARRIER_HELPER_ROOT"))
	n, _ := strconv.Atoi(os.Getenv("BARRIER_HELPER_N"))
	b, err := barrier.New(fileStore{dir}, root)
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		if _, err := b.Rotate(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	ct := mustEncrypt(t, b, credAAD, []byte(os.Getenv("BARRIER_HELPER_OUT")))
	if err := os.WriteFile(os.Getenv("BARRIER_HELPER_OUT"), ct, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestCrossProcessRotate: two real processes rotate the same keyring at
// once; no term is lost, and a running Barrier decrypts what they wrote
// under terms it has never loaded, without a restart.
func TestCrossProcessRotate(t *testing.T) {
	dir := t.TempDir()
	root := newRoot(t)
	serve, err := barrier.New(fileStore{dir}, root)
	if err != nil {
		t.Fatal(err)
	}
	const perProcess = 5
	outs := []string{filepath.Join(dir, "out-a"), filepath.Join(dir, "out-b")}
	var wg sync.WaitGroup
	for _, out := range outs {
		wg.Go(func() {
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$", "-test.count=1")
			cmd.Env = append(os.Environ(), "BARRIER_HELPER_DIR="+dir, "BARRIER_HELPER_ROOT="+hex.EncodeToString(root),
				"BARRIER_HELPER_N="+strconv.Itoa(perProcess), "BARRIER_HELPER_OUT="+out)
			if msg, err := cmd.CombinedOutput(); err != nil {
				t.Errorf("rotate process: %v\n%s", err, msg)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	if got := serve.Terms(); len(got) != 1 {
		t.Fatalf("serve loaded terms %v before any reload", got)
	}
	for _, out := range outs {
		ct, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		got, err := serve.Decrypt(credAAD, ct)
		if err != nil || !bytes.Equal(got, []byte(out)) {
			t.Fatalf("serve Decrypt of a term written by another process: %q, %v", got, err)
		}
	}
	if got, want := len(serve.Terms()), 1+2*perProcess; got != want {
		t.Fatalf("keyring holds %d terms after %d rotations in two processes, want %d", got, 2*perProcess, want)
	}
}
