// Package fetch downloads client-given media URLs (images, files, audio
// referenced by URL in a request) under guards against server-side request
// forgery: only http and https, only public unicast destinations, bounded
// size, time and redirects.
//
// The destination check happens at connect time on the resolved address:
// the dialer resolves the host itself, refuses the connection if any
// candidate address is loopback, private, link-local (cloud metadata),
// unspecified, multicast, carrier-grade NAT or reserved (IPv4-mapped and
// IPv4-embedding IPv6 forms included), and connects only to the addresses it
// checked, so DNS rebinding between check and connect is impossible. Every
// redirect hop goes through the same dialer. Errors are *gw.Error with code
// gw.CodeInvalidRequest (gw.CodeTooLarge for oversize bodies) and messages
// that name the client's own URL host but never what an internal name
// resolves to.
package fetch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"path"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 25 << 20
	DefaultTimeout      = 30 * time.Second
	DefaultMaxRedirects = 5
	defaultUserAgent    = "spark-media-fetcher/1"
)

// Resolver returns the addresses of host (a name, never an IP literal).
type Resolver func(ctx context.Context, host string) ([]netip.Addr, error)

// Options configure a Fetcher. The zero value is usable and safe.
type Options struct {
	// MaxBytes bounds the body size; larger bodies fail with gw.CodeTooLarge
	// without being read fully. Zero means DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds a whole fetch, redirects and body included. Zero means
	// DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects bounds the redirects followed. Zero means
	// DefaultMaxRedirects; negative means none.
	MaxRedirects int
	// Proxy, when set (http, https, socks5 or socks5h URL, as PROXY_URL),
	// sends fetches through that proxy. The proxy then makes the final
	// connection, so the address check runs on spark's own resolution of
	// each hop's host just before the request: a name whose DNS answer
	// changes between that check and the proxy's resolution (rebinding) is
	// not caught. Without a proxy the check is exact (connect time).
	Proxy string
	// UserAgent is sent with every request; empty means a spark default.
	UserAgent string

	// AllowLoopback lets fetches reach loopback addresses. TEST ONLY: no
	// configuration sets it.
	AllowLoopback bool
	// AllowAddrs lets fetches reach exactly these address:port pairs
	// despite the rules. TEST ONLY: no configuration sets it.
	AllowAddrs []netip.AddrPort
	// Resolver replaces DNS resolution (tests). Nil uses net.DefaultResolver.
	Resolver Resolver
}

// Fetcher downloads client-given URLs. It is safe for concurrent use and
// implements gateway.MediaFetcher.
type Fetcher struct {
	opts   Options
	client *http.Client
	proxy  bool
}

// New returns a Fetcher; it fails only for an invalid Proxy.
func New(opts Options) (*Fetcher, error) {
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects == 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.UserAgent == "" {
		opts.UserAgent = defaultUserAgent
	}
	if opts.Resolver == nil {
		opts.Resolver = defaultResolve
	}
	f := &Fetcher{opts: opts}
	tr := &http.Transport{
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       30 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: opts.Timeout,
		ExpectContinueTimeout: time.Second,
	}
	var rt http.RoundTripper = tr
	if opts.Proxy != "" {
		u, err := httpx.ParseProxy(opts.Proxy)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(u)
		tr.DialContext = (&net.Dialer{Timeout: 10 * time.Second}).DialContext
		f.proxy = true
		rt = precheck{f: f, next: tr}
	} else {
		tr.DialContext = f.dialContext
	}
	f.client = &http.Client{Transport: rt, CheckRedirect: f.checkRedirect}
	return f, nil
}

// refused is a destination refusal; its message is client-visible.
func refused(format string, args ...any) *gw.Error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Message: "URL refused: " + fmt.Sprintf(format, args...)}
}

// Fetch downloads rawURL and returns its body and media type (from the
// response, else sniffed from the bytes, else guessed from the path's
// extension). See the package comment for the guards.
func (f *Fetcher) Fetch(ctx context.Context, rawURL string) ([]byte, string, error) {
	u, err := f.checkURL(rawURL)
	if err != nil {
		return nil, "", err
	}
	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, "", refused("invalid URL")
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "*/*")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, "", f.requestError(ctx, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return nil, "", gw.Errorf(gw.CodeInvalidRequest, "fetching the URL failed: the server answered HTTP %d", resp.StatusCode)
	}
	if resp.ContentLength > f.opts.MaxBytes {
		return nil, "", f.tooLarge()
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, f.opts.MaxBytes+1))
	if err != nil {
		return nil, "", f.requestError(ctx, err)
	}
	if int64(len(data)) > f.opts.MaxBytes {
		return nil, "", f.tooLarge()
	}
	return data, mediaType(resp, data), nil
}

func (f *Fetcher) tooLarge() error {
	return gw.Errorf(gw.CodeTooLarge, "the file at the URL is larger than the %s limit", sizeText(f.opts.MaxBytes))
}

// requestError converts a transport failure into a client-visible error.
func (f *Fetcher) requestError(ctx context.Context, err error) error {
	var e *gw.Error
	if errors.As(err, &e) {
		return e
	}
	var netErr net.Error
	timedOut := errors.Is(err, context.DeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout()
	switch ctx.Err() {
	case nil:
	case context.DeadlineExceeded:
		timedOut = true
	default:
		return gw.AsError(ctx.Err())
	}
	if timedOut {
		// The deadline may surface from the transport before ctx reports it.
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err,
			Message: fmt.Sprintf("fetching the URL timed out after %s", f.opts.Timeout)}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err, Message: "fetching the URL failed: the host name could not be resolved"}
	}
	return &gw.Error{Code: gw.CodeInvalidRequest, Cause: err, Message: "fetching the URL failed: could not connect or read the response"}
}

// checkURL validates the scheme and host of a URL (first request or
// redirect target) and refuses literal addresses and local names early, for
// clear messages; the dialer re-checks whatever is actually connected to.
func (f *Fetcher) checkURL(raw string) (*url.URL, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, refused("not a valid URL")
	}
	return u, f.checkParsed(u)
}

func (f *Fetcher) checkParsed(u *url.URL) error {
	switch strings.ToLower(u.Scheme) {
	case "http", "https":
	default:
		if u.Scheme == "" {
			return refused("only http and https URLs can be fetched")
		}
		return refused("scheme %q is not allowed (only http and https)", u.Scheme)
	}
	host := normHost(u.Hostname())
	if host == "" {
		return refused("the URL has no host")
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n <= 0 || n > 65535 {
			return refused("invalid port %q", p)
		}
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return f.checkAddr(host, a, portOf(u))
	}
	if isNumericHost(host) {
		// Forms like 2130706433 or 0x7f.1 that some resolvers read as IPv4.
		return refused("%s is not a valid host name", host)
	}
	if nameRefused(host) {
		return refused("%s is a local or internal host name", host)
	}
	return nil
}

// checkAddr refuses addr unless it is public (or allowed for tests). name is
// how the client wrote the host: when it is a name, the address is not
// revealed.
func (f *Fetcher) checkAddr(name string, addr netip.Addr, port uint16) error {
	addr = addr.WithZone("")
	class := Classify(addr)
	if class == "" {
		return nil
	}
	if f.opts.AllowLoopback && class == classLoopback {
		return nil
	}
	for _, ap := range f.opts.AllowAddrs {
		if ap.Addr().Unmap() == addr.Unmap() && ap.Port() == port {
			return nil
		}
	}
	if a, err := netip.ParseAddr(name); err == nil && a.WithZone("") == addr {
		return refused("%s is %s", addr, class)
	}
	return refused("%s resolves to %s", name, class)
}

// checkRedirect bounds redirects and re-checks each target's scheme and
// host; the dialer checks the address it connects to.
func (f *Fetcher) checkRedirect(req *http.Request, via []*http.Request) error {
	if f.opts.MaxRedirects < 0 || len(via) > f.opts.MaxRedirects {
		return gw.Errorf(gw.CodeInvalidRequest, "fetching the URL failed: more than %d redirects", max(f.opts.MaxRedirects, 0))
	}
	if err := f.checkParsed(req.URL); err != nil {
		e := gw.AsError(err)
		return &gw.Error{Code: e.Code, Message: strings.Replace(e.Message, "URL refused: ", "URL refused: redirect target: ", 1)}
	}
	return nil
}

// dialContext resolves addr's host, checks every candidate address and
// connects to the checked ones only.
func (f *Fetcher) dialContext(ctx context.Context, network, addr string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	port64, err := strconv.ParseUint(portStr, 10, 16)
	if err != nil {
		return nil, err
	}
	port := uint16(port64)
	addrs, err := f.resolve(ctx, host, port)
	if err != nil {
		return nil, err
	}
	d := &net.Dialer{
		Timeout: 10 * time.Second,
		// Defence in depth: check the address of the socket about to
		// connect, whatever produced it.
		Control: func(_, address string, _ syscall.RawConn) error {
			ap, err := netip.ParseAddrPort(address)
			if err != nil {
				return refused("unexpected address")
			}
			return f.checkAddr(ap.Addr().String(), ap.Addr(), ap.Port())
		},
	}
	var firstErr error
	for _, a := range addrs {
		conn, err := d.DialContext(ctx, network, netip.AddrPortFrom(a, port).String())
		if err == nil {
			return conn, nil
		}
		if firstErr == nil {
			firstErr = err
		}
		if ctx.Err() != nil {
			break
		}
	}
	return nil, firstErr
}

// resolve returns the addresses of host after checking all of them: one
// refused address refuses the host (a name that mixes public and internal
// answers is not trusted).
func (f *Fetcher) resolve(ctx context.Context, host string, port uint16) ([]netip.Addr, error) {
	host = normHost(host)
	if a, err := netip.ParseAddr(host); err == nil {
		if err := f.checkAddr(host, a, port); err != nil {
			return nil, err
		}
		return []netip.Addr{a.WithZone("")}, nil
	}
	if nameRefused(host) {
		return nil, refused("%s is a local or internal host name", host)
	}
	addrs, err := f.opts.Resolver(ctx, host)
	if err != nil {
		return nil, err
	}
	if len(addrs) == 0 {
		return nil, &net.DNSError{Err: "no addresses", Name: host, IsNotFound: true}
	}
	for i, a := range addrs {
		a = a.Unmap().WithZone("")
		addrs[i] = a
		if err := f.checkAddr(host, a, port); err != nil {
			return nil, err
		}
	}
	return addrs, nil
}

func defaultResolve(ctx context.Context, host string) ([]netip.Addr, error) {
	return net.DefaultResolver.LookupNetIP(ctx, "ip", host)
}

// precheck checks each hop's destination by resolution before handing the
// request to a proxying transport (see Options.Proxy).
type precheck struct {
	f    *Fetcher
	next http.RoundTripper
}

func (p precheck) RoundTrip(req *http.Request) (*http.Response, error) {
	if err := p.f.checkParsed(req.URL); err != nil {
		return nil, err
	}
	if _, err := p.f.resolve(req.Context(), req.URL.Hostname(), portOf(req.URL)); err != nil {
		return nil, err
	}
	return p.next.RoundTrip(req)
}

// normHost lower-cases host and drops a trailing dot and IPv6 brackets.
func normHost(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = strings.TrimPrefix(strings.TrimSuffix(h, "]"), "[")
	return strings.TrimSuffix(h, ".")
}

func portOf(u *url.URL) uint16 {
	if p := u.Port(); p != "" {
		n, _ := strconv.ParseUint(p, 10, 16)
		return uint16(n)
	}
	if strings.EqualFold(u.Scheme, "https") {
		return 443
	}
	return 80
}

// isNumericHost reports hosts made only of digits, dots and hex notation,
// which are no valid DNS names but which some resolvers read as IPv4.
func isNumericHost(h string) bool {
	last := h
	if i := strings.LastIndexByte(h, '.'); i >= 0 {
		last = h[i+1:]
	}
	if last == "" {
		return false
	}
	if strings.HasPrefix(last, "0x") {
		return true
	}
	for _, c := range last {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// mediaType picks the body's media type: the response's Content-Type unless
// absent or generic, else sniffed, else from the path's extension.
func mediaType(resp *http.Response, data []byte) string {
	if ct := resp.Header.Get("Content-Type"); ct != "" {
		if mt, _, err := mime.ParseMediaType(ct); err == nil && mt != "application/octet-stream" && mt != "binary/octet-stream" {
			return mt
		}
	}
	if len(data) > 0 {
		if mt, _, _ := strings.Cut(http.DetectContentType(data), ";"); mt != "application/octet-stream" && mt != "text/plain" {
			return mt
		}
	}
	if ext := path.Ext(resp.Request.URL.Path); ext != "" {
		if mt := mime.TypeByExtension(strings.ToLower(ext)); mt != "" {
			mt, _, _ = strings.Cut(mt, ";")
			return mt
		}
	}
	if len(data) > 0 {
		mt, _, _ := strings.Cut(http.DetectContentType(data), ";")
		return mt
	}
	return "application/octet-stream"
}

func sizeText(n int64) string {
	if n >= 1<<20 && n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}
