package logging_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/logging"
)

// The secrets of the test: an account cookie (two pairs), a client key,
// and a proxy password. Each must be absent from every log line.
const (
	cookieValue   = "AbCdEfGhSessionValue123"
	cookieTS      = "ZyXwVuTsTimestampValue456"
	cookie        = "session_id=" + cookieValue + "; other_ts=" + cookieTS
	clientKey     = "sk-spark-Q1w2E3r4T5y6U7i8O9p0"
	proxyPassword = "pr0xyPa55w0rdXyz"
	proxyURL      = "socks5://alice:" + proxyPassword + "@proxy.example:1080"
)

var secretValues = []string{cookieValue, cookieTS, clientKey, proxyPassword}

// account is a struct that holds secrets in plain fields, as a careless
// caller might log it.
type account struct {
	Label  string
	Cookie string
	Proxy  string
}

// logEverywhere logs the secrets in every position a record has: the
// message, attribute values of every kind, keys, groups, WithAttrs,
// WithGroup, headers, a request, URLs, errors, structs, Secret values.
func logEverywhere(log *slog.Logger) {
	r := httptest.NewRequest("POST", "https://gw.example/v1beta/models/x:generateContent?key="+clientKey+"&alt=sse", nil)
	r.Header.Set("Cookie", cookie)
	r.Header.Set("Authorization", "Bearer "+clientKey)
	r.Header.Set("X-Api-Key", clientKey)
	r.Header.Set("Proxy-Authorization", "Basic "+proxyPassword)
	u, _ := url.Parse(proxyURL)

	log.Info("upstream call with cookie "+cookie+" via "+proxyURL+" for key "+clientKey,
		"cookie", cookie,
		"value", cookie,
		"note", "the key is "+clientKey,
		"bare_cookie", cookieValue,
		"proxy_url", proxyURL,
		"proxy_password", proxyPassword,
		"url", u,
		"url_value", *u,
		"headers", r.Header,
		"request", r,
		"error", fmt.Errorf("proxyconnect %s: dial: refused (key=%s)", proxyURL, clientKey),
		"wrapped", errors.Join(errors.New("upstream said: Cookie: "+cookie), errors.New("Authorization: Bearer "+clientKey)),
		"account", account{Label: "alpha", Cookie: cookie, Proxy: proxyURL},
		"account_ptr", &account{Label: "beta", Cookie: cookie, Proxy: proxyURL},
		"bytes", []byte("set-cookie: "+cookie),
		"secret", logging.Secret(clientKey),
		"list", []string{cookie, clientKey, proxyURL},
		"map", map[string]string{"c": cookie, "k": clientKey},
		slog.Group("nested", "k", clientKey, slog.Group("deeper", "c", cookieValue, "p", proxyURL)),
		slog.Any("valuer", valuer{}),
		clientKey, "a key as an attribute key",
	)
	log.With("bound_cookie", cookie, "bound_value", clientKey).WithGroup("g_"+cookieValue).Warn("bound", "p", proxyPassword)
	log.Error(fmt.Sprintf("formatted %v %+v %s", logging.Secret(clientKey), logging.Secret(cookie), logging.Secret(proxyPassword)))
}

// valuer is a LogValuer that resolves to a group holding secrets.
type valuer struct{}

func (valuer) LogValue() slog.Value {
	return slog.GroupValue(slog.String("inner", "cookie "+cookie), slog.String("key", clientKey))
}

// TestSecretsNeverLogged: with the secrets registered as spark registers
// what it loads (account cookies, client keys, proxy URLs), none appears
// in any position of a text or JSON line.
func TestSecretsNeverLogged(t *testing.T) {
	for _, format := range []string{logging.FormatText, logging.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			secrets := &logging.Secrets{}
			secrets.AddCookie(cookie)
			secrets.Add(clientKey)
			secrets.AddURL(proxyURL)
			log := logging.NewLogger(&buf, logging.Options{Format: format, Debug: true, Secrets: secrets})
			logEverywhere(log)
			checkNoSecrets(t, format, buf.String(), secretValues)
		})
	}
}

// TestShapesWithoutRegistration: a secret nobody registered is still
// removed wherever its shape or its place gives it away: credential
// headers, a request's URL, a URL's password, a credential-named pair, an
// sk-... key anywhere, a Secret.
func TestShapesWithoutRegistration(t *testing.T) {
	for _, format := range []string{logging.FormatText, logging.FormatJSON} {
		t.Run(format, func(t *testing.T) {
			var buf bytes.Buffer
			log := logging.NewLogger(&buf, logging.Options{Format: format, Secrets: &logging.Secrets{}})
			r := httptest.NewRequest("GET", "https://gw.example/v1beta/models?key="+clientKey, nil)
			r.Header.Set("Cookie", cookie)
			r.Header.Set("Proxy-Authorization", "Basic "+proxyPassword)
			u, _ := url.Parse(proxyURL)
			log.Info("key "+clientKey+" via "+proxyURL+" with session_id="+cookieValue,
				"headers", r.Header, "request", r, "proxy", u, "err", errors.New("dial "+proxyURL),
				"text", "Authorization: Bearer "+cookieTS, "s", logging.Secret(cookieTS),
				slog.Group("g", "k", clientKey, "c", "other: session_id="+cookieValue))
			checkNoSecrets(t, format, buf.String(), secretValues)
		})
	}
}

func checkNoSecrets(t *testing.T, format, out string, secrets []string) {
	t.Helper()
	if out == "" {
		t.Fatal("nothing logged")
	}
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("secret %q in the output:\n%s", s, out)
		}
	}
	if !strings.Contains(out, logging.Redacted) || !strings.Contains(out, "proxy.example") {
		t.Errorf("output lost what is not secret:\n%s", out)
	}
	if format == logging.FormatJSON {
		for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
			if !json.Valid([]byte(line)) {
				t.Errorf("not a JSON line: %s", line)
			}
		}
	}
}

// A registered secret is found wherever it is, even without a telling
// name or shape around it; a value below MinSecretLen is not registered.
func TestRegisteredSecretsBareValue(t *testing.T) {
	var buf bytes.Buffer
	secrets := &logging.Secrets{}
	secrets.AddCookie(cookie)
	log := logging.NewLogger(&buf, logging.Options{Format: logging.FormatJSON, Secrets: secrets})
	log.Info("saw " + cookieTS + " and " + cookieValue)
	if strings.Contains(buf.String(), cookieTS) || strings.Contains(buf.String(), cookieValue) {
		t.Errorf("registered secret logged: %s", buf.String())
	}
	secrets.Add("short") // below MinSecretLen: ignored
	buf.Reset()
	log.Info("a short word")
	if !strings.Contains(buf.String(), "a short word") {
		t.Errorf("a short registered value redacted common text: %s", buf.String())
	}
}

func TestSecretType(t *testing.T) {
	s := logging.Secret(clientKey)
	b, _ := json.Marshal(map[string]any{"s": s})
	for _, got := range []string{fmt.Sprint(s), fmt.Sprintf("%v %+v %#v %s %q %x", s, s, s, s, s, s), string(b), s.String()} {
		if strings.Contains(got, clientKey) || !strings.Contains(got, logging.Redacted) {
			t.Errorf("Secret printed as %q", got)
		}
	}
	if s.Reveal() != clientKey {
		t.Error("Reveal lost the value")
	}
}

// Request ids and other plain values pass unchanged.
func TestPlainValuesKept(t *testing.T) {
	var buf bytes.Buffer
	log := logging.NewLogger(&buf, logging.Options{Format: logging.FormatJSON, Secrets: &logging.Secrets{}})
	log.InfoContext(context.Background(), "request", "request_id", "req_0123456789abcdef01234567", "path", "/v1/chat/completions",
		"status", http.StatusOK, "key_id", "key_abc", "model", "gpt-5.1")
	var m map[string]any
	if err := json.Unmarshal(buf.Bytes(), &m); err != nil {
		t.Fatal(err)
	}
	if m["request_id"] != "req_0123456789abcdef01234567" || m["path"] != "/v1/chat/completions" || m["status"] != float64(200) ||
		m["key_id"] != "key_abc" || m["model"] != "gpt-5.1" {
		t.Errorf("plain values changed: %v", m)
	}
}

type ctxKey struct{}

// TestRequestIDFromContext: a record logged with a request's context
// carries its id once, whether or not the caller added it.
func TestRequestIDFromContext(t *testing.T) {
	var buf bytes.Buffer
	log := logging.NewLogger(&buf, logging.Options{Format: logging.FormatJSON, FromContext: func(ctx context.Context) []slog.Attr {
		if id, _ := ctx.Value(ctxKey{}).(string); id != "" {
			return []slog.Attr{slog.String("request_id", id)}
		}
		return nil
	}})
	ctx := context.WithValue(context.Background(), ctxKey{}, "req_1")
	log.WarnContext(ctx, "upstream attempt failed")
	log.InfoContext(ctx, "request", "request_id", "req_1")
	log.Info("no request")
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 {
		t.Fatalf("lines: %q", lines)
	}
	for i, want := range []int{1, 1, 0} {
		if got := strings.Count(lines[i], `"request_id":"req_1"`); got != want {
			t.Errorf("line %d has the request id %d times, want %d: %s", i, got, want, lines[i])
		}
	}
}

type nilErr struct{ msg string }

func (e *nilErr) Error() string { return e.msg }

// A value whose printing panics (a method on a nil pointer) does not
// crash the logger.
func TestUnprintableValue(t *testing.T) {
	var buf bytes.Buffer
	log := logging.NewLogger(&buf, logging.Options{Format: logging.FormatJSON})
	var e *nilErr
	log.Info("x", "err", error(e))
	if !strings.Contains(buf.String(), "unprintable") {
		t.Errorf("got %s", buf.String())
	}
}

// BenchmarkAccessLine is the cost of one access-log line through the
// redacting handler (the plain values a request line has).
func BenchmarkAccessLine(b *testing.B) {
	secrets := &logging.Secrets{}
	for i := range 100 {
		secrets.AddCookie(fmt.Sprintf("session_id=account-cookie-%04d-abcdefgh", i))
	}
	for _, redacting := range []bool{false, true} {
		name := "plain"
		var log *slog.Logger
		if redacting {
			name = "redacting"
			log = logging.NewLogger(io.Discard, logging.Options{Format: logging.FormatJSON, Secrets: secrets})
		} else {
			log = slog.New(slog.NewJSONHandler(io.Discard, nil))
		}
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				log.LogAttrs(context.Background(), slog.LevelInfo, "request",
					slog.String("request_id", "req_0123456789abcdef01234567"), slog.String("method", "POST"),
					slog.String("path", "/v1beta/models/gemini-3-pro:streamGenerateContent"), slog.Int("status", 200),
					slog.Int64("bytes", 1234), slog.Duration("duration", time.Second), slog.String("key_id", "key_abc"))
			}
		})
	}
}
