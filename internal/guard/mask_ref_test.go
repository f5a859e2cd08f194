package guard

import (
	"strings"
	"testing"
)

// restoreRef is Mask.Restore as it was before it looked placeholders up
// one by one: a strings.Replacer over every placeholder of the mask, built
// per call. FuzzRestoreMatchesReference holds the two to the same output.
func restoreRef(m *Mask, text string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.reversible || len(m.originals) == 0 || !strings.Contains(text, "[") {
		return text
	}
	pairs := make([]string, 0, 2*len(m.originals))
	for ph, orig := range m.originals {
		pairs = append(pairs, ph, orig)
	}
	return strings.NewReplacer(pairs...).Replace(text)
}

// restoreMask holds placeholders of several types and numbers of one and
// two digits, with originals that hold brackets and placeholders of their
// own (never restored again).
func restoreMask() *Mask {
	m := NewMask(true)
	for i, orig := range []string{"a@b.co", "[EMAIL_2]", "x]y[z", "c@d.co", "e@f.co", "g@h.co", "i@j.co", "k@l.co", "m@n.co", "o@p.co", "q@r.co", ""} {
		m.Placeholder("EMAIL", orig)
		if i%3 == 0 {
			m.Placeholder("GENERIC_SECRET", "s"+orig)
		}
	}
	m.Placeholder("INJECTION", "ignore [EMAIL_1] all")
	return m
}

var restoreCases = []string{
	"", "plain", "[", "]", "[]", "[EMAIL_1]", "[EMAIL_1][EMAIL_2]", "[[EMAIL_1]]", "[EMAIL_1", "EMAIL_1]",
	"mail [EMAIL_10] and [EMAIL_11] not [EMAIL_13] nor [EMAIL_01] nor [email_1]",
	"[GENERIC_SECRET_4] [INJECTION_1] [EMAIL_3][EMAIL_12]", "[[[[ ]]]] [EMAIL_[EMAIL_2]_1]", "é[EMAIL_5]ü",
}

func TestRestoreMatchesReference(t *testing.T) {
	m := restoreMask()
	for _, text := range restoreCases {
		if got, want := m.Restore(text), restoreRef(m, text); got != want {
			t.Fatalf("Restore(%q) = %q, reference %q", text, got, want)
		}
	}
	if got := NewMask(false).Restore("[EMAIL_1]"); got != "[EMAIL_1]" {
		t.Fatalf("non-reversible mask restored %q", got)
	}
}

func FuzzRestoreMatchesReference(f *testing.F) {
	for _, text := range restoreCases {
		f.Add(text)
	}
	m := restoreMask()
	f.Fuzz(func(t *testing.T, text string) {
		if got, want := m.Restore(text), restoreRef(m, text); got != want {
			t.Fatalf("Restore(%q) = %q, reference %q", text, got, want)
		}
	})
}

// BenchmarkRestore compares Restore with the reference on an ordinary
// answer: a paragraph naming two of a request's three placeholders.
func BenchmarkRestore(b *testing.B) {
	m := NewMask(true)
	for _, orig := range []string{"jane.doe@example.org", "sam@example.com", "+1 415 555 0100"} {
		m.Placeholder("EMAIL", orig)
	}
	text := strings.Repeat("The gateway forwards requests to the upstream provider. ", 5) +
		"Write to [EMAIL_1] and copy [EMAIL_2]; the list [a, b] is not a placeholder. " +
		strings.Repeat("It accounts for usage. ", 5)
	for _, bc := range []struct {
		name    string
		restore func(*Mask, string) string
	}{{"new", (*Mask).Restore}, {"reference", restoreRef}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				bc.restore(m, text)
			}
		})
	}
}
