package testutil

import (
	"io"
	"net"
	"net/url"
	"sync"
	"testing"
)

// ProxyMode is what a FaultProxy does with connections.
type ProxyMode string

// FaultProxy modes.
const (
	// ProxyForward relays every connection to the target.
	ProxyForward ProxyMode = "forward"
	// ProxyDrop closes every connection at once (the service is down).
	ProxyDrop ProxyMode = "drop"
	// ProxySwallow reads what a connection sends and never answers (the
	// service hangs).
	ProxySwallow ProxyMode = "swallow"
)

// FaultProxy is a TCP proxy on 127.0.0.1 in front of a service (Redis,
// say) that a test can break and mend: leaving ProxyForward closes every
// open connection, and new ones get the new mode. It is safe for
// concurrent use.
type FaultProxy struct {
	ln     net.Listener
	target string

	mu    sync.Mutex
	mode  ProxyMode
	conns []net.Conn
}

// NewFaultProxy starts a forwarding proxy in front of the host of
// serviceURL and returns it with serviceURL pointed at the proxy. It stops
// when the test ends.
func NewFaultProxy(t testing.TB, serviceURL string) (*FaultProxy, string) {
	t.Helper()
	u, err := url.Parse(serviceURL)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &FaultProxy{ln: ln, target: u.Host, mode: ProxyForward}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Set(ProxyDrop)
	})
	u.Host = ln.Addr().String()
	return p, u.String()
}

func (p *FaultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		mode := p.mode
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		switch mode {
		case ProxyDrop:
			c.Close()
		case ProxySwallow:
			go io.Copy(io.Discard, c)
		default:
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.conns = append(p.conns, up)
			p.mu.Unlock()
			go func() { io.Copy(up, c); up.Close() }()
			go func() { io.Copy(c, up); c.Close() }()
		}
	}
}

// Set changes the mode; leaving ProxyForward breaks every open connection.
func (p *FaultProxy) Set(mode ProxyMode) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.mode = mode
	if mode != ProxyForward {
		for _, c := range p.conns {
			c.Close()
		}
		p.conns = nil
	}
}
