package app_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	sdkoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/sparkgw/spark/internal/config"
)

func (h *harness) anthropic() sdk.Client {
	return sdk.NewClient(sdkoption.WithBaseURL(h.url), sdkoption.WithAPIKey(testKey), sdkoption.WithMaxRetries(0))
}

func weatherTool() sdk.ToolUnionParam {
	tool := sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}},
		Required:   []string{"city"},
	}, "get_weather")
	tool.OfTool.Description = sdk.String("Current weather in a city")
	return tool
}

// accumulate runs a streaming Messages call and returns the final message.
func accumulate(t *testing.T, c sdk.Client, p sdk.MessageNewParams) sdk.Message {
	t.Helper()
	st := c.Messages.NewStreaming(context.Background(), p)
	var msg sdk.Message
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	if err := st.Err(); err != nil {
		t.Fatalf("stream: %v", err)
	}
	return msg
}

// TestMessagesToolRoundTrip: over both upstreams, a streamed tool_use turn,
// then the tool_result turn answered with text.
func TestMessagesToolRoundTrip(t *testing.T) {
	for _, up := range []struct{ name, model string }{
		{"genspark", "claude-sonnet-4-5-20250929"},
		{"geminiweb", "claude-gemini-3-flash"},
	} {
		t.Run(up.name, func(t *testing.T) {
			h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
			c := h.anthropic()
			first := sdk.NewUserMessage(sdk.NewTextBlock(`Weather in Paris? sim:tool get_weather {"city":"Paris"}`))
			params := sdk.MessageNewParams{
				Model: sdk.Model(up.model), MaxTokens: 1024,
				System:   []sdk.TextBlockParam{{Text: "You are terse.", CacheControl: sdk.NewCacheControlEphemeralParam()}},
				Messages: []sdk.MessageParam{first},
				Tools:    []sdk.ToolUnionParam{weatherTool()},
			}
			msg := accumulate(t, c, params)
			if msg.StopReason != sdk.StopReasonToolUse {
				t.Fatalf("stop reason %q, content %+v", msg.StopReason, msg.Content)
			}
			var use sdk.ToolUseBlock
			for _, b := range msg.Content {
				if b.Type == "tool_use" {
					use = b.AsToolUse()
				}
			}
			var input map[string]string
			if err := json.Unmarshal(use.Input, &input); err != nil || use.Name != "get_weather" || input["city"] != "Paris" {
				t.Fatalf("tool_use %+v (%v)", use, err)
			}

			params.Messages = append(params.Messages, msg.ToParam(),
				sdk.NewUserMessage(sdk.NewToolResultBlock(use.ID, "18°C and sunny", false)))
			final, err := c.Messages.New(context.Background(), params)
			if err != nil {
				t.Fatal(err)
			}
			if final.StopReason != sdk.StopReasonEndTurn || len(final.Content) == 0 || final.Content[0].Type != "text" {
				t.Fatalf("final %+v", final)
			}
			if final.Usage.InputTokens == 0 || final.Usage.OutputTokens == 0 {
				t.Fatalf("usage %+v", final.Usage)
			}
		})
	}
}

func TestCountTokensAndAnthropicModels(t *testing.T) {
	h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
	c := h.anthropic()
	n, err := c.Messages.CountTokens(context.Background(), sdk.MessageCountTokensParams{
		Model:    "claude-sonnet-4-5",
		Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("How many tokens is this?"))},
	})
	if err != nil || n.InputTokens == 0 {
		t.Fatalf("count_tokens %+v %v", n, err)
	}
	page, err := c.Models.List(context.Background(), sdk.ModelListParams{Limit: sdk.Int(1000)})
	if err != nil {
		t.Fatal(err)
	}
	var claude, gemini, twin bool
	for _, m := range page.Data {
		claude = claude || strings.HasPrefix(m.ID, "claude-sonnet")
		twin = twin || m.ID == "claude-gemini-3-flash"
		gemini = gemini || strings.HasPrefix(m.ID, "gemini-")
		if m.DisplayName == "" || m.CreatedAt.IsZero() && m.JSON.CreatedAt.Raw() == "" {
			t.Fatalf("model %+v lacks Anthropic fields", m)
		}
	}
	if !claude || !gemini || !twin {
		t.Fatalf("Anthropic model list lacks a group: claude=%v gemini=%v claude-gemini=%v", claude, gemini, twin)
	}
	// Errors on Messages routes use the Anthropic envelope.
	resp, body := h.post("/v1/messages", "", `{"model":"x","max_tokens":5,"messages":[]}`)
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(body, `"type":"error"`) {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
}

// TestChatToolCalls: OpenAI tool calls over the emulation, parallel calls,
// and tool_choice none.
func TestChatToolCalls(t *testing.T) {
	h := start(t, nil)
	tools := []openai.ChatCompletionToolUnionParam{
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "get_weather", Parameters: openai.FunctionParameters{
				"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}, "required": []string{"city"},
			},
		}),
		openai.ChatCompletionFunctionTool(openai.FunctionDefinitionParam{
			Name: "get_time", Parameters: openai.FunctionParameters{"type": "object", "properties": map[string]any{"tz": map[string]any{"type": "string"}}},
		}),
	}
	prompt := `Two things sim:tool get_weather {"city":"Paris"} sim:tool get_time {"tz":"CET"}`
	stream := h.client.Chat.Completions.NewStreaming(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg(prompt), Tools: tools,
	})
	var acc openai.ChatCompletionAccumulator
	for stream.Next() {
		acc.AddChunk(stream.Current())
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	calls := acc.Choices[0].Message.ToolCalls
	if acc.Choices[0].FinishReason != "tool_calls" || len(calls) != 2 ||
		calls[0].Function.Name != "get_weather" || calls[0].Function.Arguments != `{"city":"Paris"}` ||
		calls[1].Function.Name != "get_time" || calls[0].ID == calls[1].ID {
		t.Fatalf("finish %q calls %+v", acc.Choices[0].FinishReason, calls)
	}

	none, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("just talk"), Tools: tools,
		ToolChoice: openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("none")},
	})
	if err != nil || len(none.Choices[0].Message.ToolCalls) != 0 || none.Choices[0].FinishReason != "stop" {
		t.Fatalf("tool_choice none: %+v %v", none, err)
	}
}

// TestResponsesConversation: a stored Responses conversation continued by
// previous_response_id.
func TestResponsesConversation(t *testing.T) {
	h := start(t, nil)
	first, err := h.client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "gpt-5.2", Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("remember the word ocelot")},
	})
	if err != nil || !strings.Contains(first.OutputText(), "ocelot") {
		t.Fatalf("first: %v %v", first, err)
	}
	second, err := h.client.Responses.New(context.Background(), responses.ResponseNewParams{
		Model: "gpt-5.2", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("what was the word?")},
	})
	if err != nil || !strings.Contains(second.OutputText(), "what was the word?") {
		t.Fatalf("second: %v %v", second, err)
	}
	if body := h.lastAsk().Body; !strings.Contains(body, "ocelot") {
		t.Fatal("the continued conversation did not carry the first turn upstream")
	}
	got, err := h.client.Responses.Get(context.Background(), second.ID, responses.ResponseGetParams{})
	if err != nil || got.OutputText() != second.OutputText() {
		t.Fatalf("get: %v", err)
	}
}
