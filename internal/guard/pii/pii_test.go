package pii

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
)

// found is one detection as the table writes it.
type found = guardtest.Found

var cases = []struct {
	name string
	text string
	want []found // exactly these, in order
}{
	{"email", "write to jane.doe+x@mail.example.co.uk today", []found{{Email, "jane.doe+x@mail.example.co.uk"}}},
	{"not an email without tld", "user@localhost is fine", nil},
	{"visa card", "card 4111111111111111 expires", []found{{CreditCard, "4111111111111111"}}},
	{"spaced amex", "amex 3782 822463 10005 ok", []found{{CreditCard, "3782 822463 10005"}}},
	{"dashed mastercard", "mc 5555-5555-5555-4444.", []found{{CreditCard, "5555-5555-5555-4444"}}},
	{"card failing luhn", "card 4111111111111112 expires", nil},
	{"luhn-valid but no issuer", "ref 9111111111111115", nil},
	{"iban electronic", "IBAN GB82WEST12345698765432 please", []found{{IBAN, "GB82WEST12345698765432"}}},
	{"iban printed lower", "iban de89 3704 0044 0532 0130 00", []found{{IBAN, "de89 3704 0044 0532 0130 00"}}},
	{"iban bad check digits", "GB83WEST12345698765432", nil},
	{"iban wrong length", "GB82WEST1234569876543", nil},
	{"ssn", "ssn 123-45-6789.", []found{{USSSN, "123-45-6789"}}},
	{"ssn area 000", "ssn 000-45-6789", nil},
	{"ssn area 666", "ssn 666-45-6789", nil},
	{"ssn area 9xx", "ssn 912-45-6789", nil},
	{"ssn group 00", "ssn 123-00-6789", nil},
	{"ssn serial 0000", "ssn 123-45-0000", nil},
	{"ipv4", "host 192.168.10.254 down", []found{{IPAddress, "192.168.10.254"}}},
	{"not ipv4 octet > 255", "v 300.1.1.1", nil},
	{"ipv6", "addr 2001:db8:85a3::8a2e:370:7334 up", []found{{IPAddress, "2001:db8:85a3::8a2e:370:7334"}}},
	{"time is not ipv6", "at 12:30:45 today", nil},
	{"cpf formatted", "CPF 529.982.247-25", []found{{CPF, "529.982.247-25"}}},
	{"cpf plain", "cpf 52998224725", []found{{CPF, "52998224725"}}},
	{"cpf bad check digit", "CPF 529.982.247-26", nil},
	{"cpf repeated digits", "CPF 111.111.111-11", nil},
	{"cnpj formatted", "CNPJ 11.222.333/0001-81", []found{{CNPJ, "11.222.333/0001-81"}}},
	{"cnpj bad check digit", "CNPJ 11.222.333/0001-82", nil},
	{"phone international", "call +1 415-555-0100 now", []found{{Phone, "+1 415-555-0100"}}},
	{"phone parens", "tel (020) 7946 0958", []found{{Phone, "(020) 7946 0958"}}},
	{"phone with extension", "office 345-899-3560x4587", []found{{Phone, "345-899-3560x4587"}}},
	{"short pair needs a cue", "room 370 3911 on the left", nil},
	{"short pair with a cue", "phone: 467 3395", []found{{Phone, "467 3395"}}},
	{"iso date is not a phone", "on 2024-01-15 10 people came", nil},
	{"decimal is not a phone", "pi is 3.14159265", nil},
	{"digits glued to letters", "order A1234567890 shipped", nil},
	// What redaction leaves must read as it did before (see Detect and
	// the guard's TestRedactStable).
	{"placeholder is no cue", "[PHONE_1] 370 3911", nil},
	{"cue behind a placeholder is out of reach", "call [EMAIL_1] 370 3911", nil},
	{"address before a hyphen and a number", "mail a@b.co-52998224725", []found{{Email, "a@b.co"}, {CPF, "52998224725"}}},
	{"address before an empty label", "a@b.co..x", []found{{Email, "a@b.co"}}},
	{"long local part is not cut", strings.Repeat("ab", 40) + "@example.com", []found{{Email, strings.Repeat("ab", 40) + "@example.com"}}},
	{"area code later in a run", "card 4111 1111 1111 1111 (020) 7946", []found{{CreditCard, "4111 1111 1111 1111"}, {Phone, "(020) 7946"}}},
	{"extension glued to a word", "call 555-123-4567x12ab", nil},
	{"ipv6 before a dotted number", "2001:db8::1.11222333000181", []found{{IPAddress, "2001:db8::1"}, {CNPJ, "11222333000181"}}},
	{"ipv6 from :: after a number", "5551234567::2001:db8:1", []found{{Phone, "5551234567"}, {IPAddress, "::2001:db8:1"}}},
	{"overlapping entities are merged", "hosts 192.168.1.1 2001:db8::1", []found{{IPAddress, "192.168.1.1 2001:db8::1"}}},
}

func TestDetect(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			guardtest.CheckFinds(t, guardtest.Findings(Detect), tt.text, tt.want)
		})
	}
}

// TestUncuedNumberIsASpan checks that a number shaped like a phone but
// with no cue in reach is a span of confidence 0: no finding, but one a
// redactor merges into any finding that overlaps it.
func TestUncuedNumberIsASpan(t *testing.T) {
	text := "room 370 3911 on the left"
	got := Detect(text)
	if len(got) != 1 || got[0].Type != Phone || got[0].Confidence != 0 || text[got[0].Start:got[0].End] != "370 3911" {
		t.Fatalf("Detect(%q) = %v, want one PHONE of confidence 0 over 370 3911", text, got)
	}
}

func TestValidators(t *testing.T) {
	tests := []struct {
		name string
		fn   func(string) bool
		in   string
		want bool
	}{
		{"luhn ok", Luhn, "79927398713", true},
		{"luhn bad", Luhn, "79927398710", false},
		{"card jcb", ValidCard, "3530111333300000", true},
		{"card too short", ValidCard, "41111111111", false},
		{"iban nl", ValidIBAN, "NL91ABNA0417164300", true},
		{"iban unknown country", ValidIBAN, "ZZ91ABNA0417164300", false},
		{"ssn ok", ValidSSN, "078051120", true},
		{"cpf ok", ValidCPF, "52998224725", true},
		{"cnpj ok", ValidCNPJ, "11222333000181", true},
		{"cnpj repeated", ValidCNPJ, "00000000000000", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.fn(tt.in); got != tt.want {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNoWindow puts PII far beyond any window a scanner might use.
func TestNoWindow(t *testing.T) {
	text := strings.Repeat("x ", 1_500_000) + "card 4111111111111111 end"
	got := Detect(text)
	if len(got) != 1 || got[0].Type != CreditCard || got[0].Start != 3_000_005 {
		t.Fatalf("got %v, want one card at byte 3000005", got)
	}
}

// TestLinear compares 512 KB and 4 MB of adversarial input (digits and
// separators that keep every run alive; both sizes beyond CPU caches):
// linear work takes 8x as long, quadratic 64x. The bound of 32x leaves room
// for a loaded machine; each size is timed best of three.
// TestLinear: 8 times the input must not cost anywhere near 8² times the
// time. Both sizes are past the caches and the runtime's small-heap regime
// (a run of 2 million digit groups grows its slices the way a run of
// 250 000 does); the bound (32× + 200 ms) leaves room for a loaded machine
// and a collection landing in the big run, while a quadratic scan (64×)
// still fails.
func TestLinear(t *testing.T) {
	for _, unit := range []string{"1-", "a@", "GB82 ", "1.2."} {
		t.Run(unit, func(t *testing.T) {
			small := strings.Repeat(unit, (1<<20)/len(unit))
			big := strings.Repeat(unit, (8<<20)/len(unit))
			guardtest.CheckLinear(t, func() { Detect(small) }, func() { Detect(big) }, 32, 200*time.Millisecond)
		})
	}
}

func FuzzDetect(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		spans := Detect(text)
		guardtest.CheckSpans(t, text, spans)
		for _, s := range spans {
			if s.Type == CreditCard && !ValidCard(digitsOf(text[s.Start:s.End])) {
				t.Fatalf("card span fails validation: %q", text[s.Start:s.End])
			}
		}
	})
}

func digitsOf(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if isDigit(s[i]) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// TestVetoLongGroup checks that a digit group too long for one shape digit
// is never read as a vetoed CPF, CNPJ or SSN layout: 259 digits once
// wrapped to the shape digit '3' and silenced the whole run.
func TestVetoLongGroup(t *testing.T) {
	long := strings.Repeat("7", 259)
	tests := []struct {
		name string
		text string
	}{
		{"cpf layout", long + ".123.456-78"},
		{"ssn layout", long + "-45-6789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var gs []group
			s := 0
			for i := 0; i <= len(tt.text); i++ {
				if i == len(tt.text) || !isDigit(tt.text[i]) {
					gs = append(gs, group{s, i})
					s = i + 1
				}
			}
			if vetoed(tt.text, gs) {
				t.Fatalf("vetoed a run whose first group has %d digits", gs[0].end-gs[0].start)
			}
		})
	}
}
