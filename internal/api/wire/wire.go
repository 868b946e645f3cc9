// Package wire holds what spark's client front-ends (packages openai,
// responses, anthropic, extras and media under internal/api) share about
// the wire: the handler adapter that logs and renders returned errors,
// the one strict JSON body decoder (size limit, one object and nothing
// after it, UTF-8, nesting depth; see DecodeJSONBytes) with its error
// wording, the bounds on client strings and multipart parts, the retry
// decision of error responses, client media decoding (data URLs, base64,
// http(s) URLs, image media types, a bound on inline data) and the
// markdown layout of generated images.
//
// Where the front-ends word a failure differently (the Anthropic API says
// "messages.0.content: Input should be a valid string", the OpenAI API
// "Invalid type for 'messages'"), the logic is here and the wording is a
// parameter, or the function returns a sentinel error the front-end words.
// Functions without such a parameter use the OpenAI wording, which four of
// the five front-ends answer in.
//
// It imports only internal/llm, internal/gw, internal/reqctx and the
// standard library: a front-end never imports another front-end for these
// helpers.
package wire

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/sparkgw/spark/internal/gw"
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

// invalid returns a 400 invalid_request error about param, in the OpenAI
// style (the message as given, param in gw.Error.Param).
func invalid(param, format string, args ...any) *gw.Error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: fmt.Sprintf(format, args...)}
}
