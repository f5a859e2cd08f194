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
// byte offsets into text. A span of confidence 0 is not a finding (no
// threshold keeps it): it is a number shaped like a phone number with no
// cue in reach, which a redactor must merge into any finding it overlaps
// (span.ResolveRanked) so that redacting the finding leaves no part of the
// number behind.
//
// Detect allocates the spans it returns and little else: no scanner
// allocates per candidate, and the slice grows to what the density of
// spans so far predicts (collector). A text made only of such numbers
// ("370 3911, " over and over) costs a 56-byte span per ten bytes, 6.3
// bytes per byte of text in all.
func Detect(text string) []span.Span {
	c := collector{n: len(text)}
	c.begin()
	appendEmails(&c, text)
	c.begin()
	appendIPv6(&c, text)
	c.begin()
	appendTokens(&c, text)
	return span.Resolve(c.spans)
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
// the previous '@' (local parts hold none) and the right one is capped, so
// bytes are visited O(1) times each.
//
// An address must not begin or end inside a run that another entity could
// also be read from: redacting that entity would move the address's
// boundary, and the next scan of the redacted text would find an address
// this one missed, or a number this one split. So the local part is the
// whole run of local-part bytes before the '@' (no 64-byte cap to cut a
// number in two), and the domain may stop at a '.' or '-' (domainEnd).
func appendEmails(c *collector, text string) {
	prevEnd := 0
	for off := 0; ; {
		k := strings.IndexByte(text[off:], '@')
		if k < 0 {
			return
		}
		at := off + k
		off = at + 1
		s := at
		for s > prevEnd && localByte(text[s-1]) {
			s--
		}
		for s < at && (text[s] == '.' || text[s] == '\'') {
			s++
		}
		e := domainEnd(text, at)
		if s == at || e < 0 {
			continue
		}
		c.add(mk(Email, s, e, 0.95))
		prevEnd, off = e, e
	}
}

// domainEnd returns the end of the longest domain after the '@' at
// text[at], or -1 if there is none: letters, digits, '.' and '-', no empty
// label after the first dot, ending in an alphabetic top-level label of
// two or more letters, within 254 bytes. The domain may stop short of the
// run of domain bytes at a '.' or '-' ("a@b.example-4111111111111111" is
// the address a@b.example followed by a card number), never inside a label.
func domainEnd(text string, at int) int {
	end, dot, tld := -1, -1, true // tld: the bytes since the last dot are letters
	candidate := func(j int) {
		if dot > at+1 && j-dot > 2 && tld {
			end = j
		}
	}
	j := at + 1
	for ; j < len(text) && domainByte(text[j]); j++ {
		if j-at == 255 {
			return end // the run is longer than a domain: its end is no label's
		}
		switch c := text[j]; {
		case c == '.':
			candidate(j)
			if dot >= 0 && dot == j-1 {
				return end // no domain holds an empty label
			}
			dot, tld = j, true
		case c == '-':
			candidate(j)
			tld = false
		case !isAlpha(c):
			tld = false
		}
	}
	candidate(j)
	return end
}

// appendIPv6 finds the IPv6 addresses in every maximal run of hex digits,
// ':' and '.' that holds at least two colons. Only a run holding the next
// colon can hold one, so the scan jumps there: to just after the last byte
// before that colon that no run can cross.
func appendIPv6(c *collector, text string) {
	colon := -1 // the next ':' at or after i, once i has passed the last one
	for i := 0; i < len(text); {
		if colon < i {
			k := strings.IndexByte(text[i:], ':')
			if k < 0 {
				return
			}
			colon = i + k
			q := colon
			for q > i && classes[text[q-1]]&classIPv6 != 0 {
				q--
			}
			i = q
		}
		j, colons := i, 0
		for j < len(text) && classes[text[j]]&classIPv6 != 0 {
			if text[j] == ':' {
				colons++
			}
			j++
		}
		if colons >= 2 {
			appendIPv6Run(c, text, i, j)
		}
		i = j + 1
	}
}

// maxIPv6 is the length of the longest IPv6 address text
// ("ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255").
const maxIPv6 = 45

// appendIPv6Run finds the addresses in the run text[r0:r1], leftmost and
// then longest first. An address is read not only from the whole run but
// from any part of it that redacting a neighbour would turn into a run of
// its own, so that a second scan of redacted text finds no address the
// first did not: it may start at the run's start (not glued to a word),
// after a '.', at a "::" or where the previous address ended, and end at
// the run's end (not glued to a word), before a '.', or before or after a
// "::". An address needs at least three groups, so times such as 12:30:45
// are not addresses.
func appendIPv6Run(c *collector, text string, r0, r1 int) {
	next := -1 // where the previous address found ended
	for s := r0; s < r1; s++ {
		if !ipv6Start(text, r0, s, next) {
			continue
		}
		if e := longestIPv6(text, s, r1); e > 0 {
			c.add(mk(IPAddress, s, e, 0.9))
			next, s = e, e-1
		}
	}
}

// ipv6Start reports whether an address may start at text[s], in the run
// starting at r0 whose previous address ended at next.
func ipv6Start(text string, r0, s, next int) bool {
	switch c := text[s]; {
	case c == '.' || s < next:
		return false
	case s == r0 && (s == 0 || !wordByte(text[s-1])), s == next:
		return true
	case c == ':':
		return text[s-1] != ':' && s+1 < len(text) && text[s+1] == ':'
	}
	return text[s-1] == '.'
}

// longestIPv6 returns the end of the longest address starting at text[s]
// and ending where appendIPv6Run allows, or 0.
func longestIPv6(text string, s, r1 int) int {
	var buf [16]int // more than ipv6Ends can list
	ends := ipv6Ends(text, s, r1, buf[:0])
	for k := len(ends) - 1; k >= 0; k-- {
		cand := text[s:ends[k]]
		if strings.Count(cand, ":") < 2 {
			continue
		}
		if a, err := netip.ParseAddr(cand); err == nil && a.Is6() && hexGroups(cand) >= 3 {
			return ends[k]
		}
	}
	return 0
}

// ipv6Ends appends to ends, in order, where an address starting at text[s]
// may end in the run ending at r1: before a '.', before or after a "::",
// at the run's end. It stops where the text can no longer be the start of
// an address, so it reads at most maxIPv6 bytes and lists a handful of
// ends.
func ipv6Ends(text string, s, r1 int, ends []int) []int {
	add := func(e int) {
		if e > s && text[e-1] != '.' {
			ends = append(ends, e)
		}
	}
	lim := min(r1, s+maxIPv6)
	colons, dots, group, double := 0, 0, 0, false
	e := s
scan:
	for ; e < lim; e++ {
		switch c := text[e]; c {
		case ':':
			if e+1 < r1 && text[e+1] == ':' {
				add(e) // an address may start at the "::"
			}
			if dots > 0 || e > s && text[e-1] == ':' && double {
				break scan // a colon after the IPv4 part, or a second "::"
			}
			if e > s && text[e-1] == ':' {
				double = true
				add(e + 1)
			}
			colons, group = colons+1, 0
		case '.':
			add(e)
			if colons == 0 || dots == 3 {
				break scan // an IPv4 part before any colon, or a fifth part
			}
			dots, group = dots+1, 0
		default:
			group++
			if group > 4 || dots > 0 && !isDigit(c) {
				break scan
			}
		}
	}
	if e == r1 && (r1 == len(text) || !wordByte(text[r1])) {
		add(r1)
	}
	return ends
}

// hexGroups counts the non-empty parts of s between colons.
func hexGroups(s string) int {
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] != ':' && (i == 0 || s[i-1] == ':') {
			n++
		}
	}
	return n
}
