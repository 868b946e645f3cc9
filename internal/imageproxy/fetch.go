package imageproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/store"
)

// Defaults of FetcherOptions.
const (
	DefaultMaxBytes     = 50 << 20
	DefaultTimeout      = 5 * time.Minute
	DefaultMaxRedirects = 5
	// DefaultUserAgent is a plain desktop browser string.
	DefaultUserAgent = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/145.0.0.0 Safari/537.36"
)

// AccountLookup finds an upstream account by id with its current cookie
// (after rotations). The app implements it over the account store
// ([StoreAccounts]) or the pool. A missing account is an error wrapping
// store.ErrNotFound or a *gw.Error with gw.CodeNotFound.
type AccountLookup interface {
	Account(ctx context.Context, id string) (*gw.Account, error)
}

// AccountGetter is the part of store.AccountStore that StoreAccounts needs.
type AccountGetter interface {
	GetAccount(ctx context.Context, id string) (store.Account, error)
}

// StoreAccounts adapts an account store to AccountLookup.
func StoreAccounts(s AccountGetter) AccountLookup { return storeAccounts{s} }

type storeAccounts struct{ s AccountGetter }

func (a storeAccounts) Account(ctx context.Context, id string) (*gw.Account, error) {
	acc, err := a.s.GetAccount(ctx, id)
	if err != nil {
		return nil, err
	}
	return acc.GW(), nil
}

// Upstream is what the fetcher knows about one provider's media; the
// provider's plugin declares it.
type Upstream struct {
	// CookieHost reports whether an account's credential may be sent to
	// host (lower case, no port) over HTTPS; nil sends it nowhere.
	CookieHost func(host string) bool
	// Cookie shapes an account's credential into the Cookie header the
	// media hosts accept; nil sends it as stored.
	Cookie func(credential string) string
	// Resize applies a size option to one of the provider's media URLs; ok
	// is false when u is not one of them.
	Resize func(u *url.URL, size string) (out *url.URL, ok bool)
}

// cookieAllowed reports whether the cookie of an account of provider may
// be sent to u (the first URL and every redirect hop): to the extra hosts
// over HTTP or HTTPS, else over HTTPS to the hosts the provider names.
func (f *Fetcher) cookieAllowed(provider string, u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	if (u.Scheme == "http" || u.Scheme == "https") && hostIn(host, f.opts.CookieHosts...) {
		return true
	}
	up, ok := f.opts.Upstreams[provider]
	return ok && u.Scheme == "https" && up.CookieHost != nil && up.CookieHost(host)
}

func hostIn(host string, domains ...string) bool {
	for _, d := range domains {
		d = strings.ToLower(strings.TrimPrefix(d, "."))
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

// cookieHeader shapes an account's credential for a media host.
func (f *Fetcher) cookieHeader(acct *gw.Account) string {
	c := strings.TrimSpace(acct.Cookie)
	if up, ok := f.opts.Upstreams[acct.Provider]; ok && up.Cookie != nil {
		return up.Cookie(c)
	}
	return c
}

// resize applies size to u with the first provider rule that knows u.
func (f *Fetcher) resize(u *url.URL, size string) *url.URL {
	for _, up := range f.opts.Upstreams {
		if up.Resize == nil {
			continue
		}
		if out, ok := up.Resize(u, size); ok {
			return out
		}
	}
	return u
}

// FetcherOptions configure a Fetcher.
type FetcherOptions struct {
	// Accounts finds the owning account of a URL; nil means URLs are
	// fetched without cookies.
	Accounts AccountLookup
	// Clients hands out the HTTP client of an account's proxy (the
	// account's own, else PROXY_URL); nil means direct connections.
	Clients *httpx.Clients
	// Upstreams are the providers' media rules, by provider name: which
	// hosts get an account's cookie and in what shape, how a size option
	// applies.
	Upstreams map[string]Upstream
	// CookieHosts are extra hosts (and their subdomains; ports ignored)
	// that get every account's cookie, over HTTP or HTTPS
	// (IMAGE_PROXY_COOKIE_HOSTS; tests use the simulator's loopback host).
	CookieHosts []string
	// MaxBytes bounds one fetched file; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Timeout bounds one fetch, body included; 0 means DefaultTimeout.
	Timeout time.Duration
	// MaxRedirects bounds the hops followed; 0 means DefaultMaxRedirects.
	MaxRedirects int
	// UserAgent is sent upstream; empty means DefaultUserAgent.
	UserAgent string
}

// Fetcher downloads generated media with the owning account's cookies. It
// is safe for concurrent use.
type Fetcher struct {
	opts FetcherOptions
}

// NewFetcher returns a Fetcher.
func NewFetcher(opts FetcherOptions) (*Fetcher, error) {
	if opts.Clients == nil {
		c, err := httpx.NewClients("")
		if err != nil {
			return nil, err
		}
		opts.Clients = c
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = DefaultMaxBytes
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.MaxRedirects <= 0 {
		opts.MaxRedirects = DefaultMaxRedirects
	}
	if opts.UserAgent == "" {
		opts.UserAgent = DefaultUserAgent
	}
	return &Fetcher{opts: opts}, nil
}

// MaxBytes is the size bound of one fetched file.
func (f *Fetcher) MaxBytes() int64 { return f.opts.MaxBytes }

// Media is an upstream file being received. Close must be called.
type Media struct {
	// Body yields at most the fetcher's MaxBytes; reading past that fails
	// with an error of code gw.CodeTooLarge.
	Body io.ReadCloser
	// ContentType is the upstream's, or sniffed when it sent none.
	ContentType string
	// Length is the upstream Content-Length, -1 when unknown.
	Length int64
}

// Close releases the upstream response.
func (m *Media) Close() error { return m.Body.Close() }

// sizeOption matches an image size option of the Google image hosts
// (s1024, w512-h512, s0-rj, ...).
var sizeOption = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,31}$`)

// ValidSize reports whether sz is a size parameter Open accepts: "" (full
// size), "none" (the URL as generated: Gemini's preview), digits (a
// longest side in pixels) or a Google size option such as w512 or s1024-rj.
func ValidSize(sz string) bool {
	return sz == "" || sz == "none" || sizeOption.MatchString(sz)
}

// Open starts downloading upstreamURL with the cookie of account accountID
// ("" = none) through that account's proxy. size selects a render of an
// image whose provider resizes (Upstream.Resize; see ValidSize); other
// URLs ignore it. Redirects are followed by hand, up to MaxRedirects,
// re-sending the cookie only to the hosts the account's provider admits.
// Errors are *gw.Error: 404 when the upstream no longer has the file, 502
// for other upstream refusals, 504 on timeout.
func (f *Fetcher) Open(ctx context.Context, upstreamURL, accountID, size string) (*Media, error) {
	if !ValidSize(size) {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Param: "sz",
			Message: "sz must be a pixel size (512), a Google size option (w512, s1024-rj) or none"}
	}
	u, err := url.Parse(upstreamURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &gw.Error{Code: gw.CodeInvalidRequest, Message: "the image URL is not an http(s) URL", Cause: err}
	}
	var acct *gw.Account
	if accountID != "" && f.opts.Accounts != nil {
		acct, err = f.opts.Accounts.Account(ctx, accountID)
		if err != nil {
			if errors.Is(err, store.ErrNotFound) || gw.ErrorCode(err) == gw.CodeNotFound {
				return nil, &gw.Error{Code: gw.CodeNotFound, Message: "The account that generated this image no longer exists.", Cause: err}
			}
			return nil, gw.Wrap(gw.CodeInternal, err, "could not look up the account that generated this image")
		}
	}
	proxy := ""
	if acct != nil {
		proxy = acct.Proxy
	}
	base, err := f.opts.Clients.Get(proxy)
	if err != nil {
		return nil, &gw.Error{Code: gw.CodeInternal, Message: "the account's proxy is invalid"} // the URL may hold credentials
	}
	client := *base
	client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	client.Jar = nil

	ctx, cancel := context.WithTimeout(ctx, f.opts.Timeout)
	u = f.resize(u, size)
	for hop := 0; ; hop++ {
		resp, err := f.get(ctx, &client, u, acct)
		if err != nil {
			cancel()
			return nil, err
		}
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400 && resp.Header.Get("Location") != "":
			loc := resp.Header.Get("Location")
			drain(resp.Body)
			if hop >= f.opts.MaxRedirects {
				cancel()
				return nil, &gw.Error{Code: gw.CodeUpstream, Message: fmt.Sprintf("the image host redirected more than %d times", f.opts.MaxRedirects)}
			}
			next, err := u.Parse(loc)
			if err != nil || (next.Scheme != "http" && next.Scheme != "https") || next.Host == "" {
				cancel()
				return nil, &gw.Error{Code: gw.CodeUpstream, Message: "the image host redirected to an invalid URL", Cause: err}
			}
			u = next
			continue
		case resp.StatusCode < 200 || resp.StatusCode > 299:
			drain(resp.Body)
			cancel()
			return nil, statusError(resp.StatusCode)
		}
		if resp.ContentLength > f.opts.MaxBytes {
			drain(resp.Body)
			cancel()
			return nil, tooLarge(f.opts.MaxBytes)
		}
		body := &limitedBody{r: resp.Body, left: f.opts.MaxBytes, max: f.opts.MaxBytes, closer: resp.Body, cancel: cancel}
		m := &Media{Body: body, ContentType: resp.Header.Get("Content-Type"), Length: resp.ContentLength}
		if m.ContentType == "" {
			br := bufio.NewReaderSize(body, 512)
			head, _ := br.Peek(512)
			m.ContentType = http.DetectContentType(head)
			m.Body = &readCloser{Reader: br, Closer: body}
		}
		return m, nil
	}
}

// ReadAll downloads a whole file (see Open) and returns its bytes and
// content type.
func (f *Fetcher) ReadAll(ctx context.Context, upstreamURL, accountID, size string) ([]byte, string, error) {
	m, err := f.Open(ctx, upstreamURL, accountID, size)
	if err != nil {
		return nil, "", err
	}
	defer m.Close()
	data, err := io.ReadAll(m.Body)
	if err != nil {
		if ge := (*gw.Error)(nil); errors.As(err, &ge) {
			return nil, "", ge
		}
		if cerr := ctx.Err(); cerr != nil {
			return nil, "", gw.AsError(cerr)
		}
		return nil, "", &gw.Error{Code: gw.CodeUpstream, Message: "the image host closed the connection early", Cause: err}
	}
	return data, m.ContentType, nil
}

// get sends one GET of the redirect chain.
func (f *Fetcher) get(ctx context.Context, client *http.Client, u *url.URL, acct *gw.Account) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, &gw.Error{Code: gw.CodeUpstream, Message: "invalid image URL", Cause: err}
	}
	req.Header.Set("User-Agent", f.opts.UserAgent)
	req.Header.Set("Accept", "image/avif,image/webp,image/png,image/*,video/*,*/*;q=0.8")
	if acct != nil && f.cookieAllowed(acct.Provider, u) {
		if c := f.cookieHeader(acct); c != "" {
			req.Header.Set("Cookie", c)
		}
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &gw.Error{Code: gw.CodeUpstreamTimeout, Message: "fetching the image timed out", Cause: err}
		}
		if errors.Is(err, context.Canceled) {
			return nil, gw.AsError(context.Canceled)
		}
		return nil, &gw.Error{Code: gw.CodeUpstream, Message: "could not reach the image host", Cause: err}
	}
	return resp, nil
}

func statusError(status int) *gw.Error {
	switch status {
	case http.StatusNotFound, http.StatusGone:
		return &gw.Error{Code: gw.CodeNotFound, Message: "The upstream no longer has this image."}
	case http.StatusUnauthorized, http.StatusForbidden:
		return &gw.Error{Code: gw.CodeUpstream, Message: fmt.Sprintf("The image host refused the download (HTTP %d); the account that generated it may be logged out.", status)}
	}
	return &gw.Error{Code: gw.CodeUpstream, Message: fmt.Sprintf("The image host answered HTTP %d.", status)}
}

func tooLarge(limit int64) *gw.Error {
	return &gw.Error{Code: gw.CodeTooLarge, Message: fmt.Sprintf("The upstream file is larger than the proxy's limit of %d bytes.", limit)}
}

// drain discards a little of an unused body so its connection can be
// reused, then closes it.
func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, 64<<10)
	body.Close()
}

// limitedBody yields at most max bytes and fails past them; Close cancels
// the fetch's context.
type limitedBody struct {
	r      io.Reader
	left   int64
	max    int64
	closer io.Closer
	cancel context.CancelFunc
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte tells a file of exactly max bytes from a longer one.
		var one [1]byte
		n, err := b.r.Read(one[:])
		if n > 0 {
			return 0, tooLarge(b.max)
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	return n, err
}

func (b *limitedBody) Close() error {
	err := b.closer.Close()
	b.cancel()
	return err
}

type readCloser struct {
	io.Reader
	io.Closer
}

// formatLength renders a Content-Length.
func formatLength(n int64) string { return strconv.FormatInt(n, 10) }
