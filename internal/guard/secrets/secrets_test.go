package secrets

import (
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard/guardtest"
)

// found is one detection as the table writes it.
type found = guardtest.Found

var (
	openai    = "sk-proj-" + strings.Repeat("Ab3xYz9Q", 6)
	anthropic = "sk-ant-api03-" + strings.Repeat("Qw3rTy7u", 10)
	bulwark   = "sk-bw-k3y1d0001-" + strings.Repeat("Zx9pL2mN", 6)
	jwt       = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
	pem       = "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n-----END RSA PRIVATE KEY-----"
)

var cases = []struct {
	name string
	text string
	want []found
}{
	{"openai project key", "use " + openai + " here", []found{{OpenAIKey, openai}}},
	{"anthropic key", "ANTHROPIC_API_KEY " + anthropic, []found{{AnthropicKey, anthropic}}},
	{"bulwark key", "key: " + bulwark, []found{{BulwarkKey, bulwark}}},
	{"bulwark key too short is not ours", "sk-bw-k3y1d0001-short", nil},
	{"google key", "AIzaSyD-1234567890abcdefghijklmnopqrstu ok", []found{{GoogleAPIKey, "AIzaSyD-1234567890abcdefghijklmnopqrstu"}}},
	{"aws documentation example key", "aws AKIAIOSFODNN7EXAMPLE", []found{{AWSAccessKey, "AKIAIOSFODNN7EXAMPLE"}}},
	{"aws key glued to a word", "XAKIAIOSFODNN7EXAMPLE", nil},
	{"github classic", "ghp_" + strings.Repeat("a1B2", 9), []found{{GitHubToken, "ghp_" + strings.Repeat("a1B2", 9)}}},
	{"github oauth", "gho_" + strings.Repeat("Z9y8", 9), []found{{GitHubToken, "gho_" + strings.Repeat("Z9y8", 9)}}},
	{"github fine-grained", "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP", []found{{GitHubToken, "github_pat_11ABCDEFG0123456789_abcdefghijKLMNOP"}}},
	{"github too short", "ghp_abc", nil},
	{"gitlab", "glpat-xYz12345678901234567", []found{{GitLabToken, "glpat-xYz12345678901234567"}}},
	{"slack bot", "xoxb-123456789012-abcdefABCDEF", []found{{SlackToken, "xoxb-123456789012-abcdefABCDEF"}}},
	{"stripe live", "sk_live_" + strings.Repeat("4eC39HqL", 3), []found{{StripeKey, "sk_live_" + strings.Repeat("4eC39HqL", 3)}}},
	{"stripe restricted", "rk_live_" + strings.Repeat("4eC39HqL", 3), []found{{StripeKey, "rk_live_" + strings.Repeat("4eC39HqL", 3)}}},
	{"stripe test", "sk_test_" + strings.Repeat("4eC39HqL", 3), []found{{StripeKey, "sk_test_" + strings.Repeat("4eC39HqL", 3)}}},
	{"pem private key", "here:\n" + pem + "\nthanks", []found{{PrivateKey, pem}}},
	{"pem without end runs to the end", "k: -----BEGIN PRIVATE KEY-----\nMIIE", []found{{PrivateKey, "-----BEGIN PRIVATE KEY-----\nMIIE"}}},
	{"public key is not secret", "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----", nil},
	{"jwt", "Authorization: Bearer " + jwt, []found{{JWT, jwt}}},
	{"entropy assignment", `api_key = "Zx8kP2mQ9vL4wR7tY3"`, []found{{GenericSecret, "Zx8kP2mQ9vL4wR7tY3"}}},
	{"password assignment", `"password": "hunter2hunter2"`, []found{{GenericSecret, "hunter2hunter2"}}},
	{"low entropy token value", "token: aaaaaaaaaaaaaaaaaaaa", nil},
	{"placeholder value", "api_key=${API_KEY}", nil},
	{"ordinary prose", "the key to success is patience: practise daily", nil},
	// "_[PHONE_1" was long enough for a password; "_(020" was not.
	{"placeholder ends a value", "password=_[PHONE_1]", nil},
	// Only the first 512 bytes are judged, but the value is never cut.
	{"long value is one span", "token: " + strings.Repeat("Zx8kP2mQ9vL4wR7t", 40), []found{{GenericSecret, strings.Repeat("Zx8kP2mQ9vL4wR7t", 40)}}},
}

func TestDetect(t *testing.T) {
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			guardtest.CheckFinds(t, guardtest.Findings(Detect), tt.text, tt.want)
		})
	}
}

// TestCandidateValueIsASpan checks that a value assigned to a
// secret-looking name that does not look secret is a span of confidence
// 0: no finding, but one a redactor merges into a finding inside it.
func TestCandidateValueIsASpan(t *testing.T) {
	text := "token: aaaaaaaaaaaaaaaaaaaa"
	got := Detect(text)
	if len(got) != 1 || got[0].Type != GenericSecret || got[0].Confidence != 0 || text[got[0].Start:got[0].End] != "aaaaaaaaaaaaaaaaaaaa" {
		t.Fatalf("Detect(%q) = %v, want one GENERIC_SECRET of confidence 0 over the value", text, got)
	}
}

// TestLinear compares 256 KB and 2 MB of assignments whose values run on
// (a value is measured to its end, however long, and values start inside
// values): linear work takes 8x as long, quadratic 64x.
func TestLinear(t *testing.T) {
	for _, unit := range []string{"key=", "token: x", "password=a", "key=[A_1]"} {
		t.Run(unit, func(t *testing.T) {
			small := strings.Repeat(unit, (256<<10)/len(unit))
			big := strings.Repeat(unit, (2<<20)/len(unit))
			guardtest.CheckLinear(t, func() { Detect(small) }, func() { Detect(big) }, 32, 200*time.Millisecond)
		})
	}
}

// TestFarBeyondAnyWindow hides a key at byte 3,000,000.
func TestFarBeyondAnyWindow(t *testing.T) {
	pad := strings.Repeat("a", 3_000_000-1) + " "
	got := Detect(pad + openai)
	if len(got) != 1 || got[0].Type != OpenAIKey || got[0].Start != 3_000_000 {
		t.Fatalf("got %v, want the key at byte 3000000", got)
	}
}

func FuzzDetect(f *testing.F) {
	for _, tt := range cases {
		f.Add(tt.text)
	}
	f.Fuzz(func(t *testing.T, text string) {
		guardtest.CheckSpans(t, text, Detect(text))
	})
}
