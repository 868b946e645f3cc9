// Package logging builds spark's structured logger. Attributes whose key
// names a secret (cookie, authorization, token, api key, secret, password)
// are redacted whatever the level, so a careless attribute cannot leak a
// credential even with DEBUG=true.
package logging

import (
	"io"
	"log/slog"
	"strings"
)

// New returns a text logger writing to w, at debug level when debug is set.
func New(w io.Writer, debug bool) *slog.Logger {
	level := slog.LevelInfo
	if debug {
		level = slog.LevelDebug
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: level, ReplaceAttr: Redact}))
}

// sensitive lists key fragments whose values are never logged.
var sensitive = []string{"cookie", "authorization", "api_key", "apikey", "secret", "password", "psid"}

// Redact is a slog ReplaceAttr function that hides the values of sensitive keys.
func Redact(_ []string, a slog.Attr) slog.Attr {
	k := strings.ToLower(a.Key)
	redact := k == "token" || strings.HasSuffix(k, "_token") || k == "key"
	for _, s := range sensitive {
		redact = redact || strings.Contains(k, s)
	}
	if redact {
		return slog.String(a.Key, "[redacted]")
	}
	return a
}
