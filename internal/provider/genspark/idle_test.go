package genspark

import (
	"context"
	"io"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/gw"
)

// The idle timeout counts only the time a read waits on Genspark: a
// consumer that is slow between Recv calls never trips it, an upstream
// that goes silent mid-answer does, and the stream then fails with
// upstream_timeout (not canceled, which would not count against the
// account).
func TestStreamIdleTimeout(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const idle = 10 * time.Second
		pr, pw := io.Pipe()
		ctx, cancel := context.WithCancel(context.Background())
		stop := context.AfterFunc(ctx, func() { pr.CloseWithError(ctx.Err()) }) // what an HTTP body does
		defer stop()
		s := newStream(ctx, pr, cancel, ParseOptions{IdleTimeout: idle}, nil)
		defer s.Close()

		go func() { _, _ = io.WriteString(pw, deltaLine("a")+deltaLine("b")) }()
		for _, want := range []string{"a", "b"} {
			ev, err := s.Recv()
			if err != nil || ev.Text != want {
				t.Fatalf("Recv = %+v, %v; want %q", ev, err, want)
			}
			time.Sleep(3 * idle) // a slow consumer: no read is waiting
		}
		if ctx.Err() != nil {
			t.Fatal("the idle timer cancelled the request while no read was waiting")
		}

		start := time.Now()
		_, err := s.Recv() // Genspark sends nothing more
		if gw.ErrorCode(err) != gw.CodeUpstreamTimeout {
			t.Fatalf("silent upstream: %v (code %q), want upstream_timeout", err, gw.ErrorCode(err))
		}
		if waited := time.Since(start); waited != idle {
			t.Fatalf("failed after %v of silence, want %v", waited, idle)
		}
	})
}
