package wire

import (
	"time"

	"github.com/sparkgw/spark/internal/llm"
)

// DefaultKeepAlive is a sensible interval for the keepalives the chat
// front-ends send while a structured answer is gathered.
const DefaultKeepAlive = 10 * time.Second

// AwaitChat calls open (the backend's Chat) and waits for it, keeping the
// client's stream alive meanwhile: when open has not returned within every,
// begin starts the stream (the 200 and its opening events), then keepalive
// writes a keepalive frame every interval until open returns. began says
// whether begin ran: a failure of open must then be sent in-band, and
// before it, it is still a real HTTP error. A begin or keepalive error (the
// client went away) is returned as is, with began true; the stream open
// returns later is closed then. every <= 0 just calls open.
func AwaitChat(every time.Duration, open func() (llm.Stream, error), begin, keepalive func() error) (st llm.Stream, began bool, err error) {
	if every <= 0 {
		st, err = open()
		return st, false, err
	}
	type result struct {
		st     llm.Stream
		err    error
		panicV any
	}
	done := make(chan result, 1)
	go func() {
		var r result
		defer func() {
			// A panic is re-raised on the caller's goroutine, where the
			// server's recovery answers the request.
			r.panicV = recover()
			done <- r
		}()
		r.st, r.err = open()
	}()
	abandon := func() {
		go func() {
			if r := <-done; r.st != nil {
				_ = r.st.Close()
			}
		}()
	}
	timer := time.NewTimer(every)
	defer timer.Stop()
	for {
		select {
		case r := <-done:
			if r.panicV != nil {
				panic(r.panicV)
			}
			return r.st, began, r.err
		case <-timer.C:
			if !began {
				began = true
				err = begin()
			} else {
				err = keepalive()
			}
			if err != nil {
				abandon()
				return nil, true, err
			}
			timer.Reset(every)
		}
	}
}
