package cli

import (
	"errors"
	"testing"
	"time"
)

// --since is a span back from now, a date or an RFC 3339 time. A negative
// span or a future time selected nothing without a word (`--since -24h`
// reported an empty usage table); they are refused now.
func TestParseSince(t *testing.T) {
	now := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"24h", now.Add(-24 * time.Hour)},
		{"90m", now.Add(-90 * time.Minute)},
		{"0s", now},
		{"7d", now.Add(-7 * 24 * time.Hour)},
		{"2026-11-01", time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)},
		{"2026-11-21T08:00:00+01:00", time.Date(2026, 11, 21, 7, 0, 0, 0, time.UTC)},
	} {
		got, err := parseSinceAt(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("--since %q = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, in := range []string{"-24h", "-1d", "2026-12-01", "2027-01-01T00:00:00Z", "yesterday", "7days", "d", "99999999d", "1.5d"} {
		if got, err := parseSinceAt(in, now); !errors.Is(err, errUsage) {
			t.Errorf("--since %q = %v, %v; want a usage error", in, got, err)
		}
	}
}
