package genspark_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/genspark"
)

// fixture returns a testdata fixture file.
func fixture(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "fixtures", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// errorClasses maps the fixtures' "error" names to spark codes.
var errorClasses = map[string]gw.Code{
	"server_overloaded":   gw.CodeTransient,
	"free_quota_exceeded": gw.CodeQuotaExhausted,
	"not_logged_in":       gw.CodeLoggedOut,
	"rate_limited":        gw.CodeRateLimited,
}

// expectation is NAME.expected.json (testdata/fixtures/SOURCES.md).
type expectation struct {
	Kind              string            `json:"kind"`
	Events            []json.RawMessage `json:"events"`
	MessageResultKeys []string          `json:"message_result_keys"`
	ProjectID         *string           `json:"project_id"`
	TaskIDs           []string          `json:"task_ids"`
	AnswerDeltas      []string          `json:"answer_deltas"`
	Error             string            `json:"error"`
	Status            *int              `json:"status"`
	Message           string            `json:"message"`
	Text              string            `json:"text"`
}

var knownExpectationKeys = []string{"kind", "events", "message_result_keys", "project_id", "task_ids",
	"answer_deltas", "error", "status", "message", "text"}

func TestFixtures(t *testing.T) {
	runFixtures(t, filepath.Join("testdata", "fixtures"))
}

func runFixtures(t *testing.T, dir string) {
	names, err := filepath.Glob(filepath.Join(dir, "*.expected.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in %s (%v)", dir, err)
	}
	for _, expPath := range names {
		name := strings.TrimSuffix(filepath.Base(expPath), ".expected.json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(filepath.Join(dir, name+".txt"))
			if err != nil {
				t.Fatal(err)
			}
			raw, err := os.ReadFile(expPath)
			if err != nil {
				t.Fatal(err)
			}
			var all map[string]json.RawMessage
			var exp expectation
			if err := json.Unmarshal(raw, &all); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal(raw, &exp); err != nil {
				t.Fatal(err)
			}
			for k := range all {
				if !slices.Contains(knownExpectationKeys, k) {
					t.Errorf("expectation key %q is not checked by this test; extend it", k)
				}
			}
			checkFixture(t, body, &exp)
		})
	}
}

func checkFixture(t *testing.T, body []byte, exp *expectation) {
	// Upstream events, as DecodeEvent reads them.
	var decoded []genspark.UpstreamEvent
	for _, line := range bytes.Split(body, []byte("\n")) {
		if ev, ok := genspark.DecodeEvent(line); ok && ev.Type != "" {
			decoded = append(decoded, ev)
		}
	}
	if len(exp.Events) != len(decoded) {
		t.Fatalf("decoded %d events, want %d", len(decoded), len(exp.Events))
	}
	for i, rawExp := range exp.Events {
		var want map[string]json.RawMessage
		if err := json.Unmarshal(rawExp, &want); err != nil {
			t.Fatal(err)
		}
		checkEvent(t, i, decoded[i], want)
	}
	if exp.MessageResultKeys != nil {
		var got []string
		for _, ev := range decoded {
			if ev.Type == "message_result" {
				got = ev.Keys
			}
		}
		if !slices.Equal(got, exp.MessageResultKeys) {
			t.Errorf("message_result keys = %v, want %v", got, exp.MessageResultKeys)
		}
	}
	if len(exp.TaskIDs) != 0 {
		t.Errorf("task ids %v expected: the chat parser does not extract task ids", exp.TaskIDs)
	}
	switch exp.Kind {
	case "json_error_body":
		ev, ok := genspark.DecodeEvent(body)
		if !ok {
			t.Fatal("body is not decodable JSON")
		}
		var msg string
		_ = json.Unmarshal(ev.Fields["message"], &msg)
		if exp.Status != nil && string(ev.Fields["status"]) != strings.TrimSpace(string(mustJSON(*exp.Status))) || msg != exp.Message {
			t.Errorf("status %s message %q", ev.Fields["status"], msg)
		}
	case "plain_text_error":
		if strings.TrimSpace(string(body)) != exp.Text {
			t.Errorf("text = %q, want %q", body, exp.Text)
		}
	}

	// What the stream makes of the body, parsed directly and served with
	// a 2xx and a non-2xx status.
	code, ok := errorClasses[exp.Error]
	if exp.Error != "" && !ok {
		t.Fatalf("unknown error class %q", exp.Error)
	}
	s := genspark.ParseStream(bytes.NewReader(body), genspark.ParseOptions{})
	evs, err := collectEvents(s)
	checkOutcome(t, "ParseStream", evs, err, exp, code)
	if exp.ProjectID != nil && s.ProjectID() != *exp.ProjectID || exp.ProjectID == nil && s.ProjectID() != "" {
		t.Errorf("ProjectID = %q, want %v", s.ProjectID(), exp.ProjectID)
	}
	for _, status := range []int{200, 500} {
		f := newFake(t)
		f.handle("/api/copilot/ask", respond(status, "", string(body)))
		p := newProvider(t, f.srv.URL, nil)
		st, err := p.Chat(context.Background(), account("a1", "c"), userReq("gpt-5.1", "x"))
		var evs []llm.Event
		if err == nil {
			evs, err = collectEvents(st)
			st.Close()
		}
		checkOutcome(t, "HTTP "+string(mustJSON(status)), evs, err, exp, code)
	}
}

func checkOutcome(t *testing.T, how string, evs []llm.Event, err error, exp *expectation, code gw.Code) {
	t.Helper()
	var deltas []string
	for _, ev := range evs {
		if ev.Type == llm.EventTextDelta {
			deltas = append(deltas, ev.Text)
		}
	}
	if exp.AnswerDeltas != nil && !slices.Equal(deltas, exp.AnswerDeltas) {
		t.Errorf("%s: answer deltas %q, want %q", how, deltas, exp.AnswerDeltas)
	}
	if exp.Error == "" {
		if err != nil {
			t.Errorf("%s: unexpected error %v", how, err)
		}
		return
	}
	if len(deltas) != 0 {
		t.Errorf("%s: text %q delivered before the error", how, deltas)
	}
	if gw.ErrorCode(err) != code {
		t.Errorf("%s: error %v (code %s), want %s", how, err, gw.ErrorCode(err), code)
	}
}

func checkEvent(t *testing.T, i int, ev genspark.UpstreamEvent, want map[string]json.RawMessage) {
	t.Helper()
	str := func(k string) string {
		var s string
		if err := json.Unmarshal(want[k], &s); err != nil {
			t.Fatalf("event %d: expected %s is not a string", i, k)
		}
		return s
	}
	for k := range want {
		var got string
		switch k {
		case "type":
			got = ev.Type
		case "id":
			got = ev.ID
		case "message_id":
			got = ev.MessageID
		case "field_name":
			got = ev.FieldName
		case "role":
			got = ev.Role
		case "content":
			got = ev.Content
		case "action_type":
			got = ev.ActionType
		case "field_value":
			var a, b any
			_ = json.Unmarshal(ev.FieldValue, &a)
			_ = json.Unmarshal(want[k], &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("event %d: field_value %s, want %s", i, ev.FieldValue, want[k])
			}
			continue
		case "session_state":
			var a, b any
			_ = json.Unmarshal(ev.SessionState, &a)
			_ = json.Unmarshal(want[k], &b)
			if !reflect.DeepEqual(a, b) {
				t.Errorf("event %d: session_state %s, want %s", i, ev.SessionState, want[k])
			}
			continue
		default:
			t.Errorf("event %d: expected key %q is not checked; extend the test", i, k)
			continue
		}
		if w := str(k); got != w {
			t.Errorf("event %d: %s = %q, want %q", i, k, got, w)
		}
	}
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
