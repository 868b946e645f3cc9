package responses_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	oai "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/sparkgw/spark/internal/api/apitest"
	resp "github.com/sparkgw/spark/internal/api/responses"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/tokens"
)

func textParams(model, input string) responses.ResponseNewParams {
	return responses.ResponseNewParams{
		Model: shared.ResponsesModel(model),
		Input: responses.ResponseNewParamsInputUnion{OfString: oai.String(input)},
	}
}

// stream runs a streaming request through the SDK and the strict
// accumulator, returning it and the event types in order.
func stream(t *testing.T, c *oai.Client, params responses.ResponseNewParams) (*accumulator, []string) {
	t.Helper()
	s := c.Responses.NewStreaming(context.Background(), params)
	defer s.Close()
	acc := newAccumulator(t)
	var types []string
	for s.Next() {
		ev := s.Current()
		types = append(types, ev.Type)
		acc.add(ev)
	}
	if err := s.Err(); err != nil {
		t.Fatalf("stream error: %v", err)
	}
	acc.check()
	return acc, types
}

func apiError(t *testing.T, err error) *oai.Error {
	t.Helper()
	var ae *oai.Error
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an API error", err, err)
	}
	return ae
}

func TestSDKNonStreaming(t *testing.T) {
	b := &fakeBackend{Events: events(text("Hello"), text(" <world> & \"you\""), finish(llm.FinishStop), usage(10, 5, 0))}
	e := newEnv(t, b, resp.Options{})
	params := textParams("gpt-x", "hi there")
	params.Instructions = oai.String("Be terse.")
	params.Metadata = shared.Metadata{"k": "v"}
	params.Temperature = oai.Float(0.5)

	start := time.Now().Unix()
	r, err := e.client().Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if got := r.OutputText(); got != `Hello <world> & "you"` {
		t.Errorf("OutputText = %q", got)
	}
	if !strings.HasPrefix(r.ID, "resp_") || r.Object != "response" || r.Status != "completed" || r.Model != "gpt-x" {
		t.Errorf("id/object/status/model = %q %q %q %q", r.ID, r.Object, r.Status, r.Model)
	}
	if r.CreatedAt < float64(start) || r.CompletedAt < r.CreatedAt {
		t.Errorf("created_at %v completed_at %v", r.CreatedAt, r.CompletedAt)
	}
	if r.Instructions.OfString != "Be terse." || r.Metadata["k"] != "v" || r.Temperature != 0.5 || r.TopP != 1 ||
		!r.ParallelToolCalls || r.JSON.ExtraFields["store"].Raw() != "true" || r.ToolChoice.OfToolChoiceMode != "auto" || r.Text.Format.Type != "text" {
		t.Errorf("echoed fields: %s", r.RawJSON())
	}
	for _, f := range []string{"error", "incomplete_details", "previous_response_id"} {
		if raw := jsonObj(t, r.RawJSON())[f]; raw != nil {
			t.Errorf("%s = %v, want null", f, raw)
		}
	}
	if len(r.Output) != 1 {
		t.Fatalf("output = %s", r.RawJSON())
	}
	m := r.Output[0]
	if m.Type != "message" || !strings.HasPrefix(m.ID, "msg_") || m.Role != "assistant" || m.Status != "completed" ||
		len(m.Content) != 1 || m.Content[0].Type != "output_text" ||
		!strings.Contains(m.RawJSON(), `"annotations":[]`) || !strings.Contains(m.RawJSON(), `"logprobs":[]`) {
		t.Errorf("message item = %s", m.RawJSON())
	}
	u := r.Usage
	if u.InputTokens != 10 || u.OutputTokens != 5 || u.TotalTokens != 15 || !u.InputTokensDetails.JSON.CachedTokens.Valid() ||
		!u.OutputTokensDetails.JSON.ReasoningTokens.Valid() {
		t.Errorf("usage = %s", u.RawJSON())
	}

	req := b.Request(t, 0)
	if req.Model != "gpt-x" || req.ClientKey != "key-1" || !req.ParallelToolCalls || req.ToolChoice.Mode != llm.ToolChoiceAuto ||
		req.Temperature == nil || *req.Temperature != 0.5 || req.Reasoning {
		t.Errorf("backend request = %+v", req)
	}
	if len(req.Messages) != 2 || req.Messages[0].Role != llm.RoleSystem || req.Messages[0].Text() != "Be terse." ||
		req.Messages[1].Role != llm.RoleUser || req.Messages[1].Text() != "hi there" {
		t.Errorf("backend messages = %+v", req.Messages)
	}
	b.CheckClosed(t)
}

func TestSDKStreaming(t *testing.T) {
	b := &fakeBackend{Events: events(text("Hel"), text("lo"), text(", world"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	acc, types := stream(t, e.client(), textParams("m", "hi"))
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added",
		"response.output_text.delta", "response.output_text.delta", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	}
	if !slices.Equal(types, want) {
		t.Errorf("events:\n got %v\nwant %v", types, want)
	}
	if acc.streamedText() != "Hello, world" || acc.final.OutputText() != "Hello, world" {
		t.Errorf("streamed %q, final OutputText %q", acc.streamedText(), acc.final.OutputText())
	}
	if acc.final.Status != "completed" || acc.final.Usage.TotalTokens != 18 || acc.final.Usage.OutputTokens != 7 {
		t.Errorf("final response = %s", acc.final.RawJSON())
	}
	// The streamed response is stored like a plain one.
	got, err := e.client().Responses.Get(context.Background(), acc.final.ID, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.OutputText() != "Hello, world" || got.ID != acc.final.ID {
		t.Errorf("stored response = %s", got.RawJSON())
	}
	b.CheckClosed(t)
}

func TestSDKReasoning(t *testing.T) {
	script := events(reasoning("Let me "), reasoning("think."), text("42"), finish(llm.FinishStop), usage(9, 20, 12))
	b := &fakeBackend{Events: script}
	e := newEnv(t, b, resp.Options{})
	params := textParams("m", "question")
	params.Reasoning = shared.ReasoningParam{Summary: shared.ReasoningSummaryAuto}

	acc, types := stream(t, e.client(), params)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.reasoning_summary_part.added",
		"response.reasoning_summary_text.delta", "response.reasoning_summary_text.delta",
		"response.reasoning_summary_text.done", "response.reasoning_summary_part.done", "response.output_item.done",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.completed",
	}
	if !slices.Equal(types, want) {
		t.Errorf("events:\n got %v\nwant %v", types, want)
	}
	if !b.Request(t, 0).Reasoning {
		t.Error("reasoning.summary did not ask the backend for reasoning")
	}
	out := acc.final.Output
	if len(out) != 2 || out[0].Type != "reasoning" || !strings.HasPrefix(out[0].ID, "rs_") || len(out[0].Summary) != 1 ||
		out[0].Summary[0].Text != "Let me think." || out[0].Summary[0].Type != "summary_text" {
		t.Fatalf("output = %s", acc.final.RawJSON())
	}
	if acc.final.OutputText() != "42" || acc.final.Usage.OutputTokensDetails.ReasoningTokens != 12 {
		t.Errorf("final = %s", acc.final.RawJSON())
	}

	// Non-streaming: the same items.
	r, err := e.client().Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Output) != 2 || r.Output[0].Type != "reasoning" || r.Output[0].Summary[0].Text != "Let me think." || r.OutputText() != "42" {
		t.Errorf("non-streaming output = %s", r.RawJSON())
	}

	// REASONING_HIDE: the gateway drops the item but counts its tokens.
	e2 := newEnvWithBackend(t, apitest.Gateway(true, script...), resp.Options{})
	acc2, _ := stream(t, e2.client(), params)
	if len(acc2.final.Output) != 1 || acc2.final.Output[0].Type != "message" ||
		acc2.final.Usage.OutputTokensDetails.ReasoningTokens != int64(tokens.Count("Let me think.")) {
		t.Errorf("hidden reasoning: %s", acc2.final.RawJSON())
	}
}

func weatherTool() responses.ToolUnionParam {
	return responses.ToolUnionParam{OfFunction: &responses.FunctionToolParam{
		Name:        "get_weather",
		Description: oai.String("Weather of a city"),
		Parameters:  map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	}}
}

func TestSDKFunctionCalls(t *testing.T) {
	script := events(
		text("Checking."),
		toolDelta(0, "call_A", "get_weather", ""), toolDelta(0, "", "", `{"city":`), toolDelta(0, "", "", `"Paris"}`),
		toolDelta(1, "call_B", "get_time", `{}`),
		finish(llm.FinishToolCalls), usage(30, 12, 0))
	b := &fakeBackend{Events: script}
	e := newEnv(t, b, resp.Options{})
	params := textParams("m", "weather?")
	params.Tools = []responses.ToolUnionParam{weatherTool(), {OfFunction: &responses.FunctionToolParam{Name: "get_time"}}}

	acc, types := stream(t, e.client(), params)
	want := []string{
		"response.created", "response.in_progress",
		"response.output_item.added", "response.content_part.added", "response.output_text.delta",
		"response.output_text.done", "response.content_part.done", "response.output_item.done",
		"response.output_item.added", "response.function_call_arguments.delta", "response.function_call_arguments.delta",
		"response.output_item.added", "response.function_call_arguments.delta",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.function_call_arguments.done", "response.output_item.done",
		"response.completed",
	}
	if !slices.Equal(types, want) {
		t.Errorf("events:\n got %v\nwant %v", types, want)
	}
	check := func(what string, out []responses.ResponseOutputItemUnion) {
		t.Helper()
		if len(out) != 3 || out[0].Type != "message" || out[1].Type != "function_call" || out[2].Type != "function_call" {
			t.Fatalf("%s: output types %v", what, out)
		}
		fc := out[1]
		if fc.CallID != "call_A" || fc.Name != "get_weather" || fc.Arguments.OfString != `{"city":"Paris"}` ||
			fc.Status != "completed" || !strings.HasPrefix(fc.ID, "fc_") {
			t.Errorf("%s: first call = %s", what, fc.RawJSON())
		}
		if out[2].CallID != "call_B" || out[2].Name != "get_time" || out[2].Arguments.OfString != "{}" {
			t.Errorf("%s: second call = %s", what, out[2].RawJSON())
		}
	}
	check("stream", acc.final.Output)

	r, err := e.client().Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	check("non-stream", r.Output)
	req := b.Request(t, 0)
	if len(req.Tools) != 2 || req.Tools[0].Name != "get_weather" || req.Tools[0].Description != "Weather of a city" ||
		!strings.Contains(string(req.Tools[0].Parameters), `"city"`) || req.Tools[1].Name != "get_time" {
		t.Errorf("backend tools = %+v", req.Tools)
	}
}

func TestSDKToolOnlyStreamHasNoMessage(t *testing.T) {
	b := &fakeBackend{Events: events(toolDelta(0, "call_1", "get_weather", `{"city":"Rome"}`), done(llm.FinishToolCalls))}
	e := newEnv(t, b, resp.Options{})
	params := textParams("m", "weather?")
	params.Tools = []responses.ToolUnionParam{weatherTool()}
	acc, types := stream(t, e.client(), params)
	for _, typ := range types {
		if strings.Contains(typ, "content_part") || strings.Contains(typ, "output_text") {
			t.Errorf("tool-only stream has %s", typ)
		}
	}
	if len(acc.final.Output) != 1 || acc.final.Output[0].Type != "function_call" || acc.final.OutputText() != "" {
		t.Errorf("output = %s", acc.final.RawJSON())
	}
}

func TestSDKFunctionCallOutputRoundTrip(t *testing.T) {
	b := &fakeBackend{Script: func(n int, _ *llm.Request) []llm.Event {
		if n == 0 {
			return events(toolDelta(0, "call_W1", "get_weather", `{"city":"Oslo"}`), done(llm.FinishToolCalls))
		}
		return events(text("It is 3°C in Oslo."), done(llm.FinishStop))
	}}
	e := newEnv(t, b, resp.Options{})
	c := e.client()
	params := textParams("m", "weather in Oslo?")
	params.Tools = []responses.ToolUnionParam{weatherTool()}
	first, err := c.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	fc := first.Output[0]
	if fc.Type != "function_call" {
		t.Fatalf("first output = %s", first.RawJSON())
	}

	// The client replays the call and sends its output, statelessly (as n8n
	// and Codex do), with store off.
	params.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
		responses.ResponseInputItemParamOfMessage("weather in Oslo?", responses.EasyInputMessageRoleUser),
		{OfFunctionCall: &responses.ResponseFunctionToolCallParam{ID: oai.String(fc.ID), CallID: fc.CallID, Name: fc.Name, Arguments: fc.Arguments.OfString}},
		responses.ResponseInputItemParamOfFunctionCallOutput(`{"temp":3}`),
	}}
	params.Input.OfInputItemList[2].OfFunctionCallOutput.CallID = oai.String(fc.CallID)
	params.Store = oai.Bool(false)
	second, err := c.Responses.New(context.Background(), params)
	if err != nil {
		t.Fatal(err)
	}
	if second.OutputText() != "It is 3°C in Oslo." || second.JSON.ExtraFields["store"].Raw() != "false" {
		t.Errorf("second = %s", second.RawJSON())
	}
	req := b.Request(t, 1)
	if len(req.Messages) != 3 {
		t.Fatalf("backend messages = %+v", req.Messages)
	}
	call, result := req.Messages[1], req.Messages[2]
	if call.Role != llm.RoleAssistant || len(call.Parts) != 1 || call.Parts[0].Type != llm.PartToolCall ||
		call.Parts[0].ToolCall.ID != "call_W1" || call.Parts[0].ToolCall.Name != "get_weather" ||
		call.Parts[0].ToolCall.Arguments != `{"city":"Oslo"}` {
		t.Errorf("assistant turn = %+v", call)
	}
	if result.Role != llm.RoleTool || result.Parts[0].Type != llm.PartToolResult || result.Parts[0].ToolResult.CallID != "call_W1" ||
		result.Parts[0].ToolResult.Name != "get_weather" || result.Parts[0].ToolResult.Content != `{"temp":3}` {
		t.Errorf("tool turn = %+v", result.Parts[0].ToolResult)
	}
	// store:false: not retrievable.
	if _, err := c.Responses.Get(context.Background(), second.ID, responses.ResponseGetParams{}); apiError(t, err).StatusCode != http.StatusNotFound {
		t.Errorf("GET of a store:false response: %v", err)
	}
}

func TestSDKPreviousResponseID(t *testing.T) {
	b := &fakeBackend{Script: func(n int, _ *llm.Request) []llm.Event {
		switch n {
		case 0:
			return events(reasoning("hmm"), text("Hello!"), done(llm.FinishStop))
		case 1:
			return events(toolDelta(0, "call_T", "get_weather", `{"city":"Nice"}`), done(llm.FinishToolCalls))
		}
		return events(text("Sunny."), done(llm.FinishStop))
	}}
	e := newEnv(t, b, resp.Options{})
	c := e.client()
	p1 := textParams("m", "hi")
	p1.Instructions = oai.String("Be terse.")
	r1, err := c.Responses.New(context.Background(), p1)
	if err != nil {
		t.Fatal(err)
	}

	p2 := textParams("m", "weather in Nice?")
	p2.Instructions = oai.String("New rules.")
	p2.PreviousResponseID = oai.String(r1.ID)
	p2.Tools = []responses.ToolUnionParam{weatherTool()}
	acc, _ := stream(t, c, p2)
	r2 := acc.final
	if r2.PreviousResponseID != r1.ID {
		t.Errorf("previous_response_id = %q", r2.PreviousResponseID)
	}
	req := b.Request(t, 1)
	var got []string
	for _, m := range req.Messages {
		got = append(got, string(m.Role)+":"+m.Text())
	}
	want := []string{"system:New rules.", "user:hi", "assistant:Hello!", "user:weather in Nice?"}
	if !slices.Equal(got, want) {
		t.Errorf("backend conversation:\n got %q\nwant %q", got, want)
	}

	// Third turn: only the tool output, continuing from r2.
	p3 := responses.ResponseNewParams{Model: "m", PreviousResponseID: oai.String(r2.ID),
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfFunctionCallOutput("sunny, 24C"),
		}}}
	p3.Input.OfInputItemList[0].OfFunctionCallOutput.CallID = oai.String("call_T")
	r3, err := c.Responses.New(context.Background(), p3)
	if err != nil {
		t.Fatal(err)
	}
	if r3.OutputText() != "Sunny." {
		t.Errorf("r3 = %s", r3.RawJSON())
	}
	req = b.Request(t, 2)
	got = got[:0]
	for _, m := range req.Messages {
		s := string(m.Role) + ":" + m.Text()
		for _, p := range m.Parts {
			if p.ToolCall != nil {
				s += " call " + p.ToolCall.ID + " " + p.ToolCall.Name
			}
			if p.ToolResult != nil {
				s += " result " + p.ToolResult.CallID + " " + p.ToolResult.Name + " " + p.ToolResult.Content
			}
		}
		got = append(got, s)
	}
	want = []string{"user:hi", "assistant:Hello!", "user:weather in Nice?", "assistant: call call_T get_weather",
		"tool: result call_T get_weather sunny, 24C"}
	if !slices.Equal(got, want) {
		t.Errorf("third conversation:\n got %q\nwant %q", got, want)
	}

	// input_items lists the whole input of r3, inherited items included,
	// newest first by default; the SDK pages through it.
	var ids, types []string
	iter := c.Responses.InputItems.ListAutoPaging(context.Background(), r3.ID, responses.InputItemListParams{Limit: oai.Int(2)})
	for iter.Next() {
		it := iter.Current()
		ids = append(ids, it.ID)
		types = append(types, it.Type)
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	wantTypes := []string{"function_call_output", "function_call", "message", "message", "reasoning", "message"}
	if !slices.Equal(types, wantTypes) {
		t.Errorf("input item types = %v, want %v", types, wantTypes)
	}
	for i, id := range ids {
		if id == "" || slices.Index(ids, id) != i {
			t.Errorf("input item ids %v not unique", ids)
		}
	}
}

func TestSDKGetDelete(t *testing.T) {
	b := &fakeBackend{Events: events(text("stored answer"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	c := e.client()
	r, err := c.Responses.New(context.Background(), textParams("m", "q"))
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Responses.Get(context.Background(), r.ID, responses.ResponseGetParams{})
	if err != nil {
		t.Fatal(err)
	}
	if got.RawJSON() != r.RawJSON() {
		t.Errorf("GET differs from the created response:\n%s\n%s", got.RawJSON(), r.RawJSON())
	}

	// Another key cannot see, list, continue or delete it.
	other := e.client(option.WithHeader(testKeyHeader, "key-2"))
	if _, err := other.Responses.Get(context.Background(), r.ID, responses.ResponseGetParams{}); apiError(t, err).StatusCode != http.StatusNotFound {
		t.Errorf("other key GET: %v", err)
	}
	if _, err := other.Responses.InputItems.List(context.Background(), r.ID, responses.InputItemListParams{}); apiError(t, err).StatusCode != http.StatusNotFound {
		t.Errorf("other key input_items: %v", err)
	}
	p := textParams("m", "again")
	p.PreviousResponseID = oai.String(r.ID)
	if _, err := other.Responses.New(context.Background(), p); apiError(t, err).StatusCode != http.StatusBadRequest {
		t.Errorf("other key continuation: %v", err)
	}
	if err := other.Responses.Delete(context.Background(), r.ID); apiError(t, err).StatusCode != http.StatusNotFound {
		t.Errorf("other key DELETE: %v", err)
	}

	res, body := e.do(t, http.MethodDelete, "/v1/responses/"+r.ID, "")
	if res.StatusCode != http.StatusOK || body != `{"id":"`+r.ID+`","object":"response","deleted":true}`+"\n" {
		t.Errorf("DELETE = %d %s", res.StatusCode, body)
	}
	_, err = c.Responses.Get(context.Background(), r.ID, responses.ResponseGetParams{})
	ae := apiError(t, err)
	if ae.StatusCode != http.StatusNotFound || ae.Type != "invalid_request_error" || !strings.Contains(ae.Message, r.ID) {
		t.Errorf("GET after delete: %v", err)
	}
	if err := c.Responses.Delete(context.Background(), r.ID); apiError(t, err).StatusCode != http.StatusNotFound {
		t.Errorf("second DELETE: %v", err)
	}
}

func TestSDKUnknownPreviousResponse(t *testing.T) {
	b := &fakeBackend{Events: events(text("x"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	p := textParams("m", "hi")
	p.PreviousResponseID = oai.String("resp_nope")
	_, err := e.client().Responses.New(context.Background(), p)
	ae := apiError(t, err)
	if ae.StatusCode != http.StatusBadRequest || ae.Param != "previous_response_id" || ae.Type != "invalid_request_error" ||
		!strings.Contains(ae.Message, "resp_nope") {
		t.Errorf("error = %d %q %q %q", ae.StatusCode, ae.Type, ae.Param, ae.Message)
	}
	if b.Calls() != 0 {
		t.Error("backend was called")
	}
}

func TestSDKHostedToolRejected(t *testing.T) {
	b := &fakeBackend{Events: events(text("x"), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	p := textParams("m", "hi")
	p.Tools = []responses.ToolUnionParam{weatherTool(), {OfCodeInterpreter: &responses.ToolCodeInterpreterParam{
		Container: responses.ToolCodeInterpreterContainerUnionParam{OfString: oai.String("auto")}}}}
	_, err := e.client().Responses.New(context.Background(), p)
	ae := apiError(t, err)
	if ae.StatusCode != http.StatusBadRequest || !strings.Contains(ae.Message, "code_interpreter") || ae.Param != "tools[1].type" {
		t.Errorf("error = %d %q %q", ae.StatusCode, ae.Param, ae.Message)
	}

	// Web search is dropped instead: the request goes through.
	p.Tools = []responses.ToolUnionParam{weatherTool(), {OfWebSearch: &responses.WebSearchToolParam{Type: responses.WebSearchToolTypeWebSearch}}}
	r, err := e.client().Responses.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if r.OutputText() != "x" || len(r.Tools) != 2 {
		t.Errorf("response = %s", r.RawJSON())
	}
	if tools := b.Request(t, 0).Tools; len(tools) != 1 || tools[0].Name != "get_weather" {
		t.Errorf("backend tools = %+v", tools)
	}
}

// text.format reaches the backend as llm.Request.Output and is echoed; a
// schema the emulator cannot use is a 400 naming text.format.schema.
func TestSDKTextFormat(t *testing.T) {
	b := &fakeBackend{Events: events(text(`{"a":1}`), done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	p := textParams("m", "hi")
	p.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
		OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "x", Description: oai.String("d"), Strict: oai.Bool(true),
			Schema: map[string]any{"type": "object"}}}}
	r, err := e.client().Responses.New(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if r.Text.Format.Type != "json_schema" || r.Text.Format.Name != "x" || r.OutputText() != `{"a":1}` {
		t.Errorf("response = %s", r.RawJSON())
	}
	out := b.Request(t, 0).Output
	if out == nil || out.Kind != llm.OutputJSONSchema || out.Name != "x" || out.Description != "d" || !out.Strict || string(out.Schema) != `{"type":"object"}` {
		t.Errorf("backend Output = %+v", out)
	}

	p.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{
		OfJSONSchema: &responses.ResponseFormatTextJSONSchemaConfigParam{Name: "x", Schema: map[string]any{"$ref": "https://example.com/s.json"}}}}
	_, err = e.client().Responses.New(context.Background(), p)
	ae := apiError(t, err)
	if ae.StatusCode != http.StatusBadRequest || ae.Param != "text.format.schema" || !strings.Contains(ae.Message, "refers to") {
		t.Errorf("error = %d %q %q", ae.StatusCode, ae.Param, ae.Message)
	}

	p.Text = responses.ResponseTextConfigParam{Format: responses.ResponseFormatTextConfigUnionParam{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}}
	b2 := &fakeBackend{Events: events(text(`{"a":1}`), done(llm.FinishStop))}
	e2 := newEnv(t, b2, resp.Options{})
	r, err = e2.client().Responses.New(context.Background(), p)
	if err != nil || r.Text.Format.Type != "json_object" {
		t.Errorf("json_object: %v %s", err, r.RawJSON())
	}
	if out := b2.Request(t, 0).Output; out == nil || out.Kind != llm.OutputJSONObject {
		t.Errorf("json_object: backend Output = %+v", out)
	}
}

// A refused structured answer is a message whose content part is a
// refusal, streamed with response.refusal.delta and .done.
func TestSDKRefusal(t *testing.T) {
	b := &fakeBackend{Events: events(llm.Event{Type: llm.EventRefusal, Text: "I can't help."}, done(llm.FinishStop))}
	e := newEnv(t, b, resp.Options{})
	r, err := e.client().Responses.New(context.Background(), textParams("m", "hi"))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Output) != 1 || len(r.Output[0].Content) != 1 || r.Output[0].Content[0].Type != "refusal" ||
		r.Output[0].Content[0].Refusal != "I can't help." || r.OutputText() != "" {
		t.Errorf("response = %s", r.RawJSON())
	}
	st := e.client().Responses.NewStreaming(context.Background(), textParams("m", "hi"))
	var kinds []string
	var refusal string
	for st.Next() {
		ev := st.Current()
		kinds = append(kinds, ev.Type)
		if ev.Type == "response.refusal.done" {
			refusal = ev.Refusal
		}
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	if refusal != "I can't help." || !slices.Contains(kinds, "response.refusal.delta") {
		t.Errorf("events %v, refusal %q", kinds, refusal)
	}
}

func TestSDKInputTokens(t *testing.T) {
	e := newEnv(t, &fakeBackend{}, resp.Options{})
	res, err := e.client().Responses.InputTokens.Count(context.Background(), responses.InputTokenCountParams{
		Model: oai.String("m"),
		Input: responses.InputTokenCountParamsInputUnion{OfString: oai.String("hello there, how are you today?")},
		Tools: []responses.ToolUnionParam{weatherTool()},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Object != "response.input_tokens" || res.InputTokens < 10 {
		t.Errorf("input_tokens = %s", res.RawJSON())
	}
}
