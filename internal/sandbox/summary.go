package sandbox

import (
	"math"
	"regexp"
	"strconv"
	"strings"
)

// Redacted replaces a secret in a Summary.
const Redacted = "[REDACTED]"

// Bounds of a Summary so an audit entry stays small whatever the argv.
const (
	summaryArgMax   = 200
	summaryTotalMax = 2048
	summaryArgsMax  = 64
)

var (
	// userinfoRe finds credentials in URLs: scheme://user:token@host.
	userinfoRe = regexp.MustCompile(`(?i)([a-z][a-z0-9+.-]*://)[^/@\s]*@`)
	// secretFlagRe matches option names that carry a secret value.
	secretFlagRe = regexp.MustCompile(`(?i)^-{1,2}[a-z0-9_.-]*(pass(word|wd)?|token|secret|api[-_]?key|auth|credential|private[-_]?key)[a-z0-9_.-]*$`)
	// secretAssignRe matches NAME=value where NAME looks like a secret.
	secretAssignRe = regexp.MustCompile(`(?i)^([a-z0-9_.-]*(pass(word|wd)?|token|secret|api[-_]?key|auth(orization)?|credential|private[-_]?key)[a-z0-9_.-]*)(=|:\s*)(.+)$`)
	// knownTokenRe matches well-known credential prefixes anywhere.
	knownTokenRe = regexp.MustCompile(`(sk-[A-Za-z0-9_-]{8,}|gh[pousr]_[A-Za-z0-9]{16,}|github_pat_[A-Za-z0-9_]{16,}|glpat-[A-Za-z0-9_-]{12,}|xox[abpsr]-[A-Za-z0-9-]{8,}|AKIA[0-9A-Z]{16}|bwk_[A-Za-z0-9_-]{8,})`)
	// tokenRe finds long runs that might be random secrets.
	tokenRe = regexp.MustCompile(`[A-Za-z0-9+/=_-]{24,}`)
	hexRe   = regexp.MustCompile(`^[0-9a-f]{7,40}$`)
)

// Summary renders argv for an audit entry with secrets removed: URL
// credentials, values of secret-looking options (--password=x, --token x,
// TOKEN=x, Authorization: x), well-known token formats and long
// high-entropy strings (commit ids of 7–40 lower-case hex digits are kept).
// Each argument is quoted if needed and the whole is bounded in size.
func Summary(args []string) string {
	var b strings.Builder
	redactNext := false
	for i, a := range args {
		if i >= summaryArgsMax {
			b.WriteString(" …(" + strconv.Itoa(len(args)-i) + " more)")
			break
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		var out string
		switch {
		case redactNext:
			out, redactNext = Redacted, false
		case secretFlagRe.MatchString(a):
			out, redactNext = a, true
		default:
			out = redactArg(a)
		}
		if len(out) > summaryArgMax {
			out = out[:summaryArgMax] + "…"
		}
		b.WriteString(quoteIfNeeded(out))
		if b.Len() > summaryTotalMax {
			return b.String()[:summaryTotalMax] + "…"
		}
	}
	return b.String()
}

func redactArg(a string) string {
	a = userinfoRe.ReplaceAllString(a, "${1}"+Redacted+"@")
	if name, val, ok := strings.Cut(a, "="); ok && strings.HasPrefix(name, "-") && secretFlagRe.MatchString(name) && val != "" {
		return name + "=" + Redacted
	}
	if m := secretAssignRe.FindStringSubmatch(a); m != nil {
		return m[1] + m[5] + Redacted
	}
	a = knownTokenRe.ReplaceAllString(a, Redacted)
	return tokenRe.ReplaceAllStringFunc(a, func(tok string) string {
		if hexRe.MatchString(tok) || entropy(tok) < 3.5 {
			return tok
		}
		return Redacted
	})
}

// entropy is the Shannon entropy of s in bits per byte.
func entropy(s string) float64 {
	var counts [256]int
	for i := 0; i < len(s); i++ {
		counts[s[i]]++
	}
	var h float64
	n := float64(len(s))
	for _, c := range counts {
		if c > 0 {
			p := float64(c) / n
			h -= p * math.Log2(p)
		}
	}
	return h
}

func quoteIfNeeded(s string) string {
	if s == "" {
		return `""`
	}
	for _, r := range s {
		if r <= ' ' || r == '"' || r == '\'' || r == '\\' || r > '~' {
			return strconv.Quote(s)
		}
	}
	return s
}
