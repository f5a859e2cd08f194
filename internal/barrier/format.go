package barrier

import (
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
)

// Layout of a v1 ciphertext.
const (
	termSize    = 4
	versionSize = 1
	nonceSize   = 12
	tagSize     = 16
	headerSize  = termSize + versionSize
	// Overhead is the number of bytes a ciphertext adds to its plaintext.
	Overhead = headerSize + nonceSize + tagSize
	// formatVersion is the only ciphertext version this package writes or reads.
	formatVersion = 1
	// TextPrefix starts the text form of every ciphertext.
	TextPrefix = "enc:v1:"
	// aadDomain separates record AAD from every other use of the data keys.
	aadDomain = "bulwark/record/v1"
)

var textEncoding = base64.RawURLEncoding.Strict()

// AAD is the identity of the record a value belongs to. It is authenticated
// with the ciphertext, so a value only decrypts in the record it was written
// for. All three fields are required.
type AAD struct {
	Table string // e.g. "providers"
	ID    string // the row's primary key
	Field string // the column, e.g. "api_key"
}

func (a AAD) validate() error {
	if a.Table == "" || a.ID == "" || a.Field == "" {
		return ErrInvalidAAD
	}
	for _, s := range []string{a.Table, a.ID, a.Field} {
		if uint64(len(s)) > math.MaxUint32 { // encode's 4-byte length prefix
			return ErrInvalidAAD
		}
	}
	return nil
}

// encode returns the GCM additional data: a domain string, the ciphertext
// header, then each identity field with a 4-byte length prefix, so no two
// distinct identities share an encoding.
func (a AAD) encode(header []byte) []byte {
	n := len(aadDomain) + len(header) + 12 + len(a.Table) + len(a.ID) + len(a.Field)
	b := make([]byte, 0, n)
	b = append(b, aadDomain...)
	b = append(b, header...)
	for _, s := range []string{a.Table, a.ID, a.Field} {
		b = binary.BigEndian.AppendUint32(b, uint32(len(s))) //nolint:gosec // G115: validate bounds every field to MaxUint32 first
		b = append(b, s...)
	}
	return b
}

// header is the parsed fixed prefix of a ciphertext.
type header struct {
	term  uint32
	nonce []byte
	body  []byte // GCM ciphertext and tag
	raw   []byte // term|version bytes, authenticated as part of the AAD
}

// parse checks the structure of ct without any key. It does not copy.
func parse(ct []byte) (header, error) {
	if len(ct) < Overhead {
		return header{}, fmt.Errorf("%w: %d bytes, need at least %d", ErrMalformed, len(ct), Overhead)
	}
	if ct[termSize] != formatVersion {
		return header{}, fmt.Errorf("%w: unsupported version %d", ErrMalformed, ct[termSize])
	}
	term := binary.BigEndian.Uint32(ct[:termSize])
	if term == 0 {
		return header{}, fmt.Errorf("%w: term 0", ErrMalformed)
	}
	return header{
		term:  term,
		raw:   ct[:headerSize],
		nonce: ct[headerSize : headerSize+nonceSize],
		body:  ct[headerSize+nonceSize:],
	}, nil
}

// FormatText returns the text form of a binary ciphertext for a text column.
func FormatText(ct []byte) string {
	return TextPrefix + textEncoding.EncodeToString(ct)
}

// ParseText returns the binary ciphertext in a text-form value. Anything not
// in the exact "enc:v1:" + base64url form is refused; there is no plaintext
// fallback. The error never quotes s, which might be a secret stored in clear.
func ParseText(s string) ([]byte, error) {
	rest, ok := strings.CutPrefix(s, TextPrefix)
	if !ok {
		return nil, fmt.Errorf("%w: value is not in %q form", ErrMalformed, TextPrefix)
	}
	// The stdlib decoder skips '\r' and '\n'; a canonical form has none.
	for i := 0; i < len(rest); i++ {
		if !isURLBase64(rest[i]) {
			return nil, fmt.Errorf("%w: invalid character at offset %d", ErrMalformed, len(TextPrefix)+i)
		}
	}
	ct, err := textEncoding.DecodeString(rest)
	if err != nil {
		return nil, fmt.Errorf("%w: bad base64url", ErrMalformed)
	}
	if _, err := parse(ct); err != nil {
		return nil, err
	}
	return ct, nil
}

func isURLBase64(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}
