// Package jsonscan validates JSON text without recursion and finds the
// members of its top-level object in the same pass.
//
// It exists because request bodies are untrusted and large: gjson's
// validator recurses once per nesting level, so a 16 MB body of brackets —
// under the default body limit — overflowed the goroutine stack, a fatal
// error that takes the whole process down. Here nesting is bounded
// (MaxDepth, encoding/json's limit) and kept on a small explicit stack,
// and the fast path reads what it needs from the top level while
// validating, instead of walking the body twice.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"errors"
)

// MaxDepth is the deepest nesting accepted, as in encoding/json.
const MaxDepth = 10000

// Errors of Scan.
var (
	ErrSyntax  = errors.New("not valid JSON")
	ErrTooDeep = errors.New("JSON nested more than 10000 levels deep")
)

// Member is called for each member of a top-level object, in order: name
// is the member's name as written between its quotes (escapes undecoded,
// escaped reports whether it has any), and b[start:end] is its raw value.
// It is called only for a body that is valid up to the member's end; the
// caller learns whether the rest is from Scan's result.
type Member func(name []byte, escaped bool, start, end int)

// Scan validates b as one JSON value (RFC 8259; strings are not checked
// for UTF-8, as neither encoding/json nor gjson does) nested at most
// MaxDepth deep. When the value is an object, member (if not nil) sees
// each of its members. object reports whether the value is an object.
func Scan(b []byte, member Member) (object bool, err error) {
	s := scanner{b: b}
	s.space()
	if s.i == len(b) {
		return false, ErrSyntax
	}
	object = b[s.i] == '{'
	if err := s.run(member); err != nil {
		return object, err
	}
	return object, nil
}

// Valid reports whether b is valid JSON within MaxDepth.
func Valid(b []byte) bool {
	_, err := Scan(b, nil)
	return err == nil
}

type scanner struct {
	b []byte
	i int
}

func (s *scanner) space() {
	b, i := s.b, s.i
	for i < len(b) && (b[i] == ' ' || b[i] == '\n' || b[i] == '\t' || b[i] == '\r') {
		i++
	}
	s.i = i
}

// run walks the value at s.i and everything after it: a loop over
// "expect a value" and "after a value" states, never a recursive call.
func (s *scanner) run(member Member) error {
	// '{' or '[' per open container; ordinary bodies fit in small.
	var small [32]byte
	stack := small[:0]
	var (
		name       []byte // the top-level member being read
		escaped    bool
		valueStart int
	)
	for {
		// Expect a value at s.i.
		s.space()
		if s.i == len(s.b) {
			return ErrSyntax
		}
		if len(stack) == 1 && stack[0] == '{' {
			valueStart = s.i
		}
		switch c := s.b[s.i]; c {
		case '{', '[':
			if len(stack) == MaxDepth {
				return ErrTooDeep
			}
			stack = append(stack, c)
			s.i++
			s.space()
			if s.i < len(s.b) && s.b[s.i] == c+2 { // '}' is '{'+2, ']' is '['+2
				s.i++
				stack = stack[:len(stack)-1]
				break
			}
			if c == '{' {
				n, esc, ok := s.key()
				if !ok {
					return ErrSyntax
				}
				if len(stack) == 1 {
					name, escaped = n, esc
				}
			}
			continue
		case '"':
			if !s.str() {
				return ErrSyntax
			}
		case 't':
			if !s.literal("true") {
				return ErrSyntax
			}
		case 'f':
			if !s.literal("false") {
				return ErrSyntax
			}
		case 'n':
			if !s.literal("null") {
				return ErrSyntax
			}
		default:
			if !s.number() {
				return ErrSyntax
			}
		}
		// After a value: close containers, or move to the next element.
		for {
			if len(stack) == 1 && stack[0] == '{' && member != nil {
				member(name, escaped, valueStart, s.i)
			}
			s.space()
			if len(stack) == 0 {
				if s.i != len(s.b) {
					return ErrSyntax // text after the value
				}
				return nil
			}
			if s.i == len(s.b) {
				return ErrSyntax
			}
			top := stack[len(stack)-1]
			c := s.b[s.i]
			s.i++
			if c == ',' {
				if top == '{' {
					s.space()
					n, esc, ok := s.key()
					if !ok {
						return ErrSyntax
					}
					if len(stack) == 1 {
						name, escaped = n, esc
					}
				}
				break // the next value
			}
			if c != top+2 {
				return ErrSyntax
			}
			stack = stack[:len(stack)-1]
			// The container was a value of its parent: loop to close or
			// continue the parent.
		}
	}
}

// key reads `"name" :` at s.i and returns the name's bytes between the
// quotes.
func (s *scanner) key() (name []byte, escaped, ok bool) {
	if s.i == len(s.b) || s.b[s.i] != '"' {
		return nil, false, false
	}
	start := s.i + 1
	if !s.str() {
		return nil, false, false
	}
	name = s.b[start : s.i-1]
	s.space()
	if s.i == len(s.b) || s.b[s.i] != ':' {
		return nil, false, false
	}
	s.i++
	return name, bytes.IndexByte(name, '\\') >= 0, true
}

// str reads a string at s.i (its opening quote) and leaves s.i past the
// closing one. The closing quote and the backslashes are found with
// bytes.IndexByte (vectorised), and the bytes between them are checked for
// control characters eight at a time: each byte is looked at a bounded
// number of times, however many escapes the string holds.
func (s *scanner) str() bool {
	b := s.b
	i := s.i + 1
	q := -1 // the next unescaped-looking quote at or after i, absolute
	for {
		if q < i {
			j := bytes.IndexByte(b[i:], '"')
			if j < 0 {
				return false
			}
			q = i + j
		}
		seg := b[i:q]
		k := bytes.IndexByte(seg, '\\')
		if k < 0 {
			if hasControl(seg) {
				return false
			}
			s.i = q + 1
			return true
		}
		if hasControl(seg[:k]) {
			return false
		}
		i += k // at the backslash
		if i+1 == len(b) {
			return false
		}
		switch b[i+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			i += 2
		case 'u':
			if i+6 > len(b) || !isHex(b[i+2]) || !isHex(b[i+3]) || !isHex(b[i+4]) || !isHex(b[i+5]) {
				return false
			}
			i += 6
		default:
			return false
		}
	}
}

// hasControl reports whether b holds a control character (below 0x20),
// which a JSON string must escape.
func hasControl(b []byte) bool {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	for len(b) >= 8 {
		x := binary.LittleEndian.Uint64(b)
		if (x-ones*0x20)&^x&highs != 0 {
			return true
		}
		b = b[8:]
	}
	for _, c := range b {
		if c < 0x20 {
			return true
		}
	}
	return false
}

func isHex(c byte) bool {
	return ('0' <= c && c <= '9') || ('a' <= c && c <= 'f') || ('A' <= c && c <= 'F')
}

func (s *scanner) literal(word string) bool {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		return false
	}
	s.i += len(word)
	return true
}

// number reads -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *scanner) number() bool {
	b, i := s.b, s.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && b[i] >= '1' && b[i] <= '9':
		i = digits(b, i)
	default:
		return false
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return false
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return false
		}
		i = j
	}
	s.i = i
	return true
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}
