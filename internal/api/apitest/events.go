package apitest

import "github.com/sparkgw/spark/internal/llm"

// Text is a text delta.
func Text(s string) llm.Event { return llm.Event{Type: llm.EventTextDelta, Text: s} }

// Reasoning is a reasoning delta.
func Reasoning(s string) llm.Event { return llm.Event{Type: llm.EventReasoningDelta, Text: s} }

// Finish is the finish event with reason r.
func Finish(r llm.FinishReason) llm.Event { return llm.Event{Type: llm.EventFinish, FinishReason: r} }

// Usage is a usage event: prompt, completion and reasoning tokens.
func Usage(prompt, completion, reasoning int) llm.Event {
	return llm.Event{Type: llm.EventUsage, Usage: &llm.Usage{PromptTokens: prompt, CompletionTokens: completion, ReasoningTokens: reasoning}}
}

// ToolDelta is a fragment of tool call i.
func ToolDelta(i int, id, name, args string) llm.Event {
	return llm.Event{Type: llm.EventToolCallDelta, ToolCall: &llm.ToolCallDelta{Index: i, ID: id, Name: name, Arguments: args}}
}
