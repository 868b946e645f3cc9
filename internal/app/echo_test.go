package app_test

import (
	"context"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// Answers echo the model the request resolved to, through the whole path:
// a name no catalog has, answered by Genspark's Mixture-of-Agents
// catch-all, echoes the catch-all's id and never the client's string; an
// exact name echoes itself; a dated Claude id echoes the dated id, as the
// Anthropic API does.
func TestAnswersEchoTheResolvedModel(t *testing.T) {
	h := start(t, nil)
	for _, tc := range []struct{ requested, want string }{
		{"a-name-only-the-client-chose", genspark.MixtureOfAgentsID},
		{"gpt-5.2", "gpt-5.2"},
		{"claude-sonnet-4-5-20250929", "claude-sonnet-4-5-20250929"},
	} {
		t.Run("chat "+tc.requested, func(t *testing.T) {
			resp, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
				Model: tc.requested, Messages: userMsg("say hi"),
			})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Model != tc.want {
				t.Fatalf("model %q for %q, want %q", resp.Model, tc.requested, tc.want)
			}
		})
		t.Run("messages "+tc.requested, func(t *testing.T) {
			client := h.anthropic()
			msg, err := client.Messages.New(context.Background(), sdk.MessageNewParams{
				Model: sdk.Model(tc.requested), MaxTokens: 256,
				Messages: []sdk.MessageParam{sdk.NewUserMessage(sdk.NewTextBlock("say hi"))},
			})
			if err != nil {
				t.Fatal(err)
			}
			if string(msg.Model) != tc.want {
				t.Fatalf("model %q for %q, want %q", msg.Model, tc.requested, tc.want)
			}
		})
	}
}
