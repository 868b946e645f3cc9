// Package googleai is spark's client of the official Google AI
// (Generative Language) API, used for text embeddings (the web apps spark
// drives cannot embed). It speaks the documented REST surface of
// docs/gemini-web-upstream.md §9: POST
// /v1beta/models/{model}:embedContent and :batchEmbedContents with the key
// in the x-goog-api-key header, at most 100 texts per batch call.
package googleai

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
)

// Name is the provider name carried by errors.
const Name = "googleai"

// Defaults.
const (
	DefaultBaseURL     = "https://generativelanguage.googleapis.com"
	DefaultModel       = "gemini-embedding-001"
	MaxBatch           = 100 // the API's cap on requests per batchEmbedContents call
	DefaultConcurrency = 4
	DefaultTimeout     = 60 * time.Second
	maxResponseBytes   = 256 << 20
)

// Config configures a Client.
type Config struct {
	// BaseURL is GOOGLE_AI_BASE_URL; empty means DefaultBaseURL. A trailing
	// /v1beta is tolerated.
	BaseURL string
	// APIKey is GOOGLE_AI_API_KEY. Empty makes every Embed fail with a
	// clear "not configured" error (NoKeyMessage, code
	// gw.CodeUnavailable).
	APIKey string
	// Clients supplies the pooled HTTP client; nil creates a direct one.
	Clients *httpx.Clients
	// Proxy selects the client of Clients (empty = the default PROXY_URL).
	Proxy string
	// TaskType is sent as taskType when set (e.g. RETRIEVAL_DOCUMENT);
	// empty leaves it unspecified.
	TaskType string
	// BatchSize is the number of texts per upstream call, at most MaxBatch
	// (the default).
	BatchSize int
	// Concurrency bounds the upstream calls of one Embed in flight;
	// zero means DefaultConcurrency.
	Concurrency int
	// Timeout bounds each upstream call; zero means DefaultTimeout.
	Timeout time.Duration
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
}

// Client embeds texts through the Google AI API. It is safe for concurrent
// use.
type Client struct {
	cfg  Config
	base string // scheme://host[/path] without /v1beta
	log  *slog.Logger
}

// NoKeyMessage is the message of the error Embed returns when no API key is
// configured.
const NoKeyMessage = "embeddings need a Google AI API key: set GOOGLE_AI_API_KEY (a free key from https://aistudio.google.com/apikey)"

// New returns a Client. It fails for a malformed BaseURL or Proxy.
func New(cfg Config) (*Client, error) {
	if cfg.BaseURL == "" {
		cfg.BaseURL = DefaultBaseURL
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("googleai: invalid base URL %q", cfg.BaseURL)
	}
	base := strings.TrimSuffix(strings.TrimRight(cfg.BaseURL, "/"), "/v1beta")
	if cfg.BatchSize <= 0 || cfg.BatchSize > MaxBatch {
		cfg.BatchSize = MaxBatch
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Clients == nil {
		if cfg.Clients, err = httpx.NewClients(""); err != nil {
			return nil, err
		}
	}
	if _, err := cfg.Clients.Get(cfg.Proxy); err != nil {
		return nil, fmt.Errorf("googleai: %w", err)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Client{cfg: cfg, base: base, log: cfg.Logger}, nil
}

// ModelName is the model an embedding request names, as the API calls
// it: without "models/", DefaultModel when empty.
func ModelName(model string) string {
	if model = strings.TrimPrefix(strings.TrimSpace(model), "models/"); model == "" {
		return DefaultModel
	}
	return model
}

// Configured reports whether an API key is set.
func (c *Client) Configured() bool { return c.cfg.APIKey != "" }

// Embed returns one embedding per input, in order. model is a Google model
// name (with or without "models/"); empty means DefaultModel. dimensions > 0
// is sent as outputDimensionality (the API truncates; truncated vectors are
// not unit length). Inputs are sent at most BatchSize per upstream call,
// several calls in parallel. Errors are *gw.Error: CodeInvalidRequest for
// what Google rejects in the request, CodeModelNotFound, CodeRateLimited
// (with RetryAfter), CodeUnavailable for a missing or rejected key or an
// unreachable API, CodeUpstreamTimeout, CodeUpstream and CodeProtocolChanged.
func (c *Client) Embed(ctx context.Context, model string, inputs []string, dimensions int) ([][]float32, error) {
	if c.cfg.APIKey == "" {
		return nil, &gw.Error{Code: gw.CodeUnavailable, Provider: Name, Message: NoKeyMessage}
	}
	model = ModelName(model)
	if len(inputs) == 0 {
		return [][]float32{}, nil
	}
	out := make([][]float32, len(inputs))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
		sem      = make(chan struct{}, c.cfg.Concurrency)
	)
	for start := 0; start < len(inputs); start += c.cfg.BatchSize {
		end := min(start+c.cfg.BatchSize, len(inputs))
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(start, end int) {
			defer wg.Done()
			defer func() { <-sem }()
			vecs, err := c.call(ctx, model, inputs[start:end], dimensions)
			if err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
					cancel()
				}
				mu.Unlock()
				return
			}
			copy(out[start:end], vecs)
		}(start, end)
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if err := ctx.Err(); err != nil {
		return nil, gw.AsError(err)
	}
	return out, nil
}

type part struct {
	Text string `json:"text"`
}

type content struct {
	Parts []part `json:"parts"`
}

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	TaskType             string  `json:"taskType,omitempty"`
	OutputDimensionality int     `json:"outputDimensionality,omitempty"`
}

type values struct {
	Values []float32 `json:"values"`
}

// call makes one upstream call for texts (embedContent for one text,
// batchEmbedContents for more).
func (c *Client) call(ctx context.Context, model string, texts []string, dims int) ([][]float32, error) {
	reqs := make([]embedRequest, len(texts))
	for i, t := range texts {
		reqs[i] = embedRequest{Model: "models/" + model, Content: content{Parts: []part{{Text: t}}},
			TaskType: c.cfg.TaskType, OutputDimensionality: dims}
	}
	action, payload := "batchEmbedContents", any(map[string]any{"requests": reqs})
	if len(texts) == 1 {
		action, payload = "embedContent", reqs[0]
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "internal error")
	}
	endpoint := c.base + "/v1beta/models/" + url.PathEscape(model) + ":" + action
	ctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint, bytes.NewReader(body))
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "internal error")
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("x-goog-api-key", c.cfg.APIKey)
	hc, err := c.cfg.Clients.Get(c.cfg.Proxy)
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "internal error")
	}
	resp, err := hc.Do(req)
	if err != nil {
		switch {
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return nil, &gw.Error{Code: gw.CodeUpstreamTimeout, Provider: Name, Cause: err, Message: "Google AI API timed out"}
		case ctx.Err() != nil:
			return nil, gw.AsError(ctx.Err())
		}
		return nil, &gw.Error{Code: gw.CodeUnavailable, Provider: Name, Cause: err, Message: "cannot reach the Google AI API (GOOGLE_AI_BASE_URL)"}
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes))
	if err != nil {
		if ctx.Err() != nil {
			return nil, gw.AsError(ctx.Err())
		}
		return nil, &gw.Error{Code: gw.CodeTransient, Provider: Name, Cause: err, Message: "the Google AI API response was cut off"}
	}
	if resp.StatusCode != http.StatusOK {
		e := apiError(resp, raw, model)
		c.log.LogAttrs(ctx, slog.LevelWarn, "googleai: embedding call failed",
			slog.Int("status", resp.StatusCode), slog.String("model", model), slog.String("code", string(e.Code)))
		return nil, e
	}
	var vecs [][]float32
	if action == "embedContent" {
		var r struct {
			Embedding *values `json:"embedding"`
		}
		if err := json.Unmarshal(raw, &r); err != nil || r.Embedding == nil {
			return nil, protocolErr(err)
		}
		vecs = [][]float32{r.Embedding.Values}
	} else {
		var r struct {
			Embeddings []values `json:"embeddings"`
		}
		if err := json.Unmarshal(raw, &r); err != nil {
			return nil, protocolErr(err)
		}
		for _, v := range r.Embeddings {
			vecs = append(vecs, v.Values)
		}
	}
	if len(vecs) != len(texts) {
		return nil, protocolErr(fmt.Errorf("%d embeddings for %d texts", len(vecs), len(texts)))
	}
	for _, v := range vecs {
		if len(v) == 0 {
			return nil, protocolErr(errors.New("empty embedding"))
		}
	}
	return vecs, nil
}

func protocolErr(cause error) *gw.Error {
	return &gw.Error{Code: gw.CodeProtocolChanged, Provider: Name, Cause: cause,
		Message: "the Google AI API answered in an unexpected format"}
}

// rpcStatus is Google's error envelope.
type rpcStatus struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []struct {
			Type       string `json:"@type"`
			Reason     string `json:"reason"`
			RetryDelay string `json:"retryDelay"`
		} `json:"details"`
	} `json:"error"`
}

// apiError maps a non-200 answer to a gw error. Google's messages are about
// the request (dimensions, lengths, models), never the key, and are passed
// on for 4xx.
func apiError(resp *http.Response, raw []byte, model string) *gw.Error {
	var st rpcStatus
	_ = json.Unmarshal(raw, &st)
	msg := strings.TrimSpace(st.Error.Message)
	status := st.Error.Status
	keyInvalid := false
	var retry time.Duration
	for _, d := range st.Error.Details {
		if d.Reason == "API_KEY_INVALID" {
			keyInvalid = true
		}
		if d.RetryDelay != "" {
			if dur, err := time.ParseDuration(d.RetryDelay); err == nil {
				retry = dur
			}
		}
	}
	if s := resp.Header.Get("Retry-After"); s != "" && retry == 0 {
		if n, err := strconv.Atoi(s); err == nil && n > 0 {
			retry = time.Duration(n) * time.Second
		}
	}
	if strings.Contains(msg, "API key not valid") || strings.Contains(msg, "API key expired") {
		keyInvalid = true
	}
	e := &gw.Error{Provider: Name, Cause: fmt.Errorf("google ai: HTTP %d %s: %s", resp.StatusCode, status, msg)}
	switch {
	case keyInvalid || resp.StatusCode == http.StatusUnauthorized || status == "UNAUTHENTICATED" ||
		resp.StatusCode == http.StatusForbidden || status == "PERMISSION_DENIED":
		// The gateway's key is at fault, not the client's: never 401, which
		// SDKs report as the client's own key being wrong.
		e.Code = gw.CodeUnavailable
		e.Message = "embeddings are unavailable: the Google AI API rejected the configured GOOGLE_AI_API_KEY"
		if msg != "" {
			e.Message += " (" + msg + ")"
		}
	case resp.StatusCode == http.StatusTooManyRequests || status == "RESOURCE_EXHAUSTED":
		e.Code = gw.CodeRateLimited
		e.RetryAfter = retry
		e.Message = "the Google AI API rate limit or quota of the configured key is exhausted; retry later"
	case resp.StatusCode == http.StatusNotFound || status == "NOT_FOUND":
		e.Code = gw.CodeModelNotFound
		e.Message = fmt.Sprintf("The embedding model `%s` does not exist or is not available from the Google AI API (text-embedding-004 and embedding-001 are retired; use %s or gemini-embedding-2).", model, DefaultModel)
	case resp.StatusCode == http.StatusRequestEntityTooLarge:
		e.Code = gw.CodeTooLarge
		e.Message = "the input is too large for the Google AI API"
	case resp.StatusCode == http.StatusBadRequest || status == "INVALID_ARGUMENT" || status == "FAILED_PRECONDITION":
		e.Code = gw.CodeInvalidRequest
		e.Message = "the Google AI API rejected the request"
		if msg != "" {
			e.Message += ": " + msg
		}
	case resp.StatusCode == http.StatusGatewayTimeout || status == "DEADLINE_EXCEEDED":
		e.Code = gw.CodeUpstreamTimeout
		e.Message = "the Google AI API timed out"
	case resp.StatusCode == http.StatusServiceUnavailable || status == "UNAVAILABLE":
		e.Code = gw.CodeUnavailable
		e.RetryAfter = retry
		e.Message = "the Google AI API is temporarily unavailable"
	default:
		e.Code = gw.CodeUpstream
		e.Message = fmt.Sprintf("the Google AI API failed (HTTP %d)", resp.StatusCode)
	}
	return e
}
