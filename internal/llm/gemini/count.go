package gemini

import (
	"encoding/json"
	"fmt"

	"github.com/tidwall/gjson"
	"github.com/tidwall/sjson"

	"github.com/bulwarkhq/bulwark/internal/jsonscan"
	"github.com/bulwarkhq/bulwark/internal/llm"
)

// DecodeCountTokens parses a countTokens body, {"contents":[…]} or
// {"generateContentRequest":{…}}, into the canonical request whose prompt
// is counted. The inner request's "model" (Google wants
// "models/{model}" there) is ignored: the model is the one in the URL.
// Unknown top-level fields (names match exactly), both forms at once or
// neither are refused, as Google does. Errors wrap llm.ErrMalformed.
func DecodeCountTokens(body []byte) (*llm.Request, error) {
	if !jsonscan.Valid(body) {
		return nil, llm.Malformed("gemini countTokens request: invalid JSON", nil)
	}
	top := gjson.ParseBytes(body)
	if !top.IsObject() {
		return nil, llm.Malformed("gemini countTokens request: not an object", nil)
	}
	var contents, inner gjson.Result
	var err error
	top.ForEach(func(k, v gjson.Result) bool {
		switch {
		case k.String() == "contents" && !contents.Exists():
			contents = v
		case k.String() == "generateContentRequest" && !inner.Exists():
			inner = v
		default:
			err = llm.Malformed(fmt.Sprintf("gemini countTokens request: unknown or repeated field %q", k.String()), nil)
		}
		return err == nil
	})
	switch {
	case err != nil:
		return nil, err
	case present(contents) && present(inner):
		return nil, llm.Malformed("gemini countTokens request: both contents and generateContentRequest", nil)
	case present(contents):
		return DecodeRequest(body)
	case !present(inner) || !inner.IsObject():
		return nil, llm.Malformed("gemini countTokens request: contents or a generateContentRequest object required", nil)
	}
	b, err := sjson.DeleteBytes([]byte(inner.Raw), "model")
	if err != nil {
		return nil, llm.Malformed("gemini countTokens generateContentRequest", err)
	}
	return DecodeRequest(b)
}

func present(v gjson.Result) bool { return v.Exists() && v.Type != gjson.Null }

// UpstreamCountTokens is a countTokens body (already accepted by
// DecodeCountTokens) for an upstream Gemini model: the caller's bytes, so
// the upstream counts exactly what was sent, with the
// generateContentRequest form's model set to "models/{model}" as Google
// requires.
func UpstreamCountTokens(body []byte, model string) ([]byte, error) {
	if !gjson.GetBytes(body, "generateContentRequest").Exists() {
		return body, nil
	}
	out, err := sjson.SetBytes(body, "generateContentRequest.model", "models/"+model)
	if err != nil {
		return nil, fmt.Errorf("gemini countTokens: set model: %w", err)
	}
	return out, nil
}

// CountTokensResponse is Google's countTokens answer.
type CountTokensResponse struct {
	TotalTokens             int                  `json:"totalTokens"`
	CachedContentTokenCount int                  `json:"cachedContentTokenCount,omitempty"`
	PromptTokensDetails     []ModalityTokenCount `json:"promptTokensDetails,omitempty"`
	CacheTokensDetails      []ModalityTokenCount `json:"cacheTokensDetails,omitempty"`
}

// ModalityTokenCount is the token count of one modality (TEXT, IMAGE,
// AUDIO, VIDEO, DOCUMENT).
type ModalityTokenCount struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

// DecodeCountTokensResponse parses an upstream countTokens answer (Google
// omits zero counts, so an empty object is zero tokens). Negative counts
// are refused. Errors wrap llm.ErrMalformed.
func DecodeCountTokensResponse(body []byte) (CountTokensResponse, error) {
	var r CountTokensResponse
	if !jsonscan.Valid(body) || !gjson.ParseBytes(body).IsObject() {
		return r, llm.Malformed("gemini countTokens response", nil)
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return r, llm.Malformed("gemini countTokens response", err)
	}
	if r.TotalTokens < 0 || r.CachedContentTokenCount < 0 || negative(r.PromptTokensDetails) || negative(r.CacheTokensDetails) {
		return r, llm.Malformed("gemini countTokens response: negative count", nil)
	}
	return r, nil
}

func negative(ms []ModalityTokenCount) bool {
	for _, m := range ms {
		if m.TokenCount < 0 {
			return true
		}
	}
	return false
}
