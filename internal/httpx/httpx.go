// Package httpx builds the HTTP clients spark uses towards upstreams: one
// pooled, keep-alive transport per proxy setting, shared by every request
// that uses that proxy.
package httpx

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// DefaultResponseHeaderTimeout bounds the wait for an upstream's response
// headers when Options leave it unset.
const DefaultResponseHeaderTimeout = 120 * time.Second

// Options tune the transports a Clients hands out. Zero values take the
// defaults.
type Options struct {
	// ResponseHeaderTimeout bounds the wait for the response headers once
	// the request is written (UPSTREAM_HEADER_TIMEOUT); default
	// DefaultResponseHeaderTimeout. The body is not bounded here: answers
	// stream for minutes, and the providers bound their silence.
	ResponseHeaderTimeout time.Duration
}

// Clients hands out one *http.Client per proxy URL. The zero value is not
// usable; call NewClients.
type Clients struct {
	defaultProxy string
	opts         Options
	mu           sync.Mutex
	byProxy      map[string]*http.Client
}

// NewClients returns a client cache whose Get("") uses defaultProxy (the
// global PROXY_URL; empty = direct), with default Options.
func NewClients(defaultProxy string) (*Clients, error) {
	return NewClientsWithOptions(defaultProxy, Options{})
}

// NewClientsWithOptions is NewClients with transports tuned by opts.
func NewClientsWithOptions(defaultProxy string, opts Options) (*Clients, error) {
	if defaultProxy != "" {
		if _, err := ParseProxy(defaultProxy); err != nil {
			return nil, err
		}
	}
	return &Clients{defaultProxy: defaultProxy, opts: opts, byProxy: map[string]*http.Client{}}, nil
}

// ParseProxy validates a proxy URL: http, https, socks5 or socks5h with a host.
func ParseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return nil, fmt.Errorf("proxy URL: %w", err)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
	default:
		return nil, fmt.Errorf("proxy URL: scheme %q not supported (use http, https, socks5 or socks5h)", u.Scheme)
	}
	if u.Host == "" {
		return nil, fmt.Errorf("proxy URL: missing host")
	}
	return u, nil
}

// Get returns the client for proxy (empty = the default proxy).
func (c *Clients) Get(proxy string) (*http.Client, error) {
	if proxy == "" {
		proxy = c.defaultProxy
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cl, ok := c.byProxy[proxy]; ok {
		return cl, nil
	}
	tr, err := newTransport(proxy, c.opts)
	if err != nil {
		return nil, err
	}
	cl := &http.Client{Transport: tr}
	c.byProxy[proxy] = cl
	return cl, nil
}

// NewTransport returns a keep-alive transport through proxy (empty = direct).
// There is no overall timeout: callers bound requests with contexts, since
// answers stream for minutes.
func NewTransport(proxy string) (*http.Transport, error) {
	return newTransport(proxy, Options{})
}

func newTransport(proxy string, opts Options) (*http.Transport, error) {
	headerTimeout := opts.ResponseHeaderTimeout
	if headerTimeout <= 0 {
		headerTimeout = DefaultResponseHeaderTimeout
	}
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: headerTimeout,
		ExpectContinueTimeout: time.Second,
		// The write buffer lives as long as the connection, which for a
		// streamed answer is as long as the answer, but it only carries
		// the request: 2 KiB holds a chat request's headers and a short
		// body in one write (a longer body takes one more) and keeps an
		// open stream 2 KiB smaller than the 4 KiB default.
		WriteBufferSize: 2 << 10,
	}
	if proxy != "" {
		u, err := ParseProxy(proxy)
		if err != nil {
			return nil, err
		}
		tr.Proxy = http.ProxyURL(u)
	}
	return tr, nil
}
