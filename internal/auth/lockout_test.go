package auth

import (
	"fmt"
	"net/http/httptest"
	"net/netip"
	"testing"
	"time"
)

func TestLockoutAfterAllowance(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLockout(3)
	l.now = func() time.Time { return now }
	for i := 1; i <= 3; i++ {
		if _, locked, _ := l.Fail("1.2.3.4"); locked {
			t.Fatalf("locked after %d failures, allowance is 3", i)
		}
	}
	_, locked, retry := l.Fail("1.2.3.4")
	if !locked || retry != time.Minute {
		t.Fatalf("4th failure: locked=%v retry=%v, want locked for 1m", locked, retry)
	}
	if locked, _ := l.Locked("5.6.7.8"); locked {
		t.Fatal("another client is locked too")
	}
	// Backoff doubles on the next lockout.
	now = now.Add(2 * time.Minute)
	for range 3 {
		l.Fail("1.2.3.4")
	}
	if _, _, retry := l.Fail("1.2.3.4"); retry != 2*time.Minute {
		t.Fatalf("second lockout %v, want 2m", retry)
	}
}

func TestLockoutWindowResets(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLockout(2)
	l.now = func() time.Time { return now }
	l.Fail("c")
	l.Fail("c")
	now = now.Add(61 * time.Second)
	if _, locked, _ := l.Fail("c"); locked {
		t.Fatal("failures from a previous minute counted")
	}
}

func TestClientIP(t *testing.T) {
	trusted := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}
	tests := []struct {
		name, remote, xff, want string
	}{
		{"direct client ignores XFF", "203.0.113.7:5555", "1.1.1.1", "203.0.113.7"},
		{"trusted proxy uses XFF", "10.0.0.2:5555", "198.51.100.9", "198.51.100.9"},
		{"rightmost untrusted hop", "10.0.0.2:5555", "6.6.6.6, 198.51.100.9, 10.0.0.3", "198.51.100.9"},
		{"spoofed left entries ignored", "10.0.0.2:5555", "127.0.0.1, 198.51.100.9", "198.51.100.9"},
		{"garbage XFF falls back to proxy", "10.0.0.2:5555", "not-an-ip", "10.0.0.2"},
		{"no XFF from proxy", "10.0.0.2:5555", "", "10.0.0.2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tt.remote
			if tt.xff != "" {
				r.Header.Set("X-Forwarded-For", tt.xff)
			}
			if got := ClientIP(r, trusted); got != tt.want {
				t.Fatalf("ClientIP = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestLockoutKeyGroupsIPv6Slash64(t *testing.T) {
	if a, b := LockoutKey("2001:db8:1:2::1"), LockoutKey("2001:db8:1:2:ffff::9"); a != b {
		t.Fatalf("two addresses of one /64 counted apart: %s %s", a, b)
	}
	if a, b := LockoutKey("2001:db8:1:2::1"), LockoutKey("2001:db8:1:3::1"); a == b {
		t.Fatal("different /64s share a count")
	}
	if LockoutKey("192.0.2.7") != "192.0.2.7" {
		t.Fatal("IPv4 client not keyed by its address")
	}
}

func TestLockoutKeepsLockedClientsWhenFull(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	l := NewLockout(1)
	l.now = func() time.Time { return now }
	l.Fail("victim-attacker")
	l.Fail("victim-attacker") // locked
	for i := range maxTrackedClients + 10 {
		l.Fail(fmt.Sprint("flood-", i))
	}
	if locked, _ := l.Locked("victim-attacker"); !locked {
		t.Fatal("flooding the table lifted a lockout")
	}
	if len(l.clients) > maxTrackedClients {
		t.Fatalf("table grew to %d", len(l.clients))
	}
}
