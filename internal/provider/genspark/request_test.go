package genspark_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

var moa = []any{"gpt-5.1-low", "claude-sonnet-4-5", "gemini-3-pro-preview"}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func TestAskBody(t *testing.T) {
	tests := []struct {
		name       string
		model      string
		wantModels []any
		wantSearch bool
	}{
		{"catalog model", "claude-sonnet-4-5", []any{"claude-sonnet-4-5"}, false},
		{"search suffix", "gpt-5.1-search", []any{"gpt-5.1"}, true},
		{"newer catalog model", "gemini-3.1-pro-preview", []any{"gemini-3.1-pro-preview"}, false},
		{"unknown model uses MoA", "some-model", moa, false},
		{"unknown model with search", "whatever-search", moa, true},
		{"deepseek unknown to catalog uses MoA", "deepseek-r1", moa, false},
		{"first -search only", "gpt-5.1-search-search", moa, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "text/event-stream", okAnswer("p1", "hi")))
			p := newProvider(t, f.srv.URL, nil)
			if _, err := chat(t, p, account("a1", "session_id=abc"), userReq(tt.model, "hello")); err != nil {
				t.Fatal(err)
			}
			body := f.lastAsk(t).JSON(t)
			if got, want := keys(body), []string{"action_params", "current_query_string", "extra_data", "messages", "type"}; !slices.Equal(got, want) {
				t.Errorf("top-level keys = %v, want %v", got, want)
			}
			if body["type"] != "COPILOT_MOA_CHAT" || body["current_query_string"] != "type=COPILOT_MOA_CHAT" {
				t.Errorf("type %v, query %v", body["type"], body["current_query_string"])
			}
			if !reflect.DeepEqual(body["action_params"], map[string]any{}) {
				t.Errorf("action_params = %v", body["action_params"])
			}
			wantExtra := map[string]any{
				"models":                 tt.wantModels,
				"run_with_another_model": false,
				"writingContent":         nil,
				"request_web_knowledge":  tt.wantSearch,
			}
			if !reflect.DeepEqual(body["extra_data"], wantExtra) {
				t.Errorf("extra_data = %v, want %v", body["extra_data"], wantExtra)
			}
			wantMsgs := []any{map[string]any{"role": "user", "content": "hello", "is_prompt": false, "session_state": nil}}
			if !reflect.DeepEqual(body["messages"], wantMsgs) {
				t.Errorf("messages = %v", body["messages"])
			}
		})
	}
}

func TestAskDeepseekRewrite(t *testing.T) {
	// A user catalog entry for the deepseek name is sent as deep-seek….
	cat, err := catalog.Defaults{genspark.Name: genspark.Plugin().Catalog}.Parse("genspark", "test", []byte(`{"genspark":{"add":[{"id":"deepseek-v3"},{"id":"deep-seek-r1"},{"id":"my-alias","internal_id":"upstream-x"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ model, want string }{
		{"deepseek-v3", "deep-seek-v3"},
		{"deepseek-r1", "deep-seek-r1"},
		{"deepseek-r1-search", "deep-seek-r1"},
		{"my-alias", "upstream-x"},
	}
	for _, tt := range tests {
		t.Run(tt.model, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "hi")))
			p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.Catalog = cat })
			if _, err := chat(t, p, account("a1", "x"), userReq(tt.model, "hello")); err != nil {
				t.Fatal(err)
			}
			extra := f.lastAsk(t).JSON(t)["extra_data"].(map[string]any)
			if got := extra["models"]; !reflect.DeepEqual(got, []any{tt.want}) {
				t.Errorf("models = %v, want [%s]", got, tt.want)
			}
			if m, ok := p.Resolve(tt.model); !ok || m.Fallback {
				t.Errorf("Resolve(%q) = %+v, %v; want exact", tt.model, m, ok)
			}
		})
	}
}

func TestAskHeaders(t *testing.T) {
	tests := []struct{ cookie, want string }{
		{"abc123", "session_id=abc123"},
		{"  abc123 ", "session_id=abc123"},
		{"session_id=abc123", "session_id=abc123"},
		{"foo=1; session_id=abc123; bar=2", "foo=1; session_id=abc123; bar=2"},
	}
	for _, tt := range tests {
		t.Run(tt.cookie, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "hi")))
			p := newProvider(t, f.srv.URL+"/", nil)
			if _, err := chat(t, p, account("a1", tt.cookie), userReq("gpt-5.1", "hello")); err != nil {
				t.Fatal(err)
			}
			r := f.lastAsk(t)
			if r.Method != http.MethodPost || r.Path != "/api/copilot/ask" {
				t.Errorf("%s %s", r.Method, r.Path)
			}
			want := map[string]string{
				"Content-Type": "application/json",
				"Accept":       "text/event-stream",
				"Origin":       f.srv.URL,
				"Referer":      f.srv.URL + "/",
				"Cookie":       tt.want,
			}
			for k, v := range want {
				if got := r.Header.Get(k); got != v {
					t.Errorf("%s = %q, want %q", k, got, v)
				}
			}
			if ua := r.Header.Get("User-Agent"); !strings.HasPrefix(ua, "Mozilla/5.0") {
				t.Errorf("User-Agent = %q", ua)
			}
		})
	}
}

func TestAskMessages(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n" + strings.Repeat("\x00", 32))
	req := &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{
		llm.TextMessage(llm.RoleSystem, "be brief"),
		llm.TextMessage(llm.RoleUser, "first question"),
		{Role: llm.RoleAssistant, Parts: []llm.Part{
			{Type: llm.PartReasoning, Text: "secret thoughts"},
			{Type: llm.PartText, Text: "let me look"},
			{Type: llm.PartToolCall, ToolCall: &llm.ToolCall{ID: "call_1", Name: "search", Arguments: `{"q":"go"}`}},
		}},
		{Role: llm.RoleTool, Parts: []llm.Part{
			{Type: llm.PartToolResult, ToolResult: &llm.ToolResult{CallID: "call_1", Name: "search", Content: "found it"}},
		}},
		{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartReasoning, Text: "only thinking"}}},
		{Role: llm.RoleUser, Parts: []llm.Part{
			{Type: llm.PartText, Text: "what is in"},
			{Type: llm.PartText, Text: "this picture?"},
			{Type: llm.PartImage, Media: &llm.Media{Data: png}},
			{Type: llm.PartImage, Media: &llm.Media{MIMEType: "image/webp", Data: []byte("RIFFxxxxWEBP")}},
		}},
	}}
	f := newFake(t)
	f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "hi")))
	p := newProvider(t, f.srv.URL, nil)
	if _, err := chat(t, p, account("a1", "x"), req); err != nil {
		t.Fatal(err)
	}
	msg := func(role string, content any) map[string]any {
		return map[string]any{"role": role, "content": content, "is_prompt": false, "session_state": nil}
	}
	want := []any{
		msg("system", "be brief"),
		msg("user", "first question"),
		msg("assistant", "let me look\n[called tool search with {\"q\":\"go\"}]"),
		msg("user", "Tool result (call_1): found it"),
		msg("user", []any{
			map[string]any{"type": "text", "text": "what is in"},
			map[string]any{"type": "text", "text": "this picture?"},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64," + base64.StdEncoding.EncodeToString(png)}},
			map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/webp;base64," + base64.StdEncoding.EncodeToString([]byte("RIFFxxxxWEBP"))}},
		}),
	}
	got := f.lastAsk(t).JSON(t)["messages"]
	if !reflect.DeepEqual(got, want) {
		gj, _ := json.MarshalIndent(got, "", " ")
		wj, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("messages =\n%s\nwant\n%s", gj, wj)
	}
	if strings.Contains(string(f.lastAsk(t).Body), "secret thoughts") {
		t.Error("reasoning was sent upstream")
	}
}

func TestAskInvalidRequests(t *testing.T) {
	tests := []struct {
		name string
		req  *llm.Request
		code gw.Code
	}{
		{"empty model", userReq("", "x"), gw.CodeInvalidRequest},
		{"no messages", &llm.Request{Model: "gpt-5.1"}, gw.CodeInvalidRequest},
		{"only reasoning", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{{Role: llm.RoleAssistant, Parts: []llm.Part{{Type: llm.PartReasoning, Text: "x"}}}}}, gw.CodeInvalidRequest},
		{"unfetched URL", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartImage, Media: &llm.Media{URL: "https://example.com/a.png"}}}}}}, gw.CodeInvalidRequest},
		{"nil media", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{{Type: llm.PartFile}}}}}, gw.CodeInvalidRequest},
		{"system only", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{llm.TextMessage(llm.RoleSystem, "be brief")}}, gw.CodeInvalidRequest},
		{"assistant only", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{llm.TextMessage(llm.RoleSystem, "s"), llm.TextMessage(llm.RoleAssistant, "hi")}}, gw.CodeInvalidRequest},
		{"bad role", &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{llm.TextMessage("narrator", "x")}}, gw.CodeInvalidRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "hi")))
			p := newProvider(t, f.srv.URL, nil)
			_, err := p.Chat(context.Background(), account("a1", "x"), tt.req)
			wantCode(t, err, tt.code)
			if n := len(f.reqs("/api/copilot/ask")); n != 0 {
				t.Errorf("%d ask requests sent", n)
			}
		})
	}
	t.Run("no cookie", func(t *testing.T) {
		p := newProvider(t, "http://127.0.0.1:1", nil)
		_, err := p.Chat(context.Background(), account("a1", " "), userReq("gpt-5.1", "x"))
		wantCode(t, err, gw.CodeLoggedOut)
	})
}

func TestUpload(t *testing.T) {
	pdf := []byte("%PDF-1.4\n" + strings.Repeat("x", 100))
	req := &llm.Request{Model: "gpt-5.1", Messages: []llm.Message{{Role: llm.RoleUser, Parts: []llm.Part{
		{Type: llm.PartText, Text: "summarise"},
		{Type: llm.PartFile, Media: &llm.Media{Name: "report.pdf", Data: pdf}},
		{Type: llm.PartFile, Media: &llm.Media{MIMEType: "text/plain; charset=utf-8", Data: []byte("plain notes")}},
	}}}}
	slot := func(f *fake) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"upload_image_url":    f.srv.URL + "/blob/up?sig=s3cret",
				"private_storage_url": "https://storage.example/private/abc",
			}})
		}
	}

	t.Run("success", func(t *testing.T) {
		f := newFake(t)
		f.handle("/api/get_upload_personal_image_url", slot(f))
		f.handle("/blob/up", respond(201, "", ""))
		f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "ok")))
		p := newProvider(t, f.srv.URL, nil)
		if _, err := chat(t, p, account("a1", "session_id=c1"), req); err != nil {
			t.Fatal(err)
		}
		slots := f.reqs("/api/get_upload_personal_image_url")
		if len(slots) != 2 || slots[0].Method != http.MethodGet || slots[0].Header.Get("Cookie") != "session_id=c1" {
			t.Fatalf("slot requests: %+v", slots)
		}
		puts := f.reqs("/blob/up")
		if len(puts) != 2 {
			t.Fatalf("%d PUTs", len(puts))
		}
		put := puts[0]
		if put.Method != http.MethodPut || string(put.Body) != string(pdf) || put.Query != "sig=s3cret" {
			t.Errorf("PUT %s body %q query %q", put.Method, put.Body, put.Query)
		}
		for k, v := range map[string]string{
			"Accept": "*/*", "x-ms-blob-type": "BlockBlob", "Content-Type": "application/octet-stream",
			"Origin": f.srv.URL, "Sec-Fetch-Dest": "empty", "Sec-Fetch-Mode": "cors", "Sec-Fetch-Site": "cross-site",
		} {
			if got := put.Header.Get(k); got != v {
				t.Errorf("PUT %s = %q, want %q", k, got, v)
			}
		}
		if put.Header.Get("Cookie") != "" {
			t.Error("PUT carries the account cookie")
		}
		content := f.lastAsk(t).JSON(t)["messages"].([]any)[0].(map[string]any)["content"]
		want := []any{
			map[string]any{"type": "text", "text": "summarise"},
			map[string]any{"type": "private_file", "private_file": map[string]any{
				"name": "report.pdf", "type": "application/pdf", "size": float64(len(pdf)), "ext": "pdf",
				"private_storage_url": "https://storage.example/private/abc",
			}},
			map[string]any{"type": "private_file", "private_file": map[string]any{
				"name": "file", "type": "text/plain", "size": float64(len("plain notes")), "ext": "plain",
				"private_storage_url": "https://storage.example/private/abc",
			}},
		}
		if !reflect.DeepEqual(content, want) {
			t.Errorf("content = %#v", content)
		}
	})

	failures := []struct {
		name  string
		setup func(f *fake)
		code  gw.Code
	}{
		{"PUT refused", func(f *fake) {
			f.handle("/api/get_upload_personal_image_url", slot(f))
			f.handle("/blob/up", respond(403, "", "AuthenticationFailed"))
		}, gw.CodeUpstream},
		{"slot not logged in", func(f *fake) {
			f.handle("/api/get_upload_personal_image_url", respond(200, "application/json", `{"status":-5,"message":"not login","data":{}}`))
		}, gw.CodeLoggedOut},
		{"slot without URLs", func(f *fake) {
			f.handle("/api/get_upload_personal_image_url", respond(200, "application/json", `{"data":"nope"}`))
		}, gw.CodeProtocolChanged},
		{"slot HTTP 500", func(f *fake) {
			f.handle("/api/get_upload_personal_image_url", respond(500, "", "boom"))
		}, gw.CodeTransient},
	}
	t.Run("PUT transport error hides the signed URL", func(t *testing.T) {
		dead := newFake(t)
		deadURL := dead.srv.URL
		dead.srv.Close()
		f := newFake(t)
		f.handle("/api/get_upload_personal_image_url", func(w http.ResponseWriter, r *http.Request) {
			_ = json.NewEncoder(w).Encode(map[string]any{"data": map[string]any{
				"upload_image_url": deadURL + "/blob/up?sig=s3cret", "private_storage_url": "https://storage.example/p",
			}})
		})
		p := newProvider(t, f.srv.URL, nil)
		_, err := chat(t, p, account("a1", "c1"), req)
		e := wantCode(t, err, gw.CodeTransient)
		if strings.Contains(e.Error(), "s3cret") {
			t.Errorf("error leaks the upload signature: %v", e)
		}
		if len(f.reqs("/api/copilot/ask")) != 0 {
			t.Error("ask sent")
		}
	})
	for _, tt := range failures {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t)
			tt.setup(f)
			f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "ok")))
			p := newProvider(t, f.srv.URL, nil)
			_, err := chat(t, p, account("a1", "c1"), req)
			e := wantCode(t, err, tt.code)
			if tt.name == "PUT refused" && e.Message != "file upload to Genspark storage failed: HTTP 403" {
				t.Errorf("message = %q", e.Message)
			}
			if n := len(f.reqs("/api/copilot/ask")); n != 0 {
				t.Errorf("ask sent despite failed upload (%d)", n)
			}
		})
	}
}

func TestRecaptcha(t *testing.T) {
	type tokenReply struct {
		status int
		body   string
	}
	tests := []struct {
		name      string
		reply     tokenReply
		slash     bool
		noScheme  bool
		wantToken string
		wantMsg   string // error message when the service fails
	}{
		{name: "token", reply: tokenReply{200, `{"code":200,"token":"03AF-token"}`}, wantToken: "03AF-token"},
		{name: "trailing slash", reply: tokenReply{200, `{"code": 200, "message": "ok", "token": "tok2"}`}, slash: true, wantToken: "tok2"},
		{name: "host:port without scheme", reply: tokenReply{200, `{"code":200,"token":"tok3"}`}, noScheme: true, wantToken: "tok3"},
		{name: "HTTP 500", reply: tokenReply{500, `oops`}, wantMsg: "reCAPTCHA token service failed: HTTP 500"},
		{name: "code 500", reply: tokenReply{200, `{"code":500,"message":"browser crashed"}`}, wantMsg: "reCAPTCHA token service failed: code 500"},
		{name: "empty token", reply: tokenReply{200, `{"code":200,"token":""}`}, wantMsg: "reCAPTCHA token service failed: empty token"},
		{name: "null token", reply: tokenReply{200, `{"code":200,"token":null}`}, wantMsg: "reCAPTCHA token service failed: empty token"},
		{name: "not JSON", reply: tokenReply{200, `<html>`}, wantMsg: "reCAPTCHA token service failed: answer is not JSON"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newFake(t)
			rc.handle("/genspark", respond(tt.reply.status, "application/json", tt.reply.body))
			f := newFake(t)
			f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "ok")))
			url := rc.srv.URL
			if tt.slash {
				url += "/"
			}
			if tt.noScheme {
				url = strings.TrimPrefix(url, "http://")
			}
			p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.RecaptchaURL = url })
			_, err := chat(t, p, account("a1", "c1"), userReq("gpt-5.1", "x"))
			tokReqs := rc.reqs("/genspark")
			if len(tokReqs) != 1 {
				t.Fatalf("%d token requests", len(tokReqs))
			}
			if tokReqs[0].Method != http.MethodGet || tokReqs[0].Header.Get("Cookie") != "session_id=c1" {
				t.Errorf("token request %s cookie %q", tokReqs[0].Method, tokReqs[0].Header.Get("Cookie"))
			}
			if tt.wantMsg != "" {
				e := wantCode(t, err, gw.CodeUpstream)
				if e.Message != tt.wantMsg {
					t.Errorf("message = %q, want %q", e.Message, tt.wantMsg)
				}
				if n := len(f.reqs("/api/copilot/ask")); n != 0 {
					t.Errorf("ask sent without a token (%d requests)", n)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := f.lastAsk(t).JSON(t)
			if body["g_recaptcha_token"] != tt.wantToken {
				t.Errorf("g_recaptcha_token = %v", body["g_recaptcha_token"])
			}
		})
	}
	t.Run("service down", func(t *testing.T) {
		rc := newFake(t)
		url := rc.srv.URL
		rc.srv.Close()
		f := newFake(t)
		f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "ok")))
		p := newProvider(t, f.srv.URL, func(c *genspark.Config) { c.RecaptchaURL = url })
		_, err := chat(t, p, account("a1", "c1"), userReq("gpt-5.1", "x"))
		e := wantCode(t, err, gw.CodeUpstream)
		if !strings.HasPrefix(e.Message, "reCAPTCHA token service failed") {
			t.Errorf("message = %q", e.Message)
		}
		if len(f.reqs("/api/copilot/ask")) != 0 {
			t.Error("ask sent")
		}
	})
	t.Run("no service, no token key", func(t *testing.T) {
		f := newFake(t)
		f.handle("/api/copilot/ask", respond(200, "", okAnswer("p1", "ok")))
		p := newProvider(t, f.srv.URL, nil)
		if _, err := chat(t, p, account("a1", "c1"), userReq("gpt-5.1", "x")); err != nil {
			t.Fatal(err)
		}
		if _, ok := f.lastAsk(t).JSON(t)["g_recaptcha_token"]; ok {
			t.Error("g_recaptcha_token present without a service")
		}
	})
	t.Run("bad URL", func(t *testing.T) {
		_, err := genspark.New(genspark.Config{BaseURL: "http://127.0.0.1:1", RecaptchaURL: "ftp://x"})
		if err == nil {
			t.Fatal("no error for ftp:// token service")
		}
	})
}

func TestNewConfigErrors(t *testing.T) {
	tests := []struct {
		name string
		cfg  genspark.Config
	}{
		{"no base URL", genspark.Config{}},
		{"relative base URL", genspark.Config{BaseURL: "www.genspark.ai"}},
		{"empty chat id", genspark.Config{BaseURL: "http://x", ModelChatMap: map[string]string{"gpt-5.1": ""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := genspark.New(tt.cfg); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
