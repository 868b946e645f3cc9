package fetch_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/fetch"
	"github.com/sparkgw/spark/internal/gateway"
	"github.com/sparkgw/spark/internal/gw"
)

// noResolve is a resolver that fails the test: the refusals under test must
// happen before any resolution.
func noResolve(t *testing.T) fetch.Resolver {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		t.Errorf("unexpected resolution of %q", host)
		return nil, errors.New("no resolution in tests")
	}
}

// fakeDNS resolves names from a table (and fails for the rest).
func fakeDNS(table map[string][]string) fetch.Resolver {
	return func(_ context.Context, host string) ([]netip.Addr, error) {
		var out []netip.Addr
		for _, s := range table[host] {
			out = append(out, netip.MustParseAddr(s))
		}
		if out == nil {
			return nil, fmt.Errorf("no such host %q", host)
		}
		return out, nil
	}
}

func mustNew(t *testing.T, opts fetch.Options) *fetch.Fetcher {
	t.Helper()
	f, err := fetch.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func wantErr(t *testing.T, err error, code gw.Code, msgPart string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no error; want %s containing %q", code, msgPart)
	}
	var e *gw.Error
	if !errors.As(err, &e) {
		t.Fatalf("error %v (%T) is not a *gw.Error", err, err)
	}
	if e.Code != code {
		t.Errorf("code = %s, want %s (message %q)", e.Code, code, e.Message)
	}
	if !strings.Contains(e.Message, msgPart) {
		t.Errorf("message = %q, want it to contain %q", e.Message, msgPart)
	}
}

func TestRefusedDestinations(t *testing.T) {
	cases := []struct {
		url, msg string
	}{
		{"http://127.0.0.1/x", "URL refused: 127.0.0.1 is a loopback address"},
		{"http://127.9.9.9:8080/", "127.9.9.9 is a loopback address"},
		{"http://10.0.0.1/", "URL refused: 10.0.0.1 is a private address"},
		{"http://172.16.5.4/", "is a private address"},
		{"http://192.168.1.1/", "is a private address"},
		{"http://169.254.169.254/latest/meta-data/", "URL refused: 169.254.169.254 is a link-local address"},
		{"http://[::1]/", "URL refused: ::1 is a loopback address"},
		{"http://[::ffff:127.0.0.1]/", "is a loopback address"},
		{"http://[::ffff:169.254.169.254]/", "is a link-local address"},
		{"http://[::ffff:a00:1]/", "is a private address"},
		{"http://[64:ff9b::a00:1]/", "is a private address"},
		{"http://[2002:7f00:1::]/", "is a loopback address"},
		{"http://[::127.0.0.1]/", "is a loopback address"},
		{"http://[fc00::1]/", "is a private address"},
		{"http://[fd12:3456::1]/", "is a private address"},
		{"http://[fe80::1]/", "is a link-local address"},
		{"http://[fe80::1%25eth0]/", "is a link-local address"},
		{"http://0.0.0.0/", "is an unspecified address"},
		{"http://0.1.2.3/", "is an unspecified address"},
		{"http://[::]/", "is an unspecified address"},
		{"http://224.0.0.1/", "is a multicast address"},
		{"http://[ff02::1]/", "is a multicast address"},
		{"http://100.64.0.1/", "is a shared (carrier-grade NAT) address"},
		{"http://255.255.255.255/", "is a reserved address"},
		{"http://metadata.google.internal/computeMetadata/v1/", "metadata.google.internal is a local or internal host name"},
		{"http://METADATA.GOOGLE.INTERNAL./", "is a local or internal host name"},
		{"http://localhost:8080/", "localhost is a local or internal host name"},
		{"http://api.localhost/", "is a local or internal host name"},
		{"http://2130706433/", "is not a valid host name"},
		{"http://0x7f.1/", "is not a valid host name"},
		{"file:///etc/passwd", `scheme "file" is not allowed`},
		{"ftp://example.com/a", `scheme "ftp" is not allowed`},
		{"gopher://example.com/", `scheme "gopher" is not allowed`},
		{"//example.com/a", "only http and https"},
		{"http:///nohost", "no host"},
	}
	f := mustNew(t, fetch.Options{Resolver: noResolve(t)})
	for _, c := range cases {
		t.Run(c.url, func(t *testing.T) {
			_, _, err := f.Fetch(t.Context(), c.url)
			wantErr(t, err, gw.CodeInvalidRequest, c.msg)
		})
	}
}

func TestNameResolvingToInternalAddress(t *testing.T) {
	f := mustNew(t, fetch.Options{Resolver: fakeDNS(map[string][]string{
		"rebind.test":  {"127.0.0.1"},
		"mixed.test":   {"93.184.216.34", "10.1.2.3"},
		"meta.test":    {"169.254.169.254"},
		"mapped.test":  {"::ffff:192.168.0.10"},
		"private.test": {"fd00::5"},
	})})
	for host, msg := range map[string]string{
		"rebind.test":  "URL refused: rebind.test resolves to a loopback address",
		"mixed.test":   "URL refused: mixed.test resolves to a private address",
		"meta.test":    "resolves to a link-local address",
		"mapped.test":  "resolves to a private address",
		"private.test": "resolves to a private address",
	} {
		t.Run(host, func(t *testing.T) {
			_, _, err := f.Fetch(t.Context(), "http://"+host+"/img.png")
			wantErr(t, err, gw.CodeInvalidRequest, msg)
			// What an internal name resolves to is never revealed.
			if e := gw.AsError(err); strings.ContainsAny(e.Message, "0123456789") && !strings.Contains(e.Message, host) {
				t.Errorf("message leaks an address: %q", e.Message)
			}
			for _, leak := range []string{"127.0.0.1", "10.1.2.3", "169.254", "192.168", "fd00"} {
				if strings.Contains(gw.AsError(err).Message, leak) {
					t.Errorf("message %q leaks %s", gw.AsError(err).Message, leak)
				}
			}
		})
	}
}

func TestUnresolvableName(t *testing.T) {
	f := mustNew(t, fetch.Options{Resolver: fakeDNS(nil)})
	_, _, err := f.Fetch(t.Context(), "https://nowhere.test/a")
	wantErr(t, err, gw.CodeInvalidRequest, "fetching the URL failed")
}

// counter is a loopback server that counts its hits.
func counter(t *testing.T) (*httptest.Server, *atomic.Int32) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = w.Write([]byte("secret internal data"))
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

func addrPort(t *testing.T, srv *httptest.Server) netip.AddrPort {
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return netip.MustParseAddrPort(u.Host)
}

func TestRedirectToInternalRefused(t *testing.T) {
	internal, hits := counter(t)
	ip := addrPort(t, internal)
	var target atomic.Value
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ok" {
			_, _ = w.Write([]byte("public data"))
			return
		}
		if r.URL.Path == "/self" {
			http.Redirect(w, r, "/ok", http.StatusFound)
			return
		}
		if r.URL.Path == "/loop" {
			http.Redirect(w, r, "/loop", http.StatusFound)
			return
		}
		http.Redirect(w, r, target.Load().(string), http.StatusFound)
	}))
	defer front.Close()
	// Only the front server's exact address:port is allowed: it stands for
	// a public server. The internal one shares its IP but not its port.
	f := mustNew(t, fetch.Options{
		AllowAddrs: []netip.AddrPort{addrPort(t, front)},
		Resolver:   fakeDNS(map[string][]string{"rebind.test": {"127.0.0.1"}, "front.test": {addrPort(t, front).Addr().String()}}),
	})

	// The allowed server itself is reachable, redirects within it too.
	data, _, err := f.Fetch(t.Context(), front.URL+"/self")
	if err != nil || string(data) != "public data" {
		t.Fatalf("allowed fetch: %q, %v", data, err)
	}

	cases := []struct{ to, msg string }{
		{internal.URL + "/", "URL refused: redirect target: 127.0.0.1 is a loopback address"},
		{fmt.Sprintf("http://[::ffff:127.0.0.1]:%d/", ip.Port()), "redirect target: ::ffff:127.0.0.1 is a loopback address"},
		{fmt.Sprintf("http://localhost:%d/", ip.Port()), "redirect target: localhost is a local or internal host name"},
		// A name is only judged when dialled: the dialer refuses it.
		{fmt.Sprintf("http://rebind.test:%d/", ip.Port()), "URL refused: rebind.test resolves to a loopback address"},
		{"http://169.254.169.254/latest/meta-data/", "redirect target: 169.254.169.254 is a link-local address"},
		{"file:///etc/passwd", `redirect target: scheme "file" is not allowed`},
		{"gopher://127.0.0.1:70/", `redirect target: scheme "gopher" is not allowed`},
	}
	for _, c := range cases {
		t.Run(c.to, func(t *testing.T) {
			target.Store(c.to)
			_, _, err := f.Fetch(t.Context(), front.URL+"/go")
			wantErr(t, err, gw.CodeInvalidRequest, c.msg)
		})
	}
	if n := hits.Load(); n != 0 {
		t.Errorf("internal server was reached %d times", n)
	}

	t.Run("too many redirects", func(t *testing.T) {
		_, _, err := f.Fetch(t.Context(), front.URL+"/loop")
		wantErr(t, err, gw.CodeInvalidRequest, "more than 5 redirects")
	})
}

func TestAllowAddrsIsExact(t *testing.T) {
	srv, hits := counter(t)
	other := addrPort(t, srv)
	f := mustNew(t, fetch.Options{AllowAddrs: []netip.AddrPort{netip.AddrPortFrom(other.Addr(), other.Port()+1)}})
	_, _, err := f.Fetch(t.Context(), srv.URL)
	wantErr(t, err, gw.CodeInvalidRequest, "is a loopback address")
	if hits.Load() != 0 {
		t.Error("server reached")
	}
}

func TestFetchContentType(t *testing.T) {
	png := []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/typed":
			w.Header().Set("Content-Type", "image/webp; charset=binary")
			_, _ = w.Write([]byte("RIFF....WEBPVP8 "))
		case "/sniff":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write(png)
		case "/clip.mp3":
			w.Header().Set("Content-Type", "application/octet-stream")
			_, _ = w.Write([]byte{0xff, 0xfb, 0x90, 0x00, 1, 2, 3})
		case "/missing":
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := mustNew(t, fetch.Options{AllowLoopback: true})
	for path, want := range map[string]string{"/typed": "image/webp", "/sniff": "image/png", "/clip.mp3": "audio/mpeg"} {
		data, mt, err := f.Fetch(t.Context(), srv.URL+path)
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if mt != want {
			t.Errorf("%s: type %q, want %q", path, mt, want)
		}
		if len(data) == 0 {
			t.Errorf("%s: empty body", path)
		}
	}
	_, _, err := f.Fetch(t.Context(), srv.URL+"/missing")
	wantErr(t, err, gw.CodeInvalidRequest, "HTTP 404")
}

func TestOversize(t *testing.T) {
	var written atomic.Int64
	done := make(chan struct{}, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { done <- struct{}{} }()
		chunk := bytes.Repeat([]byte{'a'}, 64<<10)
		if r.URL.Path == "/declared" {
			w.Header().Set("Content-Length", fmt.Sprint(26<<20))
		}
		// 100 MiB unless the client stops reading.
		for range 1600 {
			n, err := w.Write(chunk)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	}))
	defer srv.Close()
	f := mustNew(t, fetch.Options{AllowLoopback: true})

	_, _, err := f.Fetch(t.Context(), srv.URL+"/declared")
	wantErr(t, err, gw.CodeTooLarge, "larger than the 25 MiB limit")

	written.Store(0)
	_, _, err = f.Fetch(t.Context(), srv.URL+"/chunked")
	wantErr(t, err, gw.CodeTooLarge, "larger than the 25 MiB limit")
	srv.CloseClientConnections()
	<-done
	<-done
	if n := written.Load(); n >= 100<<20 {
		t.Errorf("the whole body (%d bytes) was sent: the fetcher read it fully", n)
	}

	small := mustNew(t, fetch.Options{AllowLoopback: true, MaxBytes: 1000})
	_, _, err = small.Fetch(t.Context(), srv.URL+"/chunked")
	wantErr(t, err, gw.CodeTooLarge, "larger than the 1000 bytes limit")
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slowbody" {
			w.Header().Set("Content-Length", "100")
			_, _ = w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
		}
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	f := mustNew(t, fetch.Options{AllowLoopback: true, Timeout: 200 * time.Millisecond})
	for _, p := range []string{"/slowheaders", "/slowbody"} {
		start := time.Now()
		_, _, err := f.Fetch(t.Context(), srv.URL+p)
		wantErr(t, err, gw.CodeInvalidRequest, "timed out after 200ms")
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: took %s", p, d)
		}
	}

	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _, err := f.Fetch(ctx, srv.URL+"/slowheaders")
	wantErr(t, err, gw.CodeCanceled, "canceled")
}

func TestProxyModeChecksBeforeSending(t *testing.T) {
	// The proxy address is unreachable: every refusal must happen before
	// the fetcher tries to talk to it.
	f := mustNew(t, fetch.Options{Proxy: "http://127.0.0.1:9", Resolver: fakeDNS(map[string][]string{"rebind.test": {"10.0.0.7"}})})
	_, _, err := f.Fetch(t.Context(), "http://127.0.0.1:8080/")
	wantErr(t, err, gw.CodeInvalidRequest, "127.0.0.1 is a loopback address")
	_, _, err = f.Fetch(t.Context(), "http://rebind.test/")
	wantErr(t, err, gw.CodeInvalidRequest, "rebind.test resolves to a private address")

	if _, err := fetch.New(fetch.Options{Proxy: "ftp://x"}); err == nil {
		t.Error("invalid proxy accepted")
	}
}

func TestClassify(t *testing.T) {
	for addr, want := range map[string]string{
		"8.8.8.8":            "",
		"2606:4700::1111":    "",
		"64:ff9b::808:808":   "",
		"2002:808:808::1":    "",
		"::ffff:8.8.8.8":     "",
		"127.0.0.1":          "a loopback address",
		"::ffff:10.0.0.1":    "a private address",
		"100.127.255.254":    "a shared (carrier-grade NAT) address",
		"100.128.0.1":        "",
		"169.254.169.254":    "a link-local address",
		"fe80::abcd":         "a link-local address",
		"fec0::1":            "a private address",
		"64:ff9b:1::1":       "a private address",
		"64:ff9b::7f00:1":    "a loopback address",
		"198.18.0.1":         "a reserved address",
		"239.255.255.250":    "a multicast address",
		"::":                 "an unspecified address",
		"::8.8.8.8":          "a reserved address",
		"2001:db8::1":        "a reserved address",
		"172.32.0.1":         "",
		"172.31.255.255":     "a private address",
		"192.169.0.1":        "",
		"fd00:ec2::254":      "a private address",
		"ff0e::1":            "a multicast address",
		"0.0.0.0":            "an unspecified address",
		"224.0.0.251":        "a multicast address",
		"203.0.113.9":        "a reserved address",
		"::ffff:169.254.1.1": "a link-local address",
	} {
		if got := fetch.Classify(netip.MustParseAddr(addr)); got != want {
			t.Errorf("Classify(%s) = %q, want %q", addr, got, want)
		}
	}
}

// The fetcher is the gateway's media fetcher.
var _ gateway.MediaFetcher = (*fetch.Fetcher)(nil)
