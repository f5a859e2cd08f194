package barrier

import (
	"fmt"
	"strings"
	"unicode"
)

// weakWords are words that make up guessable master keys. They are removed
// (after undoing common letter-for-digit swaps) before what remains is judged.
var weakWords = []string{
	"changeme", "password", "passwd", "secret", "admin", "test", "letmein",
	"qwerty", "default", "example", "master", "bulwark", "welcome", "iloveyou",
	"monkey", "dragon", "root", "login", "hello", "sample", "dummy", "foobar",
	"demo", "temp", "guest", "user", "key", "pass", "abc", "xyz",
}

// keyboardRows catch runs such as "asdf" and "poiuy".
var keyboardRows = []string{"qwertyuiop", "asdfghjkl", "zxcvbnm", "1234567890"}

var leet = strings.NewReplacer("0", "o", "1", "i", "3", "e", "4", "a", "5", "s", "7", "t", "@", "a", "$", "s", "!", "i")

const (
	// minDistinctKeyBytes: 32 random bytes almost never have fewer distinct
	// values (the expected count is about 30).
	minDistinctKeyBytes = 16
	// minPassphraseDistinct and minPassphraseRest bound what a passphrase
	// must keep once repeated characters, sequences and common words are
	// discounted.
	minPassphraseDistinct = 8
	minPassphraseRest     = 8
)

// CheckStrength refuses master keys an attacker would guess first: empty or
// short values, hex keys shorter than 32 bytes, keys with few distinct bytes
// or made of printable text, passphrases that repeat a pattern or consist of
// common words (changeme, secret, password, admin, test…), digit or keyboard
// runs (12345678, qwerty). Production mode applies it to every root key.
// The error never quotes the key.
func CheckStrength(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty", ErrWeakKey)
	}
	if raw, ok := decodeKey(key); ok {
		defer clear(raw)
		return checkRawKey(raw)
	}
	if looksLikeHexKey(key) {
		return fmt.Errorf("%w: a hex key must be 64 hex digits (32 bytes)", ErrWeakKey)
	}
	if len(key) < MinPassphraseLen {
		return fmt.Errorf("%w: shorter than %d characters and not a 32-byte hex/base64 key", ErrWeakKey, MinPassphraseLen)
	}
	return checkPassphrase(key)
}

func checkRawKey(raw []byte) error {
	seen := map[byte]bool{}
	printable := true
	for _, c := range raw {
		seen[c] = true
		printable = printable && c >= 0x20 && c < 0x7f
	}
	switch {
	case len(seen) < minDistinctKeyBytes:
		return fmt.Errorf("%w: too few distinct bytes for a random key", ErrWeakKey)
	case printable:
		return fmt.Errorf("%w: the key decodes to plain text, not random bytes", ErrWeakKey)
	case isArithmetic(raw):
		return fmt.Errorf("%w: the key is a sequence", ErrWeakKey)
	}
	return nil
}

// isArithmetic reports bytes with a constant step (00 01 02 …, or 00 00 …).
func isArithmetic(b []byte) bool {
	for i := 2; i < len(b); i++ {
		if b[i]-b[i-1] != b[1]-b[0] {
			return false
		}
	}
	return true
}

func checkPassphrase(p string) error {
	lower := strings.ToLower(p)
	distinct := map[rune]bool{}
	for _, r := range lower {
		distinct[r] = true
	}
	if len(distinct) < minPassphraseDistinct {
		return fmt.Errorf("%w: too few distinct characters", ErrWeakKey)
	}
	if repeats(lower) {
		return fmt.Errorf("%w: the passphrase repeats a pattern", ErrWeakKey)
	}
	rest := leet.Replace(stripRuns(lower))
	for _, w := range weakWords {
		rest = strings.ReplaceAll(rest, w, " ")
	}
	n := 0
	for _, r := range rest {
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			n++
		}
	}
	if n < minPassphraseRest {
		return fmt.Errorf("%w: made of common words or character runs", ErrWeakKey)
	}
	return nil
}

// repeats reports whether s is one substring repeated (period ≤ len/2).
func repeats(s string) bool {
	for p := 1; p <= len(s)/2; p++ {
		if len(s)%p == 0 && strings.Repeat(s[:p], len(s)/p) == s {
			return true
		}
	}
	return false
}

// stripRuns replaces runs of 4 or more consecutive characters (abcd, 4321)
// and keyboard-row runs (qwer, lkjh) with a space.
func stripRuns(s string) string {
	b := []byte(s)
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); {
		j := runEnd(b, i)
		if j-i >= 4 {
			out = append(out, ' ')
			i = j
			continue
		}
		out = append(out, b[i])
		i++
	}
	return string(out)
}

// runEnd returns the end of the longest alphabetic, numeric or keyboard run
// starting at i (i+1 when there is none).
func runEnd(b []byte, i int) int {
	best := i + 1
	for _, step := range []int{1, -1} {
		j := i + 1
		for j < len(b) && int(b[j])-int(b[j-1]) == step && isAlnum(b[j]) && isAlnum(b[j-1]) {
			j++
		}
		best = max(best, j)
	}
	for _, row := range keyboardRows {
		for _, r := range []string{row, reverse(row)} {
			j := i
			k := strings.IndexByte(r, b[i])
			for k >= 0 && j < len(b) && k < len(r) && b[j] == r[k] {
				j, k = j+1, k+1
			}
			best = max(best, j)
		}
	}
	return best
}

func isAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func reverse(s string) string {
	b := []byte(s)
	for i, j := 0, len(b)-1; i < j; i, j = i+1, j-1 {
		b[i], b[j] = b[j], b[i]
	}
	return string(b)
}
