package app_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"

	sdk "github.com/anthropics/anthropic-sdk-go"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"
	"github.com/sparkgw/spark/internal/config"
)

// otherKey is a second API_SECRET entry: another owner.
const otherKey = "sk-test-other-owner"

// uploadedToGenspark reports whether a file whose bytes contain marker
// reached Genspark's upload slot (a PUT of the file's bytes).
func (h *harness) uploadedToGenspark(marker string) bool {
	for _, e := range h.requests("genspark") {
		if e.Method == http.MethodPut && strings.Contains(e.Body, marker) {
			return true
		}
	}
	return false
}

// TestFilesOpenAISDK drives the Files API with openai-go: upload, list
// (paged), retrieve, download, a chat turn and a Responses turn that use
// the file by id (its bytes reach the upstream), then delete; another
// owner sees none of it.
func TestFilesOpenAISDK(t *testing.T) {
	h := start(t, func(c *config.Config) { c.APISecret = testKey + "," + otherKey })
	ctx := context.Background()
	marker := "FILEMARKER4711"
	text := "Meeting notes: the secret word is " + marker + ".\n"

	f, err := h.client.Files.New(ctx, openai.FileNewParams{
		File:    openai.File(strings.NewReader(text), "notes.txt", "text/plain"),
		Purpose: openai.FilePurposeUserData,
	})
	if err != nil {
		t.Fatalf("Files.New: %v", err)
	}
	if !strings.HasPrefix(f.ID, "file-") || f.Bytes != int64(len(text)) || f.Filename != "notes.txt" ||
		f.Purpose != "user_data" || f.Status != "processed" || f.Object != "file" || f.CreatedAt == 0 || f.ExpiresAt != 0 {
		t.Fatalf("uploaded file = %s", f.RawJSON())
	}
	batch, err := h.client.Files.New(ctx, openai.FileNewParams{
		File:    openai.File(strings.NewReader(`{"custom_id":"1"}`+"\n"), "in.jsonl", "application/jsonl"),
		Purpose: openai.FilePurposeBatch,
	})
	if err != nil {
		t.Fatalf("Files.New batch: %v", err)
	}
	if batch.ExpiresAt != batch.CreatedAt+30*24*3600 {
		t.Fatalf("a batch file expires at %d, want 30 days after %d", batch.ExpiresAt, batch.CreatedAt)
	}

	exp, err := h.client.Files.New(ctx, openai.FileNewParams{
		File:         openai.File(strings.NewReader("short-lived"), "tmp.txt", "text/plain"),
		Purpose:      openai.FilePurposeUserData,
		ExpiresAfter: openai.FileNewParamsExpiresAfter{Seconds: 7200},
	})
	if err != nil || exp.ExpiresAt != exp.CreatedAt+7200 {
		t.Fatalf("expires_after: %v %+v", err, exp)
	}
	if _, err := h.client.Files.Delete(ctx, exp.ID); err != nil {
		t.Fatal(err)
	}

	// List, one per page: the auto-pager follows has_more and after.
	var listed []string
	pager := h.client.Files.ListAutoPaging(ctx, openai.FileListParams{Limit: openai.Int(1)})
	for pager.Next() {
		listed = append(listed, pager.Current().ID)
	}
	if err := pager.Err(); err != nil {
		t.Fatalf("list: %v", err)
	}
	if strings.Join(listed, ",") != batch.ID+","+f.ID {
		t.Fatalf("listed %v, want newest first [%s %s]", listed, batch.ID, f.ID)
	}
	page, err := h.client.Files.List(ctx, openai.FileListParams{Purpose: openai.String("batch")})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != batch.ID || page.HasMore {
		t.Fatalf("list purpose=batch: %v %+v", err, page)
	}

	got, err := h.client.Files.Get(ctx, f.ID)
	if err != nil || got.ID != f.ID || got.Bytes != f.Bytes || got.Filename != f.Filename {
		t.Fatalf("Files.Get: %v %+v", err, got)
	}
	res, err := h.client.Files.Content(ctx, f.ID)
	if err != nil {
		t.Fatalf("Files.Content: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != text || res.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("content %q (%s)", body, res.Header.Get("Content-Type"))
	}

	// A chat turn naming the file by id: its bytes reach the upstream.
	_, err = h.client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5.2",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart("What is the secret word in the file?"),
			openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String(f.ID)}),
		})},
	})
	if err != nil {
		t.Fatalf("chat with a file id: %v", err)
	}
	if !h.uploadedToGenspark(marker) || !strings.Contains(h.lastAsk().Body, "private_file") {
		t.Fatal("the file named in the chat turn did not reach Genspark")
	}

	// The same through the Responses API (input_file with file_id).
	marker2 := "RESPFILE0815"
	f2, err := h.client.Files.New(ctx, openai.FileNewParams{
		File: openai.File(strings.NewReader("Report: "+marker2), "report.txt", "text/plain"), Purpose: openai.FilePurposeAssistants,
	})
	if err != nil {
		t.Fatal(err)
	}
	first, err := h.client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-5.2",
		Input: responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
				responses.ResponseInputContentParamOfInputText("Summarise the report."),
				{OfInputFile: &responses.ResponseInputFileParam{FileID: openai.String(f2.ID)}},
			}, responses.EasyInputMessageRoleUser),
		}},
	})
	if err != nil {
		t.Fatalf("responses with a file id: %v", err)
	}
	if !h.uploadedToGenspark(marker2) {
		t.Fatal("the file named in the Responses turn did not reach Genspark")
	}
	// The stored turn keeps the file id: continuing from it reads the file
	// again rather than failing on the stored item.
	if _, err := h.client.Responses.New(ctx, responses.ResponseNewParams{
		Model: "gpt-5.2", PreviousResponseID: openai.String(first.ID),
		Input: responses.ResponseNewParamsInputUnion{OfString: openai.String("And in one word?")},
	}); err != nil {
		t.Fatalf("continuing a turn that named a file: %v", err)
	}

	// Another owner: 404 everywhere, and a 400 naming the param in a chat.
	other := openai.NewClient(option.WithBaseURL(h.url+"/v1/"), option.WithAPIKey(otherKey), option.WithMaxRetries(0))
	wantStatus := func(what string, err error, status int) {
		t.Helper()
		var apiErr *openai.Error
		if !errors.As(err, &apiErr) || apiErr.StatusCode != status {
			t.Fatalf("%s: %v, want status %d", what, err, status)
		}
	}
	_, err = other.Files.Get(ctx, f.ID)
	wantStatus("another owner's Get", err, 404)
	_, err = other.Files.Content(ctx, f.ID)
	wantStatus("another owner's Content", err, 404)
	_, err = other.Files.Delete(ctx, f.ID)
	wantStatus("another owner's Delete", err, 404)
	if p, err := other.Files.List(ctx, openai.FileListParams{}); err != nil || len(p.Data) != 0 {
		t.Fatalf("another owner lists %v %v", err, p)
	}
	_, err = other.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
		Model: "gpt-5.2",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.FileContentPart(openai.ChatCompletionContentPartFileFileParam{FileID: openai.String(f.ID)}),
		})},
	})
	wantStatus("another owner's file in a chat", err, 400)
	var apiErr *openai.Error
	if errors.As(err, &apiErr) && apiErr.Param != "messages[0].content[0].file.file_id" {
		t.Fatalf("param = %q", apiErr.Param)
	}

	del, err := h.client.Files.Delete(ctx, f.ID)
	if err != nil || !del.Deleted || del.ID != f.ID || del.Object != "file" {
		t.Fatalf("Files.Delete: %v %+v", err, del)
	}
	_, err = h.client.Files.Get(ctx, f.ID)
	wantStatus("Get after delete", err, 404)
}

// TestFilesAnthropicSDK drives the Files API with anthropic-sdk-go's beta
// files: upload, list, metadata, download, a Messages turn with a document
// block whose source is the file (its text reaches the upstream), delete.
func TestFilesAnthropicSDK(t *testing.T) {
	h := start(t, nil)
	c := h.anthropic()
	ctx := context.Background()
	betas := []sdk.AnthropicBeta{sdk.AnthropicBetaFilesAPI2025_04_14}
	marker := "ANTHFILE2718"
	text := "Memo: the code name is " + marker + "."

	f, err := c.Beta.Files.Upload(ctx, sdk.BetaFileUploadParams{
		File: sdk.File(strings.NewReader(text), "memo.txt", "text/plain"), Betas: betas,
	})
	if err != nil {
		t.Fatalf("Upload: %v", err)
	}
	if f.ID == "" || f.Filename != "memo.txt" || f.MimeType != "text/plain" || f.SizeBytes != int64(len(text)) ||
		f.Type != "file" || f.CreatedAt.IsZero() || !f.Downloadable {
		t.Fatalf("uploaded = %s", f.RawJSON())
	}
	page, err := c.Beta.Files.List(ctx, sdk.BetaFileListParams{Betas: betas})
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != f.ID {
		t.Fatalf("List: %v %+v", err, page)
	}
	meta, err := c.Beta.Files.GetMetadata(ctx, f.ID, sdk.BetaFileGetMetadataParams{Betas: betas})
	if err != nil || meta.ID != f.ID || meta.SizeBytes != f.SizeBytes {
		t.Fatalf("GetMetadata: %v %+v", err, meta)
	}
	res, err := c.Beta.Files.Download(ctx, f.ID, sdk.BetaFileDownloadParams{Betas: betas})
	if err != nil {
		t.Fatalf("Download: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if string(body) != text {
		t.Fatalf("downloaded %q", body)
	}

	msg, err := c.Beta.Messages.New(ctx, sdk.BetaMessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 200, Betas: betas,
		Messages: []sdk.BetaMessageParam{sdk.NewBetaUserMessage(
			sdk.NewBetaDocumentBlock(sdk.BetaFileDocumentSourceParam{FileID: f.ID}),
			sdk.NewBetaTextBlock("What is the code name?"),
		)},
	})
	if err != nil {
		t.Fatalf("Messages with a file source: %v", err)
	}
	if len(msg.Content) == 0 || !strings.Contains(h.lastAsk().Body, marker) {
		t.Fatalf("the file's text did not reach the upstream: %s", h.lastAsk().Body)
	}

	// An unknown file id is a 400 naming the field, in Anthropic's envelope.
	_, err = c.Beta.Messages.New(ctx, sdk.BetaMessageNewParams{
		Model: "claude-sonnet-4-5", MaxTokens: 200, Betas: betas,
		Messages: []sdk.BetaMessageParam{sdk.NewBetaUserMessage(
			sdk.NewBetaDocumentBlock(sdk.BetaFileDocumentSourceParam{FileID: "file-nope"}),
		)},
	})
	var apiErr *sdk.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || !strings.Contains(apiErr.RawJSON(), "messages.0.content.0.source.file_id") {
		t.Fatalf("unknown file id: %v", err)
	}

	del, err := c.Beta.Files.Delete(ctx, f.ID, sdk.BetaFileDeleteParams{Betas: betas})
	if err != nil || del.ID != f.ID || del.Type != "file_deleted" {
		t.Fatalf("Delete: %v %+v", err, del)
	}
	_, err = c.Beta.Files.GetMetadata(ctx, f.ID, sdk.BetaFileGetMetadataParams{Betas: betas})
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 404 || !strings.Contains(apiErr.RawJSON(), "not_found_error") {
		t.Fatalf("GetMetadata after delete: %v", err)
	}
}

// TestFilesLargeAndWrongKind: a file of several store chunks survives the
// round trip through the SQLite store byte for byte; a text file named as
// an image is a 400 naming the field in each API.
func TestFilesLargeAndWrongKind(t *testing.T) {
	h := start(t, nil)
	ctx := context.Background()
	data := make([]byte, 5<<20+12345)
	for i := range data {
		data[i] = byte(i*31 + i>>20)
	}
	f, err := h.client.Files.New(ctx, openai.FileNewParams{
		File: openai.File(bytes.NewReader(data), "blob.bin", "application/octet-stream"), Purpose: openai.FilePurposeAssistants,
	})
	if err != nil {
		t.Fatalf("upload: %v", err)
	}
	res, err := h.client.Files.Content(ctx, f.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil || !bytes.Equal(got, data) || res.ContentLength != int64(len(data)) {
		t.Fatalf("downloaded %d bytes (equal %v, %v), want %d", len(got), bytes.Equal(got, data), err, len(data))
	}

	txt, err := h.client.Files.New(ctx, openai.FileNewParams{
		File: openai.File(strings.NewReader("just text"), "a.txt", "text/plain"), Purpose: openai.FilePurposeVision,
	})
	if err != nil {
		t.Fatal(err)
	}
	resp, body := h.post("/v1/responses", testKey, `{"model":"gpt-5.2","input":[{"role":"user","content":[{"type":"input_image","file_id":"`+txt.ID+`"}]}]}`)
	if resp.StatusCode != 400 || !strings.Contains(body, `"param":"input[0].content[0].file_id"`) {
		t.Fatalf("a text file as input_image: %d %s", resp.StatusCode, body)
	}
	req, _ := http.NewRequest(http.MethodPost, h.url+"/v1/messages", strings.NewReader(
		`{"model":"claude-sonnet-4-5","max_tokens":50,"messages":[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"`+txt.ID+`"}}]}]}`))
	req.Header.Set("x-api-key", testKey)
	req.Header.Set("anthropic-version", "2023-06-01")
	req.Header.Set("Content-Type", "application/json")
	ares, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	abody, _ := io.ReadAll(ares.Body)
	ares.Body.Close()
	if ares.StatusCode != 400 || !strings.Contains(string(abody), "messages.0.content.0.source.file_id") || !strings.Contains(string(abody), `"type":"error"`) {
		t.Fatalf("a text file as an Anthropic image: %d %s", ares.StatusCode, abody)
	}
}

// TestFilesGeminiFileData: files uploaded with openai-go are usable in a
// Gemini API generateContent as fileData parts, named by id, by resource
// name (files/{id}) or by their URI on the gateway; a text file's content
// reaches the simulated model (which echoes it), a PDF arrives as an
// attachment; another owner's id is a 400 naming the part's fileUri.
func TestFilesGeminiFileData(t *testing.T) {
	h := start(t, func(c *config.Config) { geminiOnly(c); c.APISecret = testKey + "," + otherKey })
	ctx := context.Background()
	marker := "GEMFILE5309"
	notes, err := h.client.Files.New(ctx, openai.FileNewParams{
		File:    openai.File(strings.NewReader("Field notes: the password is "+marker+"."), "notes.txt", "text/plain"),
		Purpose: openai.FilePurposeUserData,
	})
	if err != nil {
		t.Fatalf("Files.New: %v", err)
	}
	report, err := h.client.Files.New(ctx, openai.FileNewParams{
		File:    openai.File(strings.NewReader("%PDF-1.4\n% a tiny report\n"), "report.pdf", "application/pdf"),
		Purpose: openai.FilePurposeUserData,
	})
	if err != nil {
		t.Fatalf("Files.New pdf: %v", err)
	}
	body := func(uri string) string {
		return `{"contents":[{"role":"user","parts":[{"text":"What is the password?"},{"fileData":{"mimeType":"text/plain","fileUri":"` + uri + `"}}]}]}`
	}
	const path = "/v1beta/models/gemini-2.5-pro:generateContent"
	for _, tc := range []struct{ name, uri string }{
		{"id", notes.ID},
		{"resource name", "files/" + notes.ID},
		{"v1beta URI", h.url + "/v1beta/files/" + notes.ID},
		{"v1 URI", h.url + "/v1/files/" + notes.ID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp, out := h.gemini("POST", path, testKey, body(tc.uri))
			if resp.StatusCode != http.StatusOK || !strings.Contains(out, marker) {
				t.Fatalf("%d: the answer lacks the file's text echoed by the simulator:\n%s", resp.StatusCode, out)
			}
			gens := h.generates()
			if p, _ := gens[len(gens)-1].Facts["prompt"].(string); !strings.Contains(p, marker) {
				t.Fatalf("the file's text did not reach the upstream prompt: %q", p)
			}
		})
	}
	t.Run("pdf", func(t *testing.T) {
		resp, out := h.gemini("POST", path, testKey,
			`{"contents":[{"parts":[{"text":"Summarise."},{"fileData":{"fileUri":"files/`+report.ID+`"}}]}]}`)
		if resp.StatusCode != http.StatusOK || !strings.Contains(out, `Attachment \"report.pdf\" (application/pdf`) {
			t.Fatalf("%d: the PDF did not reach the upstream as an attachment:\n%s", resp.StatusCode, out)
		}
	})
	t.Run("another owner", func(t *testing.T) {
		before := len(h.generates())
		resp, out := h.gemini("POST", path, otherKey, body("files/"+notes.ID))
		code, status, msg := googleEnvelope(t, out)
		if resp.StatusCode != 400 || code != 400 || status != "INVALID_ARGUMENT" ||
			!strings.Contains(msg, "contents[0].parts[1].fileData.fileUri") || strings.Contains(msg, marker) {
			t.Fatalf("%d %s", resp.StatusCode, out)
		}
		if n := len(h.generates()) - before; n != 0 {
			t.Fatalf("%d upstream calls for a refused request", n)
		}
	})
}
