package guard

import (
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
	return messageTrust(gjson.GetBytes(body, "messages.#.role").Array(), "messages.", "system", "developer")
}

// AnthropicMessagesTrust returns the trust function for an Anthropic
// messages body: "system" is Trusted; every message turn (user text,
// tool_result blocks, assistant turns written by the client) is Untrusted;
// tool definitions and other top-level fields are Trusted.
func AnthropicMessagesTrust(body []byte) func(path string) Trust {
	return messageTrust(gjson.GetBytes(body, "messages.#.role").Array(), "messages.")
}

func messageTrust(roles []gjson.Result, prefix string, trustedRoles ...string) func(string) Trust {
	trusted := make([]bool, len(roles))
	for i, r := range roles {
		for _, t := range trustedRoles {
			if r.String() == t {
				trusted[i] = true
			}
		}
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
