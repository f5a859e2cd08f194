package apierr

import (
	"net/http"
	"strings"
)

// OAuth is the error shape of the OAuth and MCP endpoints (/mcp,
// /oauth/token, /.well-known/…): RFC 6749 §5.2 / RFC 6750 §3
// {"error","error_description"}.
const OAuth Dialect = Gemini + 1

// MethodNotAllowed is a 405 for a known path called with a method it does
// not serve; allow (already sorted) goes out in the Allow header that RFC
// 9110 §15.5.6 requires.
func MethodNotAllowed(method string, allow []string) *Error {
	list := strings.Join(allow, ", ")
	return New(http.StatusMethodNotAllowed, "method_not_allowed",
		"method "+method+" is not allowed on this route; allowed: "+list).WithHeader("Allow", list)
}

type oauthBody struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	RequestID   string `json:"request_id,omitempty"`
}
