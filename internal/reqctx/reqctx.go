// Package reqctx carries request-scoped identity through a context: the id
// of the client API key a request was authenticated with and the request id.
// The server's middleware sets them; front-ends and loggers read them. It
// imports nothing internal, so any layer may use it.
package reqctx

import "context"

// ctxKey is the type of this package's context keys.
type ctxKey int

const (
	keyIDKey ctxKey = iota
	requestIDKey
)

// WithKeyID returns a copy of ctx carrying the client API key id (an id,
// never the secret).
func WithKeyID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, keyIDKey, id)
}

// KeyID returns the client API key id carried by ctx, or "".
func KeyID(ctx context.Context) string {
	id, _ := ctx.Value(keyIDKey).(string)
	return id
}

// WithRequestID returns a copy of ctx carrying the request id.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

const baseURLKey ctxKey = 100

// WithBaseURL returns a copy of ctx carrying the gateway's external base
// URL as the client reached it (scheme://host, no trailing slash).
func WithBaseURL(ctx context.Context, base string) context.Context {
	return context.WithValue(ctx, baseURLKey, base)
}

// BaseURL returns the external base URL carried by ctx, or "".
func BaseURL(ctx context.Context) string {
	b, _ := ctx.Value(baseURLKey).(string)
	return b
}

// Owner returns whom the records a request creates and reads belong to
// (the files of the Files API): an opaque string, today the id of the
// client API key the request was authenticated with ("" when
// authentication is off). When keys come to belong to users, this is where
// a key maps to its user.
func Owner(ctx context.Context) string { return KeyID(ctx) }
