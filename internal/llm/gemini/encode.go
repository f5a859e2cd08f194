package gemini

import (
	"encoding/json"
	"fmt"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// Target is the shared encoding target; Gemini needs none of its fields
// (the model goes in the URL).
type Target = llm.Target

// EncodeRequest renders req as a generateContent body (the model and the
// stream flag go in the URL) and lists what Gemini cannot carry.
func EncodeRequest(req *llm.Request, _ Target) ([]byte, llm.Dropped, error) {
	var d llm.Dropped
	for _, u := range req.Unsupported {
		d.Add(u)
	}
	out := generateRequest{Contents: make([]content, 0, len(req.Messages))}
	if len(req.System) > 0 {
		si := &content{}
		for _, b := range req.System {
			noteCache(b, &d)
			si.Parts = append(si.Parts, textPart(b.Text))
		}
		out.SystemInstruction = si
	}
	names := map[string]string{} // tool_use id → name, for functionResponse
	for _, m := range req.Messages {
		c, err := encodeMessage(m, names, &d)
		if err != nil {
			return nil, nil, err
		}
		out.Contents = append(out.Contents, c)
	}
	if len(req.Tools) > 0 {
		gt := geminiTool{}
		for _, t := range req.Tools {
			if t.Cache != nil {
				d.Add(llm.FeatureCacheControl)
			}
			gt.FunctionDeclarations = append(gt.FunctionDeclarations, functionDecl{Name: t.Name, Description: t.Description, ParametersJSONSchema: t.Schema})
		}
		out.Tools = []geminiTool{gt}
	}
	out.ToolConfig = encodeToolChoice(req.ToolChoice, &d)
	out.GenerationConfig = encodeGenerationConfig(req, &d)
	if req.User != "" {
		d.Add(llm.FeatureUser)
	}
	if len(req.Metadata) > 0 {
		d.Add(llm.FeatureMetadata)
	}
	body, err := json.Marshal(out)
	if err != nil {
		return nil, nil, fmt.Errorf("encode gemini request: %w", err)
	}
	return llm.AppendExtensions(body, req.Extensions, Dialect, &d), d, nil
}

func noteCache(b llm.Block, d *llm.Dropped) {
	if b.Cache != nil {
		d.Add(llm.FeatureCacheControl)
	}
}

func textPart(s string) part { return part{Text: &s} }

func encodeToolChoice(tc *llm.ToolChoice, d *llm.Dropped) *toolConfig {
	if tc == nil {
		return nil
	}
	if tc.DisableParallel {
		d.Add(llm.FeatureParallelToolUse)
	}
	fc := &functionCallingConfig{Mode: "AUTO"}
	switch tc.Mode {
	case llm.ToolNone:
		fc.Mode = "NONE"
	case llm.ToolAny:
		fc.Mode = "ANY"
	case llm.ToolName:
		fc.Mode, fc.AllowedFunctionNames = "ANY", []string{tc.Name}
	}
	return &toolConfig{FunctionCallingConfig: fc}
}

func encodeGenerationConfig(req *llm.Request, d *llm.Dropped) *generationConfig {
	gc := &generationConfig{
		Temperature: req.Temperature, TopP: req.TopP, TopK: req.TopK, Seed: req.Seed,
		PresencePenalty: req.PresencePenalty, FrequencyPenalty: req.FrequencyPenalty,
		MaxOutputTokens: req.MaxTokens, StopSequences: req.Stop,
	}
	if rf := req.ResponseFormat; rf != nil && rf.Type != llm.FormatText {
		gc.ResponseMimeType = "application/json"
		if rf.Type == llm.FormatJSONSchema {
			gc.ResponseJSONSchema = rf.Schema
		}
	}
	if r := req.Reasoning; r != nil {
		if r.Effort != "" {
			d.Add(llm.FeatureReasoningEffort)
		}
		var budget int
		switch r.Type {
		case "enabled":
			budget = r.BudgetTokens
		case "adaptive":
			budget = -1
		case "disabled":
		default:
			return emptyToNil(gc)
		}
		gc.ThinkingConfig = &thinkingConfig{ThinkingBudget: &budget, IncludeThoughts: budget != 0}
	}
	return emptyToNil(gc)
}

func emptyToNil(gc *generationConfig) *generationConfig {
	raw, _ := json.Marshal(gc)
	if string(raw) == "{}" {
		return nil
	}
	return gc
}

func encodeMessage(m llm.Message, names map[string]string, d *llm.Dropped) (content, error) {
	c := content{Role: "user", Parts: make([]part, 0, len(m.Content))}
	switch m.Role {
	case llm.RoleAssistant:
		c.Role = "model"
	case llm.RoleUser, llm.RoleTool:
	default:
		return c, fmt.Errorf("encode gemini request: unknown role %q", m.Role)
	}
	for _, b := range m.Content {
		noteCache(b, d)
		p, ok := encodePart(b, names, d)
		if ok {
			c.Parts = append(c.Parts, p)
		}
	}
	return c, nil
}

func encodePart(b llm.Block, names map[string]string, d *llm.Dropped) (part, bool) {
	switch b.Type {
	case llm.BlockText:
		p := textPart(b.Text)
		p.ThoughtSignature = b.Signature
		return p, true
	case llm.BlockThinking:
		p := textPart(b.Thinking)
		p.Thought, p.ThoughtSignature = true, b.Signature
		return p, true
	case llm.BlockImage, llm.BlockDocument:
		return mediaPart(b.Source, d)
	case llm.BlockToolUse:
		names[b.ID] = b.Name
		return part{FunctionCall: &functionCall{ID: b.ID, Name: b.Name, Args: b.Input}, ThoughtSignature: b.Signature}, true
	case llm.BlockToolResult:
		return part{FunctionResponse: encodeToolResult(b, names, d)}, true
	}
	d.Add(llm.FeatureThinking) // redacted thinking is Anthropic-only
	return part{}, false
}

func mediaPart(s *llm.Source, d *llm.Dropped) (part, bool) {
	switch {
	case s == nil:
		return part{}, false
	case s.Kind == llm.SourceBase64:
		return part{InlineData: &blob{MimeType: s.MediaType, Data: s.Data}}, true
	case s.Kind == llm.SourceURL:
		return part{FileData: &fileData{MimeType: s.MediaType, FileURI: s.URL}}, true
	case s.Kind == llm.SourceText:
		return textPart(s.Data), true
	}
	d.Add(llm.FeatureDocument)
	return part{}, false
}

// encodeToolResult writes text results as {"output": text} or
// {"error": text}, the shapes Gemini documents; a text that is itself a JSON
// object goes as that object.
func encodeToolResult(b llm.Block, names map[string]string, d *llm.Dropped) *functionResponse {
	name := b.Name
	if name == "" {
		name = names[b.ToolUseID]
	}
	var text string
	for _, c := range b.Content {
		if c.Type == llm.BlockText {
			text += c.Text
		} else {
			d.Add(llm.FeatureToolResultImage)
		}
	}
	fr := &functionResponse{ID: b.ToolUseID, Name: name}
	switch {
	case !b.IsError && llm.ValidJSONObject([]byte(text)) && !isWrapper(text):
		fr.Response = json.RawMessage(text)
	default:
		key := "output"
		if b.IsError {
			key = "error"
		}
		fr.Response, _ = json.Marshal(map[string]string{key: text})
	}
	return fr
}

// isWrapper reports whether text already looks like {"output":…} or
// {"error":…}, which must be wrapped again to survive a round trip.
func isWrapper(text string) bool {
	var obj map[string]json.RawMessage
	if json.Unmarshal([]byte(text), &obj) != nil || len(obj) != 1 {
		return false
	}
	_, o := obj["output"]
	_, e := obj["error"]
	return o || e
}
