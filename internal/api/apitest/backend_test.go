package apitest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/sparkgw/spark/internal/llm"
)

// TestFakeBackendScript checks the scripted answers and the records.
func TestFakeBackendScript(t *testing.T) {
	boom := errors.New("boom")
	b := &FakeBackend{
		Script: func(n int, _ *llm.Request) []llm.Event { return []llm.Event{Text(string(rune('a' + n)))} },
		Err:    boom,
	}
	for n := range 2 {
		st, err := b.Chat(t.Context(), &llm.Request{Model: "m"})
		if err != nil {
			t.Fatal(err)
		}
		ev, err := st.Recv()
		if err != nil || ev.Text != string(rune('a'+n)) {
			t.Fatalf("call %d: first event %+v, %v", n, ev, err)
		}
		if _, err := st.Recv(); !errors.Is(err, boom) {
			t.Fatalf("call %d: after the events %v, want Err", n, err)
		}
		_ = st.Close()
	}
	if b.Calls() != 2 || b.Request(t, -1) != b.LastRequest(t) || len(b.Streams()) != 2 {
		t.Fatalf("records: %d calls, %d streams", b.Calls(), len(b.Streams()))
	}
	b.CheckClosed(t)
}

// TestFakeStreamCloses checks Recv after Close and the close count that
// WaitClosed reports.
func TestFakeStreamCloses(t *testing.T) {
	s := NewFakeStream(context.Background(), nil, nil)
	if _, err := s.Recv(); err != io.EOF {
		t.Fatalf("empty stream: %v, want io.EOF", err)
	}
	_ = s.Close()
	if _, err := s.Recv(); err == nil || err == io.EOF {
		t.Fatalf("Recv after Close: %v, want a failure", err)
	}
	_ = s.Close()
	rec := &recorder{TB: t}
	WaitClosed(rec, s)
	if len(rec.errs) == 0 || s.Closes() != 2 || s.Recvs() != 2 {
		t.Fatalf("a double close went unreported (%q, %d closes, %d recvs)", rec.errs, s.Closes(), s.Recvs())
	}
}
