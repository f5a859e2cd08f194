package timetool

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNow(t *testing.T) {
	fixed := time.Date(2026, 7, 1, 12, 30, 0, 0, time.UTC)
	tool := New(func() time.Time { return fixed })
	tests := []struct {
		name   string
		zone   string
		local  string
		offset string
		err    error
	}{
		{"utc only", "", "", "", nil},
		{"paris summer", "Europe/Paris", "2026-07-01T14:30:00+02:00", "+02:00", nil},
		{"new york", "America/New_York", "2026-07-01T08:30:00-04:00", "-04:00", nil},
		{"etc offset", "Etc/GMT+5", "2026-07-01T07:30:00-05:00", "-05:00", nil},
		{"utc zone", "UTC", "2026-07-01T12:30:00Z", "+00:00", nil},
		{"unknown", "Mars/Olympus_Mons", "", "", ErrBadZone},
		{"traversal", "../../../../etc/passwd", "", "", ErrBadZone},
		{"absolute", "/etc/localtime", "", "", ErrBadZone},
		{"local", "Local", "", "", ErrBadZone},
		{"nul", "UTC\x00", "", "", ErrBadZone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tool.Now(tt.zone)
			if !errors.Is(err, tt.err) {
				t.Fatalf("Now(%q) = %v, want %v", tt.zone, err, tt.err)
			}
			if err != nil {
				return
			}
			if got.UTC != "2026-07-01T12:30:00Z" || got.Unix != fixed.Unix() {
				t.Fatalf("UTC = %s %d", got.UTC, got.Unix)
			}
			if got.Local != tt.local || got.Offset != tt.offset && tt.zone != "" {
				t.Fatalf("Now(%q) = %+v", tt.zone, got)
			}
		})
	}
}

func TestRealClock(t *testing.T) {
	got, err := New(nil).Now("")
	if err != nil {
		t.Fatal(err)
	}
	ts, err := time.Parse(time.RFC3339, got.UTC)
	if err != nil || time.Since(ts) > time.Minute {
		t.Fatalf("UTC %q not now: %v", got.UTC, err)
	}
}

func FuzzNow(f *testing.F) {
	for _, z := range []string{"Europe/Paris", "../../etc/passwd", "/etc/localtime", "Etc/GMT+5", "Local", ""} {
		f.Add(z)
	}
	tool := New(func() time.Time { return time.Unix(0, 0) })
	f.Fuzz(func(t *testing.T, zone string) {
		got, err := tool.Now(zone)
		if err != nil {
			if !errors.Is(err, ErrBadZone) {
				t.Fatalf("error %v does not wrap ErrBadZone", err)
			}
			return
		}
		if zone != "" && (strings.Contains(zone, "..") || strings.HasPrefix(zone, "/") || got.Local == "") {
			t.Fatalf("Now(%q) accepted", zone)
		}
	})
}
