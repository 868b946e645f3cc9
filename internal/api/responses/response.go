package responses

import (
	"encoding/json"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// responseObject is the Response of the Responses API. Every field the
// schema requires is always present (null when unknown); "output" is
// always an array (openai-node's accumulator iterates it even on
// response.created).
type responseObject struct {
	ID                 string             `json:"id"`
	Object             string             `json:"object"`
	CreatedAt          int64              `json:"created_at"`
	Status             string             `json:"status"`
	Background         bool               `json:"background"`
	CompletedAt        *int64             `json:"completed_at"`
	Error              *responseError     `json:"error"`
	IncompleteDetails  *incompleteDetails `json:"incomplete_details"`
	Instructions       json.RawMessage    `json:"instructions"`
	MaxOutputTokens    *int               `json:"max_output_tokens"`
	MaxToolCalls       *int               `json:"max_tool_calls"`
	Model              string             `json:"model"`
	Output             []*Item            `json:"output"`
	ParallelToolCalls  bool               `json:"parallel_tool_calls"`
	PreviousResponseID *string            `json:"previous_response_id"`
	Reasoning          reasoningEcho      `json:"reasoning"`
	ServiceTier        string             `json:"service_tier"`
	Store              bool               `json:"store"`
	Temperature        float64            `json:"temperature"`
	Text               textEcho           `json:"text"`
	ToolChoice         json.RawMessage    `json:"tool_choice"`
	Tools              []json.RawMessage  `json:"tools"`
	TopLogprobs        int                `json:"top_logprobs"`
	TopP               float64            `json:"top_p"`
	Truncation         string             `json:"truncation"`
	Usage              *wireUsage         `json:"usage"`
	User               *string            `json:"user,omitempty"`
	Metadata           map[string]string  `json:"metadata"`
}

// responseError is Response.error of a failed response.
type responseError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// incompleteDetails is Response.incomplete_details.
type incompleteDetails struct {
	Reason string `json:"reason"` // max_output_tokens, content_filter
}

// wireUsage is Response.usage.
type wireUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

// toWireUsage converts u.
func toWireUsage(u llm.Usage) *wireUsage {
	w := &wireUsage{InputTokens: u.PromptTokens, OutputTokens: u.CompletionTokens, TotalTokens: u.TotalTokens()}
	w.OutputTokensDetails.ReasoningTokens = u.ReasoningTokens
	return w
}

// newResponse returns the in-progress response object for p.
func newResponse(id string, created int64, p *params, stored bool) *responseObject {
	r := &responseObject{
		ID:                id,
		Object:            "response",
		CreatedAt:         created,
		Status:            "in_progress",
		Background:        p.background,
		Instructions:      p.echo.instructions,
		MaxOutputTokens:   p.echo.maxOutputTokens,
		MaxToolCalls:      p.echo.maxToolCalls,
		Model:             p.req.Model,
		Output:            []*Item{},
		ParallelToolCalls: p.req.ParallelToolCalls,
		Reasoning:         p.echo.reasoning,
		ServiceTier:       "default",
		Store:             stored,
		Temperature:       1,
		Text:              p.echo.text,
		ToolChoice:        p.echo.toolChoice,
		Tools:             p.echo.tools,
		TopP:              1,
		Truncation:        p.echo.truncation,
		Metadata:          p.echo.metadata,
	}
	if p.echo.temperature != nil {
		r.Temperature = *p.echo.temperature
	}
	if p.echo.topP != nil {
		r.TopP = *p.echo.topP
	}
	if p.prevID != "" {
		prev := p.prevID
		r.PreviousResponseID = &prev
	}
	if p.echo.user != "" {
		u := p.echo.user
		r.User = &u
	}
	return r
}

// failureCode is the Response.error.code of a failure: the codes OpenAI
// uses (rate_limit_exceeded, invalid_prompt, server_error).
func failureCode(e *gw.Error) string {
	switch e.Code {
	case gw.CodeRateLimited, gw.CodeQuotaExhausted, gw.CodeNoAccounts, gw.CodeClientRateLimited:
		return "rate_limit_exceeded"
	case gw.CodeInvalidRequest, gw.CodeUpstreamRejected:
		return "invalid_prompt"
	}
	return "server_error"
}
