package gemini_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/api/gemini"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
)

// TestBadRequests: every malformed or out-of-range request is a 400
// INVALID_ARGUMENT in Google's envelope naming the field, before any
// upstream call.
func TestBadRequests(t *testing.T) {
	long := strings.Repeat("x", 300)
	tool := func(decl string) string {
		return `{"contents":[{"parts":[{"text":"q"}]}],"tools":[{"functionDeclarations":[` + decl + `]}]}`
	}
	config := func(c string) string { return `{"contents":[{"parts":[{"text":"q"}]}],"generationConfig":` + c + `}` }
	for _, tc := range []struct {
		name, path, body, want string
	}{
		{"not JSON", "", `{"contents":`, "Invalid JSON payload"},
		{"null body", "", `null`, "must be a JSON object"},
		{"wrong type", "", `{"contents":"hi"}`, "contents"},
		{"no contents", "", `{}`, "contents is not specified"},
		{"empty parts", "", `{"contents":[{"role":"user","parts":[]}]}`, "contents[0].parts"},
		{"bad role", "", `{"contents":[{"role":"system","parts":[{"text":"q"}]}]}`, "contents[0].role"},
		{"empty part", "", `{"contents":[{"parts":[{}]}]}`, "empty part"},
		{"two kinds in a part", "", `{"contents":[{"parts":[{"text":"q","inlineData":{"mimeType":"image/png","data":"AAAA"}}]}]}`, "exactly one kind"},
		{"bad base64", "", `{"contents":[{"parts":[{"inlineData":{"mimeType":"image/png","data":"%%%"}}]}]}`, "inlineData.data"},
		{"no mime type", "", `{"contents":[{"parts":[{"inlineData":{"data":"AAAA"}}]}]}`, "inlineData.mimeType"},
		{"files API uri", "", `{"contents":[{"parts":[{"fileData":{"mimeType":"application/pdf","fileUri":"https://generativelanguage.googleapis.com/v1beta/files/abc"}}]}]}`, "Files API"},
		{"files name", "", `{"contents":[{"parts":[{"fileData":{"fileUri":"files/abc"}}]}]}`, "Files API"},
		{"gs uri", "", `{"contents":[{"parts":[{"fileData":{"fileUri":"gs://bucket/x.pdf"}}]}]}`, "unsupported file URI"},
		{"bad data url", "", `{"contents":[{"parts":[{"fileData":{"fileUri":"data:image/png;base64"}}]}]}`, "invalid data URL"},
		{"system with image", "", `{"contents":[{"parts":[{"text":"q"}]}],"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`, "systemInstruction.parts[0]"},
		{"function call in user turn", "", `{"contents":[{"role":"user","parts":[{"functionCall":{"name":"f"}}]}]}`, "user turn cannot hold functionCall"},
		{"response without call", "", `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}`, "function response turn"},
		{"response to another id", "", `{"contents":[{"role":"model","parts":[{"functionCall":{"id":"a","name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"id":"b","name":"f","response":{}}}]}]}`, "with id 'b'"},
		{"response not an object", "", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":[1]}}]}]}`, "response: must be a JSON object"},
		{"args not an object", "", `{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":[1]}}]}]}`, "functionCall.args"},
		{"call id too long", "", `{"contents":[{"role":"model","parts":[{"functionCall":{"id":"` + long + `","name":"f"}}]}]}`, "functionCall.id"},
		{"function name missing", "", tool(`{"description":"d"}`), "function name is not specified"},
		{"function name pattern", "", tool(`{"name":"9bad name"}`), "Invalid function name"},
		{"function name too long", "", tool(`{"name":"` + long + `"}`), "at most 128"},
		{"duplicate function", "", tool(`{"name":"f"},{"name":"f"}`), "Duplicate function declaration"},
		{"both schemas", "", tool(`{"name":"f","parameters":{"type":"OBJECT"},"parametersJsonSchema":{"type":"object"}}`), "cannot both be set"},
		{"schema not an object", "", tool(`{"name":"f","parametersJsonSchema":[1]}`), "parametersJsonSchema: invalid schema"},
		{"invalid schema", "", tool(`{"name":"f","parametersJsonSchema":{"type":"object","properties":["a","b"]}}`), "parametersJsonSchema: invalid schema"},
		{"built-in tool", "", `{"contents":[{"parts":[{"text":"q"}]}],"tools":[{"googleSearch":{}}]}`, "tools[0].googleSearch"},
		{"bad mode", "", `{"contents":[{"parts":[{"text":"q"}]}],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}`, "functionCallingConfig.mode"},
		{"ANY without tools", "", `{"contents":[{"parts":[{"text":"q"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}`, "needs at least one function"},
		{"allowed names with AUTO", "", `{"contents":[{"parts":[{"text":"q"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`, "only be set when the mode is ANY"},
		{"allowed name undeclared", "", `{"contents":[{"parts":[{"text":"q"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}`, "no function named 'g'"},
		{"temperature", "", config(`{"temperature":2.5}`), "generationConfig.temperature"},
		{"topP", "", config(`{"topP":-0.1}`), "generationConfig.topP"},
		{"topK", "", config(`{"topK":-1}`), "generationConfig.topK"},
		{"candidateCount", "", config(`{"candidateCount":2}`), "candidateCount must be 1"},
		{"maxOutputTokens", "", config(`{"maxOutputTokens":0}`), "generationConfig.maxOutputTokens"},
		{"too many stops", "", config(`{"stopSequences":["a","b","c","d","e","f"]}`), "at most 5 stop sequences"},
		{"long stop", "", config(`{"stopSequences":["` + strings.Repeat("s", 1100) + `"]}`), "stopSequences[0]"},
		{"mime type", "", config(`{"responseMimeType":"text/x.enum"}`), "responseMimeType"},
		{"schema without json", "", config(`{"responseSchema":{"type":"OBJECT"}}`), "needs responseMimeType"},
		{"two response schemas", "", config(`{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT"},"responseJsonSchema":{"type":"object"}}`), "cannot both be set"},
		{"invalid response schema", "", config(`{"responseMimeType":"application/json","responseJsonSchema":{"type":"object","required":"a"}}`), "responseJsonSchema: invalid schema"},
		{"image modality", "", config(`{"responseModalities":["IMAGE"]}`), "responseModalities[0]"},
		{"thinking budget", "", config(`{"thinkingConfig":{"thinkingBudget":99999999}}`), "thinkingBudget"},
		{"thinking level", "", config(`{"thinkingConfig":{"thinkingLevel":"EXTREME"}}`), "thinkingLevel"},
		{"model too long", "/v1beta/models/" + long + ":generateContent", hello, "model name is too long"},
		{"count: both forms", "/v1beta/models/m:countTokens", `{"contents":[{"parts":[{"text":"q"}]}],"generateContentRequest":{"contents":[{"parts":[{"text":"q"}]}]}}`, "cannot both be set"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := &fakeBackend{Events: []llm.Event{text("x"), finish(llm.FinishStop), usage(1, 1, 0)}}
			srv := newServer(t, b, gemini.Options{})
			path := tc.path
			if path == "" {
				path = "/v1beta/models/gemini-2.5-pro:streamGenerateContent?alt=sse"
			}
			resp, body := do(t, "POST", srv.URL+path, tc.body)
			e := googleError(t, body)
			if resp.StatusCode != http.StatusBadRequest || e.Code != 400 || e.Status != "INVALID_ARGUMENT" || !strings.Contains(e.Message, tc.want) {
				t.Fatalf("%d %+v, want 400 INVALID_ARGUMENT mentioning %q", resp.StatusCode, e, tc.want)
			}
			if b.Calls() != 0 {
				t.Fatal("the backend was called")
			}
		})
	}
}

// TestMethodsAndModels: the model list's shape and pages, one model,
// unknown methods and models (Google 404), a method sent with GET (405).
func TestMethodsAndModels(t *testing.T) {
	var list []llm.ModelInfo
	for _, id := range []string{"gemini-3-flash", "gemini-3-pro", "gpt-5.1", "claude-x", "gemini-3-flash"} {
		list = append(list, llm.ModelInfo{ID: id, DisplayName: strings.ToUpper(id), Kind: llm.KindChat})
	}
	list = append(list, llm.ModelInfo{ID: "flux", Kind: llm.KindImage})
	b := &fakeBackend{List: list}
	srv := newServer(t, b, gemini.Options{Embedder: fakeEmbedder{}})

	type page struct {
		Models []struct {
			Name                       string   `json:"name"`
			DisplayName                string   `json:"displayName"`
			SupportedGenerationMethods []string `json:"supportedGenerationMethods"`
		} `json:"models"`
		NextPageToken string `json:"nextPageToken"`
	}
	var names []string
	token := ""
	for range 5 {
		resp, body := do(t, "GET", srv.URL+"/v1beta/models?pageSize=2&pageToken="+token, "")
		var p page
		if resp.StatusCode != http.StatusOK || jsonUnmarshal(body, &p) != nil || len(p.Models) > 2 {
			t.Fatalf("%d: %s", resp.StatusCode, body)
		}
		for _, m := range p.Models {
			names = append(names, m.Name)
		}
		if token = p.NextPageToken; token == "" {
			break
		}
	}
	want := "models/gemini-3-flash models/gemini-3-pro models/gpt-5.1 models/claude-x models/gemini-embedding-001"
	if strings.Join(names, " ") != want {
		t.Fatalf("listed %v, want %s", names, want)
	}

	resp, body := do(t, "GET", srv.URL+"/v1beta/models/gemini-3-pro", "")
	if resp.StatusCode != http.StatusOK || !strings.Contains(body, `"name":"models/gemini-3-pro"`) || !strings.Contains(body, `"generateContent"`) {
		t.Fatalf("get: %d %s", resp.StatusCode, body)
	}
	for _, tc := range []struct {
		method, path string
		status       int
		gstatus      string
	}{
		{"GET", "/v1beta/models/nope-model", 404, "NOT_FOUND"},
		{"GET", "/v1beta/models?pageToken=garbage", 400, "INVALID_ARGUMENT"},
		{"GET", "/v1beta/models?pageSize=-1", 400, "INVALID_ARGUMENT"},
		{"POST", "/v1beta/models/gemini-3-pro:fooBar", 404, "NOT_FOUND"},
		{"POST", "/v1beta/models/gemini-3-pro", 404, "NOT_FOUND"},
		{"GET", "/v1beta/models/gemini-3-pro:generateContent", 405, "INVALID_ARGUMENT"},
	} {
		resp, body := do(t, tc.method, srv.URL+tc.path, hello)
		if e := googleError(t, body); resp.StatusCode != tc.status || e.Status != tc.gstatus {
			t.Errorf("%s %s: %d %+v", tc.method, tc.path, resp.StatusCode, e)
		}
	}
}

// fakeEmbedder answers vectors of the requested size holding each text's
// length; it fails for the model "broken".
type fakeEmbedder struct{ calls *[]int }

func (f fakeEmbedder) Embed(_ context.Context, model string, inputs []string, dims int) ([][]float32, error) {
	if f.calls != nil {
		*f.calls = append(*f.calls, len(inputs))
	}
	if dims == 0 {
		dims = 3
	}
	out := make([][]float32, len(inputs))
	for i, s := range inputs {
		out[i] = make([]float32, dims)
		out[i][0] = float32(len(s))
	}
	return out, nil
}

// TestEmbeddings: embedContent and batchEmbedContents (requests grouped by
// outputDimensionality, answers in order), and 503 without an embedder.
func TestEmbeddings(t *testing.T) {
	var calls []int
	srv := newServer(t, &fakeBackend{}, gemini.Options{Embedder: fakeEmbedder{calls: &calls}})
	resp, body := do(t, "POST", srv.URL+"/v1beta/models/gemini-embedding-001:embedContent",
		`{"content":{"parts":[{"text":"abc"},{"text":"de"}]},"taskType":"RETRIEVAL_QUERY"}`)
	if resp.StatusCode != http.StatusOK || body != `{"embedding":{"values":[6,0,0]}}`+"\n" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", srv.URL+"/v1beta/models/gemini-embedding-001:batchEmbedContents", `{"requests":[
	  {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"a"}]}},
	  {"model":"models/gemini-embedding-001","content":{"parts":[{"text":"bb"}]},"outputDimensionality":2},
	  {"content":{"parts":[{"text":"ccc"}]}}]}`)
	if resp.StatusCode != http.StatusOK || body != `{"embeddings":[{"values":[1,0,0]},{"values":[2,0]},{"values":[3,0,0]}]}`+"\n" {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	if len(calls) != 3 || calls[1] != 2 || calls[2] != 1 {
		t.Fatalf("embedder calls %v, want [1 2 1]", calls)
	}
	for _, tc := range []struct{ path, body, want string }{
		{":embedContent", `{}`, "content is not specified"},
		{":embedContent", `{"content":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AAAA"}}]}}`, "only text parts"},
		{":embedContent", `{"content":{"parts":[{"text":"a"}]},"outputDimensionality":5000}`, "outputDimensionality"},
		{":batchEmbedContents", `{"requests":[]}`, "requests is not specified"},
		{":batchEmbedContents", `{"requests":[{"model":"models/other","content":{"parts":[{"text":"a"}]}}]}`, "differs from the model in the URL"},
		{":batchEmbedContents", `{"requests":[` + strings.Repeat(`{"content":{"parts":[{"text":"a"}]}},`, 100) + `{"content":{"parts":[{"text":"a"}]}}]}`, "at most 100"},
	} {
		resp, body := do(t, "POST", srv.URL+"/v1beta/models/gemini-embedding-001"+tc.path, tc.body)
		if e := googleError(t, body); resp.StatusCode != 400 || !strings.Contains(e.Message, tc.want) {
			t.Errorf("%s %s: %d %+v", tc.path, tc.body, resp.StatusCode, e)
		}
	}
	none := newServer(t, &fakeBackend{}, gemini.Options{})
	resp, body = do(t, "POST", none.URL+"/v1beta/models/gemini-embedding-001:embedContent", `{"content":{"parts":[{"text":"a"}]}}`)
	if e := googleError(t, body); resp.StatusCode != 503 || e.Status != "UNAVAILABLE" || !strings.Contains(e.Message, "GOOGLE_AI_API_KEY") {
		t.Fatalf("%d %+v", resp.StatusCode, e)
	}
}

// TestMedia: inlineData and fileData parts become image, file or text
// parts; https URIs are left for the gateway's guarded fetcher.
func TestMedia(t *testing.T) {
	b := &fakeBackend{Events: []llm.Event{text("x"), finish(llm.FinishStop), usage(1, 1, 0)}}
	srv := newServer(t, b, gemini.Options{})
	resp, body := do(t, "POST", srv.URL+"/v1beta/models/m:generateContent", `{"contents":[{"parts":[
	  {"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
	  {"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},
	  {"inlineData":{"mimeType":"text/plain","data":"aGVsbG8="}},
	  {"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/a.jpg"}},
	  {"fileData":{"fileUri":"data:application/pdf;base64,JVBERi0="}}]}]}`)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	parts := b.LastRequest(t).Messages[0].Parts
	if len(parts) != 5 {
		t.Fatalf("%d parts", len(parts))
	}
	checks := []bool{
		parts[0].Type == llm.PartImage && parts[0].Media.MIMEType == "image/png" && len(parts[0].Media.Data) == 8,
		parts[1].Type == llm.PartFile && parts[1].Media.MIMEType == "application/pdf" && parts[1].Media.Name == "file.pdf",
		parts[2].Type == llm.PartText && parts[2].Text == "hello",
		parts[3].Type == llm.PartImage && parts[3].Media.URL == "https://example.com/a.jpg" && parts[3].Media.Data == nil,
		parts[4].Type == llm.PartFile && parts[4].Media.MIMEType == "application/pdf" && string(parts[4].Media.Data) == "%PDF-",
	}
	for i, ok := range checks {
		if !ok {
			t.Errorf("part %d: %+v %+v", i, parts[i], parts[i].Media)
		}
	}
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// TestBodyFailures: a body over the bound (413) and one the server's read
// deadline cut (408, the error its body reader returns) are answered in
// Google's envelope.
func TestBodyFailures(t *testing.T) {
	mux := http.NewServeMux()
	gemini.New(&fakeBackend{}, gemini.Options{MaxBodyBytes: 64}).Register(mux, "")
	for _, tc := range []struct {
		name   string
		body   io.Reader
		status int
		gs     string
	}{
		{"too large", strings.NewReader(`{"contents":[{"parts":[{"text":"` + strings.Repeat("x", 100) + `"}]}]}`), 413, "INVALID_ARGUMENT"},
		{"read deadline", errReader{&gw.Error{Code: gw.CodeRequestTimeout, Message: "The request body did not arrive in time."}}, 408, "DEADLINE_EXCEEDED"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("POST", "/v1beta/models/m:generateContent", tc.body)
			req.ContentLength = -1
			rec := httptest.NewRecorder()
			mux.ServeHTTP(rec, req)
			e := googleError(t, rec.Body.String())
			if rec.Code != tc.status || e.Code != tc.status || e.Status != tc.gs {
				t.Fatalf("%d %+v", rec.Code, e)
			}
		})
	}
}
