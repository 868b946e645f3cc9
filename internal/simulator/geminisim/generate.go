package geminisim

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// conversation is a chat the simulator answered in (for continuation, 1050,
// MaZiqc, hNvQHb and GzXR5e).
type conversation struct {
	owner   string // __Secure-1PSID, "" when anonymous
	family  string // model family the chat was started with
	seq     uint64
	created time.Time
	title   string
	turns   []turnRecord
}

// turnRecord is one answered turn as hNvQHb returns it.
type turnRecord struct {
	rid, rcid, user string
	cand            []any
	at              time.Time
}

// handleGenerate simulates StreamGenerate.
func (s *Server) handleGenerate(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, maxFormBody)
	h := s.rec.Start(r, "gemini", body)
	if err != nil {
		s.bodyFailed(w, r, h, err)
		return
	}
	q := r.URL.Query()
	framed := q.Get("rt") == "c"
	for _, k := range []string{"bl", "_reqid", "rt", "f.sid", "hl"} {
		h.Set("q_"+strings.TrimPrefix(k, "_"), q.Get(k))
	}
	if au := r.PathValue("authuser"); au != "" {
		h.Set("authuser", au)
	} else if au := r.Header.Get("X-Goog-AuthUser"); au != "" {
		h.Set("authuser", au)
	}
	ext := map[string]string{}
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "x-goog-ext-") {
			ext[strings.ToLower(k)] = strings.Join(v, "\n")
		}
	}
	h.Set("ext_headers", ext)
	mh := parseModelHeader(r.Header.Values("X-Goog-Ext-525001261-Jspb"))
	h.Set("model_header", mh.raw)
	h.Set("model", mh.hex)
	if mh.capField != 0 {
		h.Set("capacity", mh.capacity)
		h.Set("capacity_field", mh.capField)
	}
	h.Set("header_mode", mh.mode)
	h.Set("header_thinking", mh.thinking)
	if ok, present := sapisidHashOK(r); present {
		h.Set("sapisidhash_ok", ok)
	}

	ss := s.sessionOf(r)
	h.Set("signed_in", ss.signedIn)
	form, ferr := url.ParseQuery(string(body))
	atTok := form.Get("at")
	atOK := atTok == ""
	if ss.signedIn {
		atOK = atTok == snlm0e(ss.psid)
	}
	h.Set("at_ok", atOK)
	if !atOK {
		h.Set("error", "bad or missing at (xsrf)")
		s.writeEr(w, r, h, framed)
		return
	}
	req, perr := parseFReq(form.Get("f.req"))
	if ferr != nil || perr != nil {
		h.Set("error", "malformed f.req")
		s.writeEr(w, r, h, framed)
		return
	}
	prompt := req.prompt
	truncated := len(prompt) > maxPromptBytes
	if truncated {
		prompt = truncateUTF8(prompt, maxPromptBytes)
	}
	h.Set("prompt", truncateUTF8(req.prompt, maxFactText))
	h.Set("prompt_truncated", truncated)
	h.Set("files", len(req.files))
	h.Set("cid", req.cid)
	h.Set("rid", req.rid)
	h.Set("rcid", req.rcid)
	h.Set("context_token", req.ctxToken)
	h.Set("inner_len", req.innerLen)
	h.Set("lang", req.lang)
	h.Set("turn_index", req.turnIndex)
	h.Set("gem", req.gem)
	h.Set("temporary", req.temporary)
	h.Set("tool_mode", req.toolMode)
	h.Set("inner_mode", req.mode)
	h.Set("inner_thinking", req.thinking)
	h.Set("request_uuid", req.reqUUID)
	if v := r.Header.Get("X-Goog-Ext-525005358-Jspb"); v != "" || req.reqUUID != "" {
		h.Set("request_uuid_match", req.reqUUID != "" && strings.Contains(strings.ToUpper(v), strings.ToUpper(req.reqUUID)))
	}

	notes, attachText := s.attachments(req.files)
	effective := prompt
	if attachText != "" {
		effective = attachText + "\n" + prompt
	}
	turn := lastUserTurn(effective)
	d := simcore.ParseDirectives(turn)
	code, search := extraDirectives(turn)
	h.Set("last_user_turn", truncateUTF8(turn, maxFactText))

	// IP block and plain HTTP failures come first.
	if d.Cloudflare || code == 302 || code == 303 {
		h.Set("error", "ip blocked")
		http.Redirect(w, r, sorryURL(r), http.StatusFound)
		s.finish(h, r, simcore.OutcomeRejected)
		return
	}
	if code >= 100 && code <= 599 {
		h.Set("error_status", code)
		if code == http.StatusBadRequest {
			s.writeEr(w, r, h, framed)
			return
		}
		googleErrorPage(w, code)
		s.finish(h, r, simcore.OutcomeRejected)
		return
	}

	// Model selection: the header's hex decides (docs/gemini-web-upstream.md §2.2).
	reqFamily := familyFlash
	if !ss.signedIn {
		reqFamily = familyLite
	}
	if mh.present && !mh.valid {
		s.writeBardError(w, r, h, framed, 1052)
		return
	}
	if mh.hex != "" {
		f, ok := familyOfHex[mh.hex]
		if !ok || deprecatedHex[mh.hex] {
			s.writeBardError(w, r, h, framed, 1052)
			return
		}
		reqFamily = f
	}
	h.Set("model_family", reqFamily)
	servedFamily := reqFamily
	if d.Downgrade {
		servedFamily = downgradeOf(reqFamily)
	}
	served := modelFor(ss.tier, servedFamily)
	if !ss.signedIn {
		served = modelFor(tierFree, familyLite)
	}
	extended := ss.signedIn && mh.thinking == 2
	servedName := served.name
	if extended {
		servedName += " Extended"
	}

	if !ss.signedIn && len(req.files) > 0 {
		s.writeBardError(w, r, h, framed, 1100)
		return
	}
	if req.cid != "" {
		s.mu.Lock()
		c := s.convs[req.cid]
		conflict := c != nil && c.owner == ss.psid && c.family != reqFamily
		s.mu.Unlock()
		if conflict {
			s.writeBardError(w, r, h, framed, 1050)
			return
		}
	}
	switch {
	case code >= 1000:
		s.writeBardError(w, r, h, framed, code)
		return
	case ss.state == simcore.AccountLimited && ss.signedIn, d.RateLimit, d.Quota:
		s.writeBardError(w, r, h, framed, 1037)
		return
	case d.Unavailable:
		s.writeBardError(w, r, h, framed, 1013)
		return
	}

	// The answer.
	if !ss.signedIn {
		d.Image = false // media generation needs a signed-in session
	}
	cid := req.cid
	if cid == "" {
		cid = s.nextID("c_", ss.psid)
	}
	rid, rcid := s.nextID("r_", ss.psid), s.nextID("rc_", ss.psid)
	h.Set("new_cid", cid)
	h.Set("new_rid", rid)
	h.Set("new_rcid", rcid)
	h.Set("served_model", served.hex)
	h.Set("served_model_name", servedName)
	frames := defaultTextFrames
	if d.Long > 0 {
		frames = min(d.Long, maxTextFrames)
	}
	schema, _ := simcore.AnswerSchema(prompt)
	ans := planAnswer(turn, d, served, notes, frames, schema)
	lang := req.lang
	if lang == "" {
		lang = "en"
	}
	var images []any
	if d.Image {
		u := baseURL(r) + "/gg-dl/" + imageToken(ss.tag, rcid, 0)
		images = []any{imageEntry(u, "Generated image", 0)}
		h.Set("image_url", u)
	}
	fa := frameArgs{
		cid: cid, rid: rid, rcid: rcid, lang: lang, served: served, servedName: servedName,
		ctxToken: "AwAAAAAAAAAQ" + hexOf(40, "ctx", rcid),
	}
	finalThoughts := string(ans.thoughts)
	final := fa
	final.text, final.thoughts, final.done, final.images = string(ans.text), finalThoughts, true, images
	if !req.temporary {
		s.remember(ss, cid, reqFamily, turn, turnRecord{rid: rid, rcid: rcid, user: turn, cand: candidate(final), at: time.Now()})
	}

	delay := s.delay
	if d.Slow > 0 {
		delay = d.Slow
	}
	ctx := r.Context()
	bw := newBodyWriter(w, framed, rcid)
	s.refreshCC(w, r, ss)
	bw.begin(http.StatusOK)
	cancelled := func() {
		s.finish(h, r, simcore.OutcomeCancelled)
	}
	first := true
	emit := func(inner []any) bool {
		if !first && delay > 0 {
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return false
			case <-t.C:
			}
		}
		first = false
		return bw.frame(contentEntry(inner)) == nil && ctx.Err() == nil
	}
	var pre [][]any
	if search {
		pre = append(pre, []any{nil, []any{cid, rid}, nil, nil, nil, nil,
			[]any{nil, []any{"google", []any{"", nil, "Google Search", "https://www.gstatic.com/images/branding/productlogos/googleg/v6/192px.svg", "search"}, 1}}})
	}
	if d.Image {
		pre = append(pre, []any{nil, []any{cid, rid},
			map[string]any{"7": []any{nil, []any{"image_generation_tool", []any{nil, nil, "Loading Nano Banana Pro..."}, 1}}}})
	}
	if len(pre) == 0 {
		pre = append(pre, []any{nil, []any{cid, rid}}) // ids only: JSPB drops trailing nulls
	}
	for _, p := range pre {
		if !emit(p) {
			cancelled()
			return
		}
	}
	for _, t := range ans.thoughtSnapshots() {
		f := fa
		f.thoughts = t
		if !emit(contentPayload(f)) {
			cancelled()
			return
		}
	}
	dropAt := len(ans.cuts) / 2
	for i := range ans.cuts {
		f := fa
		f.text, f.thoughts = ans.snapshot(i), finalThoughts
		if !emit(contentPayload(f)) {
			cancelled()
			return
		}
		if d.Drop && i == dropAt {
			h.Set("dropped_after_frame", i)
			s.finish(h, r, simcore.OutcomeDropped)
			panic(http.ErrAbortHandler)
		}
	}
	if !emit(contentPayload(final)) {
		cancelled()
		return
	}
	// Normal answers also end with a 1096 entry ("conversation not
	// persisted", not an error by itself), then the timing trailers.
	if bw.end(bardErrorEntry(13, 1096)) != nil || ctx.Err() != nil {
		cancelled()
		return
	}
	h.Set("entries", bw.entries)
	s.finish(h, r, simcore.OutcomeCompleted)
}

// writeEr answers HTTP 400 with the "er" entry (bad `at`, malformed f.req).
func (s *Server) writeEr(w http.ResponseWriter, r *http.Request, h *simcore.Handle, framed bool) {
	h.Set("error_status", http.StatusBadRequest)
	bw := newBodyWriter(w, framed, r.URL.RawQuery)
	bw.begin(http.StatusBadRequest)
	_ = bw.end(erEntry())
	s.finish(h, r, simcore.OutcomeRejected)
}

// writeBardError answers HTTP 200 with a BardErrorInfo entry and trailers,
// shaped like the 1096 rejection fixture.
func (s *Server) writeBardError(w http.ResponseWriter, r *http.Request, h *simcore.Handle, framed bool, code int) {
	h.Set("error_code", code)
	status := 13
	if code == 1060 {
		status = 9
	}
	bw := newBodyWriter(w, framed, r.URL.RawQuery)
	bw.begin(http.StatusOK)
	_ = bw.frame(bardErrorEntry(status, code))
	_ = bw.end()
	s.finish(h, r, simcore.OutcomeRejected)
}

// frameArgs is what one content frame shows.
type frameArgs struct {
	cid, rid, rcid, lang string
	text, thoughts       string
	done                 bool
	ctxToken             string
	images               []any
	served               model
	servedName           string
}

// candidate builds a candidate (docs/gemini-web-upstream.md §3.3), keeping the slots of the 2025-10
// content fixture.
func candidate(a frameArgs) []any {
	c := make([]any, 38)
	c[0] = a.rcid
	c[1] = []any{a.text}
	c[2] = []any{}
	c[6] = true
	status := 1
	if a.done {
		status = 2
	}
	c[8] = []any{status}
	c[9] = a.lang
	rich := []any{nil, nil, nil, nil, nil, nil, []any{0}, []any{}}
	if a.done {
		rich[6] = nil // nothing is generating any more
	}
	if len(a.images) > 0 {
		rich[7] = []any{a.images}
	}
	c[12] = rich
	c[15] = true
	c[21] = []any{false}
	c[23] = false
	c[24] = []any{}
	c[25] = true
	c[28] = []any{}
	if a.thoughts != "" {
		c[37] = []any{[]any{a.thoughts}}
	}
	return c
}

// contentPayload builds an inner payload (docs/gemini-web-upstream.md §3.2) around one candidate.
func contentPayload(a frameArgs) []any {
	in := make([]any, 59)
	in[1] = []any{a.cid, a.rid}
	in[4] = []any{candidate(a)}
	in[14] = false
	in[19] = a.lang
	in[23] = true
	in[24] = []any{nil, []any{false, true}}
	if a.done {
		in[25] = a.ctxToken
		now := time.Now()
		in[27] = []any{[]any{[]any{nil, nil, nil, []any{now.Unix(), now.Nanosecond()}}}}
	}
	in[39] = a.served.hex
	in[42] = a.servedName
	in[43] = true
	in[58] = a.served.mode
	return in
}

// imageEntry is one generated image (docs/gemini-web-upstream.md §3.3: [0][3][3] URL, [0][3][2] alt,
// [1][0] image id; G1 alt list at [3][5], index at [3][6]).
func imageEntry(u, alt string, idx int) []any {
	return []any{
		[]any{nil, nil, nil, []any{nil, nil, alt, u}},
		[]any{fmt.Sprintf("http://googleusercontent.com/image_generation_content/%d", idx)},
		nil,
		[]any{nil, nil, nil, nil, nil, []any{alt}, idx},
	}
}

// remember stores an answered turn.
func (s *Server) remember(ss session, cid, family, user string, t turnRecord) {
	if len(t.user) > maxTurnTextLen {
		t.user = truncateUTF8(t.user, maxTurnTextLen)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[cid]
	if c == nil || c.owner != ss.psid {
		if len(s.convs) >= maxConvs {
			var oldest string
			var seq uint64
			for k, v := range s.convs {
				if oldest == "" || v.seq < seq {
					oldest, seq = k, v.seq
				}
			}
			delete(s.convs, oldest)
		}
		s.convSeq++
		c = &conversation{owner: ss.psid, family: family, seq: s.convSeq, created: time.Now(), title: truncateRunes(user, 40)}
		s.convs[cid] = c
	}
	c.turns = append(c.turns, t)
	if len(c.turns) > maxTurnsKept {
		c.turns = c.turns[len(c.turns)-maxTurnsKept:]
	}
}

// truncateUTF8 cuts s to at most n bytes on a rune boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// truncateRunes cuts s to at most n runes.
func truncateRunes(s string, n int) string {
	r := []rune(s)
	if len(r) <= n {
		return s
	}
	return string(r[:n])
}
