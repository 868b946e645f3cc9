package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// curlLine is a printed curl command, parsed.
type curlLine struct {
	url     string
	headers [][2]string
	data    string
	form    [][2]string
}

// parseCurl reads the curl lines the demo prints: single-quoted arguments,
// -H, -d and -F flags.
func parseCurl(t *testing.T, line string) curlLine {
	t.Helper()
	var args []string
	for rest := strings.TrimSpace(line); rest != ""; rest = strings.TrimSpace(rest) {
		if rest[0] == '\'' {
			end := strings.IndexByte(rest[1:], '\'')
			if end < 0 {
				t.Fatalf("unbalanced quote in %q", line)
			}
			args, rest = append(args, rest[1:end+1]), rest[end+2:]
			continue
		}
		tok, after, _ := strings.Cut(rest, " ")
		args, rest = append(args, tok), after
	}
	if len(args) < 3 || args[0] != "curl" || !strings.HasPrefix(args[1], "-sS") {
		t.Fatalf("not a curl line: %q", line)
	}
	c := curlLine{url: args[2]}
	for i := 3; i+1 < len(args); i += 2 {
		switch args[i] {
		case "-H":
			k, v, _ := strings.Cut(args[i+1], ": ")
			c.headers = append(c.headers, [2]string{k, v})
		case "-d":
			c.data = args[i+1]
		case "-F":
			k, v, _ := strings.Cut(args[i+1], "=")
			c.form = append(c.form, [2]string{k, v})
		default:
			t.Fatalf("unknown curl flag %q in %q", args[i], line)
		}
	}
	return c
}

// do sends the request a curl line describes.
func (c curlLine) do(t *testing.T, ctx context.Context) (*http.Response, []byte) {
	t.Helper()
	method, body, ctype := http.MethodGet, io.Reader(nil), ""
	switch {
	case c.data != "":
		method, body = http.MethodPost, strings.NewReader(c.data)
	case len(c.form) > 0:
		var buf bytes.Buffer
		mw := multipart.NewWriter(&buf)
		for _, f := range c.form {
			if path, ok := strings.CutPrefix(f[1], "@"); ok {
				data, err := os.ReadFile(path)
				if err != nil {
					t.Fatalf("curl file: %v", err)
				}
				fw, _ := mw.CreateFormFile(f[0], path)
				fw.Write(data)
				continue
			}
			mw.WriteField(f[0], f[1])
		}
		mw.Close()
		method, body, ctype = http.MethodPost, &buf, mw.FormDataContentType()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.url, body)
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range c.headers {
		req.Header.Set(h[0], h[1])
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s: %v", c.url, err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	return resp, raw
}

// simUpstreams returns the upstreams the simulator heard from since the
// last call (its log is emptied).
func simUpstreams(t *testing.T, simURL string) map[string]int {
	t.Helper()
	resp, err := http.Get(simURL + "/_sim/requests")
	if err != nil {
		t.Fatal(err)
	}
	var log struct {
		Requests []struct{ Upstream string } `json:"requests"`
	}
	err = json.NewDecoder(resp.Body).Decode(&log)
	resp.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodDelete, simURL+"/_sim/requests", nil)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	out := map[string]int{}
	for _, r := range log.Requests {
		out[r.Upstream]++
	}
	return out
}

// TestDemoCurlLinesWork runs `spark demo`, reads every curl line it prints
// and runs each (parsed, not shelled out): every endpoint family answers
// 200 with a sensible body, offline, and each provider's chat model is
// answered by that provider's simulator.
func TestDemoCurlLinesWork(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"demo", "--port", "0", "--delay", "0"}, pw, io.Discard)
		pw.Close()
	}()
	deadline := time.AfterFunc(60*time.Second, func() { pw.CloseWithError(io.ErrUnexpectedEOF) })
	defer deadline.Stop()

	var out strings.Builder
	var simURL, family, dashboard string
	type printed struct{ family, line string }
	var lines []printed
	sc := bufio.NewScanner(pr)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		out.WriteString(line + "\n")
		switch {
		case strings.HasPrefix(line, "simulator:"):
			simURL = strings.Fields(line)[1]
		case strings.HasPrefix(line, "dashboard:"):
			dashboard = line
		case strings.HasPrefix(line, "# "):
			family = strings.TrimPrefix(line, "# ")
		case strings.HasPrefix(line, "curl "):
			lines = append(lines, printed{family, line})
		}
		if strings.Contains(line, "/v1/models ") || strings.HasSuffix(line, "/v1/models") {
			break
		}
	}
	go io.Copy(io.Discard, pr)
	if simURL == "" || len(lines) == 0 {
		t.Fatalf("demo printed no simulator or no curl line:\n%s", out.String())
	}

	// The dashboard line's credentials sign in.
	var base, email, password string
	if _, err := fmt.Sscanf(dashboard, "dashboard: %s (sign in as %s password %s", &base, &email, &password); err != nil {
		t.Fatalf("dashboard line %q: %v", dashboard, err)
	}
	email, password = strings.TrimSuffix(email, ","), strings.TrimSuffix(password, ")")
	login, _ := json.Marshal(map[string]string{"email": email, "password": password})
	req, _ := http.NewRequestWithContext(ctx, "POST", strings.TrimSuffix(base, "/")+"/auth/login", bytes.NewReader(login))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("signing in with the dashboard line's credentials: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}

	seen := map[string]bool{}
	for _, p := range lines {
		seen[p.family] = true
	}
	for _, want := range []string{"chat on Genspark", "chat on Gemini web", "chat, streamed", "responses", "messages (Anthropic)",
		"structured output", "moderations", "generateContent (Gemini API)", "images on Genspark", "images on Gemini web", "videos", "embeddings (Google AI)", "audio transcription", "files (upload)", "models"} {
		if !seen[want] {
			t.Errorf("demo printed no %q line:\n%s", want, out.String())
		}
	}

	simUpstreams(t, simURL) // forget the start-up traffic
	for _, p := range lines {
		t.Run(p.family, func(t *testing.T) {
			c := parseCurl(t, p.line)
			resp, raw := c.do(t, ctx)
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("%s answered %d: %s", p.line, resp.StatusCode, raw)
			}
			ups := simUpstreams(t, simURL)
			var body map[string]any
			if !strings.HasPrefix(p.family, "chat, streamed") {
				if err := json.Unmarshal(raw, &body); err != nil {
					t.Fatalf("not JSON: %s", raw)
				}
			}
			text := string(raw)
			switch p.family {
			case "chat on Genspark", "chat on Gemini web":
				if !strings.Contains(text, "Hello from the demo") || !strings.Contains(text, "reasoning_content") {
					t.Errorf("answer lacks the echo or the reasoning: %s", raw)
				}
				want, other := "genspark", "gemini"
				if p.family == "chat on Gemini web" {
					want, other = other, want
				}
				if ups[want] == 0 || ups[other] != 0 {
					t.Errorf("answered by %v, want the %s simulator", ups, want)
				}
			case "chat, streamed":
				var content strings.Builder
				for line := range strings.SplitSeq(text, "\n") {
					payload, ok := strings.CutPrefix(line, "data: ")
					if !ok || payload == "[DONE]" {
						continue
					}
					var chunk struct {
						Choices []struct {
							Delta struct{ Content string } `json:"delta"`
						} `json:"choices"`
					}
					if err := json.Unmarshal([]byte(payload), &chunk); err != nil {
						t.Fatalf("chunk %q: %v", payload, err)
					}
					for _, c := range chunk.Choices {
						content.WriteString(c.Delta.Content)
					}
				}
				if !strings.HasSuffix(strings.TrimSpace(text), "data: [DONE]") || !strings.Contains(content.String(), "Stream this") {
					t.Errorf("stream (content %q): %s", content.String(), raw)
				}
			case "responses":
				if body["status"] != "completed" || !strings.Contains(text, "Hello from the Responses API") {
					t.Errorf("response: %s", raw)
				}
			case "messages (Anthropic)":
				if body["type"] != "message" || !strings.Contains(text, "Hello from the Messages API") {
					t.Errorf("message: %s", raw)
				}
			case "structured output":
				choices, _ := body["choices"].([]any)
				if len(choices) != 1 {
					t.Fatalf("completion: %s", raw)
				}
				content, _ := choices[0].(map[string]any)["message"].(map[string]any)["content"].(string)
				var person struct {
					Name string `json:"name"`
					Age  int    `json:"age"`
				}
				if err := json.Unmarshal([]byte(content), &person); err != nil || person.Name != "Ada Lovelace" || person.Age != 36 {
					t.Errorf("content is not the person as JSON (%v): %q", err, content)
				}
			case "moderations":
				results, _ := body["results"].([]any)
				if len(results) != 1 {
					t.Fatalf("moderation: %s", raw)
				}
				scores, _ := results[0].(map[string]any)["category_scores"].(map[string]any)
				if len(scores) != 13 || ups["genspark"]+ups["gemini"] == 0 {
					t.Errorf("moderation (upstreams %v): %s", ups, raw)
				}
			case "generateContent (Gemini API)":
				var gc struct {
					Candidates []struct {
						Content struct {
							Role  string
							Parts []struct{ Text string }
						}
						FinishReason string
					}
				}
				_ = json.Unmarshal(raw, &gc)
				if len(gc.Candidates) != 1 || gc.Candidates[0].Content.Role != "model" || gc.Candidates[0].FinishReason != "STOP" ||
					len(gc.Candidates[0].Content.Parts) == 0 || !strings.Contains(gc.Candidates[0].Content.Parts[0].Text, "Hello from the Gemini API") {
					t.Errorf("generateContent: %s", raw)
				}
			case "images on Genspark", "images on Gemini web", "videos":
				data, _ := body["data"].([]any)
				if len(data) == 0 {
					t.Fatalf("no media: %s", raw)
				}
				u, _ := data[0].(map[string]any)["url"].(string)
				if u == "" {
					t.Fatalf("no media URL: %s", raw)
				}
				mresp, err := http.Get(u)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, mresp.Body)
				mresp.Body.Close()
				ct := mresp.Header.Get("Content-Type")
				if mresp.StatusCode != http.StatusOK || !(strings.HasPrefix(ct, "image/") || strings.HasPrefix(ct, "video/")) {
					t.Errorf("media URL %s: %d %s", u, mresp.StatusCode, ct)
				}
				if p.family == "images on Gemini web" && ups["gemini"] == 0 {
					t.Errorf("Gemini image answered by %v", ups)
				}
			case "embeddings (Google AI)":
				data, _ := body["data"].([]any)
				if len(data) != 2 || ups["googleai"] == 0 {
					t.Errorf("embeddings (upstreams %v): %s", ups, raw)
				}
			case "audio transcription":
				if s, _ := body["text"].(string); s == "" {
					t.Errorf("transcription: %s", raw)
				}
			case "files (upload)":
				if id, _ := body["id"].(string); !strings.HasPrefix(id, "file-") || body["object"] != "file" ||
					body["purpose"] != "user_data" || body["filename"] != "notes.txt" || body["bytes"] == 0.0 {
					t.Errorf("uploaded file: %s", raw)
				}
			case "models":
				if !strings.Contains(text, `"gpt-5.1"`) || !strings.Contains(text, `"gemini-3-flash"`) {
					t.Errorf("models lack a provider's models: %s", raw)
				}
			default:
				t.Errorf("no check for %q", p.family)
			}
		})
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("demo exited with %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("demo did not stop after its context ended")
	}
}
