// Package dashapi is the plumbing the dashboard's JSON API routes share
// (sign-in, users, accounts, keys): its error envelope
// {"error":{"message","type","code"}}, strict JSON bodies in, JSON out, and
// the caller's address as spark sees it (also the server's, for its limits
// and a key's IP allowlist).
package dashapi

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
)

// Error is a dashboard API error as the client sees it: Type is the broad
// class (a gw code), Code the precise reason, Message a sentence for
// people. RetryAfter, when set, is sent as Retry-After.
type Error struct {
	Status     int
	Type       gw.Code
	Code       string
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// BadRequest is a 400 with code and message.
func BadRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Type: gw.CodeInvalidRequest, Code: code, Message: msg}
}

// NotFound is a 404 with code and message (another owner's id too).
func NotFound(code, msg string) *Error {
	return &Error{Status: http.StatusNotFound, Type: gw.CodeNotFound, Code: code, Message: msg}
}

// WriteJSON writes v as the JSON answer with status; never cached.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status, b = http.StatusInternalServerError, []byte(`{"error":{"message":"Internal error.","type":"internal","code":"internal"}}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}

// Fail writes err in the error envelope: an *Error as it is, a *gw.Error
// with its code's status and message, anything else as a 500 whose text
// is logged (with the request id) and not shown.
func Fail(log *slog.Logger, w http.ResponseWriter, r *http.Request, err error) {
	var ae *Error
	if !errors.As(err, &ae) {
		if ge := gw.AsError(err); ge.Code != gw.CodeInternal {
			ae = &Error{Status: gw.HTTPStatus(ge.Code), Type: ge.Code, Code: string(ge.Code), Message: ge.Message, RetryAfter: ge.RetryAfter}
		} else {
			log.Error("dashboard request failed", "path", r.URL.Path, "request_id", reqctx.RequestID(r.Context()), "error", err)
			ae = &Error{Status: http.StatusInternalServerError, Type: gw.CodeInternal, Code: "internal", Message: "Internal error."}
		}
	}
	if ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((ae.RetryAfter+time.Second-1)/time.Second))))
	}
	WriteJSON(w, ae.Status, map[string]any{"error": map[string]string{"message": ae.Message, "type": string(ae.Type), "code": ae.Code}})
}

// DecodeJSON reads r's body, which must be one JSON object with no field
// v lacks, into v. A body over the route's bound is a 413, anything else
// wrong a 400 naming the problem.
func DecodeJSON(r *http.Request, v any) error {
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "" && ct != "application/json" {
		return BadRequest("invalid_content_type", "Send a JSON body (Content-Type: application/json).")
	}
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		var te *json.UnmarshalTypeError
		switch {
		case errors.As(err, &mbe):
			return &Error{Status: http.StatusRequestEntityTooLarge, Type: gw.CodeTooLarge, Code: "too_large", Message: "Request body too large."}
		case errors.As(err, &te) && te.Field != "":
			return BadRequest("invalid_"+te.Field, te.Field+": want a "+jsonKind(te.Type.Kind().String())+".")
		}
		if field, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return BadRequest("unknown_field", "Unknown field "+field+".")
		}
		return BadRequest("invalid_json", "The body is not a valid JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return BadRequest("invalid_json", "The body must hold one JSON object.")
	}
	return nil
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch kind {
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "whole number"
	case "float32", "float64":
		return "number"
	case "slice", "array":
		return "list"
	case "bool":
		return "true or false"
	case "map", "struct":
		return "JSON object"
	}
	return kind
}

// ClientIP returns the client's address: the connection's remote address,
// or with trustProxy (TRUST_PROXY, spark behind a proxy that sets them) the
// first X-Forwarded-For entry, else X-Real-IP, when it is an IP address.
func ClientIP(r *http.Request, trustProxy bool) string {
	if trustProxy {
		if xff := r.Header.Get("X-Forwarded-For"); xff != "" {
			first, _, _ := strings.Cut(xff, ",")
			if ip := net.ParseIP(strings.TrimSpace(first)); ip != nil {
				return ip.String()
			}
		}
		if ip := net.ParseIP(strings.TrimSpace(r.Header.Get("X-Real-IP"))); ip != nil {
			return ip.String()
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
