// Package gemini is the Gemini generateContent codec: requests, responses
// and streamGenerateContent chunks to and from the canonical model of
// package llm. The model name travels in the URL, not the body, so
// DecodeRequest leaves Request.Model empty and EncodeRequest does not write
// it. Functions are safe for concurrent use; stream decoders and encoders
// are not.
package gemini

import (
	"encoding/json"
	"strconv"

	"github.com/bulwarkhq/bulwark/internal/llm"
)

// Dialect tags extensions that came from a Gemini body.
const Dialect = "gemini"

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []geminiTool      `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

var knownRequestKeys = map[string]bool{
	"contents": true, "systemInstruction": true, "tools": true,
	"toolConfig": true, "generationConfig": true,
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

type part struct {
	Text             *string           `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	ID       string          `json:"id,omitempty"`
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type geminiTool struct {
	FunctionDeclarations []functionDecl `json:"functionDeclarations,omitempty"`
}

type functionDecl struct {
	Name                 string          `json:"name"`
	Description          string          `json:"description,omitempty"`
	Parameters           json.RawMessage `json:"parameters,omitempty"`
	ParametersJSONSchema json.RawMessage `json:"parametersJsonSchema,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig *functionCallingConfig `json:"functionCallingConfig,omitempty"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode,omitempty"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	Temperature        *float64        `json:"temperature,omitempty"`
	TopP               *float64        `json:"topP,omitempty"`
	TopK               *int            `json:"topK,omitempty"`
	MaxOutputTokens    int             `json:"maxOutputTokens,omitempty"`
	StopSequences      []string        `json:"stopSequences,omitempty"`
	Seed               *int64          `json:"seed,omitempty"`
	PresencePenalty    *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty   *float64        `json:"frequencyPenalty,omitempty"`
	ResponseMimeType   string          `json:"responseMimeType,omitempty"`
	ResponseSchema     json.RawMessage `json:"responseSchema,omitempty"`
	ResponseJSONSchema json.RawMessage `json:"responseJsonSchema,omitempty"`
	ThinkingConfig     *thinkingConfig `json:"thinkingConfig,omitempty"`
}

type thinkingConfig struct {
	ThinkingBudget  *int `json:"thinkingBudget,omitempty"`
	IncludeThoughts bool `json:"includeThoughts,omitempty"`
}

// DecodeRequest parses a generateContent body. Function calls without an id
// get "call_<n>" in order, and responses are matched to them by id or else
// by name, in order. Errors wrap llm.ErrMalformed.
func DecodeRequest(body []byte) (*llm.Request, error) {
	var in generateRequest
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, llm.Malformed("gemini request", err)
	}
	req := &llm.Request{Messages: []llm.Message{}}
	if si := in.SystemInstruction; si != nil {
		for _, p := range si.Parts {
			if p.Text == nil {
				return nil, llm.Malformed("gemini systemInstruction part", nil)
			}
			req.System = append(req.System, llm.Block{Type: llm.BlockText, Text: *p.Text})
		}
	}
	ids := &callIDs{}
	for _, c := range in.Contents {
		if err := decodeContent(req, c, ids); err != nil {
			return nil, err
		}
	}
	for _, t := range in.Tools {
		if len(t.FunctionDeclarations) == 0 {
			req.Unsupported = append(req.Unsupported, "gemini_builtin_tool")
		}
		for _, fd := range t.FunctionDeclarations {
			schema := fd.ParametersJSONSchema
			if len(schema) == 0 && len(fd.Parameters) > 0 {
				schema = schemaFromOpenAPI(fd.Parameters)
			}
			req.Tools = append(req.Tools, llm.Tool{Name: fd.Name, Description: fd.Description, Schema: schema})
		}
	}
	if tc := in.ToolConfig; tc != nil && tc.FunctionCallingConfig != nil {
		req.ToolChoice = decodeToolChoice(tc.FunctionCallingConfig)
	}
	if gc := in.GenerationConfig; gc != nil {
		decodeGenerationConfig(req, gc)
	}
	req.Extensions = llm.CollectExtensions(body, Dialect, func(k string) bool { return knownRequestKeys[k] })
	return req, nil
}

// callIDs names Gemini function calls that came without an id and pairs
// each functionResponse with a pending call of its name: the one with the
// response's id, else (no id) the oldest. The zero value is ready to use.
// Every call and response costs O(1) amortized, so a request holding n calls
// and n responses of one name decodes in linear time.
type callIDs struct {
	n       int
	pending map[string]*callQueue // name → calls awaiting a response
}

// callQueue holds one name's calls in order. A response removes either the
// oldest pending call or the oldest pending call with a given id; both are
// the front of that id's chain, so removal never searches.
type callQueue struct {
	ids  []string
	done []bool           // ids[i] has had its response
	next []int            // next position with the same id, or -1
	head int              // ids[:head] are all done
	byID map[string]chain // id → its pending positions, oldest first
}

type chain struct{ first, last int }

func (c *callIDs) call(id, name string) string {
	if id == "" {
		id = "call_" + strconv.Itoa(c.n)
	}
	c.n++
	if c.pending == nil {
		c.pending = map[string]*callQueue{}
	}
	q := c.pending[name]
	if q == nil {
		q = &callQueue{byID: map[string]chain{}}
		c.pending[name] = q
	}
	i := len(q.ids)
	q.ids, q.done, q.next = append(q.ids, id), append(q.done, false), append(q.next, -1)
	if ch, ok := q.byID[id]; ok {
		q.next[ch.last] = i
		q.byID[id] = chain{ch.first, i}
	} else {
		q.byID[id] = chain{i, i}
	}
	return id
}

func (c *callIDs) response(id, name string) string {
	q := c.pending[name]
	if q == nil {
		return id
	}
	if id == "" {
		for q.head < len(q.ids) && q.done[q.head] {
			q.head++
		}
		if q.head == len(q.ids) {
			return id
		}
		id = q.ids[q.head]
	}
	ch, ok := q.byID[id]
	if !ok {
		return id
	}
	// The oldest pending call overall is also the oldest with its id, so
	// either way the call answered is the front of id's chain.
	q.done[ch.first] = true
	if nx := q.next[ch.first]; nx >= 0 {
		q.byID[id] = chain{nx, ch.last}
	} else {
		delete(q.byID, id)
	}
	return id
}

func decodeToolChoice(fc *functionCallingConfig) *llm.ToolChoice {
	switch fc.Mode {
	case "NONE":
		return &llm.ToolChoice{Mode: llm.ToolNone}
	case "ANY":
		if len(fc.AllowedFunctionNames) == 1 {
			return &llm.ToolChoice{Mode: llm.ToolName, Name: fc.AllowedFunctionNames[0]}
		}
		return &llm.ToolChoice{Mode: llm.ToolAny}
	}
	return &llm.ToolChoice{Mode: llm.ToolAuto}
}

func decodeGenerationConfig(req *llm.Request, gc *generationConfig) {
	req.Temperature, req.TopP, req.TopK, req.Seed = gc.Temperature, gc.TopP, gc.TopK, gc.Seed
	req.PresencePenalty, req.FrequencyPenalty = gc.PresencePenalty, gc.FrequencyPenalty
	req.MaxTokens, req.Stop = gc.MaxOutputTokens, gc.StopSequences
	if gc.ResponseMimeType == "application/json" {
		req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONObject}
		schema := gc.ResponseJSONSchema
		if len(schema) == 0 && len(gc.ResponseSchema) > 0 {
			schema = schemaFromOpenAPI(gc.ResponseSchema)
		}
		if len(schema) > 0 {
			req.ResponseFormat = &llm.ResponseFormat{Type: llm.FormatJSONSchema, Schema: schema}
		}
	}
	if tc := gc.ThinkingConfig; tc != nil && tc.ThinkingBudget != nil {
		switch b := *tc.ThinkingBudget; {
		case b == 0:
			req.Reasoning = &llm.Reasoning{Type: "disabled"}
		case b < 0:
			req.Reasoning = &llm.Reasoning{Type: "adaptive"}
		default:
			req.Reasoning = &llm.Reasoning{Type: "enabled", BudgetTokens: b}
		}
	}
}

func decodeContent(req *llm.Request, c content, ids *callIDs) error {
	var blocks []llm.Block
	flush := func(role llm.Role) {
		if len(blocks) > 0 {
			req.Messages = append(req.Messages, llm.Message{Role: role, Content: blocks})
			blocks = nil
		}
	}
	for _, p := range c.Parts {
		if fr := p.FunctionResponse; fr != nil {
			if c.Role == "model" {
				return llm.Malformed("gemini functionResponse in a model turn", nil)
			}
			flush(llm.RoleUser)
			req.Messages = llm.AddToolResult(req.Messages, toolResult(fr, ids))
			continue
		}
		b, err := decodePart(p, c.Role == "model", ids)
		if err != nil {
			return err
		}
		blocks = append(blocks, b)
	}
	if c.Role == "model" {
		flush(llm.RoleAssistant)
	} else {
		flush(llm.RoleUser)
	}
	return nil
}

func decodePart(p part, model bool, ids *callIDs) (llm.Block, error) {
	switch {
	case p.Text != nil && p.Thought:
		return llm.Block{Type: llm.BlockThinking, Thinking: *p.Text, Signature: p.ThoughtSignature}, nil
	case p.Text != nil:
		return llm.Block{Type: llm.BlockText, Text: *p.Text, Signature: p.ThoughtSignature}, nil
	case p.FunctionCall != nil && model:
		args := p.FunctionCall.Args
		if len(args) == 0 || string(args) == "null" {
			args = json.RawMessage("{}")
		}
		args, ok := llm.CompactObject(args)
		if !ok {
			return llm.Block{}, llm.Malformed("gemini functionCall args", nil)
		}
		id := ids.call(p.FunctionCall.ID, p.FunctionCall.Name)
		return llm.Block{Type: llm.BlockToolUse, ID: id, Name: p.FunctionCall.Name, Input: args, Signature: p.ThoughtSignature}, nil
	case p.InlineData != nil:
		return mediaBlock(&llm.Source{Kind: llm.SourceBase64, MediaType: p.InlineData.MimeType, Data: p.InlineData.Data}), nil
	case p.FileData != nil:
		return mediaBlock(&llm.Source{Kind: llm.SourceURL, MediaType: p.FileData.MimeType, URL: p.FileData.FileURI}), nil
	}
	return llm.Block{}, llm.Malformed("gemini part", nil)
}

func mediaBlock(s *llm.Source) llm.Block {
	if len(s.MediaType) >= 6 && s.MediaType[:6] == "image/" {
		return llm.Block{Type: llm.BlockImage, Source: s}
	}
	return llm.Block{Type: llm.BlockDocument, Source: s}
}

// toolResult reads {"output": text} and {"error": text} as text results,
// anything else as its JSON text.
func toolResult(fr *functionResponse, ids *callIDs) llm.Block {
	b := llm.Block{Type: llm.BlockToolResult, ToolUseID: ids.response(fr.ID, fr.Name), Name: fr.Name}
	var obj map[string]json.RawMessage
	if json.Unmarshal(fr.Response, &obj) == nil && len(obj) == 1 {
		for k, v := range obj {
			var s string
			if (k == "output" || k == "error") && json.Unmarshal(v, &s) == nil {
				b.IsError = k == "error"
				b.Content = []llm.Block{{Type: llm.BlockText, Text: s}}
				return b
			}
		}
	}
	if len(fr.Response) > 0 {
		b.Content = []llm.Block{{Type: llm.BlockText, Text: string(fr.Response)}}
	}
	return b
}
