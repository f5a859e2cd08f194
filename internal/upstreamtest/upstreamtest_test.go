package upstreamtest

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func post(ctx context.Context, s *Server, path, body string) (*http.Response, []byte, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+path, strings.NewReader(body))
	req.Header.Set("X-Test", "1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, b, err
}

func TestFaults(t *testing.T) {
	tests := []struct {
		name    string
		fault   Fault
		body    string
		status  int
		wantErr bool
		retry   string
	}{
		{"none", Fault{}, `{"model":"m","messages":[]}`, 200, false, ""},
		{"429 with retry-after", Fault{Kind: Status429, RetryAfter: 7}, `{"model":"m"}`, 429, false, "7"},
		{"500", Fault{Kind: Status500}, `{"model":"m"}`, 500, false, ""},
		{"reset", Fault{Kind: Reset}, `{"model":"m"}`, 0, true, ""},
		{"cut stream", Fault{Kind: CutStream}, `{"model":"m","stream":true,"messages":[]}`, 200, true, ""},
		{"latency", Fault{Latency: 30 * time.Millisecond}, `{"model":"m"}`, 200, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New()
			defer s.Close()
			s.SetFault(tt.fault)
			start := time.Now()
			resp, _, err := post(context.Background(), s, "/v1/chat/completions", tt.body)
			if (err != nil) != tt.wantErr {
				t.Fatalf("err = %v, wantErr %v", err, tt.wantErr)
			}
			if resp != nil && (resp.StatusCode != tt.status || resp.Header.Get("Retry-After") != tt.retry) {
				t.Errorf("status %d retry %q", resp.StatusCode, resp.Header.Get("Retry-After"))
			}
			if time.Since(start) < tt.fault.Latency {
				t.Error("latency not applied")
			}
			if r := s.Last(); r.Path != "/v1/chat/completions" || r.Header.Get("X-Test") != "1" || string(r.Body) != tt.body {
				t.Errorf("recorded %+v", r)
			}
		})
	}
}

func TestHangRecordsCancelAndTimesLimit(t *testing.T) {
	s := New()
	defer s.Close()
	s.SetFault(Fault{Kind: Hang, Times: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, _, err := post(ctx, s, "/v1/messages", `{"model":"m"}`); err == nil {
		t.Fatal("hang answered")
	}
	select {
	case p := <-s.Canceled():
		if p != "/v1/messages" {
			t.Errorf("cancel path %q", p)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("cancel not recorded")
	}
	if resp, _, err := post(context.Background(), s, "/v1/messages", `{"model":"m","max_tokens":1,"messages":[]}`); err != nil || resp.StatusCode != 200 {
		t.Fatalf("fault with Times=1 still active: %v", err)
	}
}

// StreamError sends two events, then the error event in the route's
// dialect, and ends the stream there.
func TestStreamErrorFault(t *testing.T) {
	for _, tt := range []struct{ path, body, want string }{
		{"/v1/chat/completions", `{"model":"m","stream":true,"messages":[{"role":"user","content":"a b c d e f"}]}`,
			"data: {\"error\":{\"message\":\"boom\"}}\n\n"},
		{"/v1/messages", `{"model":"m","stream":true,"max_tokens":9,"messages":[{"role":"user","content":"a b c d e f"}]}`,
			"event: error\ndata: {\"error\":{\"message\":\"boom\"}}\n\n"},
	} {
		s := New()
		s.SetFault(Fault{Kind: StreamError, Body: `{"error":{"message":"boom"}}`})
		resp, b, err := post(context.Background(), s, tt.path, tt.body)
		s.Close()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v", tt.path, err)
		}
		if evs := strings.Count(string(b), "\n\n"); !strings.HasSuffix(string(b), tt.want) || evs != 3 {
			t.Errorf("%s: %d events, body %q; want two events and then %q", tt.path, evs, b, tt.want)
		}
	}
}
