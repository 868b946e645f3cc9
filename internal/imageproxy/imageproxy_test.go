package imageproxy_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/testutil"
)

var key = bytes.Repeat([]byte{1}, 32)

func newSigner(t *testing.T, c *testutil.Clock, opts imageproxy.SignerOptions) *imageproxy.Signer {
	t.Helper()
	opts.Now = c.Now
	s, err := imageproxy.NewSigner(key, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func query(t *testing.T, minted string) url.Values {
	t.Helper()
	u, err := url.Parse(minted)
	if err != nil {
		t.Fatal(err)
	}
	return u.Query()
}

func TestMintVerify(t *testing.T) {
	c := testutil.NewClock(time.Unix(1_700_000_000, 0))
	s := newSigner(t, c, imageproxy.SignerOptions{Prefix: "/hf/"})
	up := "https://lh3.googleusercontent.com/gg-dl/AB_c-d=s1024-rj?x=1&y=2"
	minted := s.Mint(up, "acct_42", 0)
	if !strings.HasPrefix(minted, "/hf/v1/images/proxy?u=") {
		t.Fatalf("minted %q", minted)
	}
	q := query(t, minted)
	if q.Get("a") != "acct_42" || q.Get("e") != "1700086400" {
		t.Errorf("query %v", q)
	}
	if b, _ := base64.RawURLEncoding.DecodeString(q.Get("u")); string(b) != up {
		t.Errorf("u decodes to %q", b)
	}
	tg, err := s.Verify(q)
	if err != nil {
		t.Fatal(err)
	}
	if tg.URL != up || tg.Account != "acct_42" || !tg.Expires.Equal(time.Unix(1700086400, 0)) || tg.Size != "" {
		t.Errorf("target %+v", tg)
	}
	q.Set("sz", "512") // sz is not signed
	if tg, err := s.Verify(q); err != nil || tg.Size != "512" {
		t.Errorf("with sz: %+v %v", tg, err)
	}

	// Every signed parameter is bound.
	tamper := map[string]func(url.Values){
		"u":            func(v url.Values) { v.Set("u", base64.RawURLEncoding.EncodeToString([]byte(up+"x"))) },
		"a":            func(v url.Values) { v.Set("a", "acct_43") },
		"a removed":    func(v url.Values) { v.Del("a") },
		"e":            func(v url.Values) { v.Set("e", "1800000000") },
		"s":            func(v url.Values) { v.Set("s", strings.Repeat("A", 43)) },
		"s truncated":  func(v url.Values) { v.Set("s", v.Get("s")[:20]) },
		"s removed":    func(v url.Values) { v.Del("s") },
		"u garbage":    func(v url.Values) { v.Set("u", "%%%") },
		"e garbage":    func(v url.Values) { v.Set("e", "soon") },
		"duplicated a": func(v url.Values) { v.Add("a", "acct_43") },
	}
	for name, fn := range tamper {
		v := query(t, minted)
		fn(v)
		if _, err := s.Verify(v); !errors.Is(err, imageproxy.ErrBadSignature) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
	// Another key does not verify.
	other, _ := imageproxy.NewSigner(bytes.Repeat([]byte{2}, 32), imageproxy.SignerOptions{Now: c.Now})
	if _, err := other.Verify(query(t, minted)); !errors.Is(err, imageproxy.ErrBadSignature) {
		t.Errorf("other key: %v", err)
	}

	// Expiry: valid until e, refused from e on.
	c.Advance(24*time.Hour - time.Second)
	if _, err := s.Verify(query(t, minted)); err != nil {
		t.Errorf("just before expiry: %v", err)
	}
	c.Advance(time.Second)
	if _, err := s.Verify(query(t, minted)); !errors.Is(err, imageproxy.ErrExpired) {
		t.Errorf("at expiry: %v", err)
	}
	// A custom TTL.
	short := s.Mint(up, "", time.Minute)
	c.Advance(2 * time.Minute)
	if _, err := s.Verify(query(t, short)); !errors.Is(err, imageproxy.ErrExpired) {
		t.Errorf("short TTL: %v", err)
	}
}

func TestSignerKey(t *testing.T) {
	if _, err := imageproxy.NewSigner([]byte("short"), imageproxy.SignerOptions{}); err == nil {
		t.Error("short key accepted")
	}
	s1, _ := secret.NewSealer(bytes.Repeat([]byte{3}, 32))
	s2, _ := secret.NewSealer(bytes.Repeat([]byte{3}, 32))
	s3, _ := secret.NewSealer(bytes.Repeat([]byte{4}, 32))
	k1, k2, k3 := imageproxy.KeyFromSealer(s1), imageproxy.KeyFromSealer(s2), imageproxy.KeyFromSealer(s3)
	if len(k1) != 32 || !bytes.Equal(k1, k2) || bytes.Equal(k1, k3) {
		t.Error("KeyFromSealer is not a deterministic function of the master key")
	}
	if bytes.Equal(k1, bytes.Repeat([]byte{3}, 32)) {
		t.Error("KeyFromSealer returned the master key")
	}
}

func TestBaseURL(t *testing.T) {
	r := httptest.NewRequest(http.MethodGet, "http://gw.local:7055/v1/images/generations", nil)
	if got := imageproxy.BaseURL(r, ""); got != "http://gw.local:7055" {
		t.Errorf("plain: %q", got)
	}
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-Forwarded-Host", "spark.example.com")
	if got := imageproxy.BaseURL(r, ""); got != "https://spark.example.com" {
		t.Errorf("forwarded: %q", got)
	}
	r.Header.Set("X-Forwarded-Host", "evil.com/<script>")
	if got := imageproxy.BaseURL(r, ""); got != "https://gw.local:7055" {
		t.Errorf("bad forwarded host: %q", got)
	}
	if got := imageproxy.BaseURL(r, "https://pub.example/"); got != "https://pub.example" {
		t.Errorf("public: %q", got)
	}
}

// upstreams are the real providers' media rules.
func upstreamRules() map[string]imageproxy.Upstream {
	return map[string]imageproxy.Upstream{
		genspark.Name:  genspark.Plugin().Images,
		geminiweb.Name: geminiweb.Plugin().Images,
	}
}

func TestCookieHosts(t *testing.T) {
	tests := []struct {
		provider, url string
		want          bool
	}{
		{"geminiweb", "https://lh3.googleusercontent.com/gg-dl/x", true},
		{"geminiweb", "https://work.fife.usercontent.google.com/rd-gg-dl/x", true},
		{"geminiweb", "https://google.com/x", true},
		{"geminiweb", "http://lh3.googleusercontent.com/gg-dl/x", false}, // never over HTTP
		{"geminiweb", "https://googleusercontent.com.evil.com/x", false},
		{"geminiweb", "https://evilgoogle.com/x", false},
		{"geminiweb", "https://www.genspark.ai/x", false},
		{"genspark", "https://www.genspark.ai/x", true},
		{"genspark", "https://cdn.genspark.ai/x", true},
		{"genspark", "https://lh3.googleusercontent.com/x", false},
		{"other", "https://www.genspark.ai/x", false},
		{"geminiweb", "http://127.0.0.1:9/x", true}, // an extra host, any scheme
		{"other", "http://127.0.0.1:9/x", true},
		{"geminiweb", "http://localhost:9/x", false},
	}
	for _, tt := range tests {
		u, _ := url.Parse(tt.url)
		if got := imageproxy.CookieAllowedForTest(newFetcher(t, imageproxy.FetcherOptions{}), tt.provider, u); got != tt.want {
			t.Errorf("%s %s: %v", tt.provider, tt.url, got)
		}
	}
}

// accounts is an in-memory AccountLookup.
type accounts map[string]*gw.Account

func (a accounts) Account(_ context.Context, id string) (*gw.Account, error) {
	if acc, ok := a[id]; ok {
		return acc, nil
	}
	return nil, store.ErrNotFound
}

// hop is a request an upstream test server received.
type hop struct {
	host, path, cookie string
}

// upstreams are two loopback servers reached under different host names
// (127.0.0.1 and localhost): cookies may go only to the first.
type upstreams struct {
	mu   sync.Mutex
	hops []hop
	a, b *httptest.Server
	bURL string // b under the name localhost
}

func newUpstreams(t *testing.T, handler func(u *upstreams, w http.ResponseWriter, r *http.Request)) *upstreams {
	t.Helper()
	u := &upstreams{}
	rec := func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.hops = append(u.hops, hop{host: r.Host, path: r.URL.Path, cookie: r.Header.Get("Cookie")})
		u.mu.Unlock()
		handler(u, w, r)
	}
	u.a = httptest.NewServer(http.HandlerFunc(rec))
	u.b = httptest.NewServer(http.HandlerFunc(rec))
	t.Cleanup(u.a.Close)
	t.Cleanup(u.b.Close)
	u.bURL = strings.Replace(u.b.URL, "127.0.0.1", "localhost", 1)
	return u
}

func (u *upstreams) recorded() []hop {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]hop(nil), u.hops...)
}

func newFetcher(t *testing.T, opts imageproxy.FetcherOptions) *imageproxy.Fetcher {
	t.Helper()
	if opts.Accounts == nil {
		opts.Accounts = accounts{
			"g1": {ID: "g1", Provider: "geminiweb", Cookie: "__Secure-1PSID=p; __Secure-1PSIDTS=ts; __Host-1PLSID=h; LSID=l; OSID=o; NID=n"},
			"s1": {ID: "s1", Provider: "genspark", Cookie: "bare-session"},
		}
	}
	if opts.Upstreams == nil {
		opts.Upstreams = upstreamRules()
	}
	if opts.CookieHosts == nil {
		opts.CookieHosts = []string{"127.0.0.1"}
	}
	f, err := imageproxy.NewFetcher(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestFetchRedirectCookies(t *testing.T) {
	var up *upstreams
	up = newUpstreams(t, func(u *upstreams, w http.ResponseWriter, r *http.Request) {
		switch {
		case strings.HasPrefix(r.URL.Path, "/gg-dl/"):
			// Cross-host hop to the same upstream (cookie again), then to a
			// foreign host (no cookie), then back.
			http.Redirect(w, r, u.a.URL+"/rd-gg-dl/"+strings.TrimPrefix(r.URL.Path, "/gg-dl/"), http.StatusFound)
		case strings.HasPrefix(r.URL.Path, "/rd-gg-dl/"):
			http.Redirect(w, r, u.bURL+"/foreign", http.StatusSeeOther)
		case r.URL.Path == "/foreign":
			http.Redirect(w, r, "/final", http.StatusTemporaryRedirect) // relative
		default:
			w.Header().Set("Content-Type", "image/png")
			_, _ = io.WriteString(w, "\x89PNG-bytes")
		}
	})
	f := newFetcher(t, imageproxy.FetcherOptions{})
	data, ct, err := f.ReadAll(context.Background(), up.a.URL+"/gg-dl/tok=s1024-rj", "g1", "")
	if err != nil {
		t.Fatal(err)
	}
	if string(data) != "\x89PNG-bytes" || ct != "image/png" {
		t.Errorf("data %q, type %q", data, ct)
	}
	hops := up.recorded()
	want := []hop{
		{path: "/gg-dl/tok=s0", cookie: "__Secure-1PSID=p; __Secure-1PSIDTS=ts; NID=n"},
		{path: "/rd-gg-dl/tok=s0", cookie: "__Secure-1PSID=p; __Secure-1PSIDTS=ts; NID=n"},
		{path: "/foreign", cookie: ""},
		{path: "/final", cookie: ""},
	}
	if len(hops) != len(want) {
		t.Fatalf("hops %+v", hops)
	}
	for i, h := range hops {
		if h.path != want[i].path || h.cookie != want[i].cookie {
			t.Errorf("hop %d = %+v, want path %s cookie %q", i, h, want[i].path, want[i].cookie)
		}
	}

	// Genspark: a bare cookie value is sent as session_id=...; sizes are
	// not applied to non-Google URLs.
	up.mu.Lock()
	up.hops = nil
	up.mu.Unlock()
	if _, _, err := f.ReadAll(context.Background(), up.a.URL+"/genspark-cdn/image/x.png", "s1", "64"); err != nil {
		t.Fatal(err)
	}
	if h := up.recorded(); len(h) != 1 || h[0].cookie != "session_id=bare-session" || h[0].path != "/genspark-cdn/image/x.png" {
		t.Errorf("genspark hop %+v", h)
	}
}

func TestFetchSizes(t *testing.T) {
	var got []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.URL.Path)
		mu.Unlock()
		_, _ = io.WriteString(w, "x")
	}))
	t.Cleanup(srv.Close)
	f := newFetcher(t, imageproxy.FetcherOptions{})
	for sz, want := range map[string]string{
		"":         "/gg/abc=s0",
		"none":     "/gg/abc=s1024-rj",
		"512":      "/gg/abc=s512",
		"w512":     "/gg/abc=w512",
		"s2048-rj": "/gg/abc=s2048-rj",
	} {
		mu.Lock()
		got = nil
		mu.Unlock()
		if _, _, err := f.ReadAll(context.Background(), srv.URL+"/gg/abc=s1024-rj", "", sz); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("sz %q: path %v, want %s", sz, got, want)
		}
	}
	for _, bad := range []string{"../x", "S512", "a b", strings.Repeat("1", 40)} {
		_, _, err := f.ReadAll(context.Background(), srv.URL+"/gg/abc", "", bad)
		if gw.ErrorCode(err) != gw.CodeInvalidRequest {
			t.Errorf("sz %q: %v", bad, err)
		}
	}
}

func TestFetchFailures(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		case "/gone":
			http.NotFound(w, r)
		case "/forbidden":
			w.WriteHeader(http.StatusForbidden)
		case "/big":
			w.Header().Set("Content-Length", "2000")
			_, _ = w.Write(make([]byte, 2000))
		case "/big-chunked":
			w.(http.Flusher).Flush()
			_, _ = w.Write(make([]byte, 2000))
		case "/exact":
			_, _ = w.Write(make([]byte, 1000))
		case "/slow":
			<-r.Context().Done() // answers only after the fetcher gave up
		case "/sniff":
			w.Header()["Content-Type"] = nil
			_, _ = w.Write([]byte("GIF89a......"))
		case "/ftp":
			w.Header().Set("Location", "ftp://x/y")
			w.WriteHeader(http.StatusFound)
		}
	}))
	t.Cleanup(srv.Close)
	f := newFetcher(t, imageproxy.FetcherOptions{MaxBytes: 1000, Timeout: 100 * time.Millisecond, MaxRedirects: 3})
	ctx := context.Background()
	for path, code := range map[string]gw.Code{
		"/loop":        gw.CodeUpstream,
		"/gone":        gw.CodeNotFound,
		"/forbidden":   gw.CodeUpstream,
		"/big":         gw.CodeTooLarge,
		"/big-chunked": gw.CodeTooLarge,
		"/slow":        gw.CodeUpstreamTimeout,
		"/ftp":         gw.CodeUpstream,
	} {
		_, _, err := f.ReadAll(ctx, srv.URL+path, "", "")
		if gw.ErrorCode(err) != code {
			t.Errorf("%s: %v (code %s), want %s", path, err, gw.ErrorCode(err), code)
		}
	}
	if data, _, err := f.ReadAll(ctx, srv.URL+"/exact", "", ""); err != nil || len(data) != 1000 {
		t.Errorf("exactly MaxBytes: %d bytes, %v", len(data), err)
	}
	if _, ct, err := f.ReadAll(ctx, srv.URL+"/sniff", "", ""); err != nil || ct != "image/gif" {
		t.Errorf("sniffed type %q, %v", ct, err)
	}
	if _, _, err := f.ReadAll(ctx, srv.URL+"/exact", "nobody", ""); gw.ErrorCode(err) != gw.CodeNotFound {
		t.Errorf("unknown account: %v", err)
	}
	if _, _, err := f.ReadAll(ctx, "file:///etc/passwd", "", ""); gw.ErrorCode(err) != gw.CodeInvalidRequest {
		t.Errorf("file URL: %v", err)
	}
}

func TestHandler(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Cookie") != "session_id=bare-session" {
			w.WriteHeader(http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "video/mp4")
		_, _ = io.WriteString(w, "\x00\x00\x00\x18ftypisom")
	}))
	t.Cleanup(up.Close)
	c := testutil.NewClock(time.Unix(time.Now().Unix(), 0))
	s := newSigner(t, c, imageproxy.SignerOptions{TTL: time.Hour})
	h := imageproxy.NewHandler(s, newFetcher(t, imageproxy.FetcherOptions{}), imageproxy.HandlerOptions{})
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	minted := srv.URL + s.Mint(up.URL+"/v.mp4", "s1", 0)
	resp, body := get(t, minted)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "video/mp4" || string(body[4:8]) != "ftyp" {
		t.Fatalf("%d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	for k, want := range map[string]string{
		"Cache-Control":          "private, max-age=3600",
		"X-Content-Type-Options": "nosniff",
		"Content-Length":         "12",
	} {
		if got := resp.Header.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if !strings.Contains(resp.Header.Get("Content-Security-Policy"), "sandbox") {
		t.Errorf("CSP = %q", resp.Header.Get("Content-Security-Policy"))
	}
	if r, err := http.Head(minted); err != nil || r.StatusCode != 200 {
		t.Errorf("HEAD: %v %v", r, err)
	}

	// Tampered and expired URLs: 403 in the OpenAI envelope.
	tampered := strings.Replace(minted, "a=s1", "a=g1", 1)
	expectError(t, tampered, http.StatusForbidden, "Invalid image URL signature.")
	c.Advance(time.Hour)
	expectError(t, minted, http.StatusForbidden, "This image URL has expired; request the image again for a fresh URL.")
	expectError(t, srv.URL+imageproxy.Path, http.StatusForbidden, "Invalid image URL signature.")

	// A genuine URL whose upstream refuses: 502.
	c.Advance(-time.Hour)
	expectError(t, srv.URL+s.Mint(up.URL+"/v.mp4", "", 0), http.StatusBadGateway, "The image host refused the download (HTTP 403); the account that generated it may be logged out.")
}

func get(t *testing.T, u string) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

func expectError(t *testing.T, u string, status int, msg string) {
	t.Helper()
	resp, body := get(t, u)
	var env struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || resp.StatusCode != status || env.Error.Message != msg || env.Error.Type == "" ||
		resp.Header.Get("Content-Type") != "application/json" {
		t.Errorf("%s: %d %s (%v)", u, resp.StatusCode, body, err)
	}
}
