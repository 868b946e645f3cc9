package llm_test

import (
	"testing"

	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/llm/llmtest"
)

func TestDrain(t *testing.T) {
	st := &llmtest.Stream{Events: []llm.Event{{Type: llm.EventTextDelta, Text: "a"}, {Type: llm.EventFinish}}}
	llm.Drain(st)
	if st.Received() != 2 || st.Closed != 0 {
		t.Fatalf("received %d of 2 events, closed %d times", st.Received(), st.Closed)
	}
}
