package stream

import (
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/guard"
)

var redactAll = func() guard.Policy {
	p := guard.DefaultPolicy()
	p.PII, p.Secrets = guard.Redact, guard.Redact
	return p
}()

const (
	card   = "4111111111111111"
	ghTok  = "ghp_abcdefghijklmnopqrstuvwxyz0123456789AB"
	awsKey = "AKIAIOSFODNN7EXAMPLE"
)

// streamAll feeds text in the given chunk sizes and returns what came out.
func streamAll(t testing.TB, text string, sizes []int, hold int) (string, error) {
	t.Helper()
	r := NewRedactor(redactAll, hold)
	var out strings.Builder
	for i, k := 0, 0; i < len(text); k++ {
		n := sizes[k%len(sizes)]
		j := min(len(text), i+n)
		s, err := r.Write(text[i:j])
		if err != nil {
			return out.String(), err
		}
		out.WriteString(s)
		i = j
	}
	s, err := r.Flush()
	out.WriteString(s)
	return out.String(), err
}

func TestSplitAcrossChunks(t *testing.T) {
	tests := []struct {
		name  string
		text  string
		sizes []int
		gone  string // must not appear in the output
		want  string // placeholder that must appear
	}{
		{"card split in two", "pay with " + card + " today", []int{13, 5}, card, "[CREDIT_CARD_1]"},
		{"card one byte at a time", "card: " + card + ".", []int{1}, card, "[CREDIT_CARD_1]"},
		{"spaced card split", "use 4111 1111 1111 1111 now", []int{7, 3}, "1111 1111", "[CREDIT_CARD_1]"},
		{"github token split", "token " + ghTok + " end", []int{10}, ghTok[4:], "[GITHUB_TOKEN_1]"},
		{"aws example key split", "id=" + awsKey + "\n", []int{4, 9}, awsKey, "[AWS_ACCESS_KEY_1]"},
		{"email split at the at sign", "mail jane.doe@example.org please", []int{13, 100}, "jane.doe@", "[EMAIL_1]"},
		{"pem key split", "key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEA\n-----END RSA PRIVATE KEY-----\nok", []int{6}, "MIIEpAIBAAKCAQEA", "[PRIVATE_KEY_1]"},
		{"secret after long padding", strings.Repeat("lorem ipsum ", 5000) + ghTok, []int{4096}, ghTok[4:], "[GITHUB_TOKEN_1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := streamAll(t, tt.text, tt.sizes, 0)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got, tt.gone) || !strings.Contains(got, tt.want) {
				t.Fatalf("output %q: want %q redacted to %s", clip(got), tt.gone, tt.want)
			}
			batch, _, _ := Redact(tt.text, redactAll, guard.NewMask(false))
			if got != batch {
				t.Fatalf("stream %q != batch %q", clip(got), clip(batch))
			}
		})
	}
}

func TestBlockStopsStream(t *testing.T) {
	p := redactAll
	p.Secrets = guard.Block
	r := NewRedactor(p, 0)
	if _, err := r.Write("here is " + ghTok[:10]); err != nil {
		t.Fatal(err)
	}
	_, err := r.Write(ghTok[10:] + " and more text")
	if err == nil {
		_, err = r.Flush()
	}
	var be *guard.BlockedError
	if !errors.As(err, &be) || be.Type != "GITHUB_TOKEN" || strings.Contains(err.Error(), ghTok) {
		t.Fatalf("err = %v, want a block naming GITHUB_TOKEN without the value", err)
	}
	if _, err2 := r.Write("x"); err2 == nil {
		t.Fatal("redactor accepted writes after a block")
	}
}

func clip(s string) string {
	if len(s) > 200 {
		return s[:100] + "..." + s[len(s)-100:]
	}
	return s
}

var fuzzSeeds = []string{
	"pay with " + card + " today",
	"use 4111 1111 1111 1111 now or call +1 415 555 0100",
	"mail jane.doe@example.org, ip 10.1.2.3 and 2001:db8::1",
	"token " + ghTok + " and " + awsKey + " and sk-ant-" + strings.Repeat("a1", 15),
	"password = hunter2hunter2\napi_key: 'Zx8#kP2$mQ9!vL4@wR7'",
	"-----BEGIN PRIVATE KEY-----\nMIIBVQIBADANBgkqhkiG9w0BAQEFAASCAT8wggE7AgEAAkEA\n-----END PRIVATE KEY-----",
	"iban GB82 WEST 1234 5698 7654 32 and cpf 123.456.789-09 ssn 123-45-6789",
	"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
}

// FuzzStreamEqualsBatch checks the redactor's contract: for any text and
// any chunking, the concatenated stream output equals the batch redaction.
func FuzzStreamEqualsBatch(f *testing.F) {
	for i, s := range fuzzSeeds {
		f.Add(s, uint64(i+1))
	}
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		rng := rand.New(rand.NewPCG(seed, seed>>7))
		sizes := make([]int, 1+rng.IntN(5))
		for i := range sizes {
			sizes[i] = 1 + rng.IntN(40)
		}
		got, err := streamAll(t, text, sizes, 0)
		want, _, werr := Redact(text, redactAll, guard.NewMask(false))
		if (err == nil) != (werr == nil) {
			t.Fatalf("stream err %v, batch err %v", err, werr)
		}
		if got != want {
			t.Fatalf("chunks %v:\nstream %q\nbatch  %q", sizes, clip(got), clip(want))
		}
	})
}

// TestOpenPEMIsNotQuadratic streams a 2 MB private key body in small chunks:
// the redactor must not rescan the held block on every chunk.
func TestOpenPEMIsNotQuadratic(t *testing.T) {
	body := strings.Repeat("MIIEpAIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n", 32_000)
	text := "key:\n-----BEGIN RSA PRIVATE KEY-----\n" + body + "-----END RSA PRIVATE KEY-----\nbye"
	start := time.Now()
	got, err := streamAll(t, text, []int{256}, 0)
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatalf("2 MB key took %v", time.Since(start))
	}
	if got != "key:\n[PRIVATE_KEY_1]\nbye" {
		t.Fatalf("got %q", clip(got))
	}
}
