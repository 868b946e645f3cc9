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

// Clients hands out one *http.Client per proxy URL. The zero value is not
// usable; call NewClients.
type Clients struct {
	defaultProxy string
	mu           sync.Mutex
	byProxy      map[string]*http.Client
}

// NewClients returns a client cache whose Get("") uses defaultProxy (the
// global PROXY_URL; empty = direct).
func NewClients(defaultProxy string) (*Clients, error) {
	if defaultProxy != "" {
		if _, err := ParseProxy(defaultProxy); err != nil {
			return nil, err
		}
	}
	return &Clients{defaultProxy: defaultProxy, byProxy: map[string]*http.Client{}}, nil
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
	tr, err := NewTransport(proxy)
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
	tr := &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 15 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   15 * time.Second,
		ResponseHeaderTimeout: 120 * time.Second,
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
