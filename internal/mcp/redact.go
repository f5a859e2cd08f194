package mcp

import (
	"encoding/json"
	"math"
	"net/url"
	"regexp"
	"sort"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Limits of an audit argument summary.
const (
	maxSummaryBytes = 1024
	maxSummaryValue = 96
	maxSummaryDepth = 6
	redacted        = "[REDACTED]"
)

// secretWords are name parts that mark a value as a secret, wherever they
// appear in a field name (api_key, X-Auth-Token, clientSecret...).
var secretWords = map[string]bool{
	"password": true, "passwd": true, "pwd": true, "passphrase": true,
	"secret": true, "token": true, "key": true, "apikey": true,
	"authorization": true, "auth": true, "bearer": true, "credential": true,
	"credentials": true, "cookie": true, "session": true, "signature": true,
	"private": true, "dsn": true,
}

// knownSecretRE catches well-known credential shapes whatever their entropy.
var knownSecretRE = regexp.MustCompile(`(?i)\b(sk-[a-z0-9_-]{8,}|bwat_[a-z0-9_.-]+|gh[pousr]_[a-z0-9]{20,}|xox[abpr]-[a-z0-9-]{10,}|AKIA[0-9A-Z]{16}|eyJ[a-z0-9_-]{10,}\.[a-z0-9_-]+\.[a-z0-9_-]*)`)

// summarizeArgs renders a tool's arguments for the audit log: values of
// secret-named fields and secret-looking strings are replaced, every string
// is truncated, and the whole summary is capped. Invalid JSON is summarised
// by its size only: it is never copied.
func summarizeArgs(args json.RawMessage) string {
	if len(args) == 0 {
		return "{}" // no arguments at all, as DecodeArgs reads them
	}
	var v any
	if err := json.Unmarshal(args, &v); err != nil {
		return "(unparsable arguments, " + itoa(len(args)) + " bytes)"
	}
	var b strings.Builder
	writeSummary(&b, v, 0)
	s := b.String()
	if len(s) > maxSummaryBytes {
		s = truncateUTF8(s, maxSummaryBytes) + "…"
	}
	return s
}

func writeSummary(b *strings.Builder, v any, depth int) {
	if depth > maxSummaryDepth {
		b.WriteString("…")
		return
	}
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(quoteShort(k))
			b.WriteByte(':')
			if isSecretName(k) {
				b.WriteString(`"` + redacted + `"`)
				continue
			}
			writeSummary(b, x[k], depth+1)
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, e := range x {
			if i > 0 {
				b.WriteByte(',')
			}
			if i == 8 {
				b.WriteString("…" + itoa(len(x)-8) + " more")
				break
			}
			writeSummary(b, e, depth+1)
		}
		b.WriteByte(']')
	case string:
		b.WriteString(quoteShort(redactString(x)))
	default:
		enc, _ := json.Marshal(x)
		b.Write(enc)
	}
}

// isSecretName splits a field name into words (snake, kebab, camel case) and
// reports whether any is a secret word.
func isSecretName(name string) bool {
	var words []string
	var cur []rune
	flush := func() {
		if len(cur) > 0 {
			words = append(words, strings.ToLower(string(cur)))
			cur = cur[:0]
		}
	}
	prevLower := false
	for _, r := range name {
		switch {
		case !unicode.IsLetter(r) && !unicode.IsDigit(r):
			flush()
			prevLower = false
			continue
		case unicode.IsUpper(r) && prevLower:
			flush()
		}
		cur = append(cur, r)
		prevLower = unicode.IsLower(r)
	}
	flush()
	for _, w := range words {
		if secretWords[w] {
			return true
		}
	}
	return secretWords[strings.ToLower(name)]
}

// redactString hides secret-looking strings and secret parts of URLs.
func redactString(s string) string {
	if knownSecretRE.MatchString(s) {
		s = knownSecretRE.ReplaceAllString(s, redacted)
	}
	if u, err := url.Parse(s); err == nil && u.Scheme != "" && u.Host != "" {
		return redactURL(u)
	}
	for _, f := range strings.FieldsFunc(s, func(r rune) bool {
		return unicode.IsSpace(r) || r == '=' || r == ':' || r == ',' || r == '"' || r == '\''
	}) {
		if looksHighEntropy(f) {
			s = strings.ReplaceAll(s, f, redacted)
		}
	}
	return s
}

// redactURL drops userinfo and the values of secret-named query parameters.
func redactURL(u *url.URL) string {
	if u.User != nil {
		u.User = url.User(redacted)
	}
	q := u.Query()
	for k, vs := range q {
		for i, v := range vs {
			if isSecretName(k) || looksHighEntropy(v) {
				vs[i] = redacted
			}
		}
	}
	if len(q) > 0 {
		u.RawQuery = q.Encode()
	}
	u.Fragment = ""
	return u.String()
}

// looksHighEntropy flags long tokens with the character spread of keys and
// random ids (≥ 20 chars, ≥ 3.5 bits per char, letters and digits mixed).
func looksHighEntropy(s string) bool {
	if len(s) < 20 || strings.ContainsAny(s, " /") {
		return false
	}
	var hasDigit, hasLetter bool
	counts := map[rune]int{}
	n := 0
	for _, r := range s {
		counts[r]++
		n++
		hasDigit = hasDigit || unicode.IsDigit(r)
		hasLetter = hasLetter || unicode.IsLetter(r)
	}
	if !hasDigit || !hasLetter {
		return false
	}
	var h float64
	for _, c := range counts {
		p := float64(c) / float64(n)
		h -= p * math.Log2(p)
	}
	return h >= 3.5
}

func quoteShort(s string) string {
	if len(s) > maxSummaryValue {
		s = truncateUTF8(s, maxSummaryValue) + "…"
	}
	enc, _ := json.Marshal(s)
	return string(enc)
}

func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func itoa(n int) string {
	enc, _ := json.Marshal(n)
	return string(enc)
}
