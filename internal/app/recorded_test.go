package app_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/sparkgw/spark/internal/config"
)

// recorded is a client request captured from a real agent CLI.
type recorded struct {
	Method  string            `json:"method"`
	URL     string            `json:"url"`
	Headers map[string]string `json:"headers"`
	Body    json.RawMessage   `json:"body"`
}

// TestClaudeCodeRecordedRequest replays a captured Claude Code turn (system
// blocks with cache_control, 13 tools, streaming, betas) against spark over
// both upstreams and checks the answer is a complete Anthropic stream.
func TestClaudeCodeRecordedRequest(t *testing.T) {
	raw, err := os.ReadFile("../api/anthropic/testdata/claude-code-2.1.330-interactive-messages-request.json")
	if err != nil {
		t.Fatal(err)
	}
	var rec recorded
	if err := json.Unmarshal(raw, &rec); err != nil {
		t.Fatal(err)
	}
	body := []byte(rec.Body)
	if len(body) > 0 && body[0] == '"' {
		var s string
		_ = json.Unmarshal(body, &s)
		body = []byte(s)
	}
	for _, model := range []string{"claude-sonnet-4-5", "claude-gemini-3-flash"} {
		t.Run(model, func(t *testing.T) {
			h := start(t, func(c *config.Config) { c.GeminiCookie = geminiCookie })
			var req map[string]any
			if err := json.Unmarshal(body, &req); err != nil {
				t.Fatal(err)
			}
			req["model"] = model
			b, _ := json.Marshal(req)
			r, _ := http.NewRequest(rec.Method, h.url+rec.URL, bytes.NewReader(b))
			for k, v := range rec.Headers {
				switch strings.ToLower(k) {
				case "host", "content-length", "x-api-key", "authorization", "accept-encoding", "connection":
					continue
				}
				r.Header.Set(k, v)
			}
			r.Header.Set("x-api-key", testKey)
			resp, err := http.DefaultClient.Do(r)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				msg, _ := io.ReadAll(resp.Body)
				t.Fatalf("%d %s", resp.StatusCode, msg)
			}
			var events []string
			sc := bufio.NewScanner(resp.Body)
			sc.Buffer(make([]byte, 1<<20), 1<<20)
			for sc.Scan() {
				if name, ok := strings.CutPrefix(sc.Text(), "event: "); ok && name != "ping" {
					events = append(events, name)
				}
			}
			if len(events) < 5 || events[0] != "message_start" || events[len(events)-1] != "message_stop" ||
				events[len(events)-2] != "message_delta" || !strings.Contains(strings.Join(events, ","), "content_block_delta") {
				t.Fatalf("event sequence %v", events)
			}
		})
	}
}

// TestTranscriptionOverTheSimulator sends a WAV through the whole path: the
// audio reaches the upstream as an uploaded file.
func TestTranscriptionOverTheSimulator(t *testing.T) {
	h := start(t, nil)
	var wav bytes.Buffer
	pcm := make([]byte, 16000) // 0.5 s of 16 kHz mono 16-bit silence
	wav.WriteString("RIFF")
	binary.Write(&wav, binary.LittleEndian, uint32(36+len(pcm)))
	wav.WriteString("WAVEfmt ")
	binary.Write(&wav, binary.LittleEndian, []any{uint32(16), uint16(1), uint16(1), uint32(16000), uint32(32000), uint16(2), uint16(16)})
	wav.WriteString("data")
	binary.Write(&wav, binary.LittleEndian, uint32(len(pcm)))
	wav.Write(pcm)
	tr, err := h.client.Audio.Transcriptions.New(context.Background(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(wav.Bytes()), "hello.wav", "audio/wav"), Model: openai.AudioModelWhisper1,
	})
	if err != nil {
		t.Fatal(err)
	}
	if strings.TrimSpace(tr.Text) == "" {
		t.Fatal("empty transcript")
	}
	uploads := 0
	for _, e := range h.requests("genspark") {
		if e.Method == http.MethodPut {
			uploads++
		}
	}
	if uploads != 1 || !strings.Contains(h.lastAsk().Body, "private_file") {
		t.Fatalf("%d uploads; the audio did not reach Genspark as a file", uploads)
	}
}

// TestSOCKS5Proxy: PROXY_URL may be a socks5 proxy.
func TestSOCKS5Proxy(t *testing.T) {
	var used atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if target, ok := socks5Handshake(c); ok {
					used.Add(1)
					up, err := net.Dial("tcp", target)
					if err != nil {
						return
					}
					defer up.Close()
					go io.Copy(up, c)
					io.Copy(c, up)
				}
			}()
		}
	}()
	h := start(t, func(c *config.Config) { c.ProxyURL = "socks5://" + ln.Addr().String() })
	if _, err := h.client.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{
		Model: "gpt-5.2", Messages: userMsg("via socks"),
	}); err != nil {
		t.Fatal(err)
	}
	if used.Load() == 0 {
		t.Fatal("the upstream call did not use the SOCKS5 proxy")
	}
}

// socks5Handshake serves the no-auth CONNECT subset of RFC 1928 and returns
// the requested host:port.
func socks5Handshake(c net.Conn) (string, bool) {
	buf := make([]byte, 262)
	if _, err := io.ReadFull(c, buf[:2]); err != nil || buf[0] != 5 {
		return "", false
	}
	if _, err := io.ReadFull(c, buf[:buf[1]]); err != nil {
		return "", false
	}
	c.Write([]byte{5, 0})
	if _, err := io.ReadFull(c, buf[:4]); err != nil || buf[1] != 1 {
		return "", false
	}
	var host string
	switch buf[3] {
	case 1:
		io.ReadFull(c, buf[:4])
		host = net.IP(buf[:4]).String()
	case 3:
		io.ReadFull(c, buf[:1])
		n := int(buf[0])
		io.ReadFull(c, buf[:n])
		host = string(buf[:n])
	default:
		return "", false
	}
	io.ReadFull(c, buf[:2])
	port := binary.BigEndian.Uint16(buf[:2])
	c.Write([]byte{5, 0, 0, 1, 0, 0, 0, 0, 0, 0})
	return net.JoinHostPort(host, strconv.Itoa(int(port))), true
}
