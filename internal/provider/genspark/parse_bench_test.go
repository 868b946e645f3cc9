package genspark_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/provider/genspark"
)

// benchDelta is a typical answer delta as the upstream frames it (spaced
// separators, docs/genspark-upstream.md §2.1).
const benchDelta = `data: {"message_id": "8b1f7c2e-5a9d-4d0e-9c61-2f3b4a5c6d7e", "field_name": "session_state.answer", "delta": "weather in Paris ", "type": "message_field_delta"}`

// benchBody is a whole answer of n deltas with the events the upstream
// interleaves, every fourth delta with escapes.
func benchBody(n int) []byte {
	var b bytes.Buffer
	b.WriteString("data: {\"id\": \"proj-1\", \"type\": \"project_start\"}\n\n")
	b.WriteString("data: {\"id\": \"proj-1\", \"field_name\": \"status\", \"field_value\": \"PROCESSING\", \"type\": \"project_field\"}\n\n")
	b.WriteString("data: {\"message_id\": \"m1\", \"field_name\": \"_updatetime\", \"field_value\": \"2025-05-05T14:33:48.992304\", \"type\": \"message_field\"}\n\n")
	var text strings.Builder
	for i := range n {
		d := fmt.Sprintf("word%d ", i)
		if i%4 == 3 {
			d = fmt.Sprintf("line %d\\n\\\"q\\\" ", i)
		}
		fmt.Fprintf(&b, "data: {\"message_id\": \"m1\", \"field_name\": \"session_state.answer\", \"delta\": \"%s\", \"type\": \"message_field_delta\"}\n\n", d)
		text.WriteString(d)
	}
	fmt.Fprintf(&b, "data: {\"id\": \"m1\", \"role\": \"assistant\", \"content\": \"%s\", \"action\": null, \"is_prompt\": false, \"session_state\": {\"answer\": \"x\", \"steps\": []}, \"type\": \"message_result\"}\n\n", text.String())
	return b.Bytes()
}

func BenchmarkDecodeEvent(b *testing.B) {
	line := []byte(benchDelta)
	b.ReportAllocs()
	for b.Loop() {
		if ev, ok := genspark.DecodeEvent(line); !ok || ev.Delta == "" {
			b.Fatal("not decoded")
		}
	}
}

// BenchmarkParseStream parses a 200-delta answer; ns/op is per answer.
func BenchmarkParseStream(b *testing.B) {
	body := benchBody(200)
	b.ReportAllocs()
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		s := genspark.ParseStream(bytes.NewReader(body), genspark.ParseOptions{})
		n := 0
		for {
			_, err := s.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n++
		}
		if n != 201 {
			b.Fatalf("%d events", n)
		}
		s.Close()
	}
}
