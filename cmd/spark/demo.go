package main

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/app"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/logging"
	"github.com/sparkgw/spark/internal/provider"
	"github.com/sparkgw/spark/internal/simulator"
)

func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", "Start the upstream simulators and a gateway wired to them with demo accounts of\nevery provider (one of each always rate-limited, to show failover) and a simulated\nGoogle AI key. Everything runs offline.", stderr)
	port := fs.Int("port", 7055, "gateway port (0 = any free port)")
	delay := fs.Duration("delay", 30*time.Millisecond, "simulated pause between streamed deltas")
	debug := fs.Bool("debug", false, "debug logging")
	if err := fs.Parse(args); err != nil {
		return err
	}
	d, err := startDemo(ctx, demoOptions{Port: *port, Delay: *delay, Debug: *debug, Log: logging.New(stderr, *debug)})
	if err != nil {
		return err
	}
	defer d.Close()
	fmt.Fprintf(stdout, `spark demo is running (Ctrl-C to stop)

  base URL:   %[1]s/v1
  API key:    %[2]s
  dashboard:  %[1]s/  (sign in as %[4]s, password %[5]s)
  simulator:  %[3]s  (request log: %[3]s/_sim/requests)

Try one request of each kind:

`, d.Base, d.Key, d.SimURL, d.AdminEmail, d.AdminPassword)
	for _, r := range d.Requests {
		fmt.Fprintf(stdout, "  # %s\n  %s\n\n", r.Family, r.Curl(d.Base, d.Key))
	}
	return serveUntilDone(ctx, newHTTPServer(d.App.Handler()), d.ln)
}

// demoOptions configure startDemo.
type demoOptions struct {
	Port  int           // gateway port; 0 = any free port
	Delay time.Duration // simulated pause between streamed deltas
	Debug bool
	Log   *slog.Logger
}

// demo is a running simulator and a gateway wired to it, not yet serving:
// the caller serves App.Handler on ln.
type demo struct {
	App      *app.App
	Base     string // gateway origin, without /v1
	Key      string
	SimURL   string
	Requests []demoRequest
	// AdminEmail and AdminPassword sign in to the dashboard as the
	// built-in admin (a password made up for this run).
	AdminEmail, AdminPassword string

	ln      net.Listener
	simSrv  *http.Server
	dataDir string
}

// startDemo starts the simulators and builds a gateway with every
// provider's demo accounts (provider.Demo) and a simulated Google AI key.
func startDemo(ctx context.Context, o demoOptions) (_ *demo, err error) {
	d := &demo{}
	defer func() {
		if err != nil {
			d.Close()
		}
	}()
	simLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("simulator: %w", err)
	}
	sim := simulator.New(simulator.Options{DeltaDelay: o.Delay, Logger: o.Log})
	d.simSrv = &http.Server{Handler: sim, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = d.simSrv.Serve(simLn) }()
	d.SimURL = "http://" + simLn.Addr().String()

	if d.dataDir, err = os.MkdirTemp("", "spark-demo-"); err != nil {
		return nil, err
	}
	audio := filepath.Join(d.dataDir, "hello.wav")
	if err := os.WriteFile(audio, silentWAV(), 0o600); err != nil {
		return nil, err
	}
	notes := filepath.Join(d.dataDir, "notes.txt")
	if err := os.WriteFile(notes, []byte("Demo notes: spark keeps uploaded files encrypted, per API key.\n"), 0o600); err != nil {
		return nil, err
	}

	d.Key = "sk-demo-" + rand.Text()
	d.AdminEmail, d.AdminPassword = "admin@demo.local", rand.Text()[:16]
	cfg := &config.Config{
		Port: max(o.Port, 1), Host: "127.0.0.1", APISecret: d.Key, DataDir: d.dataDir,
		AdminEmail: d.AdminEmail, AdminPassword: d.AdminPassword, PasswordLogin: true,
		UsageRecords: true, UsageRetentionDays: 90,
		GoogleAIBaseURL:       d.SimURL,
		GoogleAIAPIKey:        "sim-google-key",
		Debug:                 o.Debug,
		RateLimitCookieLock:   600,
		AutoModelChatMapType:  1,
		ToolCallingEnabled:    true,
		PoolStrategy:          "round-robin",
		ImageProxyCookieHosts: "127.0.0.1",
		ImageProxyTTL:         24 * time.Hour,
	}
	plugins := app.Plugins()
	for _, pl := range plugins {
		if pl.Demo.Wire != nil {
			pl.Demo.Wire(cfg, d.SimURL)
		}
	}
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if d.App, err = app.New(ctx, cfg, o.Log); err != nil {
		return nil, err
	}
	if d.ln, err = net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.Port))); err != nil {
		return nil, fmt.Errorf("listen: %w (try --port 0)", err)
	}
	d.Base = "http://" + d.ln.Addr().String()
	d.Requests = demoRequests(plugins, audio, notes)
	return d, nil
}

// Close stops the simulator and removes the demo's data.
func (d *demo) Close() {
	if d.App != nil {
		d.App.Close()
	}
	if d.ln != nil {
		d.ln.Close()
	}
	if d.simSrv != nil {
		d.simSrv.Close()
	}
	if d.dataDir != "" {
		os.RemoveAll(d.dataDir)
	}
}

// demoRequest is one example request of the demo, printed as a curl line.
type demoRequest struct {
	Family string
	Path   string // under the base URL
	// Anthropic sends the key as x-api-key with anthropic-version, as the
	// Anthropic SDKs do.
	Anthropic bool
	// Google sends the key as x-goog-api-key, as Gemini CLI and the
	// google-genai SDKs do.
	Google bool
	// JSON is the request body; when empty, Form is sent as multipart.
	JSON string
	// Form fields; a value starting with @ is a file path.
	Form [][2]string
	// Stream marks a streamed answer (curl -N).
	Stream bool
}

// Curl renders r as a shell command line.
func (r demoRequest) Curl(base, key string) string {
	var b strings.Builder
	b.WriteString("curl -sS")
	if r.Stream {
		b.WriteString("N")
	}
	b.WriteString(" " + base + r.Path)
	switch {
	case r.Anthropic:
		b.WriteString(" -H 'x-api-key: " + key + "' -H 'anthropic-version: 2023-06-01'")
	case r.Google:
		b.WriteString(" -H 'x-goog-api-key: " + key + "'")
	default:
		b.WriteString(" -H 'Authorization: Bearer " + key + "'")
	}
	if r.JSON != "" {
		b.WriteString(" -H 'Content-Type: application/json' -d '" + r.JSON + "'")
	}
	for _, f := range r.Form {
		b.WriteString(" -F '" + f[0] + "=" + f[1] + "'")
	}
	return b.String()
}

// demoRequests lists one request per endpoint family, with a chat request
// for every provider's demo model. audio is a WAV file to transcribe,
// notes a text file to upload to the Files API.
func demoRequests(plugins []provider.Plugin, audio, notes string) []demoRequest {
	var chat, images []demoRequest
	for _, pl := range plugins {
		if m := pl.Demo.ChatModel; m != "" {
			chat = append(chat, demoRequest{Family: "chat on " + pl.DisplayName, Path: "/v1/chat/completions",
				JSON: `{"model":"` + m + `","messages":[{"role":"user","content":"Hello from the demo sim:think"}]}`})
		}
		if m := pl.Demo.ImageModel; m != "" {
			images = append(images, demoRequest{Family: "images on " + pl.DisplayName, Path: "/v1/images/generations",
				JSON: `{"model":"` + m + `","prompt":"a lighthouse at dawn sim:image"}`})
		}
	}
	out := append(chat,
		demoRequest{Family: "chat, streamed", Path: "/v1/chat/completions", Stream: true,
			JSON: `{"model":"gpt-5.1-search","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Stream this"}]}`},
		demoRequest{Family: "responses", Path: "/v1/responses",
			JSON: `{"model":"gpt-5.1","input":"Hello from the Responses API"}`},
		demoRequest{Family: "messages (Anthropic)", Path: "/v1/messages", Anthropic: true,
			JSON: `{"model":"claude-sonnet-4-5","max_tokens":256,"messages":[{"role":"user","content":"Hello from the Messages API"}]}`},
		demoRequest{Family: "structured output", Path: "/v1/chat/completions",
			JSON: `{"model":"gpt-5.1","messages":[{"role":"user","content":"Extract the person: Ada Lovelace, 36. sim:json {\"name\":\"Ada Lovelace\",\"age\":36}"}],"response_format":{"type":"json_schema","json_schema":{"name":"person","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}}}}`},
		demoRequest{Family: "moderations", Path: "/v1/moderations",
			JSON: `{"input":"I will hurt you"}`},
		demoRequest{Family: "generateContent (Gemini API)", Path: "/v1beta/models/gemini-2.5-pro:generateContent", Google: true,
			JSON: `{"contents":[{"role":"user","parts":[{"text":"Hello from the Gemini API"}]}]}`},
	)
	out = append(out, images...)
	out = append(out,
		demoRequest{Family: "videos", Path: "/v1/videos/generations",
			JSON: `{"model":"sora-2","prompt":"waves on a beach sim:video"}`},
		demoRequest{Family: "embeddings (Google AI)", Path: "/v1/embeddings",
			JSON: `{"model":"text-embedding-3-small","input":["hello","world"]}`},
		demoRequest{Family: "audio transcription", Path: "/v1/audio/transcriptions",
			Form: [][2]string{{"model", "whisper-1"}, {"file", "@" + audio}}},
		demoRequest{Family: "files (upload)", Path: "/v1/files",
			Form: [][2]string{{"purpose", "user_data"}, {"file", "@" + notes}}},
		demoRequest{Family: "models", Path: "/v1/models"},
	)
	return out
}

// silentWAV is a tenth of a second of 8 kHz 16-bit mono silence.
func silentWAV() []byte {
	const rate, samples = 8000, 800
	data := samples * 2
	b := make([]byte, 44+data)
	copy(b, "RIFF")
	binary.LittleEndian.PutUint32(b[4:], uint32(36+data))
	copy(b[8:], "WAVEfmt ")
	binary.LittleEndian.PutUint32(b[16:], 16)
	binary.LittleEndian.PutUint16(b[20:], 1) // PCM
	binary.LittleEndian.PutUint16(b[22:], 1) // mono
	binary.LittleEndian.PutUint32(b[24:], rate)
	binary.LittleEndian.PutUint32(b[28:], rate*2)
	binary.LittleEndian.PutUint16(b[32:], 2)
	binary.LittleEndian.PutUint16(b[34:], 16)
	copy(b[36:], "data")
	binary.LittleEndian.PutUint32(b[40:], uint32(data))
	return b
}
