package extras_test

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/api/extras"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

var allCategories = []string{
	"hate", "hate/threatening", "harassment", "harassment/threatening", "illicit", "illicit/violent",
	"self-harm", "self-harm/intent", "self-harm/instructions", "sexual", "sexual/minors",
	"violence", "violence/graphic",
}

var imageCategories = map[string]bool{
	"self-harm": true, "self-harm/intent": true, "self-harm/instructions": true,
	"sexual": true, "violence": true, "violence/graphic": true,
}

// contentOf extracts the classified content from a moderation prompt.
func contentOf(req *llm.Request) string {
	text := "\n" + req.Messages[len(req.Messages)-1].Text()
	i := strings.LastIndex(text, "\nCONTENT-")
	if i < 0 {
		return ""
	}
	rest := text[i+1:]
	_, rest, _ = strings.Cut(rest, "\n")
	j := strings.LastIndex(rest, "\nEND-CONTENT-")
	if j < 0 {
		return ""
	}
	return rest[:j]
}

// scriptedModerator answers like a chatty model: prose, a fence, loose keys.
func scriptedModerator(req *llm.Request, _ int) (string, error) {
	c := contentOf(req)
	switch {
	case strings.Contains(c, "hurt you"):
		return "Here are the scores:\n```json\n{\"violence\": 0.92, \"harassment_threatening\": \"0.8\", \"Self Harm\": 0.1, \"hate\": -3}\n```\nLet me know!", nil
	case strings.Contains(c, "percent"):
		return `{"category_scores": {"violence": 85, "sexual": 10}}`, nil
	case c == "":
		return `{"violence": 0.7, "sexual": 0.2, "hate": 0.6}`, nil // image only
	default:
		return `{"hate":0,"harassment":0.01,"violence":0.02}`, nil
	}
}

// rawResults decodes the response's results as plain maps.
func rawResults(t *testing.T, raw string) []map[string]json.RawMessage {
	var out struct {
		ID      string                       `json:"id"`
		Model   string                       `json:"model"`
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal([]byte(raw), &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.ID, "modr-") {
		t.Errorf("id %q", out.ID)
	}
	return out.Results
}

// checkMaps asserts all 13 keys in the three maps and returns them.
func checkMaps(t *testing.T, r map[string]json.RawMessage) (map[string]bool, map[string]float64, map[string][]string) {
	t.Helper()
	var cats map[string]bool
	var scores map[string]float64
	var types map[string][]string
	_ = json.Unmarshal(r["categories"], &cats)
	_ = json.Unmarshal(r["category_scores"], &scores)
	_ = json.Unmarshal(r["category_applied_input_types"], &types)
	for name, m := range map[string]int{"categories": len(cats), "category_scores": len(scores), "category_applied_input_types": len(types)} {
		if m != 13 {
			t.Errorf("%s has %d keys, want 13", name, m)
		}
	}
	for _, c := range allCategories {
		if _, ok := cats[c]; !ok {
			t.Errorf("categories lacks %q", c)
		}
		if _, ok := scores[c]; !ok {
			t.Errorf("category_scores lacks %q", c)
		}
		if types[c] == nil {
			t.Errorf("category_applied_input_types lacks %q (or it is null)", c)
		}
		if s := scores[c]; s < 0 || s > 1 {
			t.Errorf("score %s = %f out of [0,1]", c, s)
		}
		if cats[c] != (scores[c] >= extras.FlagThreshold) {
			t.Errorf("categories[%s] = %v with score %f", c, cats[c], scores[c])
		}
	}
	return cats, scores, types
}

func TestModerationString(t *testing.T) {
	chat := &fakeChat{reply: scriptedModerator}
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "gemini-3-flash"})
	resp, err := client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("I will hurt you")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "omni-moderation-latest" || len(resp.Results) != 1 {
		t.Fatalf("response %s", resp.RawJSON())
	}
	r := resp.Results[0]
	if !r.Flagged || !r.Categories.Violence || !r.Categories.HarassmentThreatening || r.Categories.Hate || r.Categories.SelfHarm {
		t.Errorf("flags %+v", r.Categories)
	}
	if r.CategoryScores.Violence != 0.92 || r.CategoryScores.HarassmentThreatening != 0.8 || r.CategoryScores.SelfHarm != 0.1 || r.CategoryScores.Hate != 0 {
		t.Errorf("scores %+v", r.CategoryScores)
	}
	_, _, types := checkMaps(t, rawResults(t, resp.RawJSON())[0])
	for _, c := range allCategories {
		if !slices.Equal(types[c], []string{"text"}) {
			t.Errorf("applied types %s = %v, want [text]", c, types[c])
		}
	}
	reqs := chat.requests()
	if len(reqs) != 1 || reqs[0].Model != "gemini-3-flash" {
		t.Fatalf("chat requests %d", len(reqs))
	}
	prompt := reqs[0].Messages[0].Text() // instructions and categories: system message
	for _, c := range allCategories {
		if !strings.Contains(prompt, `"`+c+`"`) {
			t.Errorf("prompt does not name %q", c)
		}
	}
	if contentOf(reqs[0]) != "I will hurt you" {
		t.Errorf("content %q", contentOf(reqs[0]))
	}
}

func TestModerationArrayAndModel(t *testing.T) {
	chat := &fakeChat{reply: scriptedModerator}
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	resp, err := client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfStringArray: []string{"good morning", "I will hurt you", "in percent", ""}},
		Model: openai.ModerationModelTextModerationLatest,
	})
	if err != nil {
		t.Fatal(err)
	}
	if resp.Model != "text-moderation-latest" || len(resp.Results) != 4 {
		t.Fatalf("response %s", resp.RawJSON())
	}
	flags := []bool{resp.Results[0].Flagged, resp.Results[1].Flagged, resp.Results[2].Flagged, resp.Results[3].Flagged}
	if !slices.Equal(flags, []bool{false, true, true, false}) {
		t.Errorf("flagged %v", flags)
	}
	if s := resp.Results[2].CategoryScores; s.Violence != 0.85 || s.Sexual != 0.1 {
		t.Errorf("percent scores %+v", s)
	}
	for _, r := range rawResults(t, resp.RawJSON()) {
		checkMaps(t, r)
	}
	if n := len(chat.requests()); n != 3 {
		t.Errorf("%d chat calls, want 3 (the empty input needs none)", n)
	}
}

func TestModerationImage(t *testing.T) {
	chat := &fakeChat{reply: scriptedModerator}
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	png := []byte("\x89PNG\r\n\x1a\nfake image bytes")
	dataURL := "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)
	img := openai.ModerationMultiModalInputParamOfImageURL(openai.ModerationImageURLInputImageURLParam{URL: dataURL})

	resp, err := client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfModerationMultiModalArray: []openai.ModerationMultiModalInputUnionParam{
			openai.ModerationMultiModalInputParamOfText("I will hurt you"), img,
		}},
		Model: openai.ModerationModelOmniModerationLatest,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Results) != 1 {
		t.Fatalf("%d results for one multimodal input", len(resp.Results))
	}
	_, _, types := checkMaps(t, rawResults(t, resp.RawJSON())[0])
	for _, c := range allCategories {
		want := []string{"text"}
		if imageCategories[c] {
			want = []string{"text", "image"}
		}
		if !slices.Equal(types[c], want) {
			t.Errorf("applied types %s = %v, want %v", c, types[c], want)
		}
	}
	req := chat.requests()[0]
	var got *llm.Media
	for _, p := range req.Messages[len(req.Messages)-1].Parts {
		if p.Type == llm.PartImage {
			got = p.Media
		}
	}
	if got == nil || string(got.Data) != string(png) || got.MIMEType != "image/png" {
		t.Fatalf("image part %+v", got)
	}

	// Image only: text-only categories apply to nothing.
	resp, err = client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfModerationMultiModalArray: []openai.ModerationMultiModalInputUnionParam{
			openai.ModerationMultiModalInputParamOfImageURL(openai.ModerationImageURLInputImageURLParam{URL: "https://example.com/cat.png"}),
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	cats, _, types := checkMaps(t, rawResults(t, resp.RawJSON())[0])
	for _, c := range allCategories {
		want := []string{}
		if imageCategories[c] {
			want = []string{"image"}
		}
		if !slices.Equal(types[c], want) {
			t.Errorf("image-only applied types %s = %v, want %v", c, types[c], want)
		}
	}
	if !cats["violence"] || !cats["hate"] || !resp.Results[0].Flagged {
		t.Errorf("image-only flags %v", cats)
	}
	last := chat.requests()[1]
	parts := last.Messages[len(last.Messages)-1].Parts
	if p := parts[len(parts)-1]; p.Type != llm.PartImage || p.Media.URL != "https://example.com/cat.png" {
		t.Errorf("URL image not passed for the backend to fetch: %+v", p)
	}
}

// The scores are asked for as a structured answer (the gateway validates
// and repairs it); an answer without scores is a 502 after one call.
func TestModerationStructuredAndFailure(t *testing.T) {
	chat := &fakeChat{reply: func(*llm.Request, int) (string, error) { return `{"violence": 0.6}`, nil }}
	_, client := serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	resp, err := client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("x")},
	})
	if err != nil {
		t.Fatal(err)
	}
	if !resp.Results[0].Categories.Violence {
		t.Errorf("result %+v", resp.Results[0].Categories)
	}
	out := chat.requests()[0].Output
	if out == nil || out.Kind != llm.OutputJSONSchema {
		t.Fatalf("Output = %+v, want a JSON schema", out)
	}
	var schema struct {
		Required   []string                  `json:"required"`
		Properties map[string]map[string]any `json:"properties"`
	}
	if err := json.Unmarshal(out.Schema, &schema); err != nil {
		t.Fatal(err)
	}
	slices.Sort(schema.Required)
	want := slices.Clone(allCategories)
	slices.Sort(want)
	if !slices.Equal(schema.Required, want) || schema.Properties["violence"]["type"] != "number" {
		t.Errorf("schema %s", out.Schema)
	}

	never := &fakeChat{reply: func(*llm.Request, int) (string, error) { return "no JSON {here", nil }}
	_, client = serve(t, extras.Options{Chat: never, DefaultChatModel: "m"})
	_, err = client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("x")},
	})
	apiErr(t, err, 502, "did not answer with the category scores as JSON")
	if n := len(never.requests()); n != 1 {
		t.Errorf("%d attempts, want 1 (the gateway repairs)", n)
	}

	limited := &fakeChat{reply: func(*llm.Request, int) (string, error) {
		return "", &gw.Error{Code: gw.CodeNoAccounts, Message: "All cookies are temporarily unavailable."}
	}}
	_, client = serve(t, extras.Options{Chat: limited, DefaultChatModel: "m"})
	_, err = client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("x")},
	})
	apiErr(t, err, 429, "All cookies")

	_, client = serve(t, extras.Options{})
	_, err = client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfString: openai.String("x")},
	})
	apiErr(t, err, 501, "chat model")

	_, client = serve(t, extras.Options{Chat: chat, DefaultChatModel: "m"})
	_, err = client.Moderations.New(t.Context(), openai.ModerationNewParams{
		Input: openai.ModerationNewParamsInputUnion{OfStringArray: make([]string, 33)},
	})
	var e *openai.Error
	if !errors.As(err, &e) || e.StatusCode != 400 {
		t.Errorf("33 inputs: %v", err)
	}
}
