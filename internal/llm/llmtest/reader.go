package llmtest

import (
	"bufio"
	"io"
	"strings"
)

// SSEReader reads SSE events from a live body one at a time; it implements
// llm.EventSource. Test aid only.
type SSEReader struct {
	r *bufio.Reader
	// Before, when set, runs at the start of every Next call: tests use it
	// to learn that the previous event has been fully handled.
	Before func()
}

// NewSSEReader wraps r.
func NewSSEReader(r io.Reader) *SSEReader { return &SSEReader{r: bufio.NewReader(r)} }

// Next returns the next event, or io.EOF.
func (s *SSEReader) Next() (string, []byte, error) {
	if s.Before != nil {
		s.Before()
	}
	var event string
	var data []string
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			if data != nil && err == io.EOF {
				return event, []byte(strings.Join(data, "\n")), nil
			}
			return "", nil, err
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data != nil {
				return event, []byte(strings.Join(data, "\n")), nil
			}
		case strings.HasPrefix(line, "event:"):
			event = strings.TrimSpace(line[len("event:"):])
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(line[len("data:"):], " "))
		}
	}
}
