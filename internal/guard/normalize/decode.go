package normalize

import (
	"encoding/base64"
	"encoding/hex"
	"net/url"
	"strings"
	"unicode"
	"unicode/utf8"
)

// minEncoded is the shortest run worth decoding: shorter base64 or hex runs
// are ordinary identifiers and cannot hide a useful instruction.
const minEncoded = 16

// Decoded returns the plaintext hidden in suspicious encoded runs of s:
// base64 (standard or URL alphabet), hex and URL percent-encoding. A run is
// kept only if it decodes to mostly printable UTF-8 text, so random tokens
// and binary blobs are ignored. Each byte of s is examined at most twice.
func Decoded(s string) []string {
	var out []string
	// A run worth decoding covers the last byte of any window of
	// minEncoded bytes it starts in, so the scan tests that byte and
	// jumps the whole window when it ends no run: prose is mostly words
	// shorter than minEncoded. s[i-1] is never a token byte.
	for i := 0; i+minEncoded <= len(s); {
		e := i + minEncoded - 1
		if !tokenByte(s[e]) {
			i = e + 1
			continue
		}
		p := e // the run holding e starts at p
		for p > i && tokenByte(s[p-1]) {
			p--
		}
		j := e + 1
		for j < len(s) && tokenByte(s[j]) {
			j++
		}
		if j-p >= minEncoded {
			if d, ok := decodeToken(s[p:j]); ok {
				out = append(out, d)
			}
		}
		i = j + 1 // s[j] ends the run
	}
	return out
}

// tokenBytes marks the bytes of base64 (both alphabets), hex and
// percent-encoded runs; a table because Decoded tests every byte of every
// prompt.
var tokenBytes = func() (t [256]bool) {
	for c := range 256 {
		t[c] = c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.IndexByte("+/=-_%.", byte(c)) >= 0
	}
	return t
}()

func tokenByte(c byte) bool { return tokenBytes[c] }

func decodeToken(tok string) (string, bool) {
	if strings.Count(tok, "%") >= 3 {
		if d, err := url.QueryUnescape(tok); err == nil && printable(d) {
			return d, true
		}
	}
	if len(tok)%2 == 0 && isHexString(tok) {
		if b, err := hex.DecodeString(tok); err == nil && printable(string(b)) {
			return string(b), true
		}
	}
	trimmed := strings.TrimRight(tok, "=")
	for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(trimmed); err == nil && printable(string(b)) {
			return string(b), true
		}
	}
	return "", false
}

func isHexString(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c|0x20 < 'a' || c|0x20 > 'f') {
			return false
		}
	}
	return true
}

// printable reports valid UTF-8 in which at least 90 % of the runes are
// letters, digits, punctuation or spaces, and at least one space occurs
// (an instruction has words).
func printable(s string) bool {
	if !utf8.ValidString(s) || len(s) == 0 || !strings.ContainsRune(s, ' ') {
		return false
	}
	good, n := 0, 0
	for _, r := range s {
		n++
		if unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.IsPunct(r) || r == ' ' || r == '\n' || unicode.IsSymbol(r) {
			good++
		}
	}
	return good*10 >= n*9
}

// Rot13 returns s with ASCII letters rotated by 13 places.
func Rot13(s string) string {
	b := []byte(s)
	for i, c := range b {
		switch {
		case c >= 'a' && c <= 'z':
			b[i] = 'a' + (c-'a'+13)%26
		case c >= 'A' && c <= 'Z':
			b[i] = 'A' + (c-'A'+13)%26
		}
	}
	return string(b)
}
