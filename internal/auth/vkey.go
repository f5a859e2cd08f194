// Package auth verifies callers: Bulwark virtual keys (format, checksum,
// keyed hash, constant-time compare, revocation), the per-client lockout
// for failed attempts, and the HTTP middleware that puts a verified
// identity in the request context. Everything after authentication keys on
// that identity, never on a header or a token prefix.
package auth

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"hash"
	"hash/crc32"
	"strings"
	"unsafe"
)

// Virtual key format: "sk-bw-" + public id + "-" + secret + checksum.
//
//   - public id: 16 base62 characters (~95 bits), what logs and audit show;
//   - secret: 43 base62 characters (≥ 256 bits of randomness);
//   - checksum: 6 base62 characters of CRC-32 (Castagnoli) over everything
//     before it, so typos and leaked-key scanners are caught without a
//     database lookup.
const (
	KeyPrefix   = "sk-bw-"
	idLen       = 16
	secretLen   = 43
	checksumLen = 6
	keyLen      = len(KeyPrefix) + idLen + 1 + secretLen + checksumLen
)

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Errors of key parsing and verification. All of them look the same to a
// client (401); they differ only in the server log.
var (
	ErrMalformedKey = errors.New("malformed key")
	ErrChecksum     = errors.New("key checksum mismatch")
	ErrUnknownKey   = errors.New("unknown key")
	ErrRevokedKey   = errors.New("revoked key")
	ErrExpiredKey   = errors.New("expired key")
)

// ParsedKey is a syntactically valid key split into its parts. Secret is
// the whole presented key's secret part; never log it.
type ParsedKey struct {
	ID     string
	Secret string
}

// ParseKey checks a presented key's shape and checksum. It never looks at
// the database, so garbage is rejected cheaply.
func ParseKey(s string) (ParsedKey, error) {
	if len(s) != keyLen || !strings.HasPrefix(s, KeyPrefix) {
		return ParsedKey{}, ErrMalformedKey
	}
	rest := s[len(KeyPrefix):]
	if rest[idLen] != '-' {
		return ParsedKey{}, ErrMalformedKey
	}
	id, tail := rest[:idLen], rest[idLen+1:]
	if !isBase62(id) || !isBase62(tail) {
		return ParsedKey{}, ErrMalformedKey
	}
	secret, sum := tail[:secretLen], tail[secretLen:]
	var want [checksumLen]byte
	if !hmac.Equal([]byte(sum), appendChecksum(want[:0], s[:len(s)-checksumLen])) {
		return ParsedKey{}, ErrChecksum
	}
	return ParsedKey{ID: id, Secret: secret}, nil
}

// LooksLikeKey reports whether s has the virtual key prefix (used to pick
// the authenticator, never to authorise).
func LooksLikeKey(s string) bool { return strings.HasPrefix(s, KeyPrefix) }

// isBase62Byte is base62 as a lookup table: every request checks ~60
// characters of its key.
var isBase62Byte = func() (t [256]bool) {
	for i := range len(base62) {
		t[base62[i]] = true
	}
	return t
}()

func isBase62(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isBase62Byte[s[i]] {
			return false
		}
	}
	return true
}

func checksum(s string) string {
	var out [checksumLen]byte
	return string(appendChecksum(out[:0], s))
}

// appendChecksum appends the checksumLen base62 digits of s's CRC-32C.
func appendChecksum(dst []byte, s string) []byte {
	// A read-only view of s: the CRC keeps nothing, and copying the key
	// cost an allocation on every request.
	v := crc32.Checksum(unsafe.Slice(unsafe.StringData(s), len(s)), castagnoli) //nolint:gosec // G103: read-only view for this call
	var out [checksumLen]byte
	for i := checksumLen - 1; i >= 0; i-- {
		out[i] = base62[v%62]
		v /= 62
	}
	return append(dst, out[:]...)
}

// randomBase62 returns n uniformly random base62 characters (rejection
// sampling, so there is no modulo bias).
func randomBase62(n int) (string, error) {
	out := make([]byte, 0, n)
	buf := make([]byte, n*2)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", fmt.Errorf("auth: random: %w", err)
		}
		for _, b := range buf {
			if b < 248 { // 248 = 4*62: accept only unbiased bytes
				out = append(out, base62[b%62])
				if len(out) == n {
					break
				}
			}
		}
	}
	return string(out), nil
}

// NewKey generates a fresh key; it returns the full key (shown once) and
// its parts.
func NewKey() (full string, parsed ParsedKey, err error) {
	id, err := randomBase62(idLen)
	if err != nil {
		return "", ParsedKey{}, err
	}
	secret, err := randomBase62(secretLen)
	if err != nil {
		return "", ParsedKey{}, err
	}
	body := KeyPrefix + id + "-" + secret
	return body + checksum(body), ParsedKey{ID: id, Secret: secret}, nil
}

// NewSecretFor generates a new secret for an existing public id (rotation).
func NewSecretFor(id string) (string, ParsedKey, error) {
	secret, err := randomBase62(secretLen)
	if err != nil {
		return "", ParsedKey{}, err
	}
	body := KeyPrefix + id + "-" + secret
	return body + checksum(body), ParsedKey{ID: id, Secret: secret}, nil
}

// HashSecret is the keyed hash stored for a key: HMAC-SHA256 under the
// server's key-hash secret (kept in the barrier) over id and secret.
func HashSecret(hashKey []byte, p ParsedKey) []byte {
	return appendHash(nil, nil, hmac.New(sha256.New, hashKey), p)
}

// appendHash appends HashSecret's value computed with m, a fresh or reset
// HMAC under the key-hash secret; the MAC's input is assembled in scratch
// (grown when too short).
func appendHash(dst, scratch []byte, m hash.Hash, p ParsedKey) []byte {
	m.Write(append(append(append(scratch, p.ID...), 0), p.Secret...))
	return m.Sum(dst)
}
