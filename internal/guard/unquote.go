package guard

import (
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// unquote decodes the body of a JSON string token (the bytes between the
// quotes) exactly as encoding/json does: the escapes \" \\ \/ \b \f \n \r
// \t and \uXXXX (surrogate pairs joined, a lone surrogate becoming U+FFFD),
// and invalid UTF-8 coerced to U+FFFD. It reports false for an invalid
// escape. It replaces json.Unmarshal on the walk's hot path, which first
// re-validated and then decoded every escaped string through reflection;
// FuzzUnquote checks the two agree.
func unquote(raw string) (string, bool) {
	var b strings.Builder
	b.Grow(len(raw))
	for i := 0; i < len(raw); {
		c := raw[i]
		switch {
		case c != '\\':
			// Everything up to the next escape is copied as one run.
			end := strings.IndexByte(raw[i:], '\\')
			if end < 0 {
				end = len(raw)
			} else {
				end += i
			}
			writeCoerced(&b, raw[i:end])
			i = end
		default:
			if i+1 >= len(raw) {
				return "", false
			}
			i++
			switch raw[i] {
			case '"', '\\', '/', '\'':
				if raw[i] == '\'' {
					return "", false // JSON has no \' escape
				}
				b.WriteByte(raw[i])
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				r, ok := hex4(raw[i+1:])
				if !ok {
					return "", false
				}
				i += 4
				if utf16.IsSurrogate(r) {
					if r2, ok := hex4(raw[min(i+3, len(raw)):]); ok && i+2 < len(raw) && raw[i+1] == '\\' && raw[i+2] == 'u' {
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							i += 6
							b.WriteRune(dec)
							break
						}
					}
					r = utf8.RuneError
				}
				b.WriteRune(r)
			default:
				return "", false
			}
			i++
		}
	}
	return b.String(), true
}

// writeCoerced writes s with each byte of invalid UTF-8 replaced by
// U+FFFD, as encoding/json decodes it; valid text (nearly all) is written
// in one call.
func writeCoerced(b *strings.Builder, s string) {
	if utf8.ValidString(s) {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
}

// hex4 decodes the four hex digits at the start of s.
func hex4(s string) (rune, bool) {
	if len(s) < 4 {
		return 0, false
	}
	var r rune
	for i := range 4 {
		c := s[i]
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r*16 + rune(c)
	}
	return r, true
}
