// Package pii finds personal data in text: e-mail addresses, phone numbers,
// payment cards (Luhn and issuer checked), IBANs (mod-97 and per-country
// length), US social security numbers (allocation rules), IPv4/IPv6
// addresses and Brazilian CPF/CNPJ numbers (check digits).
//
// Detection is a handful of hand-written single-pass scanners rather than
// regular expressions: each byte is visited a bounded number of times, so
// the cost is linear in the input with no window and no per-match re-scan.
// All functions are pure and safe for concurrent use.
package pii

import (
	"net/netip"
	"strings"

	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Entity types reported by this package.
const (
	Email      = "EMAIL"
	Phone      = "PHONE"
	CreditCard = "CREDIT_CARD"
	IBAN       = "IBAN"
	USSSN      = "US_SSN"
	IPAddress  = "IP_ADDRESS"
	CPF        = "CPF"
	CNPJ       = "CNPJ"
)

// Types lists every entity type Detect can report.
var Types = []string{Email, Phone, CreditCard, IBAN, USSSN, IPAddress, CPF, CNPJ}

// Detect returns every PII span in text, sorted and non-overlapping, with
// byte offsets into text.
func Detect(text string) []span.Span {
	var out []span.Span
	out = appendEmails(out, text)
	out = appendIPv6(out, text)
	out = appendTokens(out, text)
	return span.Resolve(out)
}

func mk(typ string, start, end int, conf float64) span.Span {
	return span.Span{Family: span.FamilyPII, Type: typ, Start: start, End: end, Confidence: conf}
}

func isAlpha(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }
func isAlnum(c byte) bool { return isAlpha(c) || isDigit(c) }

// Byte classes, looked up in one table: the scanners test them on every
// byte, and one load is cheaper than a chain of range comparisons.
const (
	classHex  = 1 << iota // 0-9, a-f, A-F
	classWord             // see wordByte
	classIPv6             // bytes of an IPv6 candidate run: hex, ':' and '.'
)

var classes = func() (t [256]uint8) {
	for c := range 256 {
		b := byte(c)
		if isDigit(b) || b|0x20 >= 'a' && b|0x20 <= 'f' {
			t[c] |= classHex | classIPv6
		}
		if isAlnum(b) || b == '_' || b >= 0x80 {
			t[c] |= classWord
		}
		if b == ':' || b == '.' {
			t[c] |= classIPv6
		}
	}
	return t
}()

func isHex(c byte) bool { return classes[c]&classHex != 0 }

// wordByte reports bytes that continue an identifier; non-ASCII bytes count
// so that a digit run glued to a letter in any script is not split off.
func wordByte(c byte) bool { return classes[c]&classWord != 0 }

func localByte(c byte) bool {
	return isAlnum(c) || strings.IndexByte("._%+-'", c) >= 0
}

func domainByte(c byte) bool { return isAlnum(c) || c == '.' || c == '-' }

// appendEmails finds addresses around each '@'. The left expansion stops at
// the previous '@' and both sides are capped, so bytes are visited O(1)
// times each.
func appendEmails(out []span.Span, text string) []span.Span {
	prevEnd := 0
	for off := 0; ; {
		k := strings.IndexByte(text[off:], '@')
		if k < 0 {
			return out
		}
		at := off + k
		off = at + 1
		s := at
		for s > prevEnd && at-s < 64 && localByte(text[s-1]) {
			s--
		}
		for s < at && (text[s] == '.' || text[s] == '\'') {
			s++
		}
		e := at + 1
		for e < len(text) && e-at < 255 && domainByte(text[e]) {
			e++
		}
		for e > at+1 && (text[e-1] == '.' || text[e-1] == '-') {
			e--
		}
		if s == at || !validDomain(text[at+1:e]) {
			continue
		}
		out = append(out, mk(Email, s, e, 0.95))
		prevEnd, off = e, e
	}
}

func validDomain(d string) bool {
	dot := strings.LastIndexByte(d, '.')
	if dot <= 0 || len(d)-dot-1 < 2 || strings.Contains(d, "..") {
		return false
	}
	for i := dot + 1; i < len(d); i++ {
		if !isAlpha(d[i]) {
			return false
		}
	}
	return true
}

// appendIPv6 parses every maximal run of hex digits, ':' and '.' that holds
// at least two colons. Only a run holding the next colon can be one, so the
// scan jumps there: to just after the last byte before that colon that no
// run can cross. A run-by-run scan from anywhere earlier would reach that
// same position (every run it parses ends at or before such a byte), so
// the runs parsed from there on, and the addresses found, are the same.
func appendIPv6(out []span.Span, text string) []span.Span {
	colon := -1 // the next ':' at or after i, once i has passed the last one
	for i := 0; i < len(text); {
		if colon < i {
			k := strings.IndexByte(text[i:], ':')
			if k < 0 {
				return out
			}
			colon = i + k
			q := colon
			for q > i && classes[text[q-1]]&classIPv6 != 0 {
				q--
			}
			i = q
		}
		if !isHex(text[i]) && text[i] != ':' || i > 0 && (wordByte(text[i-1]) || text[i-1] == ':') {
			i++
			continue
		}
		j, colons := i, 0
		for j < len(text) && classes[text[j]]&classIPv6 != 0 {
			if text[j] == ':' {
				colons++
			}
			j++
		}
		if colons >= 2 && j-i <= 45 && (j == len(text) || !wordByte(text[j])) {
			cand := strings.TrimRight(text[i:j], ".")
			if a, err := netip.ParseAddr(cand); err == nil && a.Is6() && hexGroups(cand) >= 3 {
				out = append(out, mk(IPAddress, i, i+len(cand), 0.9))
			}
		}
		if j == i {
			j++
		}
		i = j
	}
	return out
}

func hexGroups(s string) int {
	n := 0
	for _, g := range strings.Split(s, ":") {
		if g != "" {
			n++
		}
	}
	return n
}
