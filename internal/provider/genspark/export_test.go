package genspark

import "io"

// ParseStream returns a Stream over an ask response body (status 2xx), for
// the parser tests. When body is an io.Closer, Close closes it.
func ParseStream(body io.Reader, opts ParseOptions) *Stream {
	return newStream(nil, body, nil, opts, nil)
}
