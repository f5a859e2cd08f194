package gateway

import (
	"bytes"
	"unicode"
	"unicode/utf8"
)

// foldSet holds the folded names of one object's members, to find two
// that encoding/json would take for the same field. The first names are
// kept in the caller's buffers (arrays on the caller's stack: no
// allocation for an ordinary request body) and compared one by one; past
// foldLinear of them a map takes over, so a body of many members costs
// linear time — one of 40 000 members took seconds when every name was
// compared with every other.
type foldSet struct {
	buf  []byte // folded names back to back (the first foldLinear)
	ends []int  // end of each name in buf
	set  map[string]struct{}
}

const foldLinear = 16

// add records name and returns the set with it, its folded form, and
// whether a member with the same folded name was already recorded. The
// key is valid until the next add. (A value receiver, returned: a set
// updated through a pointer sent its caller's arrays to the heap.)
func (s foldSet) add(name string) (next foldSet, key []byte, dup bool) {
	start := len(s.buf)
	s.buf = appendFold(s.buf, name)
	key = s.buf[start:]
	if s.set != nil {
		k := string(key)
		s.buf = s.buf[:start]
		if _, dup = s.set[k]; !dup {
			s.set[k] = struct{}{}
		}
		return s, []byte(k), dup
	}
	prev := 0
	for _, end := range s.ends {
		if end-prev == len(key) && bytes.Equal(s.buf[prev:end], key) {
			s.buf = s.buf[:start]
			return s, key, true
		}
		prev = end
	}
	s.ends = append(s.ends, len(s.buf))
	if len(s.ends) == foldLinear {
		s.set = make(map[string]struct{}, 2*foldLinear)
		prev := 0
		for _, end := range s.ends {
			s.set[string(s.buf[prev:end])] = struct{}{}
			prev = end
		}
	}
	return s, key, false
}

// appendFold appends name folded: ASCII letters in upper case, any other
// rune as the smallest rune of its simple-folding orbit, so two names are
// equal folded exactly when encoding/json's case-insensitive match (and
// strings.EqualFold) takes them for one.
func appendFold(dst []byte, name string) []byte {
	for i := 0; i < len(name); {
		c := name[i]
		if c < utf8.RuneSelf {
			if 'a' <= c && c <= 'z' {
				c -= 'a' - 'A'
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(name[i:]) // an invalid byte is U+FFFD, as json decodes it
		dst = utf8.AppendRune(dst, foldMin(r))
		i += size
	}
	return dst
}

// foldMin is the smallest rune that simple-folds to r (r itself when none
// is smaller): the orbit's one canonical member.
func foldMin(r rune) rune {
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	return m
}
