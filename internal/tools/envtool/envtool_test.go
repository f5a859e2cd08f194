package envtool

import (
	"errors"
	"strings"
	"testing"
)

func TestGet(t *testing.T) {
	t.Setenv("APP_REGION", "eu-west-1")
	t.Setenv("BULWARK_MASTER_KEY", "super-secret-master-key")
	t.Setenv("app_region", "lower")
	tool, err := New([]string{"APP_REGION", "UNSET_BUT_ALLOWED"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		in   string
		want string
		err  error
	}{
		{"allowed", "APP_REGION", "eu-west-1", nil},
		{"allowed but unset", "UNSET_BUT_ALLOWED", "", ErrNotSet},
		{"secret not listed", "BULWARK_MASTER_KEY", "", ErrNotAllowed},
		{"case differs", "app_region", "", ErrNotAllowed},
		{"prefix", "APP_REGION_X", "", ErrNotAllowed},
		{"shorter", "APP_REGIO", "", ErrNotAllowed},
		{"glob", "APP_*", "", ErrNotAllowed},
		{"star", "*", "", ErrNotAllowed},
		{"trailing space", "APP_REGION ", "", ErrNotAllowed},
		{"nul", "APP_REGION\x00", "", ErrNotAllowed},
		{"assignment", "APP_REGION=x", "", ErrNotAllowed},
		{"empty", "", "", ErrNotAllowed},
		{"unicode lookalike", "APP_REGİON", "", ErrNotAllowed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tool.Get(tt.in)
			if !errors.Is(err, tt.err) || got != tt.want {
				t.Fatalf("Get(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
			}
			if err != nil && strings.Contains(err.Error(), "super-secret") {
				t.Fatal("error leaks a value")
			}
		})
	}
}

func TestNewRefusesPatterns(t *testing.T) {
	for _, bad := range []string{"", "APP_*", "A B", "X=1", "1ABC", "PATH*", "A-B"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := New([]string{bad}); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("New(%q) = %v, want ErrBadConfig", bad, err)
			}
		})
	}
	tool, _ := New([]string{"B", "A"})
	if got := strings.Join(tool.Allowed(), ","); got != "A,B" {
		t.Fatalf("Allowed = %s", got)
	}
}

func TestEmptyAllowlistRefusesEverything(t *testing.T) {
	t.Setenv("HOME", "/root")
	tool, _ := New(nil)
	for _, n := range []string{"HOME", "PATH", "USER"} {
		if _, err := tool.Get(n); !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("Get(%q) with empty allowlist = %v", n, err)
		}
	}
}

func FuzzGet(f *testing.F) {
	for _, s := range []string{"APP_REGION", "app_region", "APP_*", "APP_REGION\x00", "APP_REGİON", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		tool, _ := New([]string{"APP_REGION"})
		tool.lookup = func(string) (string, bool) { return "v", true }
		v, err := tool.Get(name)
		if name == "APP_REGION" {
			if err != nil || v != "v" {
				t.Fatalf("allowed name refused: %v", err)
			}
			return
		}
		if !errors.Is(err, ErrNotAllowed) || v != "" {
			t.Fatalf("Get(%q) = %q, %v; want ErrNotAllowed", name, v, err)
		}
	})
}
