package eval

import (
	"encoding/base64"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Synthetic returns Bulwark's own generated labelled cases for the types the
// presidio set has few or none of (CPF, CNPJ, IBAN, US_SSN, IP, cards,
// every secret type): n valid values per type in varied sentences, plus
// for each checksummed type n values with a broken check digit that must
// not be detected (they carry no gold span). Generation is deterministic.
// These cases are written by the same team as the detectors, so they test
// the rules as specified rather than measure independent accuracy.
func Synthetic(n int) []PIIExample {
	r := rand.New(rand.NewPCG(42, 8))
	templates := []string{"Please update the record: %s. Thanks!", "my %s is below\n%s\nregards", "value=%s;", "« %s » — confirmé", "(%s)"}
	var out []PIIExample
	add := func(family, typ, v string, gold bool) {
		t := templates[r.IntN(len(templates))]
		var text string
		if strings.Count(t, "%s") == 2 {
			text = fmt.Sprintf(t, strings.ToLower(strings.ReplaceAll(typ, "_", " ")), v)
		} else {
			text = fmt.Sprintf(t, v)
		}
		ex := PIIExample{Text: text, Split: HeldOut}
		if gold {
			i := strings.LastIndex(text, v)
			ex.Spans = []span.Span{{Family: family, Type: typ, Start: i, End: i + len(v), Confidence: 1}}
		}
		out = append(out, ex)
	}
	for i := 0; i < n; i++ {
		cpf := withCheck(digits(r, 9), cpfCheck)
		add("pii", "CPF", fmtCPF(cpf), true)
		add("pii", "CPF", fmtCPF(breakLast(cpf)), false)
		cnpj := withCheck(digits(r, 12), cnpjCheck)
		add("pii", "CNPJ", fmtCNPJ(cnpj), true)
		add("pii", "CNPJ", fmtCNPJ(breakLast(cnpj)), false)
		iban := makeIBAN(r)
		add("pii", "IBAN", printIBAN(iban, i%2 == 0), true)
		add("pii", "IBAN", breakLast(iban), false)
		card := makeCard(r)
		add("pii", "CREDIT_CARD", spaced(card, i%3 == 0), true)
		add("pii", "CREDIT_CARD", breakLast(card), false)
		area := 1 + r.IntN(665)
		add("pii", "US_SSN", fmt.Sprintf("%03d-%02d-%04d", area, 1+r.IntN(99), 1+r.IntN(9999)), true)
		add("pii", "US_SSN", fmt.Sprintf("%03d-%02d-%04d", []int{0, 666, 900 + r.IntN(100)}[i%3], 1+r.IntN(99), 1+r.IntN(9999)), false)
		add("pii", "IP_ADDRESS", fmt.Sprintf("%d.%d.%d.%d", 1+r.IntN(254), r.IntN(256), r.IntN(256), 1+r.IntN(254)), true)
		add("pii", "IP_ADDRESS", fmt.Sprintf("2001:db8:%x:%x::%x", r.IntN(65536), r.IntN(65536), 1+r.IntN(65535)), true)
		sec := secretCases(r)
		for _, typ := range sortedTypes(sec) {
			add("secrets", typ, sec[typ], true)
		}
	}
	return out
}

func digits(r *rand.Rand, n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = "0123456789"[r.IntN(10)]
	}
	return string(b)
}

func alnum(r *rand.Rand, n int) string {
	const cs = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
	b := make([]byte, n)
	for i := range b {
		b[i] = cs[r.IntN(len(cs))]
	}
	return string(b)
}

func withCheck(base string, check func(string) byte) string {
	base += string(check(base))
	return base + string(check(base))
}

func cpfCheck(d string) byte {
	sum := 0
	for i := range d {
		sum += int(d[i]-'0') * (len(d) + 1 - i)
	}
	return byte('0' + (sum*10)%11%10)
}

func cnpjCheck(d string) byte {
	w := []int{6, 5, 4, 3, 2, 9, 8, 7, 6, 5, 4, 3, 2}[13-len(d):]
	sum := 0
	for i := range d {
		sum += int(d[i]-'0') * w[i]
	}
	if m := sum % 11; m >= 2 {
		return byte('0' + 11 - m)
	}
	return '0'
}

func breakLast(s string) string {
	c := s[len(s)-1]
	return s[:len(s)-1] + string('0'+(c-'0'+1)%10)
}

func fmtCPF(d string) string { return d[:3] + "." + d[3:6] + "." + d[6:9] + "-" + d[9:] }
func fmtCNPJ(d string) string {
	return d[:2] + "." + d[2:5] + "." + d[5:8] + "/" + d[8:12] + "-" + d[12:]
}

func makeIBAN(r *rand.Rand) string {
	countries := []struct {
		cc string
		n  int
	}{{"DE", 22}, {"FR", 27}, {"GB", 22}, {"NL", 18}, {"ES", 24}, {"BR", 29}, {"CH", 21}}
	c := countries[r.IntN(len(countries))]
	bban := digits(r, c.n-4)
	rem := 0
	for _, ch := range bban + c.cc + "00" {
		if ch >= 'A' {
			rem = (rem*100 + int(ch-'A'+10)) % 97
		} else {
			rem = (rem*10 + int(ch-'0')) % 97
		}
	}
	return c.cc + fmt.Sprintf("%02d", 98-rem) + bban
}

func printIBAN(s string, grouped bool) string {
	if !grouped {
		return s
	}
	var parts []string
	for i := 0; i < len(s); i += 4 {
		parts = append(parts, s[i:min(len(s), i+4)])
	}
	return strings.Join(parts, " ")
}

func makeCard(r *rand.Rand) string {
	prefixes := []struct {
		p string
		n int
	}{{"4", 16}, {"51", 16}, {"2221", 16}, {"34", 15}, {"37", 15}, {"6011", 16}, {"3530", 16}, {"36", 14}}
	c := prefixes[r.IntN(len(prefixes))]
	body := c.p + digits(r, c.n-len(c.p)-1)
	for d := byte('0'); d <= '9'; d++ {
		if luhnOK(body + string(d)) {
			return body + string(d)
		}
	}
	return ""
}

func luhnOK(s string) bool {
	sum, dbl := 0, false
	for i := len(s) - 1; i >= 0; i-- {
		d := int(s[i] - '0')
		if dbl {
			if d *= 2; d > 9 {
				d -= 9
			}
		}
		sum, dbl = sum+d, !dbl
	}
	return sum%10 == 0
}

func spaced(card string, yes bool) string {
	if !yes {
		return card
	}
	var parts []string
	for i := 0; i < len(card); i += 4 {
		parts = append(parts, card[i:min(len(card), i+4)])
	}
	return strings.Join(parts, " ")
}

func secretCases(r *rand.Rand) map[string]string {
	upper := strings.ToUpper(alnum(r, 16))
	jwtPart := func() string {
		return base64.RawURLEncoding.EncodeToString([]byte(`{"sub":"` + alnum(r, 12) + `","iat":` + strconv.Itoa(r.IntN(1e9)) + `}`))
	}
	return map[string]string{
		"OPENAI_KEY":     "sk-proj-" + alnum(r, 48),
		"ANTHROPIC_KEY":  "sk-ant-api03-" + alnum(r, 80),
		"GOOGLE_API_KEY": "AIza" + alnum(r, 35),
		"AWS_ACCESS_KEY": "AKIA" + upper,
		"GITHUB_TOKEN":   "ghp_" + alnum(r, 36),
		"GITLAB_TOKEN":   "glpat-" + alnum(r, 20),
		"SLACK_TOKEN":    "xoxb-" + digits(r, 12) + "-" + alnum(r, 24),
		"STRIPE_KEY":     "sk_live_" + alnum(r, 24),
		"JWT":            "eyJhbGciOiJIUzI1NiJ9." + jwtPart() + "." + alnum(r, 43),
		"BULWARK_KEY":    "sk-bw-" + alnum(r, 10) + "-" + alnum(r, 48),
		"PRIVATE_KEY":    "-----BEGIN EC PRIVATE KEY-----\n" + alnum(r, 64) + "\n-----END EC PRIVATE KEY-----",
	}
}

func sortedTypes(m map[string]string) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}
