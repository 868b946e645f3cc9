package testutil

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync"
	"testing"
)

// PipeListener is an in-memory net.Listener: Dial makes a net.Pipe and hands
// one end to Accept. Unlike loopback sockets, a goroutine blocked on a pipe
// is durably blocked in the testing/synctest sense, so an HTTP server and
// client on pipes can run inside a bubble, where write deadlines, timers and
// sleeps follow the bubble's fake clock.
type PipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
}

// NewPipeListener returns an open listener.
func NewPipeListener() *PipeListener {
	return &PipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
}

// errListenerClosed is what Accept and Dial return after Close.
var errListenerClosed = errors.New("pipe listener closed")

// Accept waits for the next Dial.
func (l *PipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops Accept and Dial.
func (l *PipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

// Addr returns a placeholder address.
func (l *PipeListener) Addr() net.Addr { return pipeAddr{} }

// Dial connects to the listener; its signature fits http.Transport's
// DialContext.
func (l *PipeListener) Dial(ctx context.Context, _, _ string) (net.Conn, error) {
	client, server := net.Pipe()
	select {
	case l.conns <- server:
		return client, nil
	case <-l.done:
		return nil, errListenerClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

// PipeServer is an HTTP server on a PipeListener with a client that dials
// it. URL is the base URL to request.
type PipeServer struct {
	Server *http.Server
	Client *http.Client
	URL    string
}

// NewPipeServer serves h on pipes until the test ends. Call it inside the
// bubble of testing/synctest.Test; configure Server (e.g. ConnState) through
// setup before it starts.
func NewPipeServer(t testing.TB, h http.Handler, setup func(*http.Server)) *PipeServer {
	t.Helper()
	ln := NewPipeListener()
	srv := &http.Server{Handler: h}
	if setup != nil {
		setup(srv)
	}
	tr := &http.Transport{DialContext: ln.Dial}
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = srv.Serve(ln)
	}()
	t.Cleanup(func() {
		tr.CloseIdleConnections()
		_ = srv.Close()
		<-served
	})
	return &PipeServer{Server: srv, Client: &http.Client{Transport: tr}, URL: "http://pipe"}
}
