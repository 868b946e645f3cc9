package geminiweb_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/llm"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/testutil"
)

const fixtureDir = "testdata/fixtures"

// fixtures returns the expectation files of every fixture.
func fixtures(t *testing.T) []string {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(fixtureDir, "*.expected.json"))
	if err != nil || len(names) == 0 {
		t.Fatalf("no fixtures in %s: %v", fixtureDir, err)
	}
	return names
}

func readFixture(t *testing.T, expPath string) (raw []byte, exp map[string]any) {
	t.Helper()
	b, err := os.ReadFile(expPath)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	raw, err = os.ReadFile(strings.TrimSuffix(expPath, ".expected.json") + ".txt")
	if err != nil {
		t.Fatal(err)
	}
	return raw, exp
}

// body is a response body read with the package's reader.
type body struct {
	lens     []int
	entries  []geminiweb.Entry
	payloads []*geminiweb.Payload
}

func readBody(t *testing.T, raw []byte) body {
	t.Helper()
	var b body
	fr := geminiweb.NewFrameReader(bytes.NewReader(raw), 0)
	for {
		f, err := fr.Next()
		if errors.Is(err, io.EOF) {
			return b
		}
		if err != nil {
			t.Fatalf("frame %d: %v", len(b.lens), err)
		}
		if f.Len > 0 {
			b.lens = append(b.lens, f.Len)
		}
		for _, r := range f.Entries {
			e, err := geminiweb.ParseEntry(r)
			if err != nil {
				t.Fatalf("entry %s: %v", r, err)
			}
			b.entries = append(b.entries, e)
			if e.HasPayload {
				p, err := geminiweb.ParsePayload(e.Payload)
				if err != nil {
					t.Fatalf("payload: %v", err)
				}
				b.payloads = append(b.payloads, p)
			}
		}
	}
}

func num(v any) int {
	f, _ := v.(float64)
	return int(f)
}

func ints(v any) []int {
	var out []int
	for _, x := range v.([]any) {
		out = append(out, num(x))
	}
	return out
}

// TestFixtures reads every captured fixture and checks what its
// expected.json says can be read from it.
func TestFixtures(t *testing.T) {
	for _, name := range fixtures(t) {
		t.Run(strings.TrimSuffix(filepath.Base(name), ".expected.json"), func(t *testing.T) {
			raw, exp := readFixture(t, name)
			switch kind := exp["kind"]; kind {
			case "stream_generate", "batchexecute":
				checkBody(t, raw, exp)
			case "stream_generate_entry":
				checkContentEntry(t, raw, exp)
			case "inner_payload":
				p, err := geminiweb.ParsePayload(string(raw))
				if err != nil {
					t.Fatal(err)
				}
				checkPayloads(t, []*geminiweb.Payload{p}, exp)
			case "app_page_fragment":
				page := geminiweb.ScrapeAppPage(raw)
				if page.AccessToken != exp["SNlM0e"] || page.SignedIn() != exp["signed_in"] {
					t.Errorf("page %+v", page)
				}
				_, ms, _ := strings.Cut(page.AccessToken, ":")
				if ms != strconv.Itoa(num(exp["SNlM0e_issued_at_ms"])) {
					t.Errorf("issued at %q", ms)
				}
			case "rotate_cookies_response_headers":
				checkRotateHeaders(t, raw, exp)
			default:
				t.Fatalf("fixture kind %v not handled", kind)
			}
		})
	}
}

func checkBody(t *testing.T, raw []byte, exp map[string]any) {
	b := readBody(t, raw)
	if want, ok := exp["frame_lengths"]; ok {
		if !reflect.DeepEqual(b.lens, ints(want)) {
			t.Errorf("frame lengths %v, want %v", b.lens, want)
		}
	} else if len(b.lens) != 0 {
		t.Errorf("single-array body read as framed: %v", b.lens)
	}
	if em, ok := exp["end_marker"].(map[string]any); ok {
		last := b.entries[len(b.entries)-1]
		if last.Kind != "e" || last.EndEntries != num(em["entry_count"]) || last.EndBytes != num(em["total_bytes"]) || last.EndBytes != len(raw) {
			t.Errorf("end marker %+v, want %v (body %d bytes)", last, em, len(raw))
		}
	}
	var statuses [][]int
	var codes []int
	var er []any
	for _, e := range b.entries {
		if e.Kind == "wrb.fr" && e.Status != nil {
			statuses = append(statuses, []int{e.StatusCode})
			codes = append(codes, e.ErrorCodes...)
		}
		if e.Kind == "er" {
			er = e.Raw
		}
	}
	if want, ok := exp["wrb_status"]; ok {
		if len(statuses) != 1 || !reflect.DeepEqual(statuses[0], ints(want)) {
			t.Errorf("status %v, want %v", statuses, want)
		}
	}
	if want, ok := exp["wrb_status_code"]; ok && (len(statuses) != 1 || statuses[0][0] != num(want)) {
		t.Errorf("status code %v, want %v", statuses, want)
	}
	if want, ok := exp["error_code"]; ok {
		switch {
		case want == nil && len(codes) != 0:
			t.Errorf("error codes %v, want none", codes)
		case want != nil && (len(codes) != 1 || codes[0] != num(want)):
			t.Errorf("error codes %v, want %v", codes, want)
		}
	}
	if want, ok := exp["er_entry"]; ok {
		wb, _ := json.Marshal(want)
		gb, _ := json.Marshal(er)
		if !bytes.Equal(wb, gb) {
			t.Errorf("er entry %s, want %s", gb, wb)
		}
	}
	if want, ok := exp["has_content_frame"]; ok && want != (len(b.payloads) > 0) {
		t.Errorf("content frames: %d", len(b.payloads))
	}
	if results, ok := exp["results"].([]any); ok {
		var got []map[string]any
		for _, e := range b.entries {
			if e.Kind == "wrb.fr" {
				got = append(got, map[string]any{"rpc_id": e.RPC, "request_tag": e.Tag, "status": e.Status, "payload": e.HasPayload})
			}
		}
		if len(got) != len(results) {
			t.Fatalf("results %v, want %v", got, results)
		}
		for i, r := range results {
			r := r.(map[string]any)
			if got[i]["rpc_id"] != r["rpc_id"] || got[i]["request_tag"] != r["request_tag"] {
				t.Errorf("result %d: %v, want %v", i, got[i], r)
			}
			if st, ok := r["status"]; ok && fmt.Sprint(got[i]["status"]) != fmt.Sprint(st) {
				t.Errorf("result %d status %v, want %v", i, got[i]["status"], st)
			}
			if p, ok := r["payload"]; ok && p == nil && got[i]["payload"] == true {
				t.Errorf("result %d has a payload", i)
			}
		}
	}
	if n, ok := exp["item_count"]; ok {
		checkMyStuff(t, b, exp, num(n))
	}
	checkPayloads(t, b.payloads, exp)
	if exp["kind"] == "stream_generate" {
		checkStreamOutcome(t, raw, exp)
	}
}

// checkPayloads checks the ids, candidates, text and tool statuses.
func checkPayloads(t *testing.T, ps []*geminiweb.Payload, exp map[string]any) {
	var text string
	var complete, cands bool
	var tools []map[string]any
	for _, p := range ps {
		if cid, ok := exp["cid"]; ok && p.CID != cid {
			t.Errorf("cid %q, want %v", p.CID, cid)
		}
		if rid, ok := exp["rid"]; ok && p.RID != rid {
			t.Errorf("rid %q, want %v", p.RID, rid)
		}
		if len(p.Candidates) > 0 {
			cands = true
			text = p.Candidates[0].Text
			complete = p.Candidates[0].Status == 2
		}
		if p.Tool != nil {
			m := map[string]any{"tool": p.Tool.Tool, "label": p.Tool.Label, "state": float64(p.Tool.State)}
			if p.Tool.Kind != "" {
				m["kind"] = p.Tool.Kind
			}
			tools = append(tools, m)
		}
	}
	if want, ok := exp["text"]; ok && text != want {
		t.Errorf("text %q, want %q", text, want)
	}
	if want, ok := exp["has_candidates"]; ok && want != cands {
		t.Errorf("candidates %v", cands)
	}
	if want, ok := exp["complete"]; ok && want != complete {
		t.Errorf("complete %v", complete)
	}
	switch want := exp["tool_status"].(type) {
	case map[string]any:
		if len(tools) != 1 || !reflect.DeepEqual(tools[0], want) {
			t.Errorf("tool status %v, want %v", tools, want)
		}
	case []any:
		if len(tools) != len(want) {
			t.Fatalf("tool statuses %v, want %v", tools, want)
		}
		for i := range want {
			if !reflect.DeepEqual(tools[i], want[i]) {
				t.Errorf("tool status %d: %v, want %v", i, tools[i], want[i])
			}
		}
	}
}

// checkMyStuff reads the jGArJ media list (UTF-16 LEN over Chinese text).
func checkMyStuff(t *testing.T, b body, exp map[string]any, n int) {
	var items []any
	for _, e := range b.entries {
		if e.RPC == "jGArJ" && e.HasPayload {
			var v []any
			if err := json.Unmarshal([]byte(e.Payload), &v); err != nil {
				t.Fatal(err)
			}
			items, _ = v[0].([]any)
		}
	}
	if len(items) != n {
		t.Fatalf("items %d, want %d", len(items), n)
	}
	item := func(it any) map[string]any {
		a := it.([]any)
		ids := a[0].([]any)
		return map[string]any{"cid": ids[0], "rid": ids[1], "rcid": a[len(a)-1], "type": a[2]}
	}
	for _, k := range []string{"first_item", "last_item"} {
		want := exp[k].(map[string]any)
		it := items[0]
		if k == "last_item" {
			it = items[len(items)-1]
		}
		got := item(it)
		for f, v := range want {
			switch f {
			case "title":
				if it.([]any)[3] != v {
					t.Errorf("%s title %v, want %v", k, it.([]any)[3], v)
				}
			case "timestamp":
				if fmt.Sprint(it.([]any)[1]) != fmt.Sprint(v) {
					t.Errorf("%s timestamp %v", k, it.([]any)[1])
				}
			default:
				if got[f] != v {
					t.Errorf("%s %s = %v, want %v", k, f, got[f], v)
				}
			}
		}
	}
	withURL := 0
	for _, it := range items {
		if u, ok := it.([]any)[4].([]any); ok && len(u) > 1 && u[1] != nil {
			withURL++
		}
	}
	if withURL != num(exp["items_with_image_url"]) {
		t.Errorf("items with image URL %d", withURL)
	}
}

func checkContentEntry(t *testing.T, raw []byte, exp map[string]any) {
	e, err := geminiweb.ParseEntry(json.RawMessage(raw))
	if err != nil {
		t.Fatal(err)
	}
	if e.Kind != "wrb.fr" || e.RPC != "" || !e.HasPayload {
		t.Fatalf("entry %+v", e)
	}
	p, err := geminiweb.ParsePayload(e.Payload)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Candidates) != num(exp["candidate_count"]) {
		t.Fatalf("candidates %d", len(p.Candidates))
	}
	c := p.Candidates[0]
	got := map[string]any{"cid": p.CID, "rid": p.RID, "rcid": c.RCID, "language": c.Language,
		"text": c.Text, "thoughts": c.Thoughts, "location": p.Location, "country_code": p.Country}
	for k, v := range got {
		if exp[k] != v {
			t.Errorf("%s = %q, want %q", k, v, exp[k])
		}
	}
	// The same entry served as a stream comes out exactly as text and
	// reasoning.
	js, _ := json.Marshal([]json.RawMessage{compact(t, raw)})
	bodyText := ")]}'\n\n" + frame(string(js)) + frame(`[["e",2,null,null,0]]`)
	ans, err := serveBody(t, bodyText)
	if err != nil {
		t.Fatal(err)
	}
	if ans.Text != exp["text"] || ans.Reasoning != exp["thoughts"] {
		t.Errorf("streamed text/thoughts differ from the fixture")
	}
}

func compact(t *testing.T, raw []byte) json.RawMessage {
	var b bytes.Buffer
	if err := json.Compact(&b, raw); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// frame renders one length-prefixed chunk.
func frame(js string) string {
	return strconv.Itoa(utf16Len(js)+2) + "\n" + js + "\n"
}

// checkStreamOutcome serves a StreamGenerate fixture body to the provider:
// none of them holds an answer, so each must be a typed error.
func checkStreamOutcome(t *testing.T, raw []byte, exp map[string]any) {
	_, err := serveBody(t, string(raw))
	want := gw.CodeUpstream
	if _, ok := exp["er_entry"]; ok {
		want = gw.CodeLoggedOut
	}
	if gw.ErrorCode(err) != want {
		t.Fatalf("served fixture: error %v, want %s", err, want)
	}
	ge := gw.AsError(err)
	if code, ok := exp["error_code"].(float64); ok {
		mustContain(t, ge.Message, strconv.Itoa(int(code)))
	} else if st, ok := exp["wrb_status"].([]any); ok {
		mustContain(t, ge.Message, fmt.Sprintf("status %d", num(st[0])))
	}
	if ts, ok := exp["tool_status"].([]any); ok {
		mustContain(t, ge.Message, ts[0].(map[string]any)["label"].(string))
	}
}

// serveBody runs one exchange against a fake upstream whose StreamGenerate
// answers body.
func serveBody(t *testing.T, body string) (*llm.Answer, error) {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /app", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<script>window.WIZ_global_data = {"SNlM0e":"tok:1","cfb2h":"bl","FdrFJe":"1","TuX5cc":"en"};</script>`)
	})
	mux.HandleFunc("POST /_/BardChatUi/data/batchexecute", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, ")]}'\n\n"+frame(`[["wrb.fr","otAQ7b",null,null,null,[7],"generic"]]`))
	})
	mux.HandleFunc("POST "+genPath, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, body)
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	p, err := geminiweb.New(geminiweb.Config{BaseURL: srv.URL, UploadURL: srv.URL, AccountsURL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	st, err := p.Chat(context.Background(), account("fx"), userReq("gemini-3-flash", "hi"))
	if err != nil {
		return nil, err
	}
	defer st.Close()
	return llm.Collect(st)
}

// checkRotateHeaders answers a rotation with the captured Set-Cookie
// headers: the new __Secure-1PSIDTS and the rest of the family are merged
// into the jar and persisted.
func checkRotateHeaders(t *testing.T, raw []byte, exp map[string]any) {
	var values []string
	lines := strings.Split(string(raw), "\n")
	for i := 0; i < len(lines); i++ {
		if strings.TrimSpace(lines[i]) == "set-cookie" && i+1 < len(lines) {
			values = append(values, strings.TrimSpace(lines[i+1]))
			i++
		}
	}
	names := exp["set_cookie_names"].([]any)
	if len(values) != len(names) {
		t.Fatalf("%d Set-Cookie values, want %d", len(values), len(names))
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /RotateCookies", func(w http.ResponseWriter, r *http.Request) {
		for _, v := range values {
			w.Header().Add("Set-Cookie", v)
		}
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()
	attrs := exp["psidts_cookie_attributes"].(map[string]any)
	expires, err := http.ParseTime(strings.ReplaceAll(attrs["Expires"].(string), "-", " "))
	if err != nil {
		t.Fatal(err)
	}
	// The clock of the capture: the cookies are one year from expiry.
	clk := testutil.NewClock(expires.AddDate(-1, 0, 0))
	sv := &saver{}
	p, err := geminiweb.New(geminiweb.Config{BaseURL: srv.URL, UploadURL: srv.URL, AccountsURL: srv.URL,
		Cookies: sv, Now: clk.Now, RotateEvery: time.Duration(num(exp["documented_interval_minutes"])) * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	acct := account("fixture")
	p.RotateDue(t.Context(), []*gw.Account{acct})
	clk.Advance(10 * time.Minute)
	p.RotateDue(t.Context(), []*gw.Account{acct})
	saved := sv.get(acct.ID)
	if exp["rotated_psidts"] == true && len(saved) != 1 {
		t.Fatalf("saved %d cookies, want 1", len(saved))
	}
	for i, n := range names {
		val, _, _ := strings.Cut(strings.TrimPrefix(values[i], n.(string)+"="), ";")
		mustContain(t, saved[0], n.(string)+"="+val)
	}
	mustContain(t, saved[0], "__Secure-1PSID=fixture")
	if strings.Contains(saved[0], "sidts-imported") {
		t.Error("the old __Secure-1PSIDTS was kept")
	}
}
