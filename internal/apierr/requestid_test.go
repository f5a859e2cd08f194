package apierr

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/reqid"
)

// TestWriteAnthropicRequestID checks that Anthropic-dialect errors carry
// the request-id header Anthropic's SDKs read, and other dialects do not.
func TestWriteAnthropicRequestID(t *testing.T) {
	tests := []struct {
		name string
		d    Dialect
		want string
	}{
		{"anthropic", Anthropic, "req_abc"},
		{"openai", OpenAI, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, "/v1/messages", nil)
			r = r.WithContext(reqid.NewContext(r.Context(), "req_abc"))
			w := httptest.NewRecorder()
			Write(w, r, tt.d, NotFound("model_not_found", "no such model"), nil)
			if got := w.Header().Get("Request-Id"); got != tt.want {
				t.Errorf("request-id = %q, want %q", got, tt.want)
			}
			if w.Code != http.StatusNotFound {
				t.Errorf("status %d", w.Code)
			}
		})
	}
}
