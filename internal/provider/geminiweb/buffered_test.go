package geminiweb_test

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// Buffered is true only when the next Recv returns an event (the rest of a
// frame's events, or the finish event queued with the last delta), and it
// is true at least once for a streamed answer.
func TestStreamBuffered(t *testing.T) {
	e := newEnv(t)
	st, err := e.p.Chat(context.Background(), account("bea"), userReq("gemini-3-flash", "Why is the sky blue? sim:think"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	trues := 0
	for {
		buffered := llm.Buffered(st)
		_, err := st.Recv()
		if errors.Is(err, io.EOF) {
			if buffered {
				t.Error("Buffered before io.EOF")
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if buffered {
			trues++
		}
	}
	if trues == 0 {
		t.Error("Buffered was never true")
	}
}
