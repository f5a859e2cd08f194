package fs

import (
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Path limits: generous for real projects, small enough that a model cannot
// make the server build huge strings or deep walks.
const (
	maxPathBytes      = 1024
	maxComponentBytes = 255
	maxDepth          = 64
)

// ValidatePath checks a path given by a caller (usually a model) and returns
// it cleaned, relative to the workspace root ("." for the root itself). It
// refuses empty, absolute and escaping paths, backslashes, NUL and control
// characters, invalid UTF-8 and over-long paths. It is the first gate only:
// os.Root enforces confinement (including symlinks) at open time.
func ValidatePath(p string) (string, error) {
	switch {
	case p == "":
		return "", fmt.Errorf("%w: empty path", ErrInvalidPath)
	case len(p) > maxPathBytes:
		return "", fmt.Errorf("%w: path longer than %d bytes", ErrInvalidPath, maxPathBytes)
	case !utf8.ValidString(p):
		return "", fmt.Errorf("%w: path is not valid UTF-8", ErrInvalidPath)
	case strings.ContainsRune(p, '\\'):
		return "", fmt.Errorf("%w: backslash in path (use /)", ErrInvalidPath)
	case strings.HasPrefix(p, "/"):
		return "", fmt.Errorf("%w: absolute path (paths are relative to the workspace)", ErrInvalidPath)
	}
	for _, r := range p {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return "", fmt.Errorf("%w: control character in path", ErrInvalidPath)
		}
	}
	if !filepath.IsLocal(p) {
		return "", fmt.Errorf("%w: path escapes the workspace", ErrInvalidPath)
	}
	clean := path.Clean(p)
	parts := strings.Split(clean, "/")
	if len(parts) > maxDepth {
		return "", fmt.Errorf("%w: path deeper than %d levels", ErrInvalidPath, maxDepth)
	}
	for _, c := range parts {
		if len(c) > maxComponentBytes {
			return "", fmt.Errorf("%w: path component longer than %d bytes", ErrInvalidPath, maxComponentBytes)
		}
	}
	return clean, nil
}

// inGitDir reports whether any component of the cleaned path names a .git
// directory. Case and trailing dots/spaces are ignored, because on
// case-insensitive or Windows-like file systems ".GIT" and ".git." reach the
// same directory.
func inGitDir(clean string) bool {
	for _, c := range strings.Split(clean, "/") {
		if strings.EqualFold(strings.TrimRight(c, ". "), ".git") {
			return true
		}
	}
	return false
}
