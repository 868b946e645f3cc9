package geminisim_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/simulator/geminisim"
	"github.com/sparkgw/spark/internal/simulator/simcore"
)

const (
	genPath   = "/_/BardChatUi/data/assistant.lamda.BardFrontendService/StreamGenerate"
	batchPath = "/_/BardChatUi/data/batchexecute"
	hexFlash  = "fbb127bbb056c959"
	hexPro    = "9d8ca3786ebdfbea"
	hexLite   = "cf41b0e0dd7d53e5"
)

// env is one simulator behind a loopback test server.
type env struct {
	t      *testing.T
	srv    *httptest.Server
	rec    *simcore.Recorder
	client *http.Client // never follows redirects
}

func newEnv(t *testing.T) *env {
	t.Helper()
	rec := simcore.NewRecorder(0)
	mux := http.NewServeMux()
	geminisim.New(geminisim.Options{Recorder: rec}).Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return &env{t: t, srv: srv, rec: rec, client: &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// account returns a cookie header for a fresh account.
func account(psid string) string {
	return "__Secure-1PSID=" + psid + "; __Secure-1PSIDTS=sidts-imported-" + psid
}

func (e *env) do(req *http.Request) (*http.Response, []byte) {
	e.t.Helper()
	resp, err := e.client.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read %s: %v", req.URL, err)
	}
	return resp, b
}

func (e *env) get(path, cookie string) (*http.Response, []byte) {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, e.srv.URL+path, nil)
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return e.do(req)
}

var (
	reSNlM0e = regexp.MustCompile(`"SNlM0e":\s*"([^"]+)"`)
	reCfb2h  = regexp.MustCompile(`"cfb2h":\s*"([^"]+)"`)
	reFdrFJe = regexp.MustCompile(`"FdrFJe":\s*"([^"]+)"`)
)

// scrape returns the app page's SNlM0e ("" when anonymous).
func (e *env) scrape(cookie string) string {
	e.t.Helper()
	resp, body := e.get("/app", cookie)
	if resp.StatusCode != http.StatusOK {
		e.t.Fatalf("GET /app: %d", resp.StatusCode)
	}
	m := reSNlM0e.FindSubmatch(body)
	if m == nil {
		return ""
	}
	return string(m[1])
}

// gen describes one StreamGenerate call.
type gen struct {
	prompt   string
	cookie   string
	at       string // "" = none
	hex      string // "" = no model header
	header   string // raw model header (overrides hex)
	thinking int
	unframed bool
	files    []any
	meta     []any // inner[2]
}

// fReq builds a G3-shaped f.req.
func fReq(prompt string, files []any, meta []any) string {
	inner := make([]any, 81)
	var f any
	if len(files) > 0 {
		f = files
	}
	inner[0] = []any{prompt, 0, nil, f, nil, nil, 0}
	inner[1] = []any{"en"}
	if meta == nil {
		meta = []any{"", "", "", nil, nil, nil, nil, nil, nil, ""}
	}
	inner[2] = meta
	inner[6] = []any{0}
	inner[7] = 1
	inner[10] = 1
	inner[11] = 0
	inner[17] = []any{[]any{0}}
	inner[18] = 0
	inner[27] = 1
	inner[30] = []any{4}
	inner[41] = []any{1}
	inner[53] = 0
	inner[59] = "6C1E8A0C-5A7B-4B1A-9E59-2F1B5B0E9D11"
	inner[61] = []any{}
	inner[68] = 1
	inner[79] = 1
	inner[80] = 1
	in, _ := json.Marshal(inner)
	out, _ := json.Marshal([]any{nil, string(in)})
	return string(out)
}

func modelHeader(hex string, thinking int) string {
	if thinking == 0 {
		thinking = 1
	}
	return `[1,null,null,null,"` + hex + `",null,null,0,[4,5,6,8],null,null,1,null,null,1,` + strconv.Itoa(thinking) + `,"0F6B7A52-4D0C-4D5E-8C8A-2B8E3C1D9A77"]`
}

func (e *env) genRequest(ctx context.Context, g gen) *http.Request {
	form := url.Values{}
	if g.at != "" {
		form.Set("at", g.at)
	}
	form.Set("f.req", fReq(g.prompt, g.files, g.meta))
	q := "?bl=boq_assistant-bard-web-server_20260716.08_p0&f.sid=-1&hl=en&_reqid=100001"
	if !g.unframed {
		q += "&rt=c"
	}
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.srv.URL+genPath+q, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	req.Header.Set("Origin", "https://gemini.google.com")
	req.Header.Set("X-Same-Domain", "1")
	req.Header.Set("x-goog-ext-525005358-jspb", `["6C1E8A0C-5A7B-4B1A-9E59-2F1B5B0E9D11",1]`)
	if g.cookie != "" {
		req.Header.Set("Cookie", g.cookie)
	}
	switch {
	case g.header != "":
		req.Header.Set("x-goog-ext-525001261-jspb", g.header)
	case g.hex != "":
		req.Header.Set("x-goog-ext-525001261-jspb", modelHeader(g.hex, g.thinking))
	}
	return req
}

func (e *env) generate(g gen) (*http.Response, []byte) {
	e.t.Helper()
	return e.do(e.genRequest(context.Background(), g))
}

// signedIn returns a cookie header and its at token for a fresh account.
func (e *env) signedIn(psid string) (cookie, at string) {
	e.t.Helper()
	cookie = account(psid)
	at = e.scrape(cookie)
	if at == "" {
		e.t.Fatalf("account %q is not signed in", psid)
	}
	return cookie, at
}

// batch calls batchexecute with (rpc, payload) pairs.
func (e *env) batch(cookie, at string, calls ...[2]string) (*http.Response, []byte) {
	e.t.Helper()
	var list []any
	var ids []string
	for _, c := range calls {
		list = append(list, []any{c[0], c[1], nil, "generic"})
		ids = append(ids, c[0])
	}
	freq, _ := json.Marshal([]any{list})
	form := url.Values{"f.req": {string(freq)}}
	if at != "" {
		form.Set("at", at)
	}
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+batchPath+"?rpcids="+strings.Join(ids, ",")+"&source-path=%2Fapp&hl=en&_reqid=200001&rt=c", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded;charset=utf-8")
	if cookie != "" {
		req.Header.Set("Cookie", cookie)
	}
	return e.do(req)
}

// lastEntry waits for the newest log entry of upstream to be finished.
func (e *env) lastEntry(upstream string) simcore.Entry {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var found simcore.Entry
	_, err := e.rec.Wait(ctx, func(es []simcore.Entry) bool {
		for i := len(es) - 1; i >= 0; i-- {
			if es[i].Upstream == upstream {
				found = es[i]
				return es[i].Outcome != simcore.OutcomePending
			}
		}
		return false
	})
	if err != nil {
		e.t.Fatalf("no finished %s entry: %v", upstream, err)
	}
	return found
}

// ---- an independent reader of Google RPC bodies ----

// body is a parsed batchexecute/StreamGenerate body.
type body struct {
	framed  bool
	lens    []int   // LEN of every frame
	frames  [][]any // entries per frame
	entries []any   // all entries in order
}

// parseBody reads a body: `)]}'` and a blank line, then either frames
// `LEN\n<json>\n` whose LEN counts the UTF-16 code units of "\n"+json+"\n",
// or one JSON array. For framed bodies it checks the end marker: its count is
// the number of entries and its last number the UTF-8 byte length of the body.
func parseBody(t *testing.T, raw []byte) body {
	t.Helper()
	s := string(raw)
	rest, ok := strings.CutPrefix(s, ")]}'\n\n")
	if !ok {
		t.Fatalf("no XSSI guard: %.80q", s)
	}
	var b body
	if strings.HasPrefix(rest, "[") {
		var all []any
		dec := json.NewDecoder(strings.NewReader(rest))
		if err := dec.Decode(&all); err != nil {
			t.Fatalf("single array: %v", err)
		}
		b.entries = all
		b.frames = [][]any{all}
		return b
	}
	b.framed = true
	for rest != "" {
		nl := strings.IndexByte(rest, '\n')
		if nl <= 0 {
			t.Fatalf("no length line in %.40q", rest)
		}
		n, err := strconv.Atoi(rest[:nl])
		if err != nil {
			t.Fatalf("bad length %q", rest[:nl])
		}
		rest = rest[nl:]
		units, end := 0, 0
		for i, r := range rest {
			if units == n {
				end = i
				break
			}
			units++
			if r >= 0x10000 {
				units++
			}
			end = i + len(string(r))
		}
		if units != n {
			t.Fatalf("frame shorter than its LEN %d (%d units)", n, units)
		}
		chunk := rest[:end]
		rest = rest[end:]
		if !strings.HasPrefix(chunk, "\n") || !strings.HasSuffix(chunk, "\n") {
			t.Fatalf("LEN %d does not span \\n+json+\\n: %.60q", n, chunk)
		}
		var entries []any
		if err := json.Unmarshal([]byte(chunk[1:len(chunk)-1]), &entries); err != nil {
			t.Fatalf("frame json: %v in %.80q", err, chunk)
		}
		b.lens = append(b.lens, n)
		b.frames = append(b.frames, entries)
		b.entries = append(b.entries, entries...)
	}
	last, _ := b.entries[len(b.entries)-1].([]any)
	if len(last) != 5 || last[0] != "e" {
		t.Fatalf("framed body does not end with an e entry: %v", last)
	}
	if c := int(last[1].(float64)); c != len(b.entries) {
		t.Errorf("e entry count %d, body has %d entries", c, len(b.entries))
	}
	if n := int(last[4].(float64)); n != len(raw) {
		t.Errorf("e entry bytes %d, body has %d bytes", n, len(raw))
	}
	return b
}

// inners decodes the inner payload of every content entry.
func (b body) inners(t *testing.T) [][]any {
	t.Helper()
	var out [][]any
	for _, e := range b.entries {
		a, _ := e.([]any)
		if len(a) >= 3 && a[0] == "wrb.fr" {
			if s, ok := a[2].(string); ok {
				var in []any
				if err := json.Unmarshal([]byte(s), &in); err != nil {
					t.Fatalf("inner payload: %v", err)
				}
				out = append(out, in)
			}
		}
	}
	return out
}

// errorCode returns the BardErrorInfo code of the first error entry, or 0.
func (b body) errorCodes() []int {
	var codes []int
	for _, e := range b.entries {
		if v, ok := dig(e, 5, 2, 0, 1, 0).(float64); ok && dig(e, 5, 2, 0, 0) == "type.googleapis.com/assistant.boq.bard.application.BardErrorInfo" {
			codes = append(codes, int(v))
		}
	}
	return codes
}

// dig walks decoded JSON arrays and sparse objects ({"N": ...} = index N-1
// is not resolved here; callers ask for what they expect).
func dig(v any, path ...int) any {
	for _, i := range path {
		a, ok := v.([]any)
		if !ok || i >= len(a) {
			return nil
		}
		v = a[i]
	}
	return v
}

// snapshots are the candidate texts and thoughts of every content frame.
type snap struct {
	text, thoughts string
	hasCand        bool
	status         float64
	model, name    string
	inner          []any
}

func snaps(t *testing.T, b body) []snap {
	t.Helper()
	var out []snap
	for _, in := range b.inners(t) {
		s := snap{inner: in}
		if c := dig(in, 4, 0); c != nil {
			s.hasCand = true
			s.text, _ = dig(c, 1, 0).(string)
			s.thoughts, _ = dig(c, 37, 0, 0).(string)
			s.status, _ = dig(c, 8, 0).(float64)
		}
		s.model, _ = dig(in, 39).(string)
		s.name, _ = dig(in, 42).(string)
		out = append(out, s)
	}
	return out
}

// fixtureDir holds the real Gemini web captures. They have one home in the
// repository, the adapter's testdata (SOURCES.md there gives each file's
// public source); the simulator is checked against the same bytes.
var fixtureDir = filepath.Join("..", "..", "provider", "geminiweb", "testdata", "fixtures")

// fixture reads one real capture; a missing file fails the test.
func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(fixtureDir, name))
	if err != nil {
		t.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

func mustContain(t *testing.T, haystack, needle string) {
	t.Helper()
	if !strings.Contains(haystack, needle) {
		t.Fatalf("%.300q does not contain %q", haystack, needle)
	}
}
