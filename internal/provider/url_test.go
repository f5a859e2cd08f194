package provider

import (
	"context"
	"net/http"
	"reflect"
	"testing"
)

// checkLikeNewRequest fails when newRequest builds a different URL or
// Host than http.NewRequestWithContext, or accepts what it refuses.
func checkLikeNewRequest(t *testing.T, raw string) {
	t.Helper()
	for range 2 { // the second build comes from the cache
		want, werr := http.NewRequestWithContext(context.Background(), http.MethodPost, raw, nil)
		got, gerr := newRequest(context.Background(), http.MethodPost, raw, nil)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: error %v, want %v", raw, gerr, werr)
		}
		if werr != nil {
			return
		}
		if got.URL.String() != want.URL.String() || got.Host != want.Host || !reflect.DeepEqual(got.URL, want.URL) {
			t.Fatalf("%q: url %q host %q, want %q %q", raw, got.URL, got.Host, want.URL, want.Host)
		}
		got.URL.Path = "/changed" // a request's URL is its own
	}
}

func TestNewRequestLikeStdlib(t *testing.T) {
	for _, raw := range []string{
		"https://api.openai.com/v1/chat/completions", "http://127.0.0.1:8080/v1/messages?beta=true",
		"http://host:/v1/x", "http://[::1]:11434/v1/embeddings", "http://user:pw@host/v1", "://bad", "http://a b/",
		"https://x.openai.azure.com/openai/deployments/d/chat/completions?api-version=2024-10-21",
	} {
		checkLikeNewRequest(t, raw)
	}
}

func FuzzNewRequestLikeStdlib(f *testing.F) {
	f.Add("https://api.openai.com/v1/chat/completions")
	f.Add("http://host:/v1/x?beta=true")
	f.Add("//0@")
	f.Add("http://user:pw@host/v1")
	f.Fuzz(checkLikeNewRequest)
}
