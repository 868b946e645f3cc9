// Package tokens estimates token counts offline with the o200k vocabulary
// embedded in github.com/tiktoken-go/tokenizer (no download at start-up).
// Counts for non-OpenAI models are estimates; spark counts once per request,
// never per streamed chunk.
package tokens

import (
	"sync"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/tiktoken-go/tokenizer"
)

var (
	codecOnce sync.Once
	codec     tokenizer.Codec
)

func getCodec() tokenizer.Codec {
	codecOnce.Do(func() {
		c, err := tokenizer.Get(tokenizer.O200kBase)
		if err == nil {
			codec = c
		}
	})
	return codec
}

// Warm loads the vocabulary now, so the first request does not pay for it.
func Warm() { getCodec() }

// Count returns the estimated number of tokens in s.
func Count(s string) int {
	if s == "" {
		return 0
	}
	if c := getCodec(); c != nil {
		if n, err := c.Count(s); err == nil {
			return n
		}
	}
	// Fallback: roughly four bytes per token.
	return (utf8.RuneCountInString(s) + 3) / 4
}

// perMessage is the framing overhead OpenAI's chat format adds per message.
const perMessage = 3

// imageTokens is a flat estimate for one attached image or file.
const imageTokens = 258

// Prompt estimates the prompt tokens of a request: message texts, tool
// calls and results, tool definitions, and a flat cost per attachment.
func Prompt(req *llm.Request) int {
	n := 3
	for _, m := range req.Messages {
		n += perMessage
		for _, p := range m.Parts {
			switch p.Type {
			case llm.PartText, llm.PartReasoning:
				n += Count(p.Text)
			case llm.PartImage, llm.PartFile:
				n += imageTokens
			case llm.PartToolCall:
				n += Count(p.ToolCall.Name) + Count(p.ToolCall.Arguments)
			case llm.PartToolResult:
				n += Count(p.ToolResult.Content)
			}
		}
	}
	for _, t := range req.Tools {
		n += Count(t.Name) + Count(t.Description) + Count(string(t.Parameters))
	}
	return n
}
