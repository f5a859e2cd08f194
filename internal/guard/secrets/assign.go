package secrets

import (
	"math"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// secretNames are the name fragments that make an assigned value a secret
// candidate.
var secretNames = []string{"key", "token", "secret", "passw", "pwd", "passphrase", "credential", "auth", "bearer"}

// appendAssignments finds values assigned to secret-looking names:
// `api_key = "..."`, `token: ...`, `"password": "..."`, `Authorization:
// Bearer ...`. The value must be long and random enough (entropy) unless
// the name is a password, where any non-trivial value counts.
func appendAssignments(out []span.Span, text string) []span.Span {
	ops := operators{eq: -2, colon: -2}
	for i := ops.next(text, 0); i >= 0; i = ops.next(text, i+1) {
		name, ok := nameBefore(text, i)
		if !ok {
			continue
		}
		s, e := valueAfter(text, i+1)
		if s >= e {
			continue
		}
		v := text[s:e]
		if looksSecret(name, v) {
			out = append(out, mk(GenericSecret, s, e, 0.75))
			i = e - 1
		}
	}
	return out
}

// operators finds the assignment operators '=' and ':' in order with
// IndexByte (vectorised) instead of a loop over every byte. It remembers
// the next of each, so a text full of one and free of the other is still
// read once per operator, not once per occurrence.
type operators struct {
	eq, colon int // offset of the next '=' / ':'; -1 none left, -2 not searched
}

// next returns the offset of the first '=' or ':' at or after i, or -1.
func (o *operators) next(text string, i int) int {
	o.eq = nextByte(text, i, '=', o.eq)
	o.colon = nextByte(text, i, ':', o.colon)
	switch {
	case o.eq < 0:
		return o.colon
	case o.colon < 0:
		return o.eq
	}
	return min(o.eq, o.colon)
}

// nextByte returns the offset of the first c at or after i, given the
// offset last found (-2 for none searched yet, -1 for none left).
func nextByte(text string, i int, c byte, last int) int {
	if last == -1 || last >= i {
		return last
	}
	if i >= len(text) {
		return -1
	}
	k := strings.IndexByte(text[i:], c)
	if k < 0 {
		return -1
	}
	return i + k
}

// nameBefore returns the lower-cased identifier that ends just before the
// '=' or ':' at i (skipping a closing quote and spaces), looking back at
// most MaxContext bytes, and whether it names a secret.
func nameBefore(text string, i int) (string, bool) {
	j := i
	lo := max(0, i-MaxContext)
	for j > lo && (text[j-1] == ' ' || text[j-1] == '"' || text[j-1] == '\'') {
		j--
	}
	k := j
	for k > lo && (tokenByte(text[k-1]) || text[k-1] == '.') {
		k--
	}
	if k == j {
		return "", false
	}
	name := strings.ToLower(text[k:j])
	for _, w := range secretNames {
		if strings.Contains(name, w) {
			return name, true
		}
	}
	return "", false
}

// valueAfter returns the value span after an assignment operator: optional
// spaces and an opening quote, an optional "Bearer " scheme, then up to 512
// bytes of non-space, non-quote, non-separator text.
func valueAfter(text string, i int) (int, int) {
	for i < len(text) && (text[i] == ' ' || text[i] == '"' || text[i] == '\'' || text[i] == '=') {
		i++
	}
	if len(text)-i > 7 && strings.EqualFold(text[i:i+7], "bearer ") {
		i += 7
	}
	e := i
	for e < len(text) && e-i < 512 && !valueEnd(text[e]) {
		e++
	}
	return i, e
}

func valueEnd(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == '`' || c == '}' || c == ')' || c == ']' || c == '<' || c == '>'
}

// looksSecret applies the entropy rule. Password-like names accept any value
// of 6+ bytes that is not a placeholder; other names need 16+ bytes, two
// character classes and at least 3 bits of entropy per byte.
func looksSecret(name, v string) bool {
	if placeholder(v) {
		return false
	}
	if strings.Contains(name, "passw") || strings.Contains(name, "pwd") || strings.Contains(name, "passphrase") {
		return len(v) >= 6
	}
	return len(v) >= 16 && classes(v) >= 2 && entropy(v) >= 3.0
}

func placeholder(v string) bool {
	l := strings.ToLower(v)
	if strings.HasPrefix(l, "$") || strings.HasPrefix(l, "{{") || strings.HasPrefix(l, "<") || strings.HasPrefix(l, "[") || strings.HasPrefix(l, "%") {
		return true
	}
	for _, p := range []string{"xxxx", "****", "your", "changeme", "redacted", "example.com", "null", "none", "true", "false", "process.env", "os.environ", "getenv"} {
		if strings.Contains(l, p) {
			return true
		}
	}
	return false
}

func classes(v string) int {
	var lo, up, dg, ot int
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case c >= 'a' && c <= 'z':
			lo = 1
		case c >= 'A' && c <= 'Z':
			up = 1
		case c >= '0' && c <= '9':
			dg = 1
		default:
			ot = 1
		}
	}
	return lo + up + dg + ot
}

// entropy is the Shannon entropy of v in bits per byte.
func entropy(v string) float64 {
	var counts [256]int
	for i := 0; i < len(v); i++ {
		counts[v[i]]++
	}
	h, n := 0.0, float64(len(v))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}
