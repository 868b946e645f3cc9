// Package route is the vocabulary of spark's route table: a route's
// pattern, its class (who may call it, with which limits and body bound),
// the dialect its errors are written in and the key sources it accepts.
// Front-ends declare their routes with it; internal/server applies each
// class's steps. It imports only the standard library, so a front-end
// declares routes without importing the server.
package route

import (
	"fmt"
	"net/http"
	"strings"
)

// Class says who may call a route; the server applies authentication, the
// per-IP and per-key limits, the body bound and the access-log level by
// class. The zero Class is not a class: the server refuses to register a
// route without one.
type Class uint8

// The route classes.
const (
	// Public routes need no credential and are not rate limited: health
	// and readiness probes, the root page, static assets.
	Public Class = iota + 1
	// ClientKey routes need a client API key (the OpenAI, Anthropic and
	// Gemini APIs); they are limited per IP and per key.
	ClientKey
	// SignedLink routes carry their capability in the URL (signed image
	// proxy links); they need no key and are limited per IP.
	SignedLink
	// Session routes need a dashboard session.
	Session
	// Admin routes need an administrator credential.
	Admin
	// Metrics routes need the metrics scraper's credential.
	Metrics
)

// String names the class ("client_key", ...) for logs and errors.
func (c Class) String() string {
	switch c {
	case Public:
		return "public"
	case ClientKey:
		return "client_key"
	case SignedLink:
		return "signed_link"
	case Session:
		return "session"
	case Admin:
		return "admin"
	case Metrics:
		return "metrics"
	}
	return fmt.Sprintf("class(%d)", uint8(c))
}

// Valid reports whether c is one of the declared classes.
func (c Class) Valid() bool { return c >= Public && c <= Metrics }

// Dialect is the error envelope a route answers in.
type Dialect uint8

// The dialects. The zero Dialect, ByClient, is decided per request by For.
const (
	// ByClient is Google for a path under /v1beta (the Gemini API, also
	// when no route matches it), else Anthropic for a request that carries
	// anthropic-version or x-api-key (an Anthropic SDK or Claude Code),
	// else OpenAI.
	ByClient Dialect = iota
	// OpenAI is {"error":{"message","type","param","code"}}.
	OpenAI
	// Anthropic is {"type":"error","error":{"type","message"}}.
	Anthropic
	// Google is the Gemini API's {"error":{"code","message","status"}}.
	Google
)

// GooglePath is the path under which the Gemini API's routes live; every
// error under it is in the Google dialect.
const GooglePath = "/v1beta"

// For resolves d for request r (whose path has the route prefix removed):
// ByClient becomes Google, Anthropic or OpenAI, the other dialects stay as
// they are. It is the one place that decides which envelope a client
// reads.
func (d Dialect) For(r *http.Request) Dialect {
	if d != ByClient {
		return d
	}
	if p := r.URL.Path; p == GooglePath || strings.HasPrefix(p, GooglePath+"/") {
		return Google
	}
	if len(r.Header["Anthropic-Version"]) > 0 || len(r.Header["X-Api-Key"]) > 0 {
		return Anthropic
	}
	return OpenAI
}

// String names the dialect.
func (d Dialect) String() string {
	switch d {
	case ByClient:
		return "by_client"
	case OpenAI:
		return "openai"
	case Anthropic:
		return "anthropic"
	case Google:
		return "google"
	}
	return fmt.Sprintf("dialect(%d)", uint8(d))
}

// Route is one entry of the route table.
type Route struct {
	// Pattern is "METHOD /path" in http.ServeMux syntax, without the
	// route prefix (the server strips ROUTE_PREFIX). The method is
	// required; GET also serves HEAD.
	Pattern string
	// Class says who may call the route. Required.
	Class Class
	// Dialect is the envelope of the errors the server writes for this
	// route (authentication, limits, body bound). Zero means ByClient.
	Dialect Dialect
	// MaxBody bounds the request body in bytes; zero takes the class's
	// default. The server refuses a larger declared Content-Length with
	// 413 before the handler runs, stops reading past it, and gives the
	// body a read deadline proportional to it.
	MaxBody int64
	// GoogleKey also accepts the client key from x-goog-api-key and the
	// ?key= query parameter, as the Gemini API (/v1beta) does.
	GoogleKey bool
	// Handler serves the route.
	Handler http.Handler
}

// Method returns the method of the route's pattern ("" if it has none).
func (r Route) Method() string {
	m, _, ok := strings.Cut(r.Pattern, " ")
	if !ok {
		return ""
	}
	return m
}

// Path returns the path part of the route's pattern.
func (r Route) Path() string {
	_, p, ok := strings.Cut(r.Pattern, " ")
	if !ok {
		return r.Pattern
	}
	return strings.TrimLeft(p, " ")
}

// Mount registers routes on a plain mux under prefix ("" or like "/hf"),
// without any of the server's per-class steps: for a front-end served on
// its own (its tests, an embedding program). spark's server takes routes
// through server.Handle instead.
func Mount(mux *http.ServeMux, prefix string, routes []Route) {
	for _, rt := range routes {
		mux.Handle(rt.Method()+" "+prefix+rt.Path(), rt.Handler)
	}
}
