package fs

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"slices"
	"strings"
)

// Match is one matching line found by Search.
type Match struct {
	Path string `json:"path"` // relative to the workspace
	Line int    `json:"line"` // 1-based
	Text string `json:"text"` // the line, cut to maxMatchText bytes
}

const (
	maxMatchText    = 240
	maxQueryBytes   = 1024
	maxResults      = 1000
	binarySniffSize = 8 << 10
	// maxSearchEntries caps directory entries visited by one search.
	maxSearchEntries = 100_000
)

// Search looks for the literal string query in the regular files under
// directory p and returns at most limit matches (capped at 1000). Symlinks are
// not followed, .git directories and binary files are skipped, and the bytes
// scanned are bounded by the workspace limits.
func (w *Workspace) Search(p, query string, limit int) ([]Match, error) {
	if query == "" || len(query) > maxQueryBytes {
		return nil, fmt.Errorf("fs: search: query must be 1-%d bytes", maxQueryBytes)
	}
	return w.search(p, limit, func(line []byte) bool { return bytes.Contains(line, []byte(query)) })
}

// SearchRegexp is Search with an RE2 regular expression (linear time, so a
// hostile pattern cannot stall the server).
func (w *Workspace) SearchRegexp(p, pattern string, limit int) ([]Match, error) {
	if pattern == "" || len(pattern) > maxQueryBytes {
		return nil, fmt.Errorf("fs: search: pattern must be 1-%d bytes", maxQueryBytes)
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("fs: search: bad pattern: %w", err)
	}
	return w.search(p, limit, re.Match)
}

type searchState struct {
	w       *Workspace
	match   func([]byte) bool
	max     int
	files   int
	entries int // directory entries seen: bounds walks of huge empty trees
	scanned int64
	out     []Match
}

func (w *Workspace) search(p string, limit int, match func([]byte) bool) ([]Match, error) {
	rel, err := ValidatePath(p)
	if err != nil {
		return nil, fmt.Errorf("fs: search: %w", err)
	}
	if limit <= 0 || limit > maxResults {
		limit = maxResults
	}
	s := &searchState{w: w, match: match, max: limit, out: []Match{}}
	if err := s.walk(rel, 0); err != nil {
		return nil, err
	}
	return s.out, nil
}

func (s *searchState) done() bool {
	return len(s.out) >= s.max || s.files >= s.w.limits.MaxSearchFiles ||
		s.entries >= maxSearchEntries || s.scanned >= s.w.limits.MaxSearchBytes
}

func (s *searchState) walk(dir string, depth int) error {
	f, err := s.w.openDir(dir)
	if err != nil {
		return opError("search", dir, err)
	}
	des, err := f.ReadDir(maxSearchEntries)
	closeRead(f)
	if err != nil && !errors.Is(err, io.EOF) {
		return opError("search", dir, err)
	}
	// Sorted, so results (and what the caps cut) are deterministic.
	slices.SortFunc(des, func(a, b os.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	for _, de := range des {
		if s.done() {
			return nil
		}
		s.entries++
		name := join(dir, de.Name())
		switch {
		case de.IsDir() && !inGitDir(de.Name()) && depth < maxDepth:
			if err := s.walk(name, depth+1); err != nil {
				return err
			}
		case de.Type().IsRegular():
			s.scanFile(name)
		}
	}
	return nil
}

// scanFile searches one file; files that vanish or change type between
// listing and opening are skipped rather than failing the whole search.
func (s *searchState) scanFile(rel string) {
	f, _, err := s.w.openRegular("search", rel)
	if err != nil {
		return
	}
	defer closeRead(f)
	s.files++
	budget := min(s.w.limits.MaxFileScan, s.w.limits.MaxSearchBytes-s.scanned)
	r := bufio.NewReaderSize(io.LimitReader(f, budget), 64<<10)
	if head, _ := r.Peek(binarySniffSize); bytes.IndexByte(head, 0) >= 0 {
		return
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 256<<10)
	for line := 1; sc.Scan(); line++ {
		b := sc.Bytes()
		s.scanned += int64(len(b)) + 1
		if s.match(b) {
			s.out = append(s.out, Match{Path: rel, Line: line, Text: cut(b)})
			if len(s.out) >= s.max {
				return
			}
		}
	}
}

func cut(b []byte) string {
	if len(b) > maxMatchText {
		b = b[:maxMatchText]
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}
