package span

import (
	"strconv"
	"strings"
)

// Placeholder returns the text that replaces the n-th distinct value of
// type typ in a redacted string: "[EMAIL_1]". typ is an upper-case type
// name such as CREDIT_CARD.
//
// The detectors know this shape (PlaceholderAt): a placeholder is never
// part of a finding, and what a detector reads around a value stops at
// one, so that scanning redacted text finds nothing the first scan did not.
func Placeholder(typ string, n int) string {
	return "[" + typ + "_" + strconv.Itoa(n) + "]"
}

// maxPlaceholder bounds the length of a placeholder PlaceholderAt
// recognises ("[GENERIC_SECRET_1234567]" is 24 bytes).
const maxPlaceholder = 40

// PlaceholderAt returns the end of the placeholder starting at text[i], or
// 0 if none does: '[', an upper-case type name, '_', a decimal number, ']'.
func PlaceholderAt(text string, i int) int {
	if i >= len(text) || text[i] != '[' {
		return 0
	}
	k := strings.IndexByte(text[i+1:min(len(text), i+maxPlaceholder)], ']')
	if k < 0 {
		return 0
	}
	inner := text[i+1 : i+1+k]
	u := strings.LastIndexByte(inner, '_')
	if u < 1 || u == len(inner)-1 || inner[0] < 'A' || inner[0] > 'Z' {
		return 0
	}
	for j := 1; j < u; j++ {
		if c := inner[j]; c != '_' && (c < 'A' || c > 'Z') {
			return 0
		}
	}
	for j := u + 1; j < len(inner); j++ {
		if c := inner[j]; c < '0' || c > '9' {
			return 0
		}
	}
	return i + 2 + k
}

// PlaceholderBefore reports whether a placeholder ends just before
// text[end].
func PlaceholderBefore(text string, end int) bool {
	lo := max(0, end-maxPlaceholder)
	open := strings.LastIndexByte(text[lo:end], '[')
	return open >= 0 && PlaceholderAt(text, lo+open) == end
}
