// Package timetool implements Bulwark's time_now tool: the current time in
// UTC and, on request, in an IANA time zone. It reads nothing but the clock
// and the embedded/system zone database.
package timetool

import (
	"errors"
	"fmt"
	"strings"
	"time"
	_ "time/tzdata" // zone names work even where the host has no zoneinfo
)

// ErrBadZone is returned for a zone name that is not a valid IANA name.
var ErrBadZone = errors.New("unknown time zone")

// Now is the tool's answer.
type Now struct {
	UTC     string `json:"utc"`               // RFC 3339, UTC
	Unix    int64  `json:"unix"`              // seconds since the epoch
	Zone    string `json:"zone,omitempty"`    // the zone asked for
	Local   string `json:"local,omitempty"`   // RFC 3339 in Zone
	Offset  string `json:"offset,omitempty"`  // e.g. "+02:00"
	Abbrev  string `json:"abbrev,omitempty"`  // e.g. "CEST"
	Weekday string `json:"weekday,omitempty"` // in Zone
}

// Clock returns the current time; tests replace it.
type Clock func() time.Time

// Tool answers time_now calls. It is safe for concurrent use.
type Tool struct{ clock Clock }

// New returns a Tool reading clock (nil means time.Now).
func New(clock Clock) *Tool {
	if clock == nil {
		clock = time.Now
	}
	return &Tool{clock: clock}
}

// Now returns the time in UTC and, if zone is not empty, in that IANA zone
// (for example "Europe/Paris"). Zone names are checked before loading so a
// caller cannot make the loader read an arbitrary file.
func (t *Tool) Now(zone string) (*Now, error) {
	now := t.clock()
	out := &Now{UTC: now.UTC().Format(time.RFC3339), Unix: now.Unix()}
	if zone == "" {
		return out, nil
	}
	if !validZone(zone) {
		return nil, fmt.Errorf("timetool: %w", ErrBadZone)
	}
	loc, err := time.LoadLocation(zone)
	if err != nil {
		return nil, fmt.Errorf("timetool: %w: %q", ErrBadZone, zone)
	}
	in := now.In(loc)
	out.Zone, out.Local, out.Abbrev, out.Weekday = zone, in.Format(time.RFC3339), in.Format("MST"), in.Weekday().String()
	out.Offset = in.Format("-07:00")
	return out, nil
}

// validZone accepts IANA-style names ("UTC", "America/Argentina/Buenos_Aires",
// "Etc/GMT+5"): no empty, dot-only or absolute components.
func validZone(z string) bool {
	if len(z) > 64 || z == "Local" {
		return false
	}
	for _, part := range strings.Split(z, "/") {
		if part == "" || strings.Trim(part, ".") == "" {
			return false
		}
		for _, r := range part {
			if !zoneRune(r) {
				return false
			}
		}
	}
	return true
}

// zoneRune reports whether r may appear in an IANA zone name component:
// ASCII letters, digits, '_', '-' and '+'.
func zoneRune(r rune) bool {
	return r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '+'
}
