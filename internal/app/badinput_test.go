package app_test

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/testutil"
)

// The bad-input matrix (issue 11, item 9): hostile and malformed requests
// across every endpoint, each row asserting the status, that the body is
// the error envelope of the caller's dialect (with the param and type the
// official API gives), that a refused request reached no upstream, and
// that the gateway still serves a valid request afterwards; after the table
// no goroutine is left behind.

// dialect is the error envelope a row expects.
type dialect int

const (
	// noEnvelope: the row is not an error (2xx) or is a redirect.
	noEnvelope dialect = iota
	// openAIEnvelope is {"error":{"message","type","param","code"}}.
	openAIEnvelope
	// anthropicEnvelope is {"type":"error","error":{"type","message"}}.
	anthropicEnvelope
)

// nullParam in badRow.param asserts that the OpenAI error's param is null.
const nullParam = "<null>"

// maxErrorBody bounds an error body: nothing a client sends (a 4 MB model
// name, a huge path) may be echoed back whole.
const maxErrorBody = 16 << 10

// badRow is one request of the matrix.
type badRow struct {
	name   string
	method string            // "" means POST
	path   string            // escaped path (and query) under the gateway, sent as is
	header map[string]string // extra request headers; "Authorization" replaces the default
	noKey  bool              // send no API key at all
	body   string
	ct     string // Content-Type; "" means application/json when there is a body
	// raw, when set, is the whole HTTP/1.1 request written over TCP as is
	// (after "{host}" is replaced), for what net/http's client refuses to
	// send; a half-sent body is then followed by closing the write side
	// when closeWrite is set.
	raw        string
	closeWrite bool

	status   int
	dialect  dialect
	typ      string // error type ("" means not checked)
	param    string // OpenAI param ("" means not checked, nullParam null)
	code     string // OpenAI code ("" means not checked)
	location string // Location of a redirect ("" means not checked)
	// upstream marks rows allowed to reach an upstream (successes, and
	// failures only an upstream can decide).
	upstream bool
	// check makes row-specific assertions on the answer.
	check func(t *testing.T, resp *http.Response, body []byte)
}

const (
	chatPath     = "/v1/chat/completions"
	messagesPath = "/v1/messages"
	countPath    = "/v1/messages/count_tokens"
	respPath     = "/v1/responses"
	imagesPath   = "/v1/images/generations"
	editsPath    = "/v1/images/edits"
	videosPath   = "/v1/videos/generations"
	embedPath    = "/v1/embeddings"
	modPath      = "/v1/moderations"
	transPath    = "/v1/audio/transcriptions"
	translPath   = "/v1/audio/translations"
	speechPath   = "/v1/audio/speech"
)

// Anthropic headers as the SDKs send them.
var anthropicHeaders = map[string]string{"anthropic-version": "2023-06-01"}

// chat returns a valid chat completions body with extra fields appended
// (extra starts with a comma) or, with a replaced messages list, msgs.
func chat(extra string) string {
	return `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}]` + extra + `}`
}

func chatMsgs(msgs string) string { return `{"model":"gpt-5.2","messages":` + msgs + `}` }

func messages(extra string) string {
	return `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"hi"}]` + extra + `}`
}

func messagesMsgs(msgs string) string {
	return `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":` + msgs + `}`
}

func resp(extra string) string { return `{"model":"gpt-5.2","input":"hi"` + extra + `}` }

// nested returns n opening brackets, a value and n closing brackets.
func nested(n int, open, inner, close string) string {
	return strings.Repeat(open, n) + inner + strings.Repeat(close, n)
}

// stops returns a JSON array of n distinct stop strings.
func stops(n int) string {
	s := make([]string, n)
	for i := range s {
		s[i] = fmt.Sprintf(`"s%d"`, i)
	}
	return "[" + strings.Join(s, ",") + "]"
}

// multipartBody is a multipart/form-data body and its Content-Type.
type multipartBody struct{ body, ct string }

// formPart is one part of a multipart body: a field, or a file when
// filename is set; pad adds a header of that many bytes to the part.
type formPart struct {
	name, filename, content string
	pad                     int
}

func form(parts ...formPart) multipartBody {
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for _, p := range parts {
		var pw io.Writer
		var err error
		switch {
		case p.pad > 0:
			h := textproto.MIMEHeader{}
			h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q`, p.name))
			h.Set("X-Pad", strings.Repeat("p", p.pad))
			pw, err = w.CreatePart(h)
		case p.filename != "":
			pw, err = w.CreateFormFile(p.name, p.filename)
		default:
			pw, err = w.CreateFormField(p.name)
		}
		if err != nil {
			panic(err)
		}
		_, _ = io.WriteString(pw, p.content)
	}
	_ = w.Close()
	return multipartBody{b.String(), w.FormDataContentType()}
}

// A tiny valid PNG (1×1) and a WAV header with a little silence.
var (
	pngBytes, _ = base64.StdEncoding.DecodeString("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==")
	pngDataURL  = "data:image/png;base64," + base64.StdEncoding.EncodeToString(pngBytes)
	htmlDataURL = "data:text/html;base64," + base64.StdEncoding.EncodeToString([]byte("<script>alert(1)</script>"))
)

func wavBytes() string {
	var b bytes.Buffer
	data := make([]byte, 3200) // 0.1 s of 16 kHz mono silence
	b.WriteString("RIFF")
	_ = writeLE32(&b, uint32(36+len(data)))
	b.WriteString("WAVEfmt ")
	_ = writeLE32(&b, 16)
	b.Write([]byte{1, 0, 1, 0})
	_ = writeLE32(&b, 16000)
	_ = writeLE32(&b, 32000)
	b.Write([]byte{2, 0, 16, 0})
	b.WriteString("data")
	_ = writeLE32(&b, uint32(len(data)))
	b.Write(data)
	return b.String()
}

func writeLE32(w io.Writer, v uint32) error {
	_, err := w.Write([]byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)})
	return err
}

// noHeaderContains asserts that no response header carries s (an
// attacker's text meant to be reflected).
func noHeaderContains(s string) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, resp *http.Response, _ []byte) {
		t.Helper()
		for k, vs := range resp.Header {
			if strings.Contains(strings.ToLower(k), strings.ToLower(s)) {
				t.Errorf("response header %q was injected", k)
			}
			for _, v := range vs {
				if strings.ContainsAny(v, "\r\n") {
					t.Errorf("response header %s carries CR/LF: %q", k, v)
				}
			}
		}
	}
}

// badInputRows is the matrix, grouped by endpoint.
func badInputRows() []badRow {
	huge := strings.Repeat("m", 4<<20)   // a 4 MB string
	pad33 := strings.Repeat("u", 33<<20) // over every JSON body limit (32 MiB)
	mb := strings.Repeat("x", 1<<20)     // a 1 MB string for fields that are stored or echoed
	var meta17 []string
	for i := range 17 {
		meta17 = append(meta17, fmt.Sprintf(`"k%d":"v"`, i))
	}
	metadata17 := "{" + strings.Join(meta17, ",") + "}"
	deepArrays := nested(100_000, "[", "", "]") // 100k nested arrays
	deepObjects := nested(100_000, `{"a":`, "1", "}")
	deepSchema := nested(500, `{"type":"object","properties":{"a":`, `{"type":"string"}`, "}}")
	loopSchema := `{"allOf":[{"$ref":"#"},{"$ref":"#"}]}`
	many := make([]string, 2049)
	for i := range many {
		many[i] = `"x"`
	}
	manyInputs := "[" + strings.Join(many, ",") + "]"
	tooManyImages := func() multipartBody {
		parts := []formPart{{name: "prompt", content: "p"}, {name: "model", content: "gpt-image-1"}}
		for range 50 {
			parts = append(parts, formPart{name: "image[]", filename: "a.png", content: string(pngBytes)})
		}
		return form(parts...)
	}()
	editOK := form(formPart{name: "prompt", content: "p"}, formPart{name: "model", content: "gpt-image-1"}, formPart{name: "image", filename: "a.png", content: string(pngBytes)})
	editHTML := form(formPart{name: "prompt", content: "p"}, formPart{name: "image", filename: "a.png", content: "<html><script>alert(1)</script></html>"})
	editBadModel := form(formPart{name: "prompt", content: "p"}, formPart{name: "model", content: "no-such-image-model"}, formPart{name: "image", filename: "a.png", content: string(pngBytes)})
	editNoImage := form(formPart{name: "prompt", content: "p"})
	audioOK := form(formPart{name: "model", content: "whisper-1"}, formPart{name: "file", filename: "a.wav", content: wavBytes()})
	audioNoFile := form(formPart{name: "model", content: "whisper-1"})
	audioEmpty := form(formPart{name: "model", content: "whisper-1"}, formPart{name: "file", filename: "a.wav"})
	audioTemp := form(formPart{name: "model", content: "whisper-1"}, formPart{name: "temperature", content: "5"}, formPart{name: "file", filename: "a.wav", content: wavBytes()})
	longName := strings.Repeat("n", 10<<10) + ".png"
	editLongName := form(formPart{name: "prompt", content: "p"}, formPart{name: "image", filename: longName, content: string(pngBytes)})
	editBadUTF8 := form(formPart{name: "prompt", content: "p\xff\xfe"}, formPart{name: "image", filename: "a.png", content: string(pngBytes)})
	audioLongName := form(formPart{name: "model", content: "whisper-1"}, formPart{name: "file", filename: longName, content: wavBytes()})
	audioHugeHeader := form(formPart{name: "model", content: "whisper-1", pad: 200 << 10}, formPart{name: "file", filename: "a.wav", content: wavBytes()})
	truncated := func(m multipartBody) multipartBody { return multipartBody{m.body[:len(m.body)/2], m.ct} }
	manyParts := func() multipartBody {
		parts := []formPart{{name: "model", content: "whisper-1"}}
		for i := range 20_000 {
			parts = append(parts, formPart{name: fmt.Sprintf("f%d", i), content: "x"})
		}
		return form(append(parts, formPart{name: "file", filename: "a.wav", content: wavBytes()})...)
	}()

	oai := func(r badRow) badRow {
		r.dialect = openAIEnvelope
		if r.typ == "" && r.status >= 400 && r.status < 500 {
			r.typ = "invalid_request_error"
		}
		return r
	}
	ant := func(r badRow) badRow {
		r.dialect = anthropicEnvelope
		if r.header == nil {
			r.header = anthropicHeaders
		}
		return r
	}
	invalidChat := func(name, body, param string) badRow {
		return oai(badRow{name: "chat/" + name, path: chatPath, body: body, status: 400, param: param})
	}
	invalidMessages := func(name, body string) badRow {
		return ant(badRow{name: "messages/" + name, path: messagesPath, body: body, status: 400, typ: "invalid_request_error"})
	}
	invalidResp := func(name, body, param string) badRow {
		return oai(badRow{name: "responses/" + name, path: respPath, body: body, status: 400, param: param})
	}

	rows := []badRow{
		// ---- authentication ----
		oai(badRow{name: "auth/no key", path: chatPath, body: chat(""), noKey: true, status: 401, code: "invalid_api_key"}),
		oai(badRow{name: "auth/wrong key", path: chatPath, body: chat(""), header: map[string]string{"Authorization": "Bearer sk-wrong"}, status: 401, code: "invalid_api_key"}),
		oai(badRow{name: "auth/basic scheme", path: chatPath, body: chat(""), header: map[string]string{"Authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"+testKey))}, status: 401}),
		oai(badRow{name: "auth/64 KB key", path: "/v1/models", method: "GET", header: map[string]string{"Authorization": "Bearer " + strings.Repeat("k", 64<<10)}, status: 401}),
		{name: "auth/BEARER upper case", path: chatPath, body: chat(""), header: map[string]string{"Authorization": "BEARER " + testKey}, status: 200, upstream: true},
		{name: "auth/x-api-key on chat", path: chatPath, body: chat(""), noKey: true, header: map[string]string{"x-api-key": testKey}, status: 200, upstream: true},
		ant(badRow{name: "auth/messages without key", path: messagesPath, body: messages(""), noKey: true, status: 401, typ: "authentication_error"}),
		ant(badRow{name: "auth/messages wrong x-api-key", path: messagesPath, body: messages(""), noKey: true, header: map[string]string{"x-api-key": "sk-ant-wrong", "anthropic-version": "2023-06-01"}, status: 401, typ: "authentication_error"}),
		oai(badRow{name: "auth/embeddings no key", path: embedPath, body: `{"input":"x","model":"text-embedding-3-small"}`, noKey: true, status: 401}),
		oai(badRow{name: "auth/images no key", path: imagesPath, body: `{"prompt":"p"}`, noKey: true, status: 401}),
		oai(badRow{name: "auth/audio no key", path: transPath, body: audioOK.body, ct: audioOK.ct, noKey: true, status: 401}),
		oai(badRow{name: "auth/chat wrong x-api-key", path: chatPath, body: chat(""), noKey: true, header: map[string]string{"x-api-key": "sk-wrong"}, status: 401, code: "invalid_api_key"}),
		ant(badRow{name: "auth/models wrong x-api-key", method: "GET", path: "/v1/models", noKey: true, header: map[string]string{"x-api-key": "sk-wrong", "anthropic-version": "2023-06-01"}, status: 401, typ: "authentication_error"}),
		ant(badRow{name: "auth/messages wrong Bearer", path: messagesPath, body: messages(""), header: map[string]string{"Authorization": "Bearer sk-wrong", "anthropic-version": "2023-06-01"}, status: 401, typ: "authentication_error"}),
		// An unauthenticated client announcing a body it sends slowly gets
		// its 401 without the server waiting for the body.
		oai(badRow{name: "auth/no key, body never sent", path: chatPath, noKey: true, status: 401,
			raw: "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{\"model\":"}),

		// ---- unknown routes, wrong methods, path tricks ----
		oai(badRow{name: "route/unknown under v1", method: "GET", path: "/v1/nope", status: 404, param: nullParam}),
		oai(badRow{name: "route/unknown POST under v1", path: "/v1/chat/complete", body: chat(""), status: 404}),
		oai(badRow{name: "route/unknown outside v1", method: "GET", path: "/nope", status: 404}),
		ant(badRow{name: "route/unknown, anthropic-version", method: "GET", path: "/v1/nope", status: 404, typ: "not_found_error"}),
		ant(badRow{name: "route/unknown, x-api-key", method: "GET", path: "/v1/nope", noKey: true, header: map[string]string{"x-api-key": testKey}, status: 404, typ: "not_found_error"}),
		oai(badRow{name: "route/GET chat completions", method: "GET", path: chatPath, status: 405, check: wantAllow("POST")}),
		oai(badRow{name: "route/PUT chat completions", method: "PUT", path: chatPath, body: chat(""), status: 405, check: wantAllow("POST")}),
		oai(badRow{name: "route/DELETE models", method: "DELETE", path: "/v1/models", status: 405, check: wantAllow("GET")}),
		oai(badRow{name: "route/POST models", path: "/v1/models", body: "{}", status: 405, check: wantAllow("GET")}),
		ant(badRow{name: "route/GET messages, anthropic-version", method: "GET", path: messagesPath, status: 405, typ: "invalid_request_error", check: wantAllow("POST")}),
		oai(badRow{name: "route/PATCH responses id", method: "PATCH", path: respPath + "/resp_x", body: "{}", status: 405}),
		oai(badRow{name: "route/POST healthz", path: "/healthz", body: "{}", status: 405}),
		{name: "route/GET healthz", method: "GET", path: "/healthz", noKey: true, status: 200},
		{name: "route/GET readyz", method: "GET", path: "/readyz", noKey: true, status: 200},
		oai(badRow{name: "route/POST readyz", path: "/readyz", noKey: true, body: "{}", status: 405}),
		oai(badRow{name: "route/POST root", path: "/", noKey: true, body: "{}", status: 405}),
		{name: "route/dot segments", method: "GET", path: "/v1/../v1/models", status: 307, location: "/v1/models"},
		{name: "route/dot segments escaping v1", method: "GET", path: "/v1/../healthz", noKey: true, status: 307, location: "/healthz"},
		{name: "route/double slash", method: "GET", path: "//v1//models", status: 307, location: "/v1/models"},
		{name: "route/dot segments keep POST", path: "/v1/./chat/completions", body: chat(""), status: 307, location: chatPath},
		oai(badRow{name: "route/encoded dot segments", method: "GET", path: "/v1/%2e%2e/v1/models", status: 404}),
		oai(badRow{name: "route/encoded dot segments without key", method: "GET", path: "/x/%2e%2e/v1/models", noKey: true, status: 404}),
		oai(badRow{name: "route/encoded slash in model id", method: "GET", path: "/v1/models/..%2F..%2Fhealthz", status: 404, code: "model_not_found"}),
		oai(badRow{name: "route/invalid UTF-8 model id", method: "GET", path: "/v1/models/%ff%fe", status: 404, code: "model_not_found"}),
		oai(badRow{name: "route/4 KB model id", method: "GET", path: "/v1/models/" + strings.Repeat("x", 4096), status: 404, code: "model_not_found"}),
		oai(badRow{name: "route/encoded slash in response id", method: "GET", path: respPath + "/resp_a%2F..%2F..%2Fmodels", status: 404}),
		oai(badRow{name: "route/NUL in response id", method: "DELETE", path: respPath + "/resp_%00", status: 404}),
		oai(badRow{name: "route/image proxy without signature", method: "GET", path: "/v1/images/proxy?u=http://169.254.169.254/", noKey: true, status: 403}),
		oai(badRow{name: "route/image proxy POST", path: "/v1/images/proxy", body: "{}", status: 405}),
		oai(badRow{name: "route/image proxy with a forged signature", method: "GET", path: "/v1/images/proxy?u=aHR0cDovLzEyNy4wLjAuMS8&a=acct_x&e=9999999999&s=AAAA", noKey: true, status: 403}),
		{name: "route/HEAD chat completions", method: "HEAD", path: chatPath, status: 405, check: wantAllow("POST")},

		// ---- header injection: nothing the client sends is reflected raw ----
		{name: "headers/client request id not reflected", method: "GET", path: "/v1/models", header: map[string]string{"X-Request-Id": "attacker-id", "Request-Id": "attacker-id"}, status: 200,
			check: func(t *testing.T, resp *http.Response, _ []byte) {
				for _, h := range []string{"X-Request-Id", "Request-Id"} {
					if v := resp.Header.Get(h); v == "attacker-id" || !strings.HasPrefix(v, "req_") {
						t.Errorf("%s = %q, want a request id minted by the gateway", h, v)
					}
				}
			}},
		{name: "headers/CR in Origin", raw: "GET /v1/models HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer " + testKey + "\r\nOrigin: https://a.example\rSet-Cookie: pwn=1\r\n\r\n",
			status: 400, check: noHeaderContains("set-cookie")},
		{name: "headers/CRLF in redirect path", method: "GET", path: "/v1//models%0d%0aSet-Cookie:%20pwn=1", status: 307, check: noHeaderContains("set-cookie")},
		{name: "headers/CRLF in redirect query", method: "GET", path: "/v1/../v1/models?x=%0d%0aSet-Cookie:%20pwn=1", status: 307, check: noHeaderContains("set-cookie")},
		oai(badRow{name: "headers/CRLF in unknown path echoed as JSON", method: "GET", path: "/v1/nope%0d%0aSet-Cookie:%20pwn=1", status: 404, check: noHeaderContains("set-cookie")}),
		{name: "headers/preflight reflects no CRLF", method: "OPTIONS", path: chatPath, noKey: true, header: map[string]string{"Origin": "https://a.example", "Access-Control-Request-Headers": "authorization"}, status: 204, check: noHeaderContains("set-cookie")},

		// ---- chat completions: body shape ----
		invalidChat("empty body", "", nullParam),
		invalidChat("null body", "null", nullParam),
		invalidChat("array body", "[]", nullParam),
		invalidChat("string body", `"hi"`, nullParam),
		invalidChat("number body", "42", nullParam),
		invalidChat("truncated JSON", `{"model":"gpt-5.2","messages":[{"role":"user","con`, nullParam),
		invalidChat("trailing garbage", chat("")+" garbage", nullParam),
		invalidChat("two objects", chat("")+chat(""), nullParam),
		{name: "chat/trailing whitespace is fine", path: chatPath, body: chat("") + " \n\t", status: 200, upstream: true},
		invalidChat("invalid UTF-8 in content", `{"model":"gpt-5.2","messages":[{"role":"user","content":"a`+"\xff\xfe"+`b"}]}`, nullParam),
		invalidChat("invalid UTF-8 in key", `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}],"`+"\xc3\x28"+`":1}`, nullParam),
		invalidChat("100k nested arrays", deepArrays, nullParam),
		invalidChat("100k nested arrays in a field", chat(`,"metadata":`+deepArrays), nullParam),
		invalidChat("100k nested objects in a field", chat(`,"response_format":`+deepObjects), nullParam),
		invalidChat("deep tool schema", chat(`,"tools":[{"type":"function","function":{"name":"f","parameters":`+deepSchema+`}}]`), nullParam),
		oai(badRow{name: "chat/broken chunked encoding", path: chatPath, status: 400, param: nullParam,
			raw: "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer " + testKey + "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\n{\"mod\r\nzz\r\n"}),
		oai(badRow{name: "chat/33 MB body", path: chatPath, body: chat(`,"user":"` + pad33 + `"`), status: 413, code: "request_too_large"}),
		oai(badRow{name: "chat/truncated body over TCP", path: chatPath, status: 400, param: nullParam, closeWrite: true,
			raw: "POST /v1/chat/completions HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer " + testKey + "\r\nContent-Type: application/json\r\nContent-Length: 200\r\n\r\n{\"model\":\"gpt-5.2\",\"messages\":["}),

		// ---- chat completions: fields ----
		invalidChat("missing messages", `{"model":"gpt-5.2"}`, "messages"),
		invalidChat("messages is a string", chatMsgs(`"hi"`), "messages"),
		invalidChat("messages is empty", chatMsgs(`[]`), "messages"),
		invalidChat("message is a number", chatMsgs(`[1]`), ""),
		invalidChat("unknown role", chatMsgs(`[{"role":"wizard","content":"hi"}]`), ""),
		invalidChat("content is a number", chatMsgs(`[{"role":"user","content":5}]`), ""),
		invalidChat("missing model", `{"messages":[{"role":"user","content":"hi"}]}`, ""),
		invalidChat("model is a number", `{"model":5,"messages":[{"role":"user","content":"hi"}]}`, "model"),
		invalidChat("257-byte model name", `{"model":"`+strings.Repeat("m", 257)+`","messages":[{"role":"user","content":"hi"}]}`, "model"),
		invalidChat("4 MB model name", `{"model":"`+huge+`","messages":[{"role":"user","content":"hi"}]}`, "model"),
		invalidChat("temperature -5", chat(`,"temperature":-5`), "temperature"),
		invalidChat("temperature 3", chat(`,"temperature":3`), "temperature"),
		invalidChat("temperature is a string", chat(`,"temperature":"hot"`), "temperature"),
		invalidChat("top_p 2", chat(`,"top_p":2`), "top_p"),
		invalidChat("max_tokens -1", chat(`,"max_tokens":-1`), "max_tokens"),
		invalidChat("max_tokens 0", chat(`,"max_tokens":0`), "max_tokens"),
		invalidChat("max_completion_tokens -1", chat(`,"max_completion_tokens":-1`), "max_completion_tokens"),
		invalidChat("max_tokens 1e30", chat(`,"max_tokens":1e30`), "max_tokens"),
		invalidChat("100 stop strings", chat(`,"stop":`+stops(100)), "stop"),
		invalidChat("1 MB stop string", chat(`,"stop":["`+mb+`"]`), "stop[0]"),
		invalidChat("1 MB user", chat(`,"user":"`+mb+`"`), "user"),
		invalidChat("17 metadata keys", chat(`,"metadata":`+metadata17), "metadata"),
		invalidChat("1 MB metadata value", chat(`,"metadata":{"k":"`+mb+`"}`), "metadata.k"),
		invalidChat("1 MB tool name", chat(`,"tools":[{"type":"function","function":{"name":"`+mb+`","parameters":{"type":"object"}}}]`), "tools[0].function.name"),
		invalidChat("tool name with spaces", chat(`,"tools":[{"type":"function","function":{"name":"bad name!","parameters":{"type":"object"}}}]`), "tools[0].function.name"),
		// Validation comes before the stream starts: a 400, not an SSE error.
		invalidChat("stream with temperature -5", chat(`,"stream":true,"temperature":-5`), "temperature"),
		invalidChat("stop is a number", chat(`,"stop":7`), "stop"),
		invalidChat("n is 0", chat(`,"n":0`), "n"),
		invalidChat("stream is a string", chat(`,"stream":"yes"`), "stream"),
		invalidChat("tools is an object", chat(`,"tools":{"type":"function"}`), "tools"),
		invalidChat("tool without name", chat(`,"tools":[{"type":"function","function":{"parameters":{}}}]`), ""),
		invalidChat("looping tool schema", chat(`,"tools":[{"type":"function","function":{"name":"f","parameters":`+loopSchema+`}}]`), "tools[0].function.parameters"),
		invalidChat("tool parameters is a string", chat(`,"tools":[{"type":"function","function":{"name":"f","parameters":"x"}}]`), "tools[0].function.parameters"),
		invalidChat("html data URL as image", chatMsgs(`[{"role":"user","content":[{"type":"text","text":"look"},{"type":"image_url","image_url":{"url":"`+htmlDataURL+`"}}]}]`), ""),
		invalidChat("bad base64 image", chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,!!!not-base64!!!"}}]}]`), ""),
		invalidChat("data URL without comma", chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64"}}]}]`), ""),
		invalidChat("javascript URL as image", chatMsgs(`[{"role":"user","content":[{"type":"image_url","image_url":{"url":"javascript:alert(1)"}}]}]`), ""),
		invalidChat("unknown content part type", chatMsgs(`[{"role":"user","content":[{"type":"hologram","hologram":{}}]}]`), ""),
		invalidChat("tool message without tool_call_id", chatMsgs(`[{"role":"user","content":"hi"},{"role":"tool","content":"42"}]`), ""),
		invalidChat("response_format unknown type", chat(`,"response_format":{"type":"yaml"}`), "response_format.type"),

		// ---- messages (Anthropic) ----
		invalidMessages("empty body", ""),
		invalidMessages("null body", "null"),
		invalidMessages("trailing garbage", messages("")+"}"),
		invalidMessages("invalid UTF-8", `{"model":"claude-sonnet-4-5","max_tokens":64,"messages":[{"role":"user","content":"`+"\xff"+`"}]}`),
		invalidMessages("100k nested arrays", deepArrays),
		invalidMessages("missing max_tokens", `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("max_tokens -1", `{"model":"claude-sonnet-4-5","max_tokens":-1,"messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("max_tokens is a string", `{"model":"claude-sonnet-4-5","max_tokens":"64","messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("missing messages", `{"model":"claude-sonnet-4-5","max_tokens":64}`),
		invalidMessages("empty messages", messagesMsgs(`[]`)),
		// No user message: Genspark refuses such an ask with an error the
		// pool would take for the account's fault (three rows in a row
		// would rest both accounts and fail the next probe).
		invalidMessages("system-only conversation", messagesMsgs(`[{"role":"system","content":"hi"}]`)),
		invalidMessages("assistant-only conversation", messagesMsgs(`[{"role":"assistant","content":"hi"}]`)),
		invalidChat("system-only conversation", chatMsgs(`[{"role":"system","content":"be brief"}]`), "messages"),
		invalidChat("assistant-only conversation", chatMsgs(`[{"role":"assistant","content":"hi"}]`), "messages"),
		invalidMessages("content is a number", messagesMsgs(`[{"role":"user","content":5}]`)),
		invalidMessages("temperature -5", messages(`,"temperature":-5`)),
		invalidMessages("temperature 2", messages(`,"temperature":2`)),
		invalidMessages("stream with temperature -5", messages(`,"stream":true,"temperature":-5`)),
		invalidMessages("metadata.user_id of 1 MB", messages(`,"metadata":{"user_id":"`+strings.Repeat("u", 1<<20)+`"}`)),
		invalidMessages("top_p 1.5", messages(`,"top_p":1.5`)),
		invalidMessages("top_k -1", messages(`,"top_k":-1`)),
		invalidMessages("negative thinking budget", `{"model":"claude-sonnet-4-5","max_tokens":4096,"thinking":{"type":"enabled","budget_tokens":-10},"messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("thinking budget not below max_tokens", `{"model":"claude-sonnet-4-5","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":3000},"messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("tool_result without tool_use", messagesMsgs(`[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_missing","content":"42"}]}]`)),
		invalidMessages("html data as image", messagesMsgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"text/html","data":"PGh0bWw+"}}]}]`)),
		invalidMessages("bad base64 image", messagesMsgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"!!!"}}]}]`)),
		invalidMessages("looping tool schema", messages(`,"tools":[{"name":"f","input_schema":`+loopSchema+`}]`)),
		invalidMessages("4 MB model name", `{"model":"`+huge+`","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`),
		invalidMessages("stop_sequences is a string", messages(`,"stop_sequences":"END"`)),
		invalidMessages("1 MB stop sequence", messages(`,"stop_sequences":["`+mb+`"]`)),
		invalidMessages("1 MB tool name", messages(`,"tools":[{"name":"`+mb+`","input_schema":{"type":"object"}}]`)),
		invalidMessages("257-byte model name", `{"model":"`+strings.Repeat("m", 257)+`","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`),

		// ---- count_tokens ----
		ant(badRow{name: "count_tokens/no messages", path: countPath, body: `{"model":"claude-sonnet-4-5"}`, status: 400, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/empty messages", path: countPath, body: `{"model":"claude-sonnet-4-5","messages":[]}`, status: 400, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/null body", path: countPath, body: "null", status: 400, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/trailing data", path: countPath, body: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}]}x`, status: 400, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/tool_result without tool_use", path: countPath, body: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"1"}]}]}`, status: 400, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/GET", method: "GET", path: countPath, status: 405, typ: "invalid_request_error"}),
		ant(badRow{name: "count_tokens/33 MB body", path: countPath, body: `{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"` + pad33 + `"}]}`, status: 413, typ: "request_too_large"}),

		// ---- responses ----
		invalidResp("null body", "null", nullParam),
		invalidResp("trailing data", resp("")+"[]", nullParam),
		invalidResp("100k nested arrays in input", `{"model":"gpt-5.2","input":`+deepArrays+`}`, nullParam),
		invalidResp("input is a number", `{"model":"gpt-5.2","input":5}`, "input"),
		invalidResp("temperature -5", resp(`,"temperature":-5`), "temperature"),
		invalidResp("top_p 2", resp(`,"top_p":2`), "top_p"),
		invalidResp("stream with temperature -5", resp(`,"stream":true,"temperature":-5`), "temperature"),
		invalidResp("max_output_tokens -1", resp(`,"max_output_tokens":-1`), "max_output_tokens"),
		invalidResp("4 MB model name", `{"model":"`+huge+`","input":"hi"}`, "model"),
		invalidResp("unknown previous_response_id", resp(`,"previous_response_id":"resp_does_not_exist"`), "previous_response_id"),
		invalidResp("looping tool schema", resp(`,"tools":[{"type":"function","name":"f","parameters":`+loopSchema+`}]`), "tools[0].parameters"),
		invalidResp("html data URL as image", `{"model":"gpt-5.2","input":[{"role":"user","content":[{"type":"input_image","image_url":"`+htmlDataURL+`"}]}]}`, ""),
		invalidResp("metadata value of 1 MB", resp(`,"metadata":{"k":"`+mb+`"}`), "metadata.k"),
		invalidResp("17 metadata keys", resp(`,"metadata":`+metadata17), "metadata"),
		invalidResp("1 MB user", resp(`,"user":"`+mb+`"`), "user"),
		invalidResp("1 MB previous_response_id", resp(`,"previous_response_id":"`+mb+`"`), "previous_response_id"),
		invalidResp("1 MB tool name", resp(`,"tools":[{"type":"function","name":"`+mb+`","parameters":{"type":"object"}}]`), "tools[0].name"),
		oai(badRow{name: "responses/input_tokens null body", path: respPath + "/input_tokens", body: "null", status: 400}),
		oai(badRow{name: "responses/input_tokens empty body", path: respPath + "/input_tokens", body: "", status: 400}),
		oai(badRow{name: "responses/input_tokens trailing data", path: respPath + "/input_tokens", body: resp("") + " x", status: 400}),
		oai(badRow{name: "responses/input_tokens input is an object", path: respPath + "/input_tokens", body: `{"model":"gpt-5.2","input":{"a":1}}`, status: 400, param: "input"}),
		oai(badRow{name: "responses/GET unknown id", method: "GET", path: respPath + "/resp_nope", status: 404}),
		oai(badRow{name: "responses/DELETE unknown id", method: "DELETE", path: respPath + "/resp_nope", status: 404}),
		oai(badRow{name: "responses/input_items unknown id", method: "GET", path: respPath + "/resp_nope/input_items", status: 404}),
		oai(badRow{name: "responses/input_items of a 4 KB id", method: "GET", path: respPath + "/" + strings.Repeat("r", 4096) + "/input_items", status: 404}),
		oai(badRow{name: "responses/cancel unknown id", path: respPath + "/resp_nope/cancel", body: "{}", status: 404}),
		oai(badRow{name: "responses/compact is not offered", path: respPath + "/compact", body: "null", status: 404}),
		oai(badRow{name: "responses/GET starting_after negative", method: "GET", path: respPath + "/resp_nope?stream=true&starting_after=-5", status: 404}),
		// {resp} is a stored response the test creates first.
		oai(badRow{name: "responses/input_items limit -1", method: "GET", path: respPath + "/{resp}/input_items?limit=-1", status: 400, param: "limit"}),
		oai(badRow{name: "responses/input_items limit abc", method: "GET", path: respPath + "/{resp}/input_items?limit=abc", status: 400, param: "limit"}),
		oai(badRow{name: "responses/input_items order sideways", method: "GET", path: respPath + "/{resp}/input_items?order=sideways", status: 400, param: "order"}),
		oai(badRow{name: "responses/replay starting_after -5", method: "GET", path: respPath + "/{resp}?stream=true&starting_after=-5", status: 400, param: "starting_after"}),
		oai(badRow{name: "responses/replay starting_after past int64", method: "GET", path: respPath + "/{resp}?stream=true&starting_after=99999999999999999999", status: 400, param: "starting_after"}),
		oai(badRow{name: "responses/cancel a completed response", path: respPath + "/{resp}/cancel", body: "null", status: 400}),

		// ---- models ----
		oai(badRow{name: "models/unknown model", method: "GET", path: "/v1/models/no-such-model", status: 404, code: "model_not_found"}),
		ant(badRow{name: "models/unknown model, Anthropic client", method: "GET", path: "/v1/models/no-such-model", status: 404, typ: "not_found_error"}),
		{name: "models/list with a garbage query", method: "GET", path: "/v1/models?limit=-1&after=%ff", status: 200},

		// ---- images ----
		oai(badRow{name: "images/unknown model", path: imagesPath, body: `{"model":"no-such-image-model","prompt":"p"}`, status: 400, param: "model"}),
		oai(badRow{name: "images/chat model", path: imagesPath, body: `{"model":"gpt-5.2","prompt":"p"}`, status: 400, param: "model"}),
		oai(badRow{name: "images/4 MB model name", path: imagesPath, body: `{"model":"` + huge + `","prompt":"p"}`, status: 413, code: "request_too_large"}),
		oai(badRow{name: "images/257-byte model name", path: imagesPath, body: `{"model":"` + strings.Repeat("m", 257) + `","prompt":"p"}`, status: 400, param: "model"}),
		oai(badRow{name: "images/missing prompt", path: imagesPath, body: `{"model":"gpt-image-1"}`, status: 400, param: "prompt"}),
		oai(badRow{name: "images/prompt is a number", path: imagesPath, body: `{"model":"gpt-image-1","prompt":5}`, status: 400, param: "prompt"}),
		oai(badRow{name: "images/n is 1000", path: imagesPath, body: `{"model":"gpt-image-1","prompt":"p","n":1000}`, status: 400, param: "n"}),
		oai(badRow{name: "images/n is -1", path: imagesPath, body: `{"model":"gpt-image-1","prompt":"p","n":-1}`, status: 400, param: "n"}),
		oai(badRow{name: "images/unknown response_format", path: imagesPath, body: `{"model":"gpt-image-1","prompt":"p","response_format":"gif"}`, status: 400, param: "response_format"}),
		oai(badRow{name: "images/500 KB style", path: imagesPath, body: `{"model":"gpt-image-1","prompt":"p","style":"` + mb[:500000] + `"}`, status: 400, param: "style"}),
		oai(badRow{name: "images/null body", path: imagesPath, body: "null", status: 400}),
		oai(badRow{name: "images/trailing data", path: imagesPath, body: `{"model":"gpt-image-1","prompt":"p"} {}`, status: 400}),
		oai(badRow{name: "images/form body", path: imagesPath, body: "prompt=p", ct: "application/x-www-form-urlencoded", status: 400}),
		oai(badRow{name: "edits/JSON body", path: editsPath, body: `{"prompt":"p"}`, status: 400}),
		oai(badRow{name: "edits/multipart without boundary", path: editsPath, body: editOK.body, ct: "multipart/form-data", status: 400}),
		oai(badRow{name: "edits/wrong boundary", path: editsPath, body: editOK.body, ct: "multipart/form-data; boundary=nope", status: 400}),
		oai(badRow{name: "edits/truncated multipart", path: editsPath, body: truncated(editOK).body, ct: editOK.ct, status: 400}),
		oai(badRow{name: "edits/50 images", path: editsPath, body: tooManyImages.body, ct: tooManyImages.ct, status: 400, param: "image"}),
		oai(badRow{name: "edits/HTML as the image", path: editsPath, body: editHTML.body, ct: editHTML.ct, status: 400, param: "image"}),
		oai(badRow{name: "edits/no image", path: editsPath, body: editNoImage.body, ct: editNoImage.ct, status: 400, param: "image"}),
		oai(badRow{name: "edits/10 KB file name", path: editsPath, body: editLongName.body, ct: editLongName.ct, status: 400, param: "image"}),
		oai(badRow{name: "edits/invalid UTF-8 prompt", path: editsPath, body: editBadUTF8.body, ct: editBadUTF8.ct, status: 400, param: "prompt"}),
		oai(badRow{name: "edits/unknown model", path: editsPath, body: editBadModel.body, ct: editBadModel.ct, status: 400, param: "model"}),

		// ---- videos ----
		oai(badRow{name: "videos/unknown model", path: videosPath, body: `{"model":"no-such-video-model","prompt":"p"}`, status: 400, param: "model"}),
		oai(badRow{name: "videos/image model", path: videosPath, body: `{"model":"gpt-image-1","prompt":"p"}`, status: 400, param: "model"}),
		oai(badRow{name: "videos/missing prompt", path: videosPath, body: `{"model":"sora-2"}`, status: 400, param: "prompt"}),
		oai(badRow{name: "videos/html data URL as image", path: videosPath, body: `{"model":"sora-2","prompt":"p","image":"` + htmlDataURL + `"}`, status: 400, param: "image"}),
		oai(badRow{name: "videos/bad base64 image", path: videosPath, body: `{"model":"sora-2","prompt":"p","image":"data:image/png;base64,%%%"}`, status: 400, param: "image"}),
		oai(badRow{name: "videos/null body", path: videosPath, body: "null", status: 400}),

		// ---- embeddings ----
		oai(badRow{name: "embeddings/missing input", path: embedPath, body: `{"model":"text-embedding-3-small"}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/input is an object", path: embedPath, body: `{"model":"text-embedding-3-small","input":{"a":1}}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/2049 inputs", path: embedPath, body: `{"model":"text-embedding-3-small","input":` + manyInputs + `}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/empty string", path: embedPath, body: `{"model":"text-embedding-3-small","input":""}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/null item", path: embedPath, body: `{"model":"text-embedding-3-small","input":[null]}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/null among token arrays", path: embedPath, body: `{"model":"text-embedding-3-small","input":[[1,2],null]}`, status: 400, param: "input"}),
		oai(badRow{name: "embeddings/dimensions -1", path: embedPath, body: `{"model":"text-embedding-3-small","input":"x","dimensions":-1}`, status: 400, param: "dimensions"}),
		oai(badRow{name: "embeddings/encoding_format hex", path: embedPath, body: `{"model":"text-embedding-3-small","input":"x","encoding_format":"hex"}`, status: 400, param: "encoding_format"}),
		oai(badRow{name: "embeddings/4 MB model name", path: embedPath, body: `{"model":"` + huge + `","input":"x"}`, status: 400, param: "model"}),
		oai(badRow{name: "embeddings/null body", path: embedPath, body: "null", status: 400}),
		oai(badRow{name: "embeddings/trailing data", path: embedPath, body: `{"model":"text-embedding-3-small","input":"x"}]`, status: 400}),
		oai(badRow{name: "embeddings/invalid UTF-8", path: embedPath, body: `{"model":"text-embedding-3-small","input":"` + "\xff" + `"}`, status: 400}),

		// ---- moderations ----
		oai(badRow{name: "moderations/missing input", path: modPath, body: `{}`, status: 400, param: "input"}),
		oai(badRow{name: "moderations/input is a number", path: modPath, body: `{"input":5}`, status: 400, param: "input"}),
		oai(badRow{name: "moderations/html data URL as image", path: modPath, body: `{"input":[{"type":"image_url","image_url":{"url":"` + htmlDataURL + `"}}]}`, status: 400}),
		oai(badRow{name: "moderations/100 inputs", path: modPath, body: `{"input":` + stops(100) + `}`, status: 400, param: "input"}),
		oai(badRow{name: "moderations/null body", path: modPath, body: "null", status: 400}),
		oai(badRow{name: "moderations/100k nested arrays", path: modPath, body: `{"input":` + deepArrays + `}`, status: 400}),

		// ---- audio ----
		oai(badRow{name: "transcriptions/JSON body", path: transPath, body: `{"model":"whisper-1"}`, status: 400}),
		oai(badRow{name: "transcriptions/no boundary", path: transPath, body: audioOK.body, ct: "multipart/form-data", status: 400}),
		oai(badRow{name: "transcriptions/truncated multipart", path: transPath, body: truncated(audioOK).body, ct: audioOK.ct, status: 400}),
		oai(badRow{name: "transcriptions/20000 parts", path: transPath, body: manyParts.body, ct: manyParts.ct, status: 400}),
		oai(badRow{name: "transcriptions/no file", path: transPath, body: audioNoFile.body, ct: audioNoFile.ct, status: 400, param: "file"}),
		oai(badRow{name: "transcriptions/empty file", path: transPath, body: audioEmpty.body, ct: audioEmpty.ct, status: 400, param: "file"}),
		oai(badRow{name: "transcriptions/temperature 5", path: transPath, body: audioTemp.body, ct: audioTemp.ct, status: 400, param: "temperature"}),
		oai(badRow{name: "transcriptions/10 KB file name", path: transPath, body: audioLongName.body, ct: audioLongName.ct, status: 400, param: "file"}),
		oai(badRow{name: "transcriptions/200 KB part header", path: transPath, body: audioHugeHeader.body, ct: audioHugeHeader.ct, status: 400}),
		oai(badRow{name: "translations/no file", path: translPath, body: audioNoFile.body, ct: audioNoFile.ct, status: 400, param: "file"}),
		oai(badRow{name: "translations/truncated multipart", path: translPath, body: truncated(audioOK).body, ct: audioOK.ct, status: 400}),
		oai(badRow{name: "speech/unsupported", path: speechPath, body: `{"model":"tts-1","input":"hi","voice":"alloy"}`, status: 501, typ: "invalid_request_error"}),
		oai(badRow{name: "speech/null body", path: speechPath, body: "null", status: 501, typ: "invalid_request_error"}),
	}
	return rows
}

// wantAllow asserts the Allow header of a 405 lists method.
func wantAllow(method string) func(t *testing.T, resp *http.Response, body []byte) {
	return func(t *testing.T, resp *http.Response, _ []byte) {
		t.Helper()
		if !strings.Contains(resp.Header.Get("Allow"), method) {
			t.Errorf("Allow = %q, want it to list %s", resp.Header.Get("Allow"), method)
		}
	}
}

func TestBadInputMatrix(t *testing.T) {
	h := start(t, nil)
	rows := badInputRows()
	if len(rows) < 120 {
		t.Fatalf("the matrix has %d rows, want at least 120", len(rows))
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	created, body := h.post(respPath, testKey, resp(""))
	var stored struct{ ID string }
	if err := json.Unmarshal([]byte(body), &stored); created.StatusCode != http.StatusOK || err != nil || stored.ID == "" {
		t.Fatalf("creating a stored response: %d %s", created.StatusCode, clipBody(body))
	}
	before := runtime.NumGoroutine()
	seen := map[string]bool{}
	for _, row := range rows {
		if seen[row.name] {
			t.Fatalf("duplicate row name %q", row.name)
		}
		seen[row.name] = true
		row.path = strings.ReplaceAll(row.path, "{resp}", stored.ID)
		t.Run(row.name, func(t *testing.T) {
			upstreamBefore := len(h.sim.Requests.Entries())
			resp, body := h.sendBad(t, client, row)
			t.Logf("answer: %d %s", resp.StatusCode, clipBody(string(body)))
			checkBadAnswer(t, row, resp, body)
			if n := len(h.sim.Requests.Entries()); !row.upstream && n != upstreamBefore {
				t.Errorf("a refused request reached the upstream (%d calls)", n-upstreamBefore)
			}
			// The gateway still serves.
			if r, b := h.post(chatPath, testKey, chat("")); r.StatusCode != http.StatusOK {
				t.Fatalf("after the row a valid chat request got %d %s", r.StatusCode, clipBody(b))
			}
		})
	}
	client.CloseIdleConnections()
	http.DefaultClient.CloseIdleConnections()
	testutil.SettleGoroutines(t, before+2)
}

// TestBadInputRoutePrefix: with ROUTE_PREFIX set, paths outside the prefix,
// look-alikes of it and dot segments through it neither reach a route nor
// skip authentication. Row paths are from the server's root here.
func TestBadInputRoutePrefix(t *testing.T) {
	h := start(t, func(c *config.Config) { c.RoutePrefix = "/hf" })
	root := *h
	root.url = strings.TrimSuffix(h.url, "/hf")
	rows := []badRow{
		{name: "key needed under the prefix", method: "GET", path: "/hf/v1/models", noKey: true, status: 401, dialect: openAIEnvelope, code: "invalid_api_key"},
		{name: "served under the prefix", method: "GET", path: "/hf/v1/models", status: 200},
		{name: "outside the prefix", method: "GET", path: "/v1/models", status: 404, dialect: openAIEnvelope, typ: "invalid_request_error"},
		{name: "prefix without its slash", method: "GET", path: "/hfv1/models", status: 404, dialect: openAIEnvelope},
		{name: "prefix in another case", method: "GET", path: "/HF/v1/models", status: 404, dialect: openAIEnvelope},
		{name: "prefix twice", method: "GET", path: "/hf/hf/v1/models", status: 404, dialect: openAIEnvelope},
		{name: "dot segments out of the prefix", method: "GET", path: "/hf/../v1/models", noKey: true, status: 307, location: "/hf/v1/models"},
		{name: "dot segments out of the public proxy", method: "GET", path: "/hf/v1/images/proxy/../../v1/models", noKey: true, status: 307, location: "/hf/v1/v1/models"},
		{name: "public proxy outside the prefix", method: "GET", path: "/v1/images/proxy", noKey: true, status: 404, dialect: openAIEnvelope},
		{name: "unknown route, Anthropic client", method: "GET", path: "/hf/v1/nope", header: anthropicHeaders, status: 404, dialect: anthropicEnvelope, typ: "not_found_error"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	defer client.CloseIdleConnections()
	for _, row := range rows {
		t.Run(row.name, func(t *testing.T) {
			resp, body := root.sendBad(t, client, row)
			t.Logf("answer: %d %s", resp.StatusCode, clipBody(string(body)))
			checkBadAnswer(t, row, resp, body)
		})
	}
}

// sendBad sends row to the gateway and returns the answer and its body.
func (h *harness) sendBad(t *testing.T, client *http.Client, row badRow) (*http.Response, []byte) {
	t.Helper()
	if row.raw != "" {
		return h.sendRaw(t, row)
	}
	method := row.method
	if method == "" {
		method = http.MethodPost
	}
	var body io.Reader
	if row.body != "" {
		body = strings.NewReader(row.body)
	}
	req, err := http.NewRequest(method, h.url+row.path, body)
	if err != nil {
		t.Fatal(err)
	}
	if row.body != "" {
		ct := row.ct
		if ct == "" {
			ct = "application/json"
		}
		req.Header.Set("Content-Type", ct)
	}
	if !row.noKey {
		req.Header.Set("Authorization", "Bearer "+testKey)
	}
	for k, v := range row.header {
		req.Header.Set(k, v)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("request failed: %v", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	return resp, b
}

// sendRaw writes row.raw over a TCP connection and reads one response. The
// connection deadline only keeps a broken gateway from hanging the test.
func (h *harness) sendRaw(t *testing.T, row badRow) (*http.Response, []byte) {
	t.Helper()
	u, err := url.Parse(h.url)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", u.Host)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, strings.ReplaceAll(row.raw, "{host}", u.Host)); err != nil {
		t.Fatal(err)
	}
	if row.closeWrite {
		_ = conn.(*net.TCPConn).CloseWrite()
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	return resp, b
}

// checkBadAnswer asserts the status, envelope, type, param and code of an
// answer, and that it echoes nothing unbounded.
func checkBadAnswer(t *testing.T, row badRow, resp *http.Response, body []byte) {
	t.Helper()
	if resp.StatusCode != row.status {
		t.Errorf("status %d, want %d; body %s", resp.StatusCode, row.status, clipBody(string(body)))
	}
	if row.location != "" {
		if loc := resp.Header.Get("Location"); loc != row.location && !strings.HasPrefix(loc, row.location+"?") {
			t.Errorf("Location %q, want %q", loc, row.location)
		}
	}
	if row.check != nil {
		row.check(t, resp, body)
	}
	if row.dialect == noEnvelope || resp.StatusCode < 400 {
		return // a success where an error was due is reported above
	}
	if len(body) > maxErrorBody {
		t.Errorf("error body of %d bytes: something the client sent is echoed unbounded", len(body))
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want application/json; body %s", ct, clipBody(string(body)))
	}
	if !utf8.Valid(body) {
		t.Errorf("the error body is not valid UTF-8")
	}
	switch row.dialect {
	case openAIEnvelope:
		checkOpenAIEnvelope(t, row, body)
	case anthropicEnvelope:
		checkAnthropicEnvelope(t, row, body)
	}
}

func checkOpenAIEnvelope(t *testing.T, row badRow, body []byte) {
	t.Helper()
	var env struct {
		Error map[string]json.RawMessage `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error == nil {
		t.Errorf("not an OpenAI error envelope: %v; body %s", err, clipBody(string(body)))
		return
	}
	fields := map[string]string{}
	for _, k := range []string{"message", "type", "param", "code"} {
		raw, ok := env.Error[k]
		if !ok {
			t.Errorf("error.%s is missing; body %s", k, clipBody(string(body)))
			continue
		}
		var s *string
		if err := json.Unmarshal(raw, &s); err != nil {
			t.Errorf("error.%s is %s, want a string or null", k, raw)
			continue
		}
		if s == nil {
			fields[k] = nullParam
		} else {
			fields[k] = *s
		}
	}
	if m := fields["message"]; m == "" || m == nullParam {
		t.Errorf("error.message is empty")
	}
	if row.typ != "" && fields["type"] != row.typ {
		t.Errorf("error.type %q, want %q; message %q", fields["type"], row.typ, fields["message"])
	}
	if row.param != "" && fields["param"] != row.param {
		t.Errorf("error.param %q, want %q; message %q", fields["param"], row.param, fields["message"])
	}
	if row.code != "" && fields["code"] != row.code {
		t.Errorf("error.code %q, want %q; message %q", fields["code"], row.code, fields["message"])
	}
}

func checkAnthropicEnvelope(t *testing.T, row badRow, body []byte) {
	t.Helper()
	var env struct {
		Type  *string `json:"type"`
		Error *struct {
			Type    *string `json:"type"`
			Message *string `json:"message"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Type == nil || *env.Type != "error" ||
		env.Error == nil || env.Error.Type == nil || env.Error.Message == nil || *env.Error.Message == "" {
		t.Errorf("not an Anthropic error envelope: %v; body %s", err, clipBody(string(body)))
		return
	}
	if row.typ != "" && *env.Error.Type != row.typ {
		t.Errorf("error.type %q, want %q; message %q", *env.Error.Type, row.typ, *env.Error.Message)
	}
}

func clipBody(s string) string {
	if len(s) > 300 {
		return s[:300] + fmt.Sprintf("... (%d bytes)", len(s))
	}
	return s
}

// fuzzEndpoints are the JSON endpoints FuzzBadInput posts to.
var fuzzEndpoints = []string{chatPath, messagesPath, countPath, respPath, respPath + "/input_tokens", imagesPath, videosPath, embedPath, modPath}

// FuzzBadInput posts arbitrary bodies to every JSON endpoint of a whole
// gateway in front of the simulators, seeded with the matrix's JSON rows:
// each answer is a success or an error in the route's envelope (never a
// 500), it comes back at all (the client's timeout only guards against a
// request pinning a core forever), and the gateway still serves. The
// decoders' own fuzzers (wire, schema, the Anthropic request) bound their
// work step by step; this one bounds the whole path a body takes.
func FuzzBadInput(f *testing.F) {
	for _, row := range badInputRows() {
		if row.raw != "" || row.ct != "" || (row.method != "" && row.method != http.MethodPost) || len(row.body) > 2<<10 { // small seeds: the fuzzer minimizes each new input
			continue
		}
		for i, p := range fuzzEndpoints {
			if p == row.path {
				f.Add(uint8(i), row.body)
			}
		}
	}
	h := start(f, nil)
	client := &http.Client{Timeout: 15 * time.Second}
	f.Cleanup(client.CloseIdleConnections)
	f.Fuzz(func(t *testing.T, endpoint uint8, body string) {
		path := fuzzEndpoints[int(endpoint)%len(fuzzEndpoints)]
		want := openAIEnvelope
		if strings.HasPrefix(path, messagesPath) {
			want = anthropicEnvelope
		}
		resp, b := h.sendBad(t, client, badRow{path: path, body: body})
		if resp.StatusCode == http.StatusInternalServerError {
			t.Fatalf("500: %s", clipBody(string(b)))
		}
		if resp.StatusCode >= 400 {
			checkBadAnswer(t, badRow{status: resp.StatusCode, dialect: want}, resp, b)
		}
		if r, b := h.sendBad(t, client, badRow{path: chatPath, body: chat("")}); r.StatusCode != http.StatusOK {
			t.Fatalf("after the input a valid chat request got %d %s", r.StatusCode, clipBody(string(b)))
		}
	})
}
