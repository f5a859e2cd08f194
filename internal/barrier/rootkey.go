package barrier

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Environment variables naming the root key source.
const (
	EnvMasterKey     = "BULWARK_MASTER_KEY"
	EnvMasterKeyFile = "BULWARK_MASTER_KEY_FILE"
)

// Argon2id parameters for passphrase root keys (RFC 9106's second
// recommended option, stretched: 64 MiB, 3 passes, 2 lanes).
const (
	argonTime    = 3
	argonMemory  = 64 * 1024 // KiB
	argonThreads = 2
	// SaltSize is the size of a per-installation passphrase salt.
	SaltSize = 16
	// MinPassphraseLen is the shortest passphrase accepted.
	MinPassphraseLen = 16
	// maxKeyFileSize bounds what LoadRootKey reads from a key file.
	maxKeyFileSize = 4096
)

// Errors about root key sources.
var (
	// ErrNoRootKey means neither BULWARK_MASTER_KEY nor
	// BULWARK_MASTER_KEY_FILE is set.
	ErrNoRootKey = errors.New("barrier: no master key configured (set BULWARK_MASTER_KEY or BULWARK_MASTER_KEY_FILE)")
	// ErrKeyFilePermissions means a key file is readable or writable by group
	// or others.
	ErrKeyFilePermissions = errors.New("barrier: master key file is accessible by group or others")
	// ErrWeakKey means a master key or passphrase is a known-weak value.
	ErrWeakKey = errors.New("barrier: master key is weak")
	// ErrNoSalt means a passphrase was given without a per-installation salt.
	ErrNoSalt = errors.New("barrier: passphrase master key needs a per-installation salt")
)

// Source says where the root key comes from. Set exactly one of Key and
// KeyFile.
type Source struct {
	// Key is the value of BULWARK_MASTER_KEY: 32 bytes in hex or base64, or a
	// passphrase of at least 16 characters (derived with Argon2id and Salt).
	// A value that decodes to exactly 32 bytes (64 hex digits, or 43/44
	// base64 characters) is always taken as a raw key; any other all-hex
	// value is refused as a short key.
	Key string
	// KeyFile is the path in BULWARK_MASTER_KEY_FILE: a file of mode 0600 or
	// stricter holding 32 bytes in hex or base64 (a trailing newline is fine).
	KeyFile string
	// Salt is the per-installation random salt for a passphrase (NewSalt),
	// persisted by the caller (the instance package keeps it in the store
	// beside the keyring). Unused for raw keys; without it a passphrase
	// returns ErrNoSalt after its length and strength checks.
	Salt []byte
	// Production makes CheckStrength mandatory for every source.
	Production bool
}

// SourceFromEnv builds a Source from the two environment variables using
// getenv (os.Getenv in production, a map lookup in tests).
func SourceFromEnv(getenv func(string) string) Source {
	return Source{Key: getenv(EnvMasterKey), KeyFile: getenv(EnvMasterKeyFile)}
}

// LoadRootKey returns the 32-byte root key named by src. The caller wipes
// it with clear() once New has copied it. Errors never contain key material.
func LoadRootKey(src Source) ([]byte, error) {
	switch {
	case src.Key != "" && src.KeyFile != "":
		return nil, fmt.Errorf("barrier: set only one of %s and %s", EnvMasterKey, EnvMasterKeyFile)
	case src.KeyFile != "":
		return loadKeyFile(src.KeyFile, src.Production)
	case src.Key != "":
		return loadKeyString(src.Key, src.Salt, src.Production)
	default:
		return nil, ErrNoRootKey
	}
}

func loadKeyString(s string, salt []byte, production bool) ([]byte, error) {
	if production {
		if err := CheckStrength(s); err != nil {
			return nil, fmt.Errorf("%s: %w", EnvMasterKey, err)
		}
	}
	if key, ok := decodeKey(s); ok {
		return key, nil
	}
	if looksLikeHexKey(s) {
		return nil, fmt.Errorf("%s: %w: hex key must be 64 hex digits (32 bytes); generate one with `openssl rand -hex 32`", EnvMasterKey, ErrWeakKey)
	}
	if len(s) < MinPassphraseLen {
		return nil, fmt.Errorf("%s: %w: neither 32 bytes in hex/base64 nor a passphrase of at least %d characters", EnvMasterKey, ErrWeakKey, MinPassphraseLen)
	}
	if len(salt) < SaltSize {
		return nil, ErrNoSalt
	}
	pass := []byte(s)
	defer clear(pass)
	return DerivePassphrase(pass, salt), nil
}

// DerivePassphrase stretches a passphrase into a 32-byte root key with
// Argon2id (time 3, 64 MiB, 2 threads). The same passphrase and salt always
// give the same key; a different salt gives an unrelated one.
func DerivePassphrase(pass, salt []byte) []byte {
	return argon2.IDKey(pass, salt, argonTime, argonMemory, argonThreads, KeySize)
}

// NewSalt returns a fresh random per-installation salt for DerivePassphrase.
func NewSalt() ([]byte, error) {
	s := make([]byte, SaltSize)
	if _, err := io.ReadFull(rand.Reader, s); err != nil {
		return nil, fmt.Errorf("barrier: salt: %w", err)
	}
	return s, nil
}

// loadKeyFile reads a key file after checking, on the open file itself, that
// group and others have no access.
func loadKeyFile(path string, production bool) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("barrier: open master key file: %w", err)
	}
	defer func() { _ = f.Close() }() // opened read-only
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("barrier: stat master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("barrier: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("%w: %s has mode %04o; fix with `chmod 600 %s`", ErrKeyFilePermissions, path, perm, path)
	}
	buf := make([]byte, maxKeyFileSize+1)
	defer clear(buf)
	n, err := io.ReadFull(f, buf)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("barrier: read master key file: %w", err)
	}
	if n > maxKeyFileSize {
		return nil, fmt.Errorf("barrier: master key file %s is too large", path)
	}
	key, ok := decodeKeyBytes(bytes.TrimRight(buf[:n], "\r\n"))
	if !ok {
		return nil, fmt.Errorf("barrier: master key file %s must hold 32 bytes in hex or base64", path)
	}
	if production {
		if err := checkRawKey(key); err != nil {
			clear(key)
			return nil, fmt.Errorf("master key file %s: %w", path, err)
		}
	}
	return key, nil
}

// decodeKey decodes exactly 32 bytes from hex or any base64 alphabet.
func decodeKey(s string) ([]byte, bool) {
	b := []byte(s)
	defer clear(b)
	return decodeKeyBytes(b)
}

// decodeKeyBytes decodes exactly 32 bytes from hex or any base64 alphabet,
// working on bytes so no unwipeable string copy of the key is made.
func decodeKeyBytes(s []byte) ([]byte, bool) {
	if len(s) == 2*KeySize {
		k := make([]byte, KeySize)
		if _, err := hex.Decode(k, s); err == nil {
			return k, true
		}
		clear(k)
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if len(s) != enc.EncodedLen(KeySize) || bytes.ContainsAny(s, "\r\n") {
			continue
		}
		k := make([]byte, enc.DecodedLen(len(s)))
		if n, err := enc.Strict().Decode(k, s); err == nil && n == KeySize {
			return k[:KeySize], true
		}
		clear(k)
	}
	return nil, false
}

// looksLikeHexKey reports a string of hex digits long enough to be meant as
// a key: a hex string is a short key, never a passphrase.
func looksLikeHexKey(s string) bool {
	if len(s) < MinPassphraseLen {
		return false
	}
	_, err := hex.DecodeString(s)
	return err == nil || len(s)%2 == 1 && strings.Trim(strings.ToLower(s), "0123456789abcdef") == ""
}

// GenerateKeyFile creates path (which must not exist) holding a new random
// 32-byte key in hex, mode 0600, and returns the key. It is the development
// default at <data dir>/master.key.
func GenerateKeyFile(path string) ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(rand.Reader, key); err != nil {
		return nil, fmt.Errorf("barrier: generate master key: %w", err)
	}
	text := make([]byte, hex.EncodedLen(KeySize)+1)
	defer clear(text)
	hex.Encode(text, key)
	text[len(text)-1] = '\n'
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		clear(key)
		return nil, fmt.Errorf("barrier: create master key file: %w", err)
	}
	if _, err = f.Write(text); err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		clear(key)
		_ = os.Remove(path)
		return nil, fmt.Errorf("barrier: write master key file: %w", err)
	}
	return key, nil
}

// LoadOrGenerateKeyFile is the development default: it loads the key file at
// path (permissions checked) or, when there is none, creates it with
// GenerateKeyFile and reports created=true so the caller can warn once. Two
// processes starting together end up with the same key.
func LoadOrGenerateKeyFile(path string) (key []byte, created bool, err error) {
	key, err = loadKeyFile(path, false)
	if !errors.Is(err, fs.ErrNotExist) {
		return key, false, err
	}
	key, err = GenerateKeyFile(path)
	if errors.Is(err, fs.ErrExist) {
		key, err = loadKeyFile(path, false)
		return key, false, err
	}
	return key, err == nil, err
}
