package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sparkgw/spark/internal/api/openai"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

func userParams(model, prompt string) oai.ChatCompletionNewParams {
	return oai.ChatCompletionNewParams{
		Model:    shared.ChatModel(model),
		Messages: []oai.ChatCompletionMessageParamUnion{oai.UserMessage(prompt)},
	}
}

func TestSDKNonStreaming(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		reasoning("Let me "), reasoning("think."),
		text("Hello"), text(" <world> & \"you\""),
		finish(llm.FinishStop), usage(10, 5, 2),
	}}
	srv := newServer(t, b, "", openai.Options{})
	client := newClient(srv, "")

	start := time.Now().Unix()
	res, err := client.Chat.Completions.New(context.Background(), userParams("gpt-x", "hi there"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(res.ID, "chatcmpl-") || len(res.ID) < len("chatcmpl-")+24 {
		t.Errorf("id = %q", res.ID)
	}
	if res.Object != "chat.completion" || res.Model != "gpt-x" {
		t.Errorf("object/model = %q/%q", res.Object, res.Model)
	}
	if res.Created < start || res.Created > time.Now().Unix() {
		t.Errorf("created = %d", res.Created)
	}
	if len(res.Choices) != 1 {
		t.Fatalf("choices = %d", len(res.Choices))
	}
	c := res.Choices[0]
	if c.Message.Content != `Hello <world> & "you"` || c.Message.Role != "assistant" {
		t.Errorf("message = %+v", c.Message)
	}
	if c.FinishReason != "stop" || c.Index != 0 {
		t.Errorf("finish_reason = %q index %d", c.FinishReason, c.Index)
	}
	if got := c.Message.JSON.ExtraFields["reasoning_content"].Raw(); got != `"Let me think."` {
		t.Errorf("reasoning_content = %s", got)
	}
	if c.Message.JSON.Refusal.Raw() != "null" || c.JSON.Logprobs.Raw() != "null" {
		t.Errorf("refusal/logprobs not null: %q %q", c.Message.JSON.Refusal.Raw(), c.JSON.Logprobs.Raw())
	}
	u := res.Usage
	if u.PromptTokens != 10 || u.CompletionTokens != 5 || u.TotalTokens != 15 ||
		u.CompletionTokensDetails.ReasoningTokens != 2 || !u.PromptTokensDetails.JSON.CachedTokens.Valid() {
		t.Errorf("usage = %+v", u)
	}

	req := b.LastRequest(t)
	if req.Model != "gpt-x" || req.ClientKey != "key-1" || !req.ParallelToolCalls ||
		req.ToolChoice.Mode != llm.ToolChoiceAuto || len(req.Messages) != 1 ||
		req.Messages[0].Role != llm.RoleUser || req.Messages[0].Text() != "hi there" {
		t.Errorf("backend request = %+v", req)
	}
	waitClosed(t, b.Streams()[0]) // the handler closes it after the last byte
}

func TestSDKNonStreamingToolCalls(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		toolDelta(0, "call_A", "get_weather", `{"city":`), toolDelta(0, "", "", `"Paris"}`),
		toolDelta(1, "call_B", "get_time", ""),
		finish(llm.FinishToolCalls), usage(3, 4, 0),
	}}
	srv := newServer(t, b, "", openai.Options{})
	client := newClient(srv, "")

	params := userParams("m", "weather?")
	params.Tools = []oai.ChatCompletionToolUnionParam{
		oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather",
			Parameters: shared.FunctionParameters{"type": "object"}}),
		oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
	}
	res, err := client.Chat.Completions.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	m := res.Choices[0].Message
	if m.JSON.Content.Raw() != "null" {
		t.Errorf("content = %s, want null", m.JSON.Content.Raw())
	}
	if res.Choices[0].FinishReason != "tool_calls" || len(m.ToolCalls) != 2 {
		t.Fatalf("finish %q, %d tool calls", res.Choices[0].FinishReason, len(m.ToolCalls))
	}
	want := []struct{ id, name, args string }{{"call_A", "get_weather", `{"city":"Paris"}`}, {"call_B", "get_time", "{}"}}
	for i, w := range want {
		tc := m.ToolCalls[i]
		if tc.ID != w.id || tc.Type != "function" || tc.Function.Name != w.name || tc.Function.Arguments != w.args {
			t.Errorf("tool call %d = %+v", i, tc)
		}
	}
	req := b.LastRequest(t)
	if len(req.Tools) != 2 || req.Tools[0].Name != "get_weather" || string(req.Tools[0].Parameters) != `{"type":"object"}` {
		t.Errorf("tools = %+v", req.Tools)
	}
}

func TestSDKStreaming(t *testing.T) {
	for _, includeUsage := range []bool{false, true} {
		t.Run(map[bool]string{false: "NoUsage", true: "IncludeUsage"}[includeUsage], func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{
				reasoning("Hmm, "), reasoning("ok."),
				text("Hel"), text("lo "), text("there"),
				finish(llm.FinishStop), usage(9, 2, 1),
			}}
			srv := newServer(t, b, "", openai.Options{})
			client := newClient(srv, "")
			params := userParams("stream-model", "hi")
			if includeUsage {
				params.StreamOptions = oai.ChatCompletionStreamOptionsParam{IncludeUsage: oai.Bool(true)}
			}
			stream := client.Chat.Completions.NewStreaming(context.Background(), params)
			var (
				acc        oai.ChatCompletionAccumulator
				reasoning  strings.Builder
				chunks     int
				usageSeen  int
				finishSeen int
			)
			for stream.Next() {
				ch := stream.Current()
				chunks++
				if !acc.AddChunk(ch) {
					t.Fatalf("accumulator rejected chunk %d: %s", chunks, ch.RawJSON())
				}
				if ch.JSON.Usage.Raw() != "" {
					usageSeen++
					if len(ch.Choices) != 0 || !strings.Contains(ch.RawJSON(), `"choices":[]`) {
						t.Errorf("usage chunk has choices: %s", ch.RawJSON())
					}
				}
				for _, c := range ch.Choices {
					if r := c.Delta.JSON.ExtraFields["reasoning_content"]; r.Raw() != "" {
						var s string
						_ = json.Unmarshal([]byte(r.Raw()), &s)
						reasoning.WriteString(s)
						if c.Delta.Content != "" {
							t.Errorf("reasoning and content in one chunk: %s", ch.RawJSON())
						}
					}
					if c.FinishReason != "" {
						finishSeen++
					}
				}
			}
			if err := stream.Err(); err != nil {
				t.Fatal(err)
			}
			if got := acc.Choices[0].Message.Content; got != "Hello there" {
				t.Errorf("content = %q", got)
			}
			if acc.Choices[0].Message.Role != "assistant" || acc.Choices[0].FinishReason != "stop" || finishSeen != 1 {
				t.Errorf("role %q finish %q (seen %d)", acc.Choices[0].Message.Role, acc.Choices[0].FinishReason, finishSeen)
			}
			if reasoning.String() != "Hmm, ok." {
				t.Errorf("reasoning = %q", reasoning.String())
			}
			if !strings.HasPrefix(acc.ID, "chatcmpl-") || acc.Model != "stream-model" {
				t.Errorf("id/model = %q/%q", acc.ID, acc.Model)
			}
			wantUsage := 0
			if includeUsage {
				wantUsage = 1
				if acc.Usage.PromptTokens != 9 || acc.Usage.CompletionTokens != 2 || acc.Usage.TotalTokens != 11 ||
					acc.Usage.CompletionTokensDetails.ReasoningTokens != 1 {
					t.Errorf("usage = %+v", acc.Usage)
				}
			}
			if usageSeen != wantUsage {
				t.Errorf("usage chunks = %d, want %d", usageSeen, wantUsage)
			}
			waitClosed(t, b.Streams()[0]) // the handler closes it after the last byte
		})
	}
}

func TestSDKStreamingParallelToolCalls(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{
		text("Checking."),
		toolDelta(0, "call_A", "get_weather", ""),
		toolDelta(0, "call_A", "get_weather", `{"city":`), // repeated id/name must not be repeated on the wire
		toolDelta(0, "", "", `"Paris"}`),
		toolDelta(1, "call_B", "get_time", "{}"),
		finish(llm.FinishToolCalls), usage(1, 1, 0),
	}}
	srv := newServer(t, b, "", openai.Options{})
	client := newClient(srv, "")
	params := userParams("m", "go")
	params.Tools = []oai.ChatCompletionToolUnionParam{
		oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"}),
		oai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_time"}),
	}
	stream := client.Chat.Completions.NewStreaming(context.Background(), params)
	var acc oai.ChatCompletionAccumulator
	var finished []oai.FinishedChatCompletionToolCall
	for stream.Next() {
		ch := stream.Current()
		if !acc.AddChunk(ch) {
			t.Fatalf("accumulator rejected %s", ch.RawJSON())
		}
		for _, c := range ch.Choices {
			if len(c.Delta.ToolCalls) > 1 {
				t.Errorf("several tool calls in one chunk: %s", ch.RawJSON())
			}
		}
		if tc, ok := acc.JustFinishedToolCall(); ok {
			finished = append(finished, tc)
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	msg := acc.Choices[0].Message
	if msg.Content != "Checking." || acc.Choices[0].FinishReason != "tool_calls" {
		t.Errorf("content %q finish %q", msg.Content, acc.Choices[0].FinishReason)
	}
	if len(msg.ToolCalls) != 2 {
		t.Fatalf("tool calls = %+v", msg.ToolCalls)
	}
	want := []struct{ id, name, args string }{{"call_A", "get_weather", `{"city":"Paris"}`}, {"call_B", "get_time", "{}"}}
	for i, w := range want {
		tc := msg.ToolCalls[i]
		if tc.ID != w.id || tc.Type != "function" || tc.Function.Name != w.name || tc.Function.Arguments != w.args {
			t.Errorf("tool call %d = id %q type %q name %q args %q", i, tc.ID, tc.Type, tc.Function.Name, tc.Function.Arguments)
		}
	}
	if len(finished) != 2 || finished[0].Name != "get_weather" || finished[1].Name != "get_time" {
		t.Errorf("JustFinishedToolCall = %+v", finished)
	}
}

func TestSDKErrors(t *testing.T) {
	t.Run("PreStreamRateLimit", func(t *testing.T) {
		b := &fakeBackend{ChatErr: &gw.Error{Code: gw.CodeRateLimited, Message: "slow down",
			RetryAfter: 1500 * time.Millisecond, Cause: errors.New("secret upstream detail")}}
		srv := newServer(t, b, "", openai.Options{})
		client := newClient(srv, "")
		for _, streaming := range []bool{false, true} {
			var err error
			if streaming {
				s := client.Chat.Completions.NewStreaming(context.Background(), userParams("m", "x"))
				for s.Next() {
					t.Error("got a chunk")
				}
				err = s.Err()
			} else {
				_, err = client.Chat.Completions.New(context.Background(), userParams("m", "x"))
			}
			var apiErr *oai.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("streaming=%v: err = %v", streaming, err)
			}
			if apiErr.StatusCode != 429 || apiErr.Code != "rate_limit_exceeded" || apiErr.Message != "slow down" {
				t.Errorf("streaming=%v: %d %q %q", streaming, apiErr.StatusCode, apiErr.Code, apiErr.Message)
			}
			if got := apiErr.Response.Header.Get("Retry-After"); got != "2" {
				t.Errorf("Retry-After = %q", got)
			}
			if strings.Contains(apiErr.RawJSON(), "secret") {
				t.Errorf("cause leaked: %s", apiErr.RawJSON())
			}
		}
	})
	t.Run("MidStream", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("partial")},
			Err: &gw.Error{Code: gw.CodeUnavailable, Message: "upstream went down"}}
		srv := newServer(t, b, "", openai.Options{})
		client := newClient(srv, "")
		s := client.Chat.Completions.NewStreaming(context.Background(), userParams("m", "x"))
		var content strings.Builder
		for s.Next() {
			for _, c := range s.Current().Choices {
				content.WriteString(c.Delta.Content)
			}
		}
		if err := s.Err(); err == nil || !strings.Contains(err.Error(), "upstream went down") {
			t.Errorf("err = %v", err)
		}
		if content.String() != "partial" {
			t.Errorf("content = %q", content.String())
		}
	})
	t.Run("NonStreamingRecvFailure", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("partial")},
			Err: &gw.Error{Code: gw.CodeUpstreamTimeout, Message: "upstream timed out"}}
		srv := newServer(t, b, "", openai.Options{})
		client := newClient(srv, "")
		_, err := client.Chat.Completions.New(context.Background(), userParams("m", "x"))
		var apiErr *oai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 504 || apiErr.Type != "server_error" {
			t.Errorf("err = %v", err)
		}
	})
}

func TestSDKModels(t *testing.T) {
	b := &fakeBackend{List: []llm.ModelInfo{
		{ID: "gpt-5.1", DisplayName: "GPT-5.1", OwnedBy: "genspark", Created: 1700000000},
		{ID: "fal-ai/flux-2", OwnedBy: "genspark", Kind: llm.KindImage, InternalID: "flux-2-pro"},
		{ID: "openai/gpt-4o", Description: "routed"},
	}}
	srv := newServer(t, b, "/hf", openai.Options{})
	client := newClient(srv, "/hf")
	page, err := client.Models.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Data) != 3 || page.Data[0].ID != "gpt-5.1" || page.Data[0].Created != 1700000000 ||
		page.Data[0].OwnedBy != "genspark" || page.Data[0].Object != "model" {
		t.Errorf("list = %+v", page.Data)
	}
	if got := page.Data[1].JSON.ExtraFields["internal_id"].Raw(); got != `"flux-2-pro"` {
		t.Errorf("internal_id = %s", got)
	}
	if got := page.Data[2].OwnedBy; got != "spark" {
		t.Errorf("default owned_by = %q", got)
	}
	for _, id := range []string{"fal-ai/flux-2", "openai/gpt-4o", "gpt-5.1"} {
		m, err := client.Models.Get(context.Background(), id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if m.ID != id {
			t.Errorf("got %q, want %q", m.ID, id)
		}
	}
	_, err = client.Models.Get(context.Background(), "nope/x")
	var apiErr *oai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || apiErr.Code != "model_not_found" ||
		apiErr.Type != "invalid_request_error" || !strings.Contains(apiErr.Message, "`nope/x`") {
		t.Errorf("err = %v", err)
	}
}
