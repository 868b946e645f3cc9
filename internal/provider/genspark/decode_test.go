package genspark

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// refDecodeEvent is the decoder DecodeEvent replaced (encoding/json: a
// json.Decoder walked with Token, a map of raw values, json.Unmarshal per
// string field). decodeEvent must agree with it on every input.
func refDecodeEvent(payload []byte) (ev UpstreamEvent, ok bool) {
	payload, _ = cutData(bytes.TrimSpace(payload))
	if len(payload) == 0 || payload[0] != '{' {
		return ev, false
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return ev, false
	}
	ev.Fields = map[string]json.RawMessage{}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return UpstreamEvent{}, false
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return UpstreamEvent{}, false
		}
		if _, dup := ev.Fields[key]; !dup {
			ev.Keys = append(ev.Keys, key)
		}
		ev.Fields[key] = raw
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return UpstreamEvent{}, false
	}
	str := func(raw json.RawMessage) string {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '"' {
			return ""
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	}
	f := ev.Fields
	ev.Type = str(f["type"])
	ev.ID = str(f["id"])
	ev.MessageID = str(f["message_id"])
	ev.FieldName = str(f["field_name"])
	ev.FieldValue = f["field_value"]
	ev.Delta = str(f["delta"])
	ev.Role = str(f["role"])
	ev.Content = str(f["content"])
	ev.ActionType = str(objectFields(f["action"])["type"])
	ev.SessionState = f["session_state"]
	_, ev.hasDelta = f["delta"]
	ev.status = f["status"]
	ev.message = f["message"]
	return ev, true
}

// checkDecode compares decodeEvent (both modes) with the reference.
func checkDecode(t *testing.T, payload []byte) {
	t.Helper()
	want, wantOK := refDecodeEvent(payload)
	got, gotOK := decodeEvent(bytes.Clone(payload), true)
	if gotOK != wantOK {
		t.Fatalf("%q: ok = %v, reference %v", payload, gotOK, wantOK)
	}
	if !gotOK {
		return
	}
	norm := func(ev UpstreamEvent) UpstreamEvent {
		if len(ev.Fields) == 0 {
			ev.Fields = nil
		}
		return ev
	}
	if !reflect.DeepEqual(norm(got), norm(want)) {
		t.Fatalf("%q:\n got %+v\nwant %+v", payload, got, want)
	}
	fast, ok := decodeEvent(payload, false)
	if !ok {
		t.Fatalf("%q: fast path rejects", payload)
	}
	want.Keys, want.Fields, want.MessageID = nil, nil, ""
	if c := fast.content(); c != want.Content {
		t.Fatalf("%q: fast path content %q, want %q", payload, c, want.Content)
	}
	if !reflect.DeepEqual(fast, want) {
		t.Fatalf("%q: fast path:\n got %+v\nwant %+v", payload, fast, want)
	}
}

var decodeCases = []string{
	`{}`, ` { } `, `{} trailing garbage`, `{"a":1} x`, `data: {"type":"x"}`, `data:{"type":"x"}`,
	`{"type": "message_field_delta", "message_id": "m1", "field_name": "session_state.answer", "delta": "Hel"}`,
	`{"message_id":"m","field_name":"session_state.answer","field_value":"Hello","type":"message_field"}`,
	`{"type":"message_result","content":"x","action":{"type":"ACTION_QUOTA_EXCEEDED","x":[1,2]},"session_state":{"consume_usage_quota_exceeded":true}}`,
	`{"status":-5,"message":"not login"}`, `{"status": -5 , "message" : "Not Login "}`,
	`{"type":1,"delta":null,"content":{"a":"b"},"id":["x"],"role":true,"field_name":2.5e-3}`,
	`{"type":"a","type":"b"}`, `{"ty\u0070e":"esc","type":"plain"}`, `{"type":"plain","ty\u0070e":"esc"}`,
	`{"delta":"line\nbreak \"quoted\" \\ \/ \b\f\r\t \u00e9 \ud83d\ude00 \ud800 \udc00x \u0041"}`,
	"{\"delta\":\"caf\xc3\xa9 \xff\xfe invalid\"}", "{\"k\xff\":1}", "{\"delta\":\"\xed\xa0\x80\"}",
	`{"a":{"b":[1,{"c":[]},"d",{}],"e":{}},"type":"t"}`, `{"a":[]}`, `{"a":[ ]}`, `{"a":{ }}`,
	`{"a":-0.5E+10,"b":0,"c":-0,"d":1e5,"e":12.340}`,
	`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{,"a":1}`, `{"a":1 "b":2}`, `{"a" 1}`, `{1:2}`, `{"a":01}`,
	`{"a":1.}`, `{"a":.5}`, `{"a":-}`, `{"a":1e}`, `{"a":tru}`, `{"a":truex}`, `{"a":nul}`, `{"a":[1,]}`,
	`{"a":[,1]}`, `{"a":{"b"}}`, `{"a":{"b":1,}}`, `{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`,
	"{\"a\":\"tab\there\"}", "{\"a\":\"nl\nhere\"}", `{"a":"unterminated}`, `{"a":[1,2}`, `{"a":{"b":1]}`,
	`{"a":1}}`, `{"a":[1]]}`, "{\t\"a\"\r\n:\n1\t}", "{\"a\":1\v}", `{"a":1}` + "\u00a0",
	`[1,2]`, `"str"`, `not json`, ``, `data: `, `{"a":"\ud83d\u0041"}`, `{"a":"\uD83D\uDE00"}`,
	`{"field_value":  {"x": "y"} , "session_state" :[1]}`,
}

func TestDecodeEventMatchesEncodingJSON(t *testing.T) {
	for _, c := range decodeCases {
		checkDecode(t, []byte(c))
	}
	// Nesting around encoding/json's depth limit, in arrays and objects.
	for _, n := range []int{maxNestingDepth - 1, maxNestingDepth, maxNestingDepth + 1} {
		checkDecode(t, []byte(`{"a":`+strings.Repeat("[", n)+strings.Repeat("]", n)+`}`))
		checkDecode(t, []byte(`{"a":`+strings.Repeat(`{"k":`, n-1)+`{}`+strings.Repeat("}", n-1)+`}`))
	}
	// Every line of the fixtures and transcripts.
	files, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.txt"))
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		checkDecode(t, b)
		for _, line := range bytes.Split(b, []byte("\n")) {
			checkDecode(t, line)
		}
	}
}

// FuzzDecodeEvent checks decodeEvent and objectField against
// encoding/json on arbitrary payloads.
func FuzzDecodeEvent(f *testing.F) {
	for _, c := range decodeCases {
		f.Add([]byte(c))
	}
	for _, c := range objectFieldCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		checkDecode(t, payload)
		checkObjectField(t, payload, "k")
	})
}

// checkObjectField compares objectField with a map decoded by
// encoding/json, for JSON values (objectField is only given values the
// event decoder validated).
func checkObjectField(t *testing.T, raw []byte, key string) {
	t.Helper()
	if !json.Valid(raw) {
		return
	}
	want := bytes.TrimSpace(objectFields(raw)[key])
	if got := objectField(raw, key); !bytes.Equal(got, want) {
		t.Fatalf("objectField(%q, %q) = %q, want %q", raw, key, got, want)
	}
}

var objectFieldCases = []string{
	`{}`, `{"k":1}`, ` {"a":{"k":2},"k" : [1,{"k":3}] } `, `{"k":1,"k":"two"}`, `{"\u006b":true}`, `{"k":null}`,
	`[{"k":1}]`, `"k"`, `{"kk":1,"K":2}`, "{\"k\xff\":1}", `{"consume_usage_quota_exceeded": true}`,
}

func TestObjectField(t *testing.T) {
	for _, c := range objectFieldCases {
		checkObjectField(t, []byte(c), "k")
		checkObjectField(t, []byte(c), "consume_usage_quota_exceeded")
	}
	for _, c := range decodeCases {
		for _, key := range []string{"type", "a", "k"} {
			checkObjectField(t, []byte(c), key)
		}
	}
}

func TestJSONString(t *testing.T) {
	for _, c := range []string{`"a"`, ` "a" `, `"a\nb"`, `"a"b"`, `"a`, `1`, ``, `"\u00e9"`, "\"\xff\"", `"a" "b"`} {
		got, gotOK := jsonString([]byte(c))
		var want string
		wantErr := json.Unmarshal([]byte(c), &want)
		wantOK := wantErr == nil && strings.HasPrefix(strings.TrimSpace(c), `"`)
		if !wantOK {
			want = ""
		}
		if got != want || gotOK != wantOK {
			t.Errorf("jsonString(%q) = %q, %v; want %q, %v", c, got, gotOK, want, wantOK)
		}
	}
}
