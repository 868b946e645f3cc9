// Package logging builds spark's structured logger (log/slog, text or
// JSON lines) and keeps secrets out of it by construction, whatever the
// level and wherever a secret sits in a record:
//
//   - by key: an attribute whose key names a secret (cookie,
//     authorization, token, api key, secret, password, psid) is redacted;
//   - by type: a Secret prints as [redacted] everywhere (slog, fmt, JSON);
//     http.Header values of credential headers, an *http.Request (method,
//     host and redacted URL only), a *url.URL or url.Userinfo (password
//     and credential query parameters removed) and cookies are rewritten
//     before any handler sees them;
//   - by value: every string that reaches the output — the message, attribute
//     values, error texts, values printed with fmt — has the secrets
//     registered in a Secrets set (account cookies, client keys, proxy
//     passwords, added as spark loads them) replaced; and, for what was
//     not registered, by shape: URL passwords, the values of
//     credential-named pairs (session=..., key=...), credentials after
//     Bearer or Basic or a credential header name, and sk-... API keys.
//
// The redaction is a slog.Handler wrapping the text or JSON handler, so
// no caller can route around it.
package logging

import (
	"context"
	"encoding"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
)

// Redacted replaces a secret in log output.
const Redacted = "[redacted]"

// Formats are the accepted LOG_FORMAT values.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Options configure NewLogger.
type Options struct {
	Format  string // FormatText (default) or FormatJSON
	Debug   bool   // log at debug level
	Secrets *Secrets
	// FromContext returns attributes every record logged with a context
	// carries (the request id), added unless the record has them already.
	FromContext func(ctx context.Context) []slog.Attr
}

// New returns a text logger writing to w, at debug level when debug is set.
func New(w io.Writer, debug bool) *slog.Logger {
	return NewLogger(w, Options{Debug: debug})
}

// NewLogger returns a logger writing to w in opts.Format with every
// record redacted (see the package comment).
func NewLogger(w io.Writer, opts Options) *slog.Logger {
	level := slog.LevelInfo
	if opts.Debug {
		level = slog.LevelDebug
	}
	ho := &slog.HandlerOptions{Level: level, ReplaceAttr: Redact}
	var h slog.Handler
	if opts.Format == FormatJSON {
		h = slog.NewJSONHandler(w, ho)
	} else {
		h = slog.NewTextHandler(w, ho)
	}
	return slog.New(&handler{inner: h, secrets: opts.Secrets, fromContext: opts.FromContext})
}

// sensitive lists key fragments whose values are never logged.
var sensitive = []string{"cookie", "authorization", "api_key", "apikey", "secret", "password", "psid"}

// sensitiveKey reports whether an attribute key names a secret.
func sensitiveKey(key string) bool {
	k := strings.ToLower(key)
	if k == "token" || strings.HasSuffix(k, "_token") || k == "key" {
		return true
	}
	for _, s := range sensitive {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// Redact is a slog ReplaceAttr function that hides the values of sensitive keys.
func Redact(_ []string, a slog.Attr) slog.Attr {
	if sensitiveKey(a.Key) {
		return slog.String(a.Key, Redacted)
	}
	return a
}

// Secret is a string that is never printed: slog, fmt (%v, %s, %q, %#v),
// JSON and text marshalling all give [redacted]. Reveal returns the value.
type Secret string

// Reveal returns the secret's value, for the code that must use it.
func (s Secret) Reveal() string { return string(s) }

// LogValue implements slog.LogValuer.
func (Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// String implements fmt.Stringer.
func (Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer.
func (Secret) GoString() string { return Redacted }

// Format implements fmt.Formatter, so no verb prints the value.
func (Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, Redacted) }

// MarshalJSON implements json.Marshaler.
func (Secret) MarshalJSON() ([]byte, error) { return json.Marshal(Redacted) }

// MarshalText implements encoding.TextMarshaler.
func (Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

var (
	_ slog.LogValuer         = Secret("")
	_ fmt.Formatter          = Secret("")
	_ json.Marshaler         = Secret("")
	_ encoding.TextMarshaler = Secret("")
)

// MinSecretLen is the shortest value Secrets.Add registers: shorter ones
// would redact common words.
const MinSecretLen = 8

// Secrets is a set of secret values that must never appear in a log line,
// in any position. Safe for concurrent use; the zero value is empty.
type Secrets struct {
	mu   sync.Mutex
	vals map[string]struct{}
	// rep replaces every value at once (strings.Replacer builds a trie);
	// rebuilt on Add, read without a lock.
	rep atomic.Pointer[strings.Replacer]
}

// Add registers values (account cookies, the values of their name=value
// pairs, client keys, proxy passwords). Values shorter than MinSecretLen
// are ignored.
func (s *Secrets) Add(values ...string) {
	if s == nil {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.vals == nil {
		s.vals = map[string]struct{}{}
	}
	added := false
	for _, v := range values {
		v = strings.TrimSpace(v)
		if len(v) < MinSecretLen {
			continue
		}
		if _, ok := s.vals[v]; !ok {
			s.vals[v] = struct{}{}
			added = true
		}
	}
	if !added {
		return
	}
	// Longest first, so a cookie is replaced whole before one of its parts.
	all := make([]string, 0, len(s.vals))
	for v := range s.vals {
		all = append(all, v)
	}
	slices.SortFunc(all, func(a, b string) int { return len(b) - len(a) })
	pairs := make([]string, 0, 2*len(all))
	for _, v := range all {
		pairs = append(pairs, v, Redacted)
	}
	s.rep.Store(strings.NewReplacer(pairs...))
}

// AddCookie registers a cookie header value and the value of each of its
// name=value pairs.
func (s *Secrets) AddCookie(cookie string) {
	vals := []string{cookie}
	for part := range strings.SplitSeq(cookie, ";") {
		if _, v, ok := strings.Cut(part, "="); ok {
			vals = append(vals, v)
		} else {
			vals = append(vals, part) // a bare session value
		}
	}
	s.Add(vals...)
}

// AddURL registers the password of a URL's userinfo (a proxy URL).
func (s *Secrets) AddURL(raw string) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || u.User == nil {
		return
	}
	if p, ok := u.User.Password(); ok {
		s.Add(p)
	}
}

func (s *Secrets) replace(v string) string {
	if s == nil {
		return v
	}
	if r := s.rep.Load(); r != nil {
		return r.Replace(v)
	}
	return v
}

var (
	// userinfoRE finds the password of a URL's userinfo.
	userinfoRE = regexp.MustCompile(`([A-Za-z][A-Za-z0-9+.\-]*://[^/@\s:]*):[^@\s/]*@`)
	// pairRE finds name=value pairs whose name says they hold a
	// credential (a session cookie, a key or token parameter).
	pairRE = regexp.MustCompile(`(?i)([A-Za-z0-9_.\-]*(?:session|sid|token|key|secret|passw|auth|cookie|signature)[A-Za-z0-9_.\-]*)=([^;&\s,"'\]\)}]+)`)
	// bearerRE finds a credential after an authorization scheme.
	bearerRE = regexp.MustCompile(`(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=\-]+`)
	// apiKeyRE finds an API key of the common sk-... shape (spark's own
	// client keys among them), wherever it is.
	apiKeyRE = regexp.MustCompile(`\bsk-[A-Za-z0-9_\-]{16,}`)
	// headerRE finds a credential header written as text.
	headerRE = regexp.MustCompile(`(?i)\b(cookie|set-cookie|authorization|proxy-authorization|x-api-key|api-key|x-goog-api-key)(["']?\s*[:=]\s*["']?)[^"'\n]+`)
)

// scrub removes secrets from a string that is about to be logged.
func (h *handler) scrub(v string) string {
	v = h.secrets.replace(v)
	// Each shape is looked for only when a cheap test says it may be
	// there: most strings (paths, ids, model names) pass untouched.
	if strings.Contains(v, "sk-") {
		v = apiKeyRE.ReplaceAllString(v, Redacted)
	}
	if strings.Contains(v, "@") && strings.Contains(v, "://") {
		v = userinfoRE.ReplaceAllString(v, "${1}:"+Redacted+"@")
	}
	hasEq, hasColon := strings.Contains(v, "="), strings.Contains(v, ":")
	if !hasEq && !hasColon && !containsFold(v, "bearer") && !containsFold(v, "basic") {
		return v
	}
	lower := strings.ToLower(v)
	if (hasEq || hasColon) && (strings.Contains(lower, "cookie") || strings.Contains(lower, "authorization") || strings.Contains(lower, "api-key")) {
		v = headerRE.ReplaceAllString(v, "${1}${2}"+Redacted)
	}
	if strings.Contains(lower, "bearer") || strings.Contains(lower, "basic") {
		v = bearerRE.ReplaceAllString(v, "${1} "+Redacted)
	}
	if hasEq {
		v = pairRE.ReplaceAllString(v, "${1}="+Redacted)
	}
	return v
}

// containsFold reports whether s contains the lower-case ASCII word sub,
// in any case, without allocating.
func containsFold(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if strings.EqualFold(s[i:i+len(sub)], sub) {
			return true
		}
	}
	return false
}

// credentialHeaders are the request and response headers that carry a
// credential.
var credentialHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie", "Set-Cookie", "X-Api-Key", "Api-Key", "X-Goog-Api-Key"}

// NewHandler wraps h so that every record it handles is redacted (see the
// package comment); secrets may be nil.
func NewHandler(h slog.Handler, secrets *Secrets) slog.Handler {
	return &handler{inner: h, secrets: secrets}
}

type handler struct {
	inner       slog.Handler
	secrets     *Secrets
	fromContext func(context.Context) []slog.Attr
}

func (h *handler) Enabled(ctx context.Context, l slog.Level) bool { return h.inner.Enabled(ctx, l) }

func (h *handler) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, h.scrub(r.Message), r.PC)
	var extra []slog.Attr
	if h.fromContext != nil && ctx != nil {
		extra = h.fromContext(ctx)
	}
	r.Attrs(func(a slog.Attr) bool {
		for i := range extra {
			if extra[i].Key == a.Key {
				extra[i].Key = "" // the record has it
			}
		}
		out.AddAttrs(h.clean(a, 0))
		return true
	})
	for _, a := range extra {
		if a.Key != "" {
			out.AddAttrs(h.clean(a, 0))
		}
	}
	return h.inner.Handle(ctx, out)
}

func (h *handler) WithAttrs(attrs []slog.Attr) slog.Handler {
	clean := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		clean[i] = h.clean(a, 0)
	}
	return &handler{inner: h.inner.WithAttrs(clean), secrets: h.secrets, fromContext: h.fromContext}
}

func (h *handler) WithGroup(name string) slog.Handler {
	return &handler{inner: h.inner.WithGroup(h.scrub(name)), secrets: h.secrets, fromContext: h.fromContext}
}

// maxDepth bounds the nesting clean follows (LogValuers may nest).
const maxDepth = 8

// clean returns a with its secrets removed: by key, by type and by value.
func (h *handler) clean(a slog.Attr, depth int) slog.Attr {
	key := h.scrub(a.Key)
	if sensitiveKey(key) {
		return slog.String(key, Redacted)
	}
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(key, h.scrub(v.String()))
	case slog.KindGroup:
		if depth >= maxDepth {
			return slog.String(key, Redacted)
		}
		group := v.Group()
		out := make([]slog.Attr, len(group))
		for i, g := range group {
			out[i] = h.clean(g, depth+1)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(out...)}
	case slog.KindAny:
		return h.cleanAny(key, v.Any(), depth)
	}
	return slog.Attr{Key: key, Value: v}
}

// cleanAny rewrites the values of types that carry credentials, and
// prints any other value to a string that is then scrubbed.
func (h *handler) cleanAny(key string, v any, depth int) slog.Attr {
	switch x := v.(type) {
	case nil:
		return slog.Any(key, nil)
	case Secret, *Secret:
		return slog.String(key, Redacted)
	case http.Header:
		return h.clean(slog.Attr{Key: key, Value: headerValue(x)}, depth)
	case *http.Request:
		if x == nil {
			return slog.Any(key, nil)
		}
		return slog.Attr{Key: key, Value: slog.GroupValue(
			slog.String("method", h.scrub(x.Method)),
			slog.String("host", h.scrub(x.Host)),
			slog.String("url", h.scrub(redactURL(x.URL))),
		)}
	case *url.URL:
		return slog.String(key, h.scrub(redactURL(x)))
	case url.URL:
		return slog.String(key, h.scrub(redactURL(&x)))
	case *url.Userinfo, url.Userinfo:
		return slog.String(key, Redacted)
	case *http.Cookie, http.Cookie, []*http.Cookie, []http.Cookie:
		return slog.String(key, Redacted)
	case error:
		return slog.String(key, h.scrub(safeString(x.Error)))
	case []byte:
		return slog.String(key, h.scrub(string(x)))
	case json.RawMessage:
		return slog.String(key, h.scrub(string(x)))
	}
	// Anything else is printed the way the handler would print it (JSON
	// for the JSON handler would marshal it; fmt here), then scrubbed: a
	// struct's secret fields cannot slip through unprinted.
	return slog.String(key, h.scrub(safeString(func() string { return fmt.Sprintf("%+v", v) })))
}

// safeString calls f, turning a panic (a method on a nil pointer) into a
// placeholder: a log line must not crash the process.
func safeString(f func() string) (s string) {
	defer func() {
		if recover() != nil {
			s = "<unprintable>"
		}
	}()
	return f()
}

// headerValue is a header as a group, credential headers redacted.
func headerValue(hd http.Header) slog.Value {
	keys := make([]string, 0, len(hd))
	for k := range hd {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	attrs := make([]slog.Attr, 0, len(keys))
	for _, k := range keys {
		val := strings.Join(hd[k], ", ")
		if slices.ContainsFunc(credentialHeaders, func(c string) bool { return strings.EqualFold(c, k) }) {
			val = Redacted
		}
		attrs = append(attrs, slog.String(k, val))
	}
	return slog.GroupValue(attrs...)
}

// redactURL prints u without its password and with the values of
// credential query parameters replaced.
func redactURL(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		if _, has := c.User.Password(); has {
			c.User = url.UserPassword(c.User.Username(), Redacted)
		}
	}
	if c.RawQuery != "" {
		q := c.Query()
		for k := range q {
			if sensitiveKey(k) || pairRE.MatchString(k+"=x") {
				q[k] = []string{Redacted}
			}
		}
		c.RawQuery = q.Encode()
	}
	return c.String()
}
