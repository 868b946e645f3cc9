package wire

import (
	"encoding/json"
	"testing"
)

func TestUnquoteString(t *testing.T) {
	for _, tc := range []struct {
		raw  string
		want string
		ok   bool
	}{
		{`""`, "", true},
		{`"plain text, ünïcödé and 😀"`, "plain text, ünïcödé and 😀", true},
		{`"line\nbreak \"quoted\" back\\slash \/ \b\f\r\t"`, "line\nbreak \"quoted\" back\\slash / \b\f\r\t", true},
		{`"\u00e9\u20AC"`, "é€", true},
		{`"\ud83d\ude00 pair"`, "😀 pair", true},
		{`"\ud800 lone"`, "\uFFFD lone", true},
		{`"\ud800\u0041"`, "\uFFFDA", true},
		{`"\ude00"`, "\uFFFD", true},
		{`"bad \' escape"`, "", false},
		{`"bad \x escape"`, "", false},
		{`"short \u12"`, "", false},
		{`"trailing \"`, "", false},
		{`"raw "quote"`, "", false},
		{"\"control \x01\"", "", false},
		{"\"invalid \xff utf-8\"", "", false},
		{`not a string`, "", false},
		{`"`, "", false},
	} {
		got, ok := UnquoteString([]byte(tc.raw))
		if got != tc.want || ok != tc.ok {
			t.Errorf("UnquoteString(%s) = %q, %v; want %q, %v", tc.raw, got, ok, tc.want, tc.ok)
		}
	}
}

// FuzzUnquoteString: whenever UnquoteString accepts a literal, it gives
// what encoding/json gives for it.
func FuzzUnquoteString(f *testing.F) {
	for _, s := range []string{`""`, `"a\nb"`, `"\ud83d\ude00"`, `"\ud800x"`, `"é"`, `"\u0000"`, `"\\\""`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, ok := UnquoteString(raw)
		var want string
		err := json.Unmarshal(raw, &want)
		if ok && (err != nil || got != want) {
			t.Fatalf("UnquoteString(%q) = %q; json.Unmarshal gives %q, %v", raw, got, want, err)
		}
		if !ok && err == nil && json.Valid(raw) && validUTF8String(raw) {
			t.Fatalf("UnquoteString refused %q, which decodes to %q", raw, want)
		}
	})
}

// validUTF8String reports whether raw is a JSON string literal, without
// surrounding space, whose bytes are valid UTF-8 (UnquoteString leaves the
// others to encoding/json).
func validUTF8String(raw []byte) bool {
	return len(raw) >= 2 && raw[0] == '"' && raw[len(raw)-1] == '"' && json.Valid(raw) && string([]rune(string(raw))) == string(raw)
}
