// Package secrets finds credentials in text: provider API keys (OpenAI,
// Anthropic, Google, AWS, GitHub, GitLab, Slack, Stripe), PEM private keys,
// JWTs, Bulwark's own virtual keys and high-entropy values assigned to
// key/token/secret/password names.
//
// Documentation example keys (AWS's AKIA...EXAMPLE) are reported like any
// other: allowlisting them is an operator's decision, not a default.
//
// Each rule starts from a literal anchor found with strings.Index and then
// extends over the token once; the search resumes after the token, so every
// byte is read a bounded number of times and the cost is linear in the input.
// All functions are pure and safe for concurrent use.
package secrets

import (
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Secret types reported by this package.
const (
	OpenAIKey     = "OPENAI_KEY"
	AnthropicKey  = "ANTHROPIC_KEY"
	GoogleAPIKey  = "GOOGLE_API_KEY" //nolint:gosec // G101: the name of a finding type, not a credential
	AWSAccessKey  = "AWS_ACCESS_KEY"
	GitHubToken   = "GITHUB_TOKEN" //nolint:gosec // G101: the name of a finding type, not a credential
	GitLabToken   = "GITLAB_TOKEN"
	SlackToken    = "SLACK_TOKEN"
	StripeKey     = "STRIPE_KEY"
	PrivateKey    = "PRIVATE_KEY"
	JWT           = "JWT"
	BulwarkKey    = "BULWARK_KEY"
	GenericSecret = "GENERIC_SECRET"
)

// Types lists every type Detect can report.
var Types = []string{OpenAIKey, AnthropicKey, GoogleAPIKey, AWSAccessKey, GitHubToken, GitLabToken, SlackToken, StripeKey, PrivateKey, JWT, BulwarkKey, GenericSecret}

// MaxContext is how many bytes before a value Detect may look at to decide
// it is a secret (the name in "api_key = ..."). The streaming redactor keeps
// at least this much already-emitted text as context.
const MaxContext = 64

// Detect returns every secret span in text, sorted and non-overlapping, with
// byte offsets into text. A span of confidence 0 is not a finding (no
// threshold keeps it): it is a value assigned to a secret-looking name that
// does not look secret, which a redactor must merge into any finding it
// overlaps (span.ResolveRanked).
func Detect(text string) []span.Span {
	var out []span.Span
	out = appendPrefixed(out, text)
	out = appendAWS(out, text)
	out = appendPEM(out, text)
	out = appendAssignments(out, text)
	return span.Resolve(out)
}

func mk(typ string, start, end int, conf float64) span.Span {
	return span.Span{Family: span.FamilySecrets, Type: typ, Start: start, End: end, Confidence: conf}
}

func isAlnum(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' || c >= '0' && c <= '9' }

// tokenByte is what API-key bodies are made of.
func tokenByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// boundary reports whether a token may start at i: the byte before it does
// not continue a token.
func boundary(text string, i int) bool {
	return i == 0 || !tokenByte(text[i-1]) && text[i-1] != '.'
}

// prefixRule is a key recognised by its literal prefix and a body of at
// least min token bytes.
type prefixRule struct {
	prefix string
	typ    string
	min    int
	conf   float64
	body   func(byte) bool
	check  func(body string) bool // optional extra structure check
	except []string               // longer prefixes owned by another rule
}

var prefixRules = [...]prefixRule{
	{prefix: "sk-ant-", typ: AnthropicKey, min: 20, conf: 0.99, body: tokenByte},
	{prefix: "sk-bw-", typ: BulwarkKey, min: 49, conf: 0.99, body: tokenByte, check: bulwarkBody},
	{prefix: "sk-", typ: OpenAIKey, min: 20, conf: 0.9, body: tokenByte, except: []string{"sk-ant-", "sk-bw-"}},
	{prefix: "AIza", typ: GoogleAPIKey, min: 35, conf: 0.95, body: tokenByte},
	{prefix: "ghp_", typ: GitHubToken, min: 36, conf: 0.99, body: isAlnum},
	{prefix: "gho_", typ: GitHubToken, min: 36, conf: 0.99, body: isAlnum},
	{prefix: "ghu_", typ: GitHubToken, min: 36, conf: 0.99, body: isAlnum},
	{prefix: "ghs_", typ: GitHubToken, min: 36, conf: 0.99, body: isAlnum},
	{prefix: "ghr_", typ: GitHubToken, min: 36, conf: 0.99, body: isAlnum},
	{prefix: "github_pat_", typ: GitHubToken, min: 22, conf: 0.99, body: tokenByte},
	{prefix: "glpat-", typ: GitLabToken, min: 20, conf: 0.99, body: tokenByte},
	{prefix: "xoxb-", typ: SlackToken, min: 10, conf: 0.97, body: tokenByte},
	{prefix: "xoxp-", typ: SlackToken, min: 10, conf: 0.97, body: tokenByte},
	{prefix: "xoxa-", typ: SlackToken, min: 10, conf: 0.97, body: tokenByte},
	{prefix: "xoxr-", typ: SlackToken, min: 10, conf: 0.97, body: tokenByte},
	{prefix: "xoxs-", typ: SlackToken, min: 10, conf: 0.97, body: tokenByte},
	{prefix: "sk_live_", typ: StripeKey, min: 16, conf: 0.99, body: isAlnum},
	{prefix: "rk_live_", typ: StripeKey, min: 16, conf: 0.99, body: isAlnum},
	{prefix: "sk_test_", typ: StripeKey, min: 16, conf: 0.95, body: isAlnum},
	{prefix: "rk_test_", typ: StripeKey, min: 16, conf: 0.95, body: isAlnum},
}

// bulwarkBody checks the sk-bw-<id>-<secret> shape: an id of at least 8
// alphanumerics, a dash, and at least 40 alphanumerics.
func bulwarkBody(body string) bool {
	id, sec, ok := strings.Cut(body, "-")
	return ok && len(id) >= 8 && len(sec) >= 40 && alnumOnly(id) && alnumOnly(sec)
}

func alnumOnly(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isAlnum(s[i]) {
			return false
		}
	}
	return true
}

// rulesByFirst lists, for each byte, the indices into prefixRules of the
// rules whose prefix starts with it, in rule order.
var rulesByFirst = func() (t [256][]uint8) {
	for i, r := range prefixRules {
		t[r.prefix[0]] = append(t[r.prefix[0]], uint8(i))
	}
	return t
}()

// pairFirst and pairSecond pre-filter the fused pass on two bytes: a
// prefix (or the JWT's "eyJ") can start at s only if
// pairFirst[text[s]]&pairSecond[text[s+1]] != 0. One bit per first byte.
var pairFirst, pairSecond = func() (first, second [256]uint8) {
	prefixes := []string{"eyJ"}
	for _, r := range prefixRules {
		prefixes = append(prefixes, r.prefix)
	}
	var bits uint8
	for _, p := range prefixes {
		if first[p[0]] == 0 {
			if bits == 8 {
				panic("secrets: more than 8 distinct first bytes")
			}
			first[p[0]] = 1 << bits
			bits++
		}
		second[p[1]] |= first[p[0]]
	}
	return first, second
}()

// appendPrefixed runs every prefix rule and the JWT rule in one pass over
// text. Each rule keeps its own resume offset, so it sees exactly the
// occurrences a strings.Index loop per rule would (one past each token it
// extended over), but the text is read once instead of once per rule:
// English is full of the rules' first bytes ('s', 'g', 'r', 'e'), which
// made each of twenty-one Index loops stop every few bytes. No two of
// these rules can report spans at the same start (their prefixes differ
// there, and "sk-" defers to "sk-ant-" and "sk-bw-"), so emitting spans by
// position instead of by rule leaves Resolve's output unchanged.
func appendPrefixed(out []span.Span, text string) []span.Span {
	var next [len(prefixRules)]int
	nextJWT := 0
	for s := 0; s+1 < len(text); s++ {
		if pairFirst[text[s]]&pairSecond[text[s+1]] == 0 {
			continue
		}
		if text[s] == 'e' {
			if s >= nextJWT && strings.HasPrefix(text[s:], "eyJ") {
				var e int
				e, nextJWT = matchJWT(text, s)
				if e > s {
					out = append(out, mk(JWT, s, e, 0.95))
				}
			}
			continue
		}
		for _, ri := range rulesByFirst[text[s]] {
			r := &prefixRules[ri]
			if s < next[ri] || !strings.HasPrefix(text[s:], r.prefix) {
				continue
			}
			var sp span.Span
			var ok bool
			sp, next[ri], ok = r.match(text, s)
			if ok {
				out = append(out, sp)
			}
		}
	}
	return out
}

// match extends the rule's token at s (where its prefix is) and returns
// the span, the offset the rule's search resumes at, and whether the token
// is a key of this rule.
func (r *prefixRule) match(text string, s int) (span.Span, int, bool) {
	e := s + len(r.prefix)
	for e < len(text) && r.body(text[e]) {
		e++
	}
	next := max(e, s+1)
	if !boundary(text, s) || r.owned(text[s:]) {
		return span.Span{}, next, false
	}
	body := text[s+len(r.prefix) : e]
	if len(body) < r.min || r.check != nil && !r.check(body) {
		return span.Span{}, next, false
	}
	return mk(r.typ, s, e, r.conf), next, true
}

func (r *prefixRule) owned(rest string) bool {
	for _, p := range r.except {
		if strings.HasPrefix(rest, p) {
			return true
		}
	}
	return false
}

// appendAWS finds 20-character AWS access key ids (AKIA, ASIA, ABIA, ACCA
// and A3T prefixes followed by upper-case letters and digits).
func appendAWS(out []span.Span, text string) []span.Span {
	for off := 0; ; {
		k := strings.IndexByte(text[off:], 'A')
		if k < 0 {
			return out
		}
		s := off + k
		off = s + 1
		if s+20 > len(text) || !boundary(text, s) || s+20 < len(text) && tokenByte(text[s+20]) {
			continue
		}
		p := text[s : s+4]
		if p != "AKIA" && p != "ASIA" && p != "ABIA" && p != "ACCA" && p[:3] != "A3T" {
			continue
		}
		ok := true
		for i := s + 4; i < s+20; i++ {
			c := text[i]
			if (c < 'A' || c > 'Z') && (c < '0' || c > '9') {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, mk(AWSAccessKey, s, s+20, 0.97))
			off = s + 20
		}
	}
}

func b64urlByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

// matchJWT tries a header.payload.signature triple at s, where "eyJ"
// (base64url of `{"`) is; the payload must start with "eyJ" too. It
// returns the token's end (s when there is none) and the offset the JWT
// search resumes at.
func matchJWT(text string, s int) (end, next int) {
	e, ok := s, true
	for part := 0; part < 3 && ok; part++ {
		if part > 0 {
			if e >= len(text) || text[e] != '.' {
				ok = false
				break
			}
			e++
		}
		p := e
		for e < len(text) && b64urlByte(text[e]) {
			e++
		}
		ok = e-p >= 8 && (part != 1 || strings.HasPrefix(text[p:], "eyJ"))
	}
	if ok && boundary(text, s) {
		return e, max(e, s+1)
	}
	return s, max(e, s+1)
}

// appendPEM finds "-----BEGIN ... PRIVATE KEY-----" blocks. A block with no
// END line runs to the end of the text: a truncated key is still a key.
func appendPEM(out []span.Span, text string) []span.Span {
	const begin = "-----BEGIN "
	for off := 0; ; {
		k := strings.Index(text[off:], begin)
		if k < 0 {
			return out
		}
		s := off + k
		off = s + len(begin)
		hdrEnd := strings.Index(text[off:min(len(text), off+64)], "-----")
		if hdrEnd < 0 || !strings.HasSuffix(text[off:off+hdrEnd], "PRIVATE KEY") {
			continue
		}
		label := text[off : off+hdrEnd]
		endMark := "-----END " + label + "-----"
		e := len(text)
		if m := strings.Index(text[off:], endMark); m >= 0 {
			e = off + m + len(endMark)
		}
		out = append(out, mk(PrivateKey, s, e, 0.99))
		off = e
	}
}
