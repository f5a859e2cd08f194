package usage

import "strings"

// plainOpenAI reads the four counts FromOpenAI wants from a usage object
// in one pass, when the object has the plain form OpenAI-compatible
// servers send: no backslash anywhere (so no escaped member name and no
// quote inside a string), every wanted member present at most once, counts
// as unsigned integers of at most 18 digits and the two details members as
// objects. For such an object the result is what gjson's path lookups
// read; ok is false for anything else, and the caller then uses them —
// four lookups walked the object four times, about two thirds of the
// cost of reading a stream's usage.
func plainOpenAI(raw string) (t Tokens, ok bool) {
	if strings.IndexByte(raw, '\\') >= 0 {
		return Tokens{}, false
	}
	p := plainParser{s: raw}
	t, ok = p.openAIUsage()
	return t, ok && p.atEnd()
}

// openAIUsage reads the plain usage object at p.i (see plainOpenAI).
func (p *plainParser) openAIUsage() (t Tokens, ok bool) {
	var seen [4]bool
	ok = p.members(func(key string) bool {
		switch p.depth = 1; key {
		case "prompt_tokens":
			return once(&seen[0]) && p.count(&t.PromptTokens)
		case "completion_tokens":
			return once(&seen[1]) && p.count(&t.CompletionTokens)
		case "prompt_tokens_details":
			return once(&seen[2]) && p.details("cached_tokens", &t.CachedTokens)
		case "completion_tokens_details":
			return once(&seen[3]) && p.details("reasoning_tokens", &t.ReasoningTokens)
		}
		return p.skipValue()
	})
	return t, ok
}

// plainOpenAIChunk reads an OpenAI stream chunk of the plain form (no
// backslash anywhere, "usage" and "choices" at most once, the usage object
// plain as above, nothing after the object) in one walk of its top level:
// the usage counts, whether it has a usage object at all (ok), and whether
// it has no choices — "choices" absent, null or an empty array, as on the
// chunk that carries a stream's usage. plain is false for any other form,
// which the caller reads with path lookups; two lookups walked the chunk
// twice, in gjson's code, which nothing else on a stream's path runs.
func plainOpenAIChunk(chunk string) (t Tokens, ok, choiceless, plain bool) {
	if strings.IndexByte(chunk, '\\') >= 0 {
		return Tokens{}, false, false, false
	}
	p := plainParser{s: chunk}
	var sawUsage, sawChoices bool
	choiceless = true
	walked := p.members(func(key string) bool {
		switch p.depth = 0; key {
		case "usage":
			if !once(&sawUsage) {
				return false
			}
			if p.i < len(p.s) && p.s[p.i] == '{' {
				t, ok = p.openAIUsage()
				return ok
			}
		case "choices":
			if !once(&sawChoices) {
				return false
			}
			choiceless = p.emptyOrNull()
		}
		return p.skipValue()
	})
	if !walked || !p.atEnd() {
		return Tokens{}, false, false, false
	}
	return t, ok, choiceless, true
}

// emptyOrNull reports whether the value at p.i is null or an empty array,
// leaving p.i where it was.
func (p *plainParser) emptyOrNull() bool {
	rest := p.s[p.i:]
	if strings.HasPrefix(rest, "null") {
		return true
	}
	if rest == "" || rest[0] != '[' {
		return false
	}
	rest = strings.TrimLeft(rest[1:], " \t\r\n")
	return rest != "" && rest[0] == ']'
}

// once marks a member seen; false for a repeat (gjson reads the first of
// duplicates, a case left to it).
func once(seen *bool) bool {
	if *seen {
		return false
	}
	*seen = true
	return true
}

// plainParser walks backslash-free JSON. Every method returns false on
// anything outside the plain form.
type plainParser struct {
	s     string
	i     int
	depth int // of the value being skipped: bounded, so hostile nesting costs no deep recursion
}

// maxPlainDepth bounds the nesting skipValue follows; deeper values are
// left to gjson.
const maxPlainDepth = 16

func (p *plainParser) space() {
	for p.i < len(p.s) && (p.s[p.i] == ' ' || p.s[p.i] == '\t' || p.s[p.i] == '\n' || p.s[p.i] == '\r') {
		p.i++
	}
}

func (p *plainParser) atEnd() bool {
	p.space()
	return p.i == len(p.s)
}

// members walks an object, calling member with each name once the
// parser stands on its value; member must consume the value.
func (p *plainParser) members(member func(key string) bool) bool {
	p.space()
	if p.i == len(p.s) || p.s[p.i] != '{' {
		return false
	}
	p.i++
	p.space()
	if p.i < len(p.s) && p.s[p.i] == '}' {
		p.i++
		return true
	}
	for {
		key, ok := p.str()
		if !ok {
			return false
		}
		p.space()
		if p.i == len(p.s) || p.s[p.i] != ':' {
			return false
		}
		p.i++
		p.space()
		if !member(key) {
			return false
		}
		if more, ok := p.next('}'); !more {
			return ok
		}
	}
}

// str reads a string (no backslash can occur in it).
func (p *plainParser) str() (string, bool) {
	if p.i == len(p.s) || p.s[p.i] != '"' {
		return "", false
	}
	end := strings.IndexByte(p.s[p.i+1:], '"')
	if end < 0 {
		return "", false
	}
	s := p.s[p.i+1 : p.i+1+end]
	p.i += end + 2
	return s, true
}

// count reads an unsigned integer of at most 18 digits (no overflow).
func (p *plainParser) count(dst *int64) bool {
	start := p.i
	var n int64
	for p.i < len(p.s) && p.s[p.i] >= '0' && p.s[p.i] <= '9' {
		n = n*10 + int64(p.s[p.i]-'0')
		p.i++
	}
	digits := p.i - start
	if digits == 0 || digits > 18 || (digits > 1 && p.s[start] == '0') {
		return false
	}
	if p.i < len(p.s) && (p.s[p.i] == '.' || p.s[p.i] == 'e' || p.s[p.i] == 'E') {
		return false // a fraction or exponent: gjson's conversion decides
	}
	*dst = n
	return true
}

// details reads a details object, taking the count of the member named
// want.
func (p *plainParser) details(want string, dst *int64) bool {
	seen := false
	return p.members(func(key string) bool {
		if key == want {
			return once(&seen) && p.count(dst)
		}
		return p.skipValue()
	})
}

// skipValue passes over one value of any kind.
func (p *plainParser) skipValue() bool {
	if p.i == len(p.s) {
		return false
	}
	switch c := p.s[p.i]; c {
	case '"':
		_, ok := p.str()
		return ok
	case '{', '[':
		if p.depth++; p.depth > maxPlainDepth {
			return false
		}
		defer func() { p.depth-- }()
		if c == '[' {
			return p.elements()
		}
		return p.members(func(string) bool { return p.skipValue() })
	default: // a number or a literal: up to the next delimiter
		start := p.i
		for p.i < len(p.s) && !endsLiteral(p.s[p.i]) {
			p.i++
		}
		return p.i > start
	}
}

// endsLiteral reports whether c ends a number or literal: a delimiter or
// space.
func endsLiteral(c byte) bool {
	switch c {
	case ',', '}', ']', ' ', '\t', '\r', '\n':
		return true
	}
	return false
}

// elements passes over an array.
func (p *plainParser) elements() bool {
	p.i++ // '['
	p.space()
	if p.i < len(p.s) && p.s[p.i] == ']' {
		p.i++
		return true
	}
	for {
		if !p.skipValue() {
			return false
		}
		if more, ok := p.next(']'); !more {
			return ok
		}
	}
}

// next reads what follows a member or element: a comma (more is true) or
// the container's closing byte (ok is true); anything else is neither.
func (p *plainParser) next(closing byte) (more, ok bool) {
	p.space()
	if p.i == len(p.s) {
		return false, false
	}
	switch p.s[p.i] {
	case ',':
		p.i++
		p.space()
		return true, true
	case closing:
		p.i++
		return false, true
	}
	return false, false
}
