package gatewayhook

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/bulwarkhq/bulwark/internal/apierr"
	"github.com/bulwarkhq/bulwark/internal/audit"
	"github.com/bulwarkhq/bulwark/internal/gateway"
	"github.com/bulwarkhq/bulwark/internal/guard"
	"github.com/bulwarkhq/bulwark/internal/identity"
)

// feed sends chunks through f the way the gateway does and returns what
// the client receives, or the error that ended the stream.
func feed(f gateway.StreamFilter, chunks []string) (string, error) {
	var b strings.Builder
	for _, c := range chunks {
		t, err := f.Text(c)
		if err != nil {
			return b.String(), err
		}
		b.WriteString(t)
	}
	t, err := f.Flush()
	b.WriteString(t)
	return b.String(), err
}

// split cuts s into pieces of n bytes.
func split(s string, n int) []string {
	var out []string
	for len(s) > n {
		out = append(out, s[:n])
		s = s[n:]
	}
	return append(out, s)
}

func TestStreamFilter(t *testing.T) {
	text := "Your key is " + openAI + " and the card " + card + " is on file; write to " + email + "."
	tests := []struct {
		name       string
		settings   string
		chunk      int
		wantIn     []string
		wantOut    []string
		wantStatus int
		wantNil    bool
	}{
		{name: "secret split across 3-byte chunks is redacted", settings: "", chunk: 3,
			wantIn: []string{"[OPENAI_KEY_1]", email}, wantOut: []string{openAI, "Abcdefghij"}},
		{name: "pii and secrets redacted in one-byte chunks", settings: "pii=redact", chunk: 1,
			wantIn: []string{"[OPENAI_KEY_1]", "[CREDIT_CARD_1]", "[EMAIL_1]"}, wantOut: []string{openAI, card, email}},
		{name: "block ends the stream with a guardrail error", settings: "secrets=block", chunk: 5,
			wantOut: []string{openAI}, wantStatus: http.StatusForbidden},
		{name: "nothing on: no filter", settings: "pii=off,secrets=off", wantNil: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, rec, _ := newHooks(t, map[string]string{"k": tt.settings})
			ctx := ctxFor("k", "default")
			f := h.Stream(ctx, apierr.OpenAI)
			if tt.wantNil {
				if f != nil {
					t.Fatal("a stream with nothing to do gets a filter")
				}
				return
			}
			got, err := feed(f, split(text, tt.chunk))
			if tt.wantStatus != 0 {
				var ae *apierr.Error
				if !errors.As(err, &ae) || ae.Status != tt.wantStatus || !strings.Contains(ae.Message, "OPENAI_KEY") {
					t.Fatalf("err = %v, want a %d naming the guardrail", err, tt.wantStatus)
				}
				if _, err2 := f.Text("more"); err2 == nil {
					t.Fatal("the filter kept going after a block")
				}
			} else if err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.wantIn {
				if !strings.Contains(got, w) {
					t.Errorf("client got %q, lacks %q", got, w)
				}
			}
			for _, w := range tt.wantOut {
				if strings.Contains(got, w) {
					t.Errorf("client got %q, holds %q", got, w)
				}
			}
			h.finish(ctx, httptest.NewRecorder(), fromContext(ctx))
			evs := rec.all()
			if len(evs) != 1 || evs[0].Action != "guard.stream" {
				t.Fatalf("want one stream audit event, got %+v", evs)
			}
			if tt.wantStatus != 0 && evs[0].Outcome != audit.OutcomeDenied {
				t.Fatalf("blocked stream audited as %q", evs[0].Outcome)
			}
			assertNoValues(t, evs)
		})
	}
}

func TestStreamRestoresAcrossChunks(t *testing.T) {
	h, _, _ := newHooks(t, map[string]string{"rev": "pii=redact,reversible=true"})
	ctx := ctxFor("rev", "default")
	if _, err := h.InspectRequest(ctx, apierr.Anthropic, []byte(`{"model":"m","messages":[{"role":"user","content":"mail `+email+`"}]}`)); err != nil {
		t.Fatal(err)
	}
	f := h.Stream(ctx, apierr.Anthropic)
	got, err := feed(f, split("I wrote to [EMAIL_1] and to other@corp.example.org today.", 2))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(got, "wrote to "+email) || strings.Contains(got, "other@corp") {
		t.Fatalf("client got %q", got)
	}
}

func TestStreamFailsClosedWithoutPolicy(t *testing.T) {
	h, _, _ := newHooks(t, nil)
	id := &identity.Identity{KeyID: "broken", Tenant: "default", Kind: identity.KindVirtualKey}
	ctx := context.WithValue(identity.NewContext(context.Background(), id), ctxKey{}, &reqState{})
	f := h.Stream(ctx, apierr.OpenAI)
	if f == nil {
		t.Fatal("no filter: the stream would pass unscanned")
	}
	if _, err := f.Text("hello"); err == nil {
		t.Fatal("text passed although the policy could not be loaded")
	}
}

func TestStreamSecondTextBlock(t *testing.T) {
	h, _, _ := newHooks(t, nil)
	f := h.Stream(ctxFor("k", "default"), apierr.Anthropic)
	first, err := feed(f, split("block one "+openAI, 4))
	if err != nil {
		t.Fatal(err)
	}
	second, err := feed(f, split("block two "+"sk-ant-api03-Zyxwvutsrqponmlkjihgfedcba98", 4))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(first, "Abcdefghij") || strings.Contains(second, "Zyxwvut") || !strings.Contains(second, "block two") {
		t.Fatalf("blocks = %q / %q", first, second)
	}
}

// FuzzStreamFilter checks that any chunking of a text gives the client the
// same bytes as one chunk would, and never a detected secret.
func FuzzStreamFilter(f *testing.F) {
	f.Add("Your key is "+openAI+" and card "+card, uint8(3))
	f.Add("mail "+email+" now", uint8(1))
	f.Add(strings.Repeat("pad ", 100)+openAI, uint8(7))
	f.Fuzz(func(t *testing.T, text string, n uint8) {
		h, _, _ := newHooks(t, map[string]string{"k": "pii=redact,secrets=redact"})
		whole, err1 := feed(h.Stream(ctxFor("k", "default"), apierr.OpenAI), []string{text})
		parts, err2 := feed(h.Stream(ctxFor("k", "default"), apierr.OpenAI), split(text, int(n%16)+1))
		if (err1 == nil) != (err2 == nil) || whole != parts {
			t.Fatalf("chunked %q (%v) != whole %q (%v)", parts, err2, whole, err1)
		}
		p, _ := guard.ParsePolicy("pii=redact,secrets=redact")
		for _, s := range guard.Spans(parts, p) {
			t.Fatalf("client output still holds a %s", s.Type)
		}
	})
}

// slowAppender holds every append until release is closed: an audit log
// slow to commit.
type slowAppender struct {
	recorder
	release chan struct{}
}

func (s *slowAppender) Append(ctx context.Context, e audit.Event) error {
	<-s.release
	return s.recorder.Append(ctx, e)
}

// TestStreamAuditDoesNotHoldTheLastEvent: a stream's findings are audited
// once the gateway handler returns, and the gateway may leave a stream's
// last event buffered for the response's end; the middleware flushes it
// before the audit entry is written, so a slow commit never holds it from
// the client.
func TestStreamAuditDoesNotHoldTheLastEvent(t *testing.T) {
	slow := &slowAppender{release: make(chan struct{})}
	h, _, _ := newHooks(t, map[string]string{"k": "secrets=redact"})
	h.audit = slow
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := h.Stream(r.Context(), apierr.OpenAI)
		text, err := feed(f, []string{"the key is " + openAI + "."})
		if err != nil {
			t.Error(err)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: "+text+"\n\n")
		http.NewResponseController(w).Flush()
		_, _ = io.WriteString(w, "data: [DONE]\n\n") // left for the response's end
	})
	withID := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(identity.NewContext(r.Context(),
				&identity.Identity{KeyID: "k", Tenant: "default", Kind: identity.KindVirtualKey, Scopes: []string{"llm"}})))
		})
	}
	srv := httptest.NewServer(withID(h.Middleware(stream)))
	defer srv.Close()
	released := false
	defer func() { // before the server's close, which waits for the handler
		if !released {
			close(slow.release)
		}
	}()
	got := make(chan string, 1)
	go func() {
		resp, err := http.Post(srv.URL, "application/json", strings.NewReader("{}"))
		if err != nil {
			got <- err.Error()
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		var b strings.Builder
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
			if sc.Text() == "data: [DONE]" {
				break
			}
		}
		got <- b.String()
	}()
	select {
	case b := <-got:
		if !strings.HasSuffix(b, "data: [DONE]\n") || strings.Contains(b, openAI) {
			t.Fatalf("client got %q", b)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the last event waited for the audit entry")
	}
	close(slow.release)
	released = true
}
