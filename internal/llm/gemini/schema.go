package gemini

import "encoding/json"

// schemaFromOpenAPI turns the OpenAPI-subset schema of a legacy
// "parameters" field (types spelled "OBJECT", "STRING") into JSON Schema,
// which OpenAI and Anthropic require, by lower-casing every "type". Only the
// legacy field takes this slower generic path; parametersJsonSchema is kept
// as is.
func schemaFromOpenAPI(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	out, err := json.Marshal(lowerTypes(v))
	if err != nil {
		return raw
	}
	return out
}

func lowerTypes(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "type" {
				x[k] = lowerASCII(s)
				continue
			}
			x[k] = lowerTypes(e)
		}
	case []any:
		for i, e := range x {
			x[i] = lowerTypes(e)
		}
	}
	return v
}

func lowerASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}
