package guard

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/guard/pii"
	"github.com/bulwarkhq/bulwark/internal/guard/secrets"
	"github.com/bulwarkhq/bulwark/internal/guard/span"
)

// Redaction is stable: redacting redacted text changes nothing and finds
// nothing. These tests hold the engine to it through ScanText and
// ScanJSON; every case below was once a counterexample.

// stablePolicies are the policies FuzzRedactStable holds to the property,
// chosen by its second argument: PII alone, PII with secrets, one family
// redacted and the other logged, and PII thresholds between the detectors'
// confidence levels (0.6, 0.7, 0.75, 0.85), where a span below the
// threshold may overlap one above it.
var stablePolicies = []string{
	piiOnly,
	piiSecrets,
	piiRedactSecretsLog,
	"pii=log,secrets=redact,injection=off",
	"pii=redact,pii_threshold=0.65,secrets=off,injection=off",
	"pii=redact,pii_threshold=0.72,secrets=redact,injection=off",
	"pii=redact,pii_threshold=0.72,secrets=off,injection=off",
	"pii=redact,pii_threshold=0.8,secrets=off,injection=off",
}

const (
	piiOnly             = "pii=redact,secrets=off,injection=off"
	piiSecrets          = "pii=redact,secrets=redact,injection=off"
	piiRedactSecretsLog = "pii=redact,secrets=log,injection=off"
)

var stableCases = []struct {
	name, policy, text string
	want               string // the text redacted once
}{
	// "[PHONE_1]" held the phone cue "phone", so the second scan read
	// "000 0000" next to it as a phone number.
	{"placeholder is no phone cue", piiOnly, "0000000000!000 0000", "[PHONE_1]!000 0000"},
	// The placeholder is shorter than the address: the cue "call", out
	// of reach of 370 3911 before, came within 48 bytes of it.
	{"shorter placeholder brings no cue in reach", piiOnly,
		"call: jane.doe.the.long.mailbox.name@example.org or 370 3911", "call: [EMAIL_1] or 370 3911"},
	// Read as the rest of the card's run, "(020) 7946" was two bare
	// groups; on its own after the placeholder, an area code.
	{"area code after a card", piiOnly, "card 4111 1111 1111 1111 (020) 7946", "card [CREDIT_CARD_1] [PHONE_1]"},
	// The phone "192.168.1.1 2001" lost to the IPv6 address and was
	// dropped whole, so the IPv4 address in it was never redacted.
	{"overlapping spans are redacted whole", piiOnly, "hosts 192.168.1.1 2001:db8::1", "hosts [IP_ADDRESS_1]"},
	// The address's local part started inside the token, so it lost to
	// the token and the address was left in clear.
	{"address overlapping a token", piiSecrets,
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789AB123-45-6789jane.doe@example.org", "[GITHUB_TOKEN_1]"},
	// The token is the more confident, so it labelled the pair, and its
	// family was only logged: the address was left in clear.
	{"overlap is handled as strictly as its strictest member", piiRedactSecretsLog,
		"ghp_abcdefghijklmnopqrstuvwxyz0123456789AB123-45-6789jane.doe@example.org", "[EMAIL_1]"},
	{"domain stops before a number", piiOnly, "a@b.co-52998224725", "[EMAIL_1]-[CPF_1]"},
	{"domain stops before an empty label", piiOnly, "a@b.co..5551234567", "[EMAIL_1]..[PHONE_1]"},
	// An overlong local part was cut at 64 bytes, leaving a card number
	// in front of the placeholder.
	{"local part is never cut", piiOnly,
		"4111111111111111" + strings.Repeat("1234567890", 6) + "1234@example.com", "[EMAIL_1]"},
	{"IPv6 ends before a dotted number", piiOnly, "2001:db8::1.11222333000181", "[IP_ADDRESS_1].[CNPJ_1]"},
	{"IPv6 starts at :: after a number", piiOnly, "5551234567::2001:db8:1", "[PHONE_1][IP_ADDRESS_1]"},
	{"IPv6 ends at :: before an address", piiOnly, "15:2001:db8::1jane.doe@example.org", "[IP_ADDRESS_1][EMAIL_1]"},
	{"IPv6 ends before a :: that starts another", piiOnly, "0::0:0::0:0:0", "[IP_ADDRESS_1][IP_ADDRESS_2]"},
	// "x121234" was an extension although glued to the IBAN after it;
	// once the phone was replaced, the IBAN began a word. A phone must
	// not end inside a word: nor must a secret start inside one.
	{"extension glued to a word", piiOnly, "(020) 7946x121234GB82WEST12345698765432", "(020) 7946x121234GB82WEST12345698765432"},
	{"extension glued to a token", piiSecrets,
		"0000000000x12ghp_abcdefghijklmnopqrstuvwxyz0123456789AB", "0000000000x12ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"},
	// The phone "123124111 1111" (0.7) was under the threshold and lost
	// to the password, leaving "1111 1111 1111" (0.75) behind.
	{"span under the threshold goes with the one it overlaps", "pii=redact,pii_threshold=0.72,secrets=redact,injection=off",
		"password=123124111 1111 1111 1111", "password=[GENERIC_SECRET_1] 1111 1111"},
	// "1111 1111" had its cue before the redacted phone and lost it
	// after; had that changed where the next number starts, the second
	// scan would have read "1111 1111 1111" (0.75).
	{"a lost cue does not move the next number", "pii=redact,pii_threshold=0.72,secrets=off,injection=off",
		"tel:529.982.247-254111 1111 1111 11114111 1111 1111 1111", "tel:[PHONE_1] 1111 1111 11114111 1111 1111 1111"},
	{"IPv6 ending in a number's first group", "pii=redact,pii_threshold=0.65,secrets=off,injection=off",
		"2001:db8::1370 3911(0000000000", "[IP_ADDRESS_1](0000000000"},
	// "_(020" is too short for a password; "_[PHONE_1" was not.
	{"placeholder ends a secret value", piiSecrets, "password=_(020) 7946", "password=_[PHONE_1]"},
	// The value was cut at 512 bytes, leaving the card glued to it in
	// clear and at a word boundary.
	{"a long secret is redacted whole", piiSecrets,
		"token: " + strings.Repeat("Zx8kP2mQ9vL4wR7t", 32) + "4111111111111111", "token: [GENERIC_SECRET_1]"},
	// The whole value was too repetitive to be a secret, its start not.
	{"value judged whole", piiSecrets, "token: DE893704004405320130001:2:3::4111111111111111", "token: [CREDIT_CARD_1]"},
}

func TestRedactStable(t *testing.T) {
	e, err := New(nil, WithVerdictCache(0))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range stableCases {
		t.Run(tt.name, func(t *testing.T) {
			if !slices.Contains(stablePolicies, tt.policy) {
				t.Fatalf("policy %q is not one FuzzRedactStable tries", tt.policy)
			}
			p := mustPolicy(t, tt.policy)
			if once := checkStable(t, e, tt.text, p); once != tt.want {
				t.Fatalf("redacting %q gave %q, want %q", tt.text, once, tt.want)
			}
		})
	}
}

// TestScanJSONRedactsOnce is the report that started it, through the call
// the gateway's request hook makes: a second scan of a redacted body
// redacted "000 0000" after [PHONE_1].
func TestScanJSONRedactsOnce(t *testing.T) {
	e, _ := newEngine(t)
	body := `{"":[{"":[{"":"0000000000!000 0000"}]}]}`
	for _, policy := range []string{"pii=redact", piiOnly} {
		t.Run(policy, func(t *testing.T) {
			p := mustPolicy(t, policy)
			once, _, err := e.ScanJSONMask(context.Background(), []byte(body), p, nil, NewMask(false))
			if err != nil {
				t.Fatal(err)
			}
			twice, findings, err := e.ScanJSONMask(context.Background(), once, p, nil, NewMask(false))
			if err != nil || len(findings) != 0 || string(twice) != string(once) {
				t.Fatalf("second scan of %s found %+v and gave %s (%v)", once, findings, twice, err)
			}
		})
	}
}

// checkStable fails t unless redacting text under p and then redacting the
// result again changes nothing and finds nothing to redact (what p only
// logs is found again, as it should be). It returns the text redacted
// once.
func checkStable(t *testing.T, e *Engine, text string, p Policy) string {
	t.Helper()
	once, _, err := e.ScanText(context.Background(), text, p, Untrusted, nil)
	if err != nil {
		t.Fatal(err)
	}
	twice, findings, err := e.ScanText(context.Background(), once, p, Untrusted, nil)
	if err != nil {
		t.Fatal(err)
	}
	redacted := slices.ContainsFunc(findings, func(f Finding) bool { return f.Action == Redact })
	if redacted || twice != once {
		t.Fatalf("redacting %q gave %q; redacting that found %+v and gave %q", text, once, findings, twice)
	}
	return once
}

// FuzzRedactStable holds every text to the property under each of
// stablePolicies. Seeds: the cases above, and in testdata the pii and
// secrets table texts.
func FuzzRedactStable(f *testing.F) {
	for _, tt := range stableCases {
		f.Add(tt.text, uint8(slices.Index(stablePolicies, tt.policy)))
	}
	e, err := New(nil, WithVerdictCache(0))
	if err != nil {
		f.Fatal(err)
	}
	var policies []Policy
	for _, s := range stablePolicies {
		policies = append(policies, mustPolicy(f, s))
	}
	f.Fuzz(func(t *testing.T, text string, pick uint8) {
		checkStable(t, e, text, policies[int(pick)%len(policies)])
	})
}

// TestMaskWritesWhatDetectorsSkip ties the placeholders a Mask writes to
// the shape the detectors recognise (span.PlaceholderAt), for every type.
func TestMaskWritesWhatDetectorsSkip(t *testing.T) {
	m := NewMask(false)
	for _, typ := range slices.Concat(pii.Types, secrets.Types, []string{"INJECTION"}) {
		ph := m.Placeholder(typ, "value")
		if span.PlaceholderAt(ph, 0) != len(ph) {
			t.Errorf("the detectors do not recognise %q as a placeholder", ph)
		}
	}
}
