package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"

	"github.com/sparkgw/spark/internal/api/anthropic"
	"github.com/sparkgw/spark/internal/api/apitest"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

const model = "claude-sonnet-4-5"

// streamMessage runs a streaming request and accumulates it as the SDK
// documents.
func streamMessage(t *testing.T, c sdk.Client, params sdk.MessageNewParams) (sdk.Message, error) {
	t.Helper()
	st := c.Messages.NewStreaming(context.Background(), params)
	defer st.Close()
	var msg sdk.Message
	for st.Next() {
		if err := msg.Accumulate(st.Current()); err != nil {
			t.Fatalf("accumulate: %v", err)
		}
	}
	return msg, st.Err()
}

// answer runs params streamed or not.
func answer(t *testing.T, c sdk.Client, stream bool, params sdk.MessageNewParams) (*sdk.Message, error) {
	t.Helper()
	if stream {
		msg, err := streamMessage(t, c, params)
		return &msg, err
	}
	return c.Messages.New(context.Background(), params)
}

func forModes(t *testing.T, fn func(t *testing.T, stream bool)) {
	t.Run("NonStream", func(t *testing.T) { fn(t, false) })
	t.Run("Stream", func(t *testing.T) { fn(t, true) })
}

func TestSDKText(t *testing.T) {
	forModes(t, func(t *testing.T, stream bool) {
		b := &fakeBackend{Events: []llm.Event{text("Hello"), text(", world"), finish(llm.FinishStop), usage(12, 5)}}
		srv := newServer(t, b, anthropic.Options{})
		msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
			Model:       model,
			MaxTokens:   1024,
			Messages:    userMsg("Say hello"),
			Temperature: sdk.Float(0.5),
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Type != "text" || msg.Content[0].Text != "Hello, world" {
			t.Fatalf("content = %+v", msg.Content)
		}
		if !strings.HasPrefix(msg.ID, "msg_") || msg.Model != model || msg.Role != "assistant" {
			t.Errorf("id/model/role = %q %q %q", msg.ID, msg.Model, msg.Role)
		}
		if msg.StopReason != sdk.StopReasonEndTurn || msg.StopSequence != "" {
			t.Errorf("stop = %q %q", msg.StopReason, msg.StopSequence)
		}
		if msg.Usage.InputTokens != 12 || msg.Usage.OutputTokens != 5 {
			t.Errorf("usage = %+v", msg.Usage)
		}
		req := b.LastRequest(t)
		if req.Model != model || req.MaxTokens != 1024 || req.ClientKey != "key-1" {
			t.Errorf("request = %q %d %q", req.Model, req.MaxTokens, req.ClientKey)
		}
		if req.Temperature == nil || *req.Temperature != 0.5 {
			t.Errorf("temperature = %v", req.Temperature)
		}
		if len(req.Messages) != 1 || req.Messages[0].Role != llm.RoleUser || req.Messages[0].Text() != "Say hello" {
			t.Errorf("messages = %+v", req.Messages)
		}
		if req.Reasoning {
			t.Error("reasoning requested without thinking")
		}
		waitClosed(t, b.LastStream(t))
	})
}

func TestSDKThinking(t *testing.T) {
	events := []llm.Event{reasoning("Let me"), reasoning(" think."), text("Answer."), finish(llm.FinishStop), usage(10, 7)}
	forModes(t, func(t *testing.T, stream bool) {
		t.Run("Enabled", func(t *testing.T) {
			b := &fakeBackend{Events: events}
			srv := newServer(t, b, anthropic.Options{})
			msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
				Model: model, MaxTokens: 4096, Messages: userMsg("Think"),
				Thinking: sdk.ThinkingConfigParamOfEnabled(2048),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 2 {
				t.Fatalf("content = %+v", msg.Content)
			}
			th := msg.Content[0].AsThinking()
			if msg.Content[0].Type != "thinking" || th.Thinking != "Let me think." || th.Signature != "" {
				t.Errorf("thinking block = %+v", msg.Content[0])
			}
			if msg.Content[1].Type != "text" || msg.Content[1].Text != "Answer." {
				t.Errorf("text block = %+v", msg.Content[1])
			}
			if !b.LastRequest(t).Reasoning {
				t.Error("Reasoning not requested")
			}
			// The thinking block goes back in the history as the SDK
			// rebuilds it, and is not sent upstream.
			b.Events = []llm.Event{text("ok"), finish(llm.FinishStop), usage(1, 1)}
			_, err = answer(t, newClient(srv), stream, sdk.MessageNewParams{
				Model: model, MaxTokens: 4096,
				Messages: []sdk.MessageParam{userMsg("Think")[0], msg.ToParam(), sdk.NewUserMessage(sdk.NewTextBlock("more"))},
				Thinking: sdk.ThinkingConfigParamOfEnabled(2048),
			})
			if err != nil {
				t.Fatal(err)
			}
			req := b.LastRequest(t)
			if len(req.Messages) != 3 {
				t.Fatalf("messages = %+v", req.Messages)
			}
			for _, p := range req.Messages[1].Parts {
				if p.Type != llm.PartText || p.Text != "Answer." {
					t.Errorf("assistant history part %+v", p)
				}
			}
		})
		t.Run("Disabled", func(t *testing.T) {
			b := &fakeBackend{Events: events}
			srv := newServer(t, b, anthropic.Options{})
			msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
				Model: model, MaxTokens: 4096, Messages: userMsg("Think"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "Answer." {
				t.Errorf("content = %+v", msg.Content)
			}
		})
		t.Run("Hidden", func(t *testing.T) {
			// REASONING_HIDE: the gateway drops the reasoning, and counts it.
			srv := newServer(t, apitest.Gateway(true, events...), anthropic.Options{})
			msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
				Model: model, MaxTokens: 4096, Messages: userMsg("Think"),
				Thinking: sdk.ThinkingConfigParamOfEnabled(2048),
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "Answer." {
				t.Errorf("content = %+v", msg.Content)
			}
		})
		t.Run("DisplayOmitted", func(t *testing.T) {
			b := &fakeBackend{Events: events}
			srv := newServer(t, b, anthropic.Options{})
			thinking := sdk.ThinkingConfigParamOfEnabled(2048)
			thinking.OfEnabled.Display = "omitted"
			msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
				Model: model, MaxTokens: 4096, Messages: userMsg("Think"), Thinking: thinking,
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(msg.Content) != 1 || msg.Content[0].Text != "Answer." {
				t.Errorf("content = %+v", msg.Content)
			}
			if !b.LastRequest(t).Reasoning {
				t.Error("Reasoning not requested")
			}
		})
	})
}

// weatherTools declares two tools.
func weatherTools() []sdk.ToolUnionParam {
	schema := sdk.ToolInputSchemaParam{
		Properties: map[string]any{"city": map[string]any{"type": "string"}},
		Required:   []string{"city"},
	}
	weather := sdk.ToolUnionParamOfTool(schema, "get_weather")
	weather.OfTool.Description = sdk.String("Current weather")
	weather.OfTool.CacheControl = sdk.NewCacheControlEphemeralParam()
	clock := sdk.ToolUnionParamOfTool(sdk.ToolInputSchemaParam{
		Properties: map[string]any{"tz": map[string]any{"type": "string"}},
	}, "get_time")
	return []sdk.ToolUnionParam{weather, clock}
}

var toolEvents = []llm.Event{
	text("Checking."),
	toolDelta(0, "call_abc", "get_weather", ""),
	toolDelta(0, "", "", `{"city":`),
	toolDelta(0, "", "", ` "Paris"}`),
	toolDelta(1, "call_def", "get_time", `{"tz":"CET"}`),
	finish(llm.FinishToolCalls),
	usage(30, 20),
}

func TestSDKToolUse(t *testing.T) {
	forModes(t, func(t *testing.T, stream bool) {
		b := &fakeBackend{Events: toolEvents}
		srv := newServer(t, b, anthropic.Options{})
		msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
			Model: model, MaxTokens: 1024, Messages: userMsg("Weather and time in Paris?"),
			Tools:      weatherTools(),
			ToolChoice: sdk.ToolChoiceUnionParam{OfAny: &sdk.ToolChoiceAnyParam{DisableParallelToolUse: sdk.Bool(true)}},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 3 {
			t.Fatalf("content = %+v", msg.Content)
		}
		if msg.Content[0].Text != "Checking." {
			t.Errorf("text = %q", msg.Content[0].Text)
		}
		want := []struct{ id, name, input string }{
			{"toolu_abc", "get_weather", `{"city":"Paris"}`},
			{"toolu_def", "get_time", `{"tz":"CET"}`},
		}
		for i, w := range want {
			tu := msg.Content[i+1].AsToolUse()
			if msg.Content[i+1].Type != "tool_use" || tu.ID != w.id || tu.Name != w.name {
				t.Errorf("block %d = %+v", i+1, msg.Content[i+1])
			}
			if !reflect.DeepEqual(mustJSON(t, string(tu.Input)), mustJSON(t, w.input)) {
				t.Errorf("block %d input = %s, want %s", i+1, tu.Input, w.input)
			}
		}
		if msg.StopReason != sdk.StopReasonToolUse {
			t.Errorf("stop_reason = %q", msg.StopReason)
		}
		req := b.LastRequest(t)
		if len(req.Tools) != 2 || req.Tools[0].Name != "get_weather" || req.Tools[0].Description != "Current weather" {
			t.Fatalf("tools = %+v", req.Tools)
		}
		var schema map[string]any
		if err := json.Unmarshal(req.Tools[0].Parameters, &schema); err != nil || schema["type"] != "object" {
			t.Errorf("schema = %s", req.Tools[0].Parameters)
		}
		if req.ToolChoice.Mode != llm.ToolChoiceRequired || req.ParallelToolCalls {
			t.Errorf("tool choice = %+v, parallel %v", req.ToolChoice, req.ParallelToolCalls)
		}
	})
}

func TestSDKToolResultRoundTrip(t *testing.T) {
	forModes(t, func(t *testing.T, stream bool) {
		b := &fakeBackend{Events: toolEvents}
		srv := newServer(t, b, anthropic.Options{})
		c := newClient(srv)
		first := userMsg("Weather and time in Paris?")
		msg, err := answer(t, c, stream, sdk.MessageNewParams{
			Model: model, MaxTokens: 1024, Messages: first, Tools: weatherTools(),
		})
		if err != nil {
			t.Fatal(err)
		}
		var results []sdk.ContentBlockParamUnion
		for _, blk := range msg.Content {
			if blk.Type == "tool_use" {
				results = append(results, sdk.NewToolResultBlock(blk.ID, "result of "+blk.Name, blk.Name == "get_time"))
			}
		}
		results = append(results, sdk.NewTextBlock("Thanks"))
		b.Events = []llm.Event{text("It is sunny."), finish(llm.FinishStop), usage(50, 4)}
		if _, err := answer(t, c, stream, sdk.MessageNewParams{
			Model: model, MaxTokens: 1024, Tools: weatherTools(),
			Messages: []sdk.MessageParam{first[0], msg.ToParam(), sdk.NewUserMessage(results...)},
		}); err != nil {
			t.Fatal(err)
		}
		req := b.LastRequest(t)
		// user, assistant(text, call, call), tool, tool, user(text)
		if len(req.Messages) != 5 {
			t.Fatalf("messages = %+v", req.Messages)
		}
		as := req.Messages[1]
		if as.Role != llm.RoleAssistant || len(as.Parts) != 3 || as.Parts[0].Text != "Checking." {
			t.Fatalf("assistant = %+v", as)
		}
		for i, w := range []struct{ id, name, args string }{
			{"toolu_abc", "get_weather", `{"city":"Paris"}`},
			{"toolu_def", "get_time", `{"tz":"CET"}`},
		} {
			call := as.Parts[i+1]
			if call.Type != llm.PartToolCall || call.ToolCall.ID != w.id || call.ToolCall.Name != w.name ||
				!reflect.DeepEqual(mustJSON(t, call.ToolCall.Arguments), mustJSON(t, w.args)) {
				t.Errorf("call %d = %+v", i, call.ToolCall)
			}
			tm := req.Messages[2+i]
			if tm.Role != llm.RoleTool || len(tm.Parts) != 1 || tm.Parts[0].Type != llm.PartToolResult {
				t.Fatalf("tool message %d = %+v", i, tm)
			}
			tr := tm.Parts[0].ToolResult
			if tr.CallID != w.id || tr.Name != w.name || tr.Content != "result of "+w.name || tr.IsError != (w.name == "get_time") {
				t.Errorf("result %d = %+v", i, tr)
			}
		}
		if last := req.Messages[4]; last.Role != llm.RoleUser || last.Text() != "Thanks" {
			t.Errorf("last = %+v", last)
		}
	})
}

func TestSDKSystemBlocks(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("ok"), finish(llm.FinishStop), usage(3, 1)}}
	srv := newServer(t, b, anthropic.Options{})
	_, err := answer(t, newClient(srv), false, sdk.MessageNewParams{
		Model: model, MaxTokens: 100, Messages: userMsg("hi"),
		System: []sdk.TextBlockParam{
			{Text: "x-anthropic-billing-header: cc_version=1;"},
			{Text: "You are terse.", CacheControl: sdk.NewCacheControlEphemeralParam()},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	req := b.LastRequest(t)
	sys := req.Messages[0]
	if sys.Role != llm.RoleSystem || len(sys.Parts) != 2 || sys.Parts[1].Text != "You are terse." {
		t.Errorf("system = %+v", sys)
	}
}

func TestSDKStopSequences(t *testing.T) {
	forModes(t, func(t *testing.T, stream bool) {
		b := &fakeBackend{Events: []llm.Event{
			text("Hello wo"), text("rld! ST"), text("OP and more"), text("never read"),
			finish(llm.FinishStop), usage(5, 50),
		}}
		srv := newServer(t, b, anthropic.Options{})
		msg, err := answer(t, newClient(srv), stream, sdk.MessageNewParams{
			Model: model, MaxTokens: 100, Messages: userMsg("hi"),
			StopSequences: []string{"NEVER", "STOP"},
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "Hello world! " {
			t.Errorf("content = %+v", msg.Content)
		}
		if msg.StopReason != sdk.StopReasonStopSequence || msg.StopSequence != "STOP" {
			t.Errorf("stop = %q %q", msg.StopReason, msg.StopSequence)
		}
		if msg.Usage.OutputTokens <= 0 || msg.Usage.OutputTokens >= 50 {
			t.Errorf("output tokens = %d, want an estimate of the cut text", msg.Usage.OutputTokens)
		}
		s := b.LastStream(t)
		waitClosed(t, s)
		if n := s.Recvs(); n != 3 {
			t.Errorf("Recv called %d times, want 3 (reading stops at the match)", n)
		}
		if got := b.LastRequest(t).Stop; !reflect.DeepEqual(got, []string{"NEVER", "STOP"}) {
			t.Errorf("request stop = %q", got)
		}
	})
}

func TestSDKCountTokens(t *testing.T) {
	b := &fakeBackend{}
	srv := newServer(t, b, anthropic.Options{})
	c := newClient(srv)
	small, err := c.Messages.CountTokens(context.Background(), sdk.MessageCountTokensParams{
		Model: model, Messages: userMsg("foo"),
	})
	if err != nil {
		t.Fatal(err)
	}
	schema := sdk.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string", "description": "The city to look the weather up for"}}}
	big, err := c.Messages.CountTokens(context.Background(), sdk.MessageCountTokensParams{
		Model: model, Messages: userMsg("foo"),
		System: sdk.MessageCountTokensParamsSystemUnion{OfString: sdk.String("You are a helpful assistant with tools.")},
		Tools:  []sdk.MessageCountTokensToolUnionParam{sdk.MessageCountTokensToolParamOfTool(schema, "get_weather")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if small.InputTokens <= 0 || big.InputTokens <= small.InputTokens+10 {
		t.Errorf("input tokens = %d (plain), %d (with system and tools)", small.InputTokens, big.InputTokens)
	}
	if b.Calls() != 0 {
		t.Errorf("count_tokens called the backend %d times", b.Calls())
	}
}

func TestSDKErrors(t *testing.T) {
	t.Run("PreStream429", func(t *testing.T) {
		forModes(t, func(t *testing.T, stream bool) {
			b := &fakeBackend{ChatErr: &gw.Error{Code: gw.CodeRateLimited, Message: "upstream rate limit reached", RetryAfter: 2500 * time.Millisecond}}
			srv := newServer(t, b, anthropic.Options{})
			var hdr map[string][]string
			c := sdk.NewClient(option.WithBaseURL(srv.URL), option.WithAPIKey("k"), option.WithMaxRetries(0),
				option.WithHTTPClient(srv.Client()),
				option.WithMiddleware(func(r *http.Request, next option.MiddlewareNext) (*http.Response, error) {
					res, err := next(r)
					if res != nil {
						hdr = res.Header
					}
					return res, err
				}))
			_, err := answer(t, c, stream, sdk.MessageNewParams{Model: model, MaxTokens: 10, Messages: userMsg("hi")})
			var apiErr *sdk.Error
			if !errors.As(err, &apiErr) {
				t.Fatalf("err = %v, want *anthropic.Error", err)
			}
			if apiErr.StatusCode != 429 || apiErr.Type() != "rate_limit_error" || apiErr.RequestID != "req_test" {
				t.Errorf("error = %d %q %q", apiErr.StatusCode, apiErr.Type(), apiErr.RequestID)
			}
			if !strings.Contains(apiErr.RawJSON(), "upstream rate limit reached") {
				t.Errorf("body = %s", apiErr.RawJSON())
			}
			if got := http.Header(hdr).Get("Retry-After"); got != "3" {
				t.Errorf("retry-after = %q", got)
			}
		})
	})
	t.Run("MidStream", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("partial")}, Err: &gw.Error{Code: gw.CodeUnavailable, Message: "upstream went down"}}
		srv := newServer(t, b, anthropic.Options{})
		msg, err := streamMessage(t, newClient(srv), sdk.MessageNewParams{Model: model, MaxTokens: 10, Messages: userMsg("hi")})
		var apiErr *sdk.Error
		if !errors.As(err, &apiErr) {
			t.Fatalf("err = %v, want *anthropic.Error", err)
		}
		if apiErr.Type() != "overloaded_error" || !strings.Contains(apiErr.RawJSON(), "upstream went down") {
			t.Errorf("error = %q %s", apiErr.Type(), apiErr.RawJSON())
		}
		if len(msg.Content) != 1 || msg.Content[0].Text != "partial" {
			t.Errorf("partial content = %+v", msg.Content)
		}
		waitClosed(t, b.LastStream(t))
	})
	t.Run("NonStreamUpstreamFailure", func(t *testing.T) {
		b := &fakeBackend{Events: []llm.Event{text("partial")}, Err: &gw.Error{Code: gw.CodeUpstream, Message: "upstream answered garbage"}}
		srv := newServer(t, b, anthropic.Options{})
		_, err := answer(t, newClient(srv), false, sdk.MessageNewParams{Model: model, MaxTokens: 10, Messages: userMsg("hi")})
		var apiErr *sdk.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != 502 || apiErr.Type() != "api_error" {
			t.Fatalf("err = %v", err)
		}
	})
}
