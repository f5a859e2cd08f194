package guard

import (
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"
)

// OpenAIChatTrust returns the trust function for an OpenAI chat-completions
// body: content of system and developer messages is Trusted; content of
// user, tool, function and assistant messages (an assistant turn in a
// request is written by the client, so it can carry an attack) is
// Untrusted; everything outside messages (model, tool definitions and
// their descriptions, parameters) is Trusted operator configuration.
func OpenAIChatTrust(body []byte) func(path string) Trust {
	return messageTrust(body, "messages.", "system", "developer")
}

// AnthropicMessagesTrust returns the trust function for an Anthropic
// messages body: "system" is Trusted; every message turn (user text,
// tool_result blocks, assistant turns written by the client) is Untrusted;
// tool definitions and other top-level fields are Trusted.
func AnthropicMessagesTrust(body []byte) func(path string) Trust {
	return messageTrust(body, "messages.")
}

// messageTrust marks message i trusted when its own "role" is one of
// trustedRoles. Each element of "messages" is judged by its own role: a
// message without one (or a non-object element) is untrusted and keeps its
// index, so it cannot borrow the role of a later message. (A "#.role"
// query skips elements without a role, which shifted every later index.)
func messageTrust(body []byte, prefix string, trustedRoles ...string) func(string) Trust {
	var trusted []bool
	if m := gjson.GetBytes(body, "messages"); m.IsArray() && len(trustedRoles) > 0 {
		m.ForEach(func(_, msg gjson.Result) bool {
			r := msg.Get("role")
			trusted = append(trusted, msg.IsObject() && r.Type == gjson.String && slices.Contains(trustedRoles, r.Str))
			return true
		})
	}
	return func(path string) Trust {
		rest, ok := strings.CutPrefix(path, prefix)
		if !ok {
			return Trusted
		}
		idx, _, _ := strings.Cut(rest, ".")
		i, err := strconv.Atoi(idx)
		if err != nil || i < 0 || i >= len(trusted) || !trusted[i] {
			return Untrusted
		}
		return Trusted
	}
}
