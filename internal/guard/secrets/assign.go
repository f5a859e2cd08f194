package secrets

import (
	"bytes"
	"math"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// secretNames are the name fragments that make an assigned value a secret
// candidate, and passwordNames those that make it a password.
var (
	secretNames   = [][]byte{[]byte("key"), []byte("token"), []byte("secret"), []byte("passw"), []byte("pwd"), []byte("passphrase"), []byte("credential"), []byte("auth"), []byte("bearer")}
	passwordNames = [][]byte{[]byte("passw"), []byte("pwd"), []byte("passphrase")}
)

// appendAssignments finds values assigned to secret-looking names:
// `api_key = "..."`, `token: ...`, `"password": "..."`, `Authorization:
// Bearer ...`. The value must be long and random enough (entropy) unless
// the name is a password, where any non-trivial value counts; a value that
// is not is reported with confidence 0 (candidate).
func appendAssignments(out []span.Span, text string) []span.Span {
	ops := operators{eq: -2, colon: -2}
	var j *judge
	stop := 0     // the end of the last value measured
	reported := 0 // the end of the last candidate reported
	for i := ops.next(text, 0); i >= 0; i = ops.next(text, i+1) {
		pass, ok := nameBefore(text, i)
		if !ok {
			continue
		}
		// Values start in order, and one that starts inside the last
		// value measured ends where it does: each byte is read once.
		s := valueStart(text, i+1)
		if s >= stop {
			stop = valueEnd(text, s)
		}
		if j == nil {
			j = newJudge(text)
		}
		switch {
		case s >= stop:
		case j.looksSecret(pass, s, min(stop, s+maxJudged)):
			out = append(out, mk(GenericSecret, s, stop, 0.75))
			i = stop - 1
		case s >= reported && stop-s >= minSecretLen(pass):
			// Only a value long enough to be a secret has a part that
			// could be judged one. A candidate inside the last one
			// would lie inside its span: one per value keeps
			// "key=key=…" to one span.
			out = append(out, mk(GenericSecret, s, stop, candidate))
			reported = stop
		}
	}
	return out
}

// candidate is the confidence of a value assigned to a secret-looking name
// that does not look secret itself ("token: aaaa", "password=${PW}"). No
// threshold keeps it, but a finding inside it is merged with it
// (span.ResolveRanked), so redaction takes the whole value: redacting only
// the finding would leave a shorter value ("token: Zx8k-[PHONE_1]") that a
// second scan could judge secret when the whole was not.
const candidate = 0

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

// nameBefore reports whether the identifier that ends just before the '='
// or ':' at i (skipping a closing quote and spaces), looking back at most
// MaxContext bytes, names a secret, and whether it names a password. The
// identifier is ASCII (token bytes and dots), lower-cased on the stack.
func nameBefore(text string, i int) (pass, ok bool) {
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
		return false, false
	}
	var buf [MaxContext]byte
	name := buf[:j-k]
	for n := range name {
		c := text[k+n]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		name[n] = c
	}
	for _, w := range secretNames {
		if bytes.Contains(name, w) {
			return passwordName(name), true
		}
	}
	return false, false
}

// passwordName reports a lower-cased name that names a password.
func passwordName(name []byte) bool {
	for _, w := range passwordNames {
		if bytes.Contains(name, w) {
			return true
		}
	}
	return false
}

// maxJudged is how much of a value looksSecret reads.
const maxJudged = 512

// valueStart returns where the value after an assignment operator at
// text[i-1] starts: after optional spaces, an opening quote and a "Bearer "
// scheme.
func valueStart(text string, i int) int {
	for i < len(text) && (text[i] == ' ' || text[i] == '"' || text[i] == '\'' || text[i] == '=') {
		i++
	}
	if len(text)-i > 7 && strings.EqualFold(text[i:i+7], "bearer ") {
		i += 7
	}
	return i
}

// valueEnd returns where the value starting at text[s] ends: at a space,
// quote or separator, or at a redaction placeholder. A value is never cut
// short: only its first maxJudged bytes are judged, but the whole value is
// the span, so a secret is redacted whole and redacting a finding inside a
// candidate takes all of it. A placeholder ends the value because it
// replaced another finding: read as part of this value it would make a
// secret of "_[PHONE_1" that "_(020" was not.
func valueEnd(text string, s int) int {
	e := s
	for e < len(text) && !valueStop(text[e]) && (text[e] != '[' || span.PlaceholderAt(text, e) == 0) {
		e++
	}
	return e
}

func valueStop(c byte) bool {
	return c <= ' ' || c == '"' || c == '\'' || c == ',' || c == ';' || c == '`' || c == '}' || c == ')' || c == ']' || c == '<' || c == '>'
}

// minSecretLen is the length of the shortest value looksSecret accepts
// for a password's name (pass) or another's.
func minSecretLen(pass bool) int {
	if pass {
		return 6
	}
	return 16
}

// placeholderWords are the words that make a value a placeholder wherever
// they are in it, in any case (see judge.placeholder).
var placeholderWords = [...]string{"xxxx", "****", "your", "changeme", "redacted", "example.com", "null", "none", "true", "false", "process.env", "os.environ", "getenv"}

// entropyOf is the Shannon entropy in bits per byte of n bytes of which
// counts[c] are c.
func entropyOf(counts *[256]int32, n int) float64 {
	h, nf := 0.0, float64(n)
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / nf
			h -= p * math.Log2(p)
		}
	}
	return h
}
