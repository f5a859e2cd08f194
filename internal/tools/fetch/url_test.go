package fetch

import (
	"errors"
	"net/netip"
	"strings"
	"testing"
)

var urlCases = []struct {
	name string
	in   string
	ok   bool
}{
	{"https", "https://example.com/a?b=c", true},
	{"http with port", "http://example.com:8080/", true},
	{"ipv4 literal", "http://93.184.216.34/", true},
	{"ipv6 literal", "http://[2606:4700::1111]/", true},
	{"trailing dot", "https://example.com./", true},
	{"fragment dropped", "https://example.com/#frag", true},
	{"underscore label", "https://_dmarc.example.com/", true},
	{"file scheme", "file:///etc/passwd", false},
	{"ftp scheme", "ftp://example.com/", false},
	{"gopher scheme", "gopher://127.0.0.1:25/", false},
	{"dict scheme", "dict://127.0.0.1:11111/", false},
	{"javascript", "javascript:alert(1)", false},
	{"no scheme", "example.com/", false},
	{"userinfo", "http://user:pass@example.com/", false},
	{"userinfo confusion", "http://example.com@127.0.0.1/", false},
	{"empty userinfo", "http://@example.com/", false},
	{"decimal ip", "http://2130706433/", false},
	{"octal ip", "http://0177.0.0.1/", false},
	{"octal whole", "http://017700000001/", false},
	{"hex ip", "http://0x7f000001/", false},
	{"hex dotted", "http://0x7f.1/", false},
	{"short form", "http://127.1/", false},
	{"short form 3", "http://127.0.1/", false},
	{"zero", "http://0/", false},
	{"ipv4 trailing dot", "http://127.0.0.1./", false},
	{"leading zero octet", "http://127.000.000.001/", false},
	{"numeric last label", "http://example.123/", false},
	{"hex last label", "http://foo.0x10/", false},
	{"unicode digits", "http://①②⑦.⓪.⓪.⓪/", false},
	{"idn unicode", "http://exämple.com/", false},
	{"ipv6 zone", "http://[fe80::1%25eth0]/", false},
	{"bad ipv6", "http://[::g]/", false},
	{"backslash", `http://127.1.1.1:80\@127.2.2.2:80/`, false},
	{"space", "http://exa mple.com/", false},
	{"newline", "http://example.com/\r\nX: y", false},
	{"nul", "http://127.0.0.1%00example.com/", false},
	{"bad port", "http://example.com:99999/", false},
	{"port zero", "http://example.com:0/", false},
	{"port leading zero", "http://localhost:00011211/", false},
	{"port plus", "http://localhost:+11211/", false},
	{"empty host", "http:///path", false},
	{"opaque", "http:example.com", false},
	{"too long", "http://example.com/" + strings.Repeat("a", 9000), false},
}

func TestValidateURL(t *testing.T) {
	for _, tt := range urlCases {
		t.Run(tt.name, func(t *testing.T) {
			u, err := ValidateURL(tt.in)
			if tt.ok {
				if err != nil {
					t.Fatalf("ValidateURL(%q) = %v", tt.in, err)
				}
				if u.Fragment != "" {
					t.Fatal("fragment kept")
				}
				return
			}
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("ValidateURL(%q) = %v, want ErrInvalidURL", tt.in, err)
			}
		})
	}
}

func FuzzValidateURL(f *testing.F) {
	for _, tt := range urlCases {
		f.Add(tt.in)
	}
	f.Fuzz(func(t *testing.T, in string) {
		u, err := ValidateURL(in)
		if err != nil {
			if !errors.Is(err, ErrInvalidURL) {
				t.Fatalf("error %v does not wrap ErrInvalidURL", err)
			}
			return
		}
		if u.Scheme != "http" && u.Scheme != "https" {
			t.Fatalf("accepted scheme %q", u.Scheme)
		}
		if u.User != nil || u.Hostname() == "" {
			t.Fatalf("accepted %q with userinfo or no host", in)
		}
		h := u.Hostname()
		if a, err := netip.ParseAddr(h); err == nil {
			if a.Zone() != "" {
				t.Fatalf("accepted zone in %q", in)
			}
			return
		}
		// A name: it must not be something another parser reads as IPv4.
		last := h[strings.LastIndex(strings.TrimSuffix(h, "."), ".")+1:]
		if numericLabel(strings.TrimSuffix(last, ".")) {
			t.Fatalf("accepted numeric host %q", h)
		}
		for _, r := range h {
			if r > 0x7e {
				t.Fatalf("accepted non-ASCII host %q", h)
			}
		}
	})
}
