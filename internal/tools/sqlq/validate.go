package sqlq

import (
	"fmt"
	"strings"
)

const maxQueryBytes = 64 << 10

// deniedWords are keywords and functions a read-only query never needs.
// Refusing them is a first, friendly gate only: the database connection
// (SQLite mode=ro + query_only, PostgreSQL READ ONLY transaction under a
// read-only role) is what actually prevents writes.
var deniedWords = map[string]bool{
	"attach": true, "detach": true, "pragma": true, "load_extension": true,
	"insert": true, "update": true, "delete": true, "replace": true, "upsert": true,
	"create": true, "drop": true, "alter": true, "truncate": true, "rename": true,
	"vacuum": true, "reindex": true, "analyze": true, "into": true,
	"grant": true, "revoke": true, "copy": true, "call": true, "do": true,
	"set": true, "reset": true, "lock": true, "listen": true, "notify": true, "unlisten": true,
	"begin": true, "commit": true, "rollback": true, "savepoint": true, "release": true,
	"prepare": true, "execute": true, "deallocate": true, "discard": true, "refresh": true,
	"cluster": true, "checkpoint": true, "security": true, "import": true,
	"pg_read_file": true, "pg_read_binary_file": true, "pg_ls_dir": true, "pg_stat_file": true,
	"lo_import": true, "lo_export": true, "lo_from_bytea": true, "lo_put": true,
	"dblink": true, "dblink_exec": true, "set_config": true,
	"pg_terminate_backend": true, "pg_cancel_backend": true, "pg_reload_conf": true,
	"readfile": true, "writefile": true, "fts3_tokenizer": true, "edit": true,
}

// ValidateQuery accepts exactly one SELECT, WITH, VALUES or EXPLAIN
// statement (a trailing semicolon is fine) that uses none of deniedWords
// outside string literals, quoted identifiers and comments.
func ValidateQuery(q string) error {
	if strings.TrimSpace(q) == "" || len(q) > maxQueryBytes {
		return fmt.Errorf("%w: query must be 1-%d bytes", ErrRefused, maxQueryBytes)
	}
	if strings.ContainsRune(q, 0) {
		return fmt.Errorf("%w: NUL byte in query", ErrRefused)
	}
	words, statements, err := scan(q)
	if err != nil {
		return err
	}
	if statements != 1 {
		return fmt.Errorf("%w: exactly one statement allowed", ErrRefused)
	}
	switch words[0] {
	case "select", "with", "values", "explain":
	default:
		return fmt.Errorf("%w: only SELECT, WITH, VALUES or EXPLAIN queries are allowed", ErrRefused)
	}
	for _, w := range words {
		if deniedWords[w] {
			return fmt.Errorf("%w: %s is not allowed in a read-only query", ErrRefused, strings.ToUpper(w))
		}
	}
	return nil
}

// scan splits q into lower-cased bare words, skipping literals, quoted
// identifiers and comments, and counts non-empty statements.
func scan(q string) (words []string, statements int, err error) {
	inStatement := false
	for i := 0; i < len(q); {
		c := q[i]
		switch {
		case c == '-' && strings.HasPrefix(q[i:], "--"):
			i = skipTo(q, i+2, "\n")
		case c == '/' && strings.HasPrefix(q[i:], "/*"):
			if i = skipTo(q, i+2, "*/"); i < 0 {
				return nil, 0, fmt.Errorf("%w: unterminated comment", ErrRefused)
			}
		case c == '\'' || c == '"' || c == '`':
			if i = skipQuoted(q, i, c); i < 0 {
				return nil, 0, fmt.Errorf("%w: unterminated quote", ErrRefused)
			}
			inStatement = true
		case c == '[':
			if i = skipTo(q, i+1, "]"); i < 0 {
				return nil, 0, fmt.Errorf("%w: unterminated identifier", ErrRefused)
			}
			inStatement = true
		case c == '$' && dollarTag(q[i:]) != "":
			tag := dollarTag(q[i:])
			if i = skipTo(q, i+len(tag), tag); i < 0 {
				return nil, 0, fmt.Errorf("%w: unterminated dollar quote", ErrRefused)
			}
			inStatement = true
		case c == ';':
			if inStatement {
				statements++
				inStatement = false
			}
			i++
		case isWordStart(c):
			j := i
			for j < len(q) && isWordPart(q[j]) {
				j++
			}
			words = append(words, strings.ToLower(q[i:j]))
			i, inStatement = j, true
		default:
			if c > ' ' {
				inStatement = true
			}
			i++
		}
	}
	if inStatement {
		statements++
	}
	if len(words) == 0 {
		return nil, 0, fmt.Errorf("%w: no statement", ErrRefused)
	}
	return words, statements, nil
}

// skipTo returns the index just past the next end at or after i, or -1
// (len(q) for a line comment without a newline).
func skipTo(q string, i int, end string) int {
	k := strings.Index(q[i:], end)
	if k < 0 {
		if end == "\n" {
			return len(q)
		}
		return -1
	}
	return i + k + len(end)
}

// skipQuoted skips a quoted run starting at i; a doubled quote is an
// escaped quote.
func skipQuoted(q string, i int, quote byte) int {
	for j := i + 1; j < len(q); j++ {
		if q[j] == quote {
			if j+1 < len(q) && q[j+1] == quote {
				j++
				continue
			}
			return j + 1
		}
	}
	return -1
}

// dollarTag returns a PostgreSQL dollar-quote opener ($$ or $tag$) at the
// start of s, or "".
func dollarTag(s string) string {
	for j := 1; j < len(s); j++ {
		switch {
		case s[j] == '$':
			return s[:j+1]
		case !isWordPart(s[j]):
			return ""
		}
	}
	return ""
}

func isWordStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_' || c >= 0x80
}

func isWordPart(c byte) bool {
	return isWordStart(c) || c >= '0' && c <= '9' || c == '$'
}
