// Package wire holds what spark's client front-ends (packages openai,
// responses, anthropic, extras and media under internal/api) share about
// the wire: the handler adapter that logs and renders returned errors,
// the one strict JSON body decoder (size limit, one object and nothing
// after it, UTF-8, nesting depth; see DecodeJSONBytes) with its error
// wording, the bounds on client strings and multipart parts, the retry
// decision of error responses, client media decoding (data URLs, base64,
// http(s) URLs, image media types, a bound on inline data), the resolver
// of Files API ids named in messages (Files, FileResolver) and the
// markdown layout of generated images.
//
// Where the front-ends word a failure differently (the Anthropic API says
// "messages.0.content: Input should be a valid string", the OpenAI API
// "Invalid type for 'messages'"), the logic is here and the wording is a
// parameter, or the function returns a sentinel error the front-end words.
// Functions without such a parameter use the OpenAI wording, which four of
// the five front-ends answer in.
//
// It imports only internal/llm, internal/gw, internal/reqctx,
// internal/route and the standard library. The front-ends import wire and
// never one another (ARCHITECTURE.md, checked by internal/archtest):
// what two of them share (the chat backend, the OpenAI and Anthropic error
// shapes, the Anthropic model list served on GET /v1/models) is here.
package wire

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/reqctx"
)

// HandlerFunc is an HTTP handler that returns its error instead of writing
// it. A handler that has started a response body must render its own
// errors and return nil (streams end with an in-band error event).
type HandlerFunc func(w http.ResponseWriter, r *http.Request) error

// Handle adapts fn to an http.Handler: an error fn returns is logged (see
// LogFailure, under name) and rendered with render, which must write the
// whole error response.
func Handle(log *slog.Logger, name string, fn HandlerFunc, render func(http.ResponseWriter, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		err := fn(w, r)
		if err == nil {
			return
		}
		LogFailure(log, name, r, err)
		render(w, err)
	})
}

// LogFailure logs err, the failure of request r, as "<name>: request
// failed" with the request id, the path and the error: at Warn level when
// the error's status (gw.HTTPStatus of its code) is 5xx, at Debug level
// otherwise (client errors are the client's business).
func LogFailure(log *slog.Logger, name string, r *http.Request, err error) {
	level := slog.LevelDebug
	if gw.HTTPStatus(gw.ErrorCode(err)) >= 500 {
		level = slog.LevelWarn
	}
	log.LogAttrs(r.Context(), level, name+": request failed",
		slog.String("request_id", reqctx.RequestID(r.Context())),
		slog.String("path", r.URL.Path),
		slog.Any("error", err))
}

// Logger returns log, or a logger that discards everything when log is
// nil (the zero Options of every front-end).
func Logger(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}

// Invalid returns a 400 invalid_request error about param in the OpenAI
// style: the message as given, param in gw.Error.Param (the "param" of the
// OpenAI envelope). It is the one constructor of client-input errors of
// the OpenAI-dialect front-ends.
func Invalid(param, format string, args ...any) *gw.Error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}

// InvalidField returns a 400 invalid_request error about param in the
// Anthropic style, whose envelope has no param: the message starts with
// the field's path ("messages.0.content: Field required"), as the
// Anthropic API words validation errors. Param is set all the same.
func InvalidField(param, format string, args ...any) *gw.Error {
	e := Invalid(param, format, args...)
	if param != "" {
		e.Message = param + ": " + e.Message
	}
	return e
}

// invalid is Invalid, under the name this package's decoders use.
var invalid = Invalid

// ChatBackend answers chat requests and lists models: what the chat
// front-ends (openai, responses, anthropic) need, and what the gateway
// service provides. Each front-end names it Backend.
//
// Chat returns a stream or a pre-stream error (a *gw.Error when the cause
// is known). The stream yields text, reasoning, tool-call and image deltas,
// then exactly one llm.EventFinish, then one llm.EventUsage, then io.EOF;
// any other Recv error is a mid-stream failure. The handler closes every
// stream it gets, early when the client goes away. ctx is (derived from)
// the client request's context: it is cancelled when the client
// disconnects, and Recv must then return.
type ChatBackend interface {
	Chat(ctx context.Context, req *llm.Request) (llm.Stream, error)
	Models(ctx context.Context) []llm.ModelInfo
}

// GrantedModels returns the models of the list the request's API key may
// use: all of them without a key or with a key that lists no models. A
// models list shows a key only what it may call, as OpenAI's does.
func GrantedModels(ctx context.Context, models []llm.ModelInfo) []llm.ModelInfo {
	g := reqctx.GrantOf(ctx)
	if g == nil || len(g.Models) == 0 {
		return models
	}
	out := make([]llm.ModelInfo, 0, len(g.Models))
	for _, m := range models {
		if g.AllowsModel(m.ID) {
			out = append(out, m)
		}
	}
	return out
}
