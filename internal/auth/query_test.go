package auth_test

import (
	"net/http/httptest"
	"testing"

	"github.com/bulwarkhq/bulwark/internal/auth"
)

// Credentials in the query string are refused (they end up in access
// logs); a URL without a query, or with harmless parameters, is not.
func TestCredentialInQuery(t *testing.T) {
	tests := []struct {
		target string
		want   bool
	}{
		{"/v1/models", false},
		{"/v1/models?", false},
		{"/v1/messages?beta=true", false},
		{"/v1/models?key=abc", true},
		{"/v1/models?x=1&api_key=abc", true},
		{"/v1/models?access_token=abc", true},
		{"/v1/models?beta=" + auth.KeyPrefix + "abc", true},
	}
	for _, tt := range tests {
		t.Run(tt.target, func(t *testing.T) {
			if got := auth.CredentialInQuery(httptest.NewRequest("GET", tt.target, nil)); got != tt.want {
				t.Errorf("CredentialInQuery(%s) = %v, want %v", tt.target, got, tt.want)
			}
		})
	}
}
