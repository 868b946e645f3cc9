package geminisim

import (
	"cmp"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/simulator/simcore"
)

// emptyOK are the rpcs of docs/gemini-web-upstream.md §7.2 answered with an empty success body.
var emptyOK = map[string]bool{
	"ESY5D": true, "L5adhe": true, "qWymEb": true, "MUAZcd": true, "kOWVAe": true,
	"ukz1Fe": true, "qpEbW": true, "aPya6c": true, "GPRiHf": true, "jSf9Qc": true,
	"ZKcapf": true, "XPSWpd": true, "PGX16d": true,
}

// handleBatch simulates batchexecute: one `wrb.fr` entry per call, each
// carrying the rpc id and the call's identifier.
func (s *Server) handleBatch(w http.ResponseWriter, r *http.Request) {
	body, err := readBody(r, maxFormBody)
	h := s.rec.Start(r, "gemini", body)
	if err != nil {
		s.bodyFailed(w, r, h, err)
		return
	}
	q := r.URL.Query()
	framed := q.Get("rt") == "c"
	h.Set("rpcids", q.Get("rpcids"))
	h.Set("model_header", strings.Join(r.Header.Values("X-Goog-Ext-525001261-Jspb"), "\n"))
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
		s.writeEr(w, r, h, framed)
		return
	}
	calls, perr := parseBatchFReq(form.Get("f.req"))
	if ferr != nil || perr != nil {
		h.Set("error", "malformed f.req")
		s.writeEr(w, r, h, framed)
		return
	}
	rpcs := make([]string, len(calls))
	for i, c := range calls {
		rpcs[i] = c.rpc
	}
	h.Set("rpcs", strings.Join(rpcs, ","))

	entries := make([][]any, len(calls))
	for i, c := range calls {
		res, status := s.rpc(r, h, ss, c)
		if status != 0 {
			entries[i] = []any{"wrb.fr", c.rpc, nil, nil, nil, []any{status}, c.ident}
		} else {
			entries[i] = []any{"wrb.fr", c.rpc, innerJSON(res), nil, nil, nil, c.ident}
		}
	}
	s.refreshCC(w, r, ss)
	bw := newBodyWriter(w, framed, r.URL.RawQuery)
	bw.begin(http.StatusOK)
	// Payload results get their own frame; a trailing status-only result
	// shares the frame of the timing trailers (both as in the fixtures).
	last := len(entries) - 1
	merge := entries[last][2] == nil
	for i, e := range entries {
		if i == last && merge {
			break
		}
		_ = bw.frame(e)
	}
	var err2 error
	if merge {
		err2 = bw.end(entries[last])
	} else {
		err2 = bw.end()
	}
	if err2 != nil {
		s.finish(h, r, simcore.OutcomeCancelled)
		return
	}
	s.finish(h, r, simcore.OutcomeCompleted)
}

// rpc answers one call: a body, or a status code (7 = permission denied).
func (s *Server) rpc(r *http.Request, h *simcore.Handle, ss session, c batchCall) (any, int) {
	if c.rpc == "otAQ7b" {
		if !ss.signedIn {
			b := make([]any, 15)
			b[14] = 1016 // unauthenticated: no model list
			return b, 0
		}
		list := modelLists[ss.tier]
		models := make([]any, len(list))
		for i, m := range list {
			models[i] = modelEntry(m)
		}
		b := make([]any, 18)
		b[14] = 1000
		b[15] = models
		b[16] = []any{1, 2}
		caps := []any{4, 5, 6, 8}
		if ss.tier == tierPlus {
			caps = append(caps, 115)
		}
		b[17] = caps
		return b, 0
	}
	if !ss.signedIn {
		return nil, 7
	}
	switch c.rpc {
	case "GzXR5e":
		cid := str(at(c.payload, 0))
		h.Set("deleted_cid", cid)
		s.mu.Lock()
		if cv := s.convs[cid]; cv != nil && cv.owner == ss.psid {
			delete(s.convs, cid)
		}
		s.mu.Unlock()
		return []any{}, 0
	case "MaZiqc":
		if p, _ := num(at(c.payload, 2, 0)); p == 1 {
			return []any{nil, nil, []any{}}, 0 // nothing is pinned
		}
		return []any{nil, nil, s.listChats(ss)}, 0
	case "hNvQHb":
		cid := str(at(c.payload, 0))
		limit, ok := num(at(c.payload, 1))
		if !ok || limit <= 0 {
			limit = 10
		}
		return []any{s.readChat(ss, cid, limit)}, 0
	case "c8o8Fe":
		id := str(at(c.payload, 0, 1, 0))
		idx := 0
		if i := strings.LastIndexByte(id, '/'); i >= 0 {
			idx, _ = strconv.Atoi(id[i+1:])
		}
		rcid := str(at(c.payload, 1, 1))
		if rcid == "" {
			return nil, 7
		}
		return []any{baseURL(r) + "/gg-dl/" + imageToken(ss.tag, rcid, idx)}, 0
	case "CNgdBe":
		return []any{nil, nil, []any{}}, 0
	case "jGArJ":
		return []any{[]any{}}, 0
	}
	if emptyOK[c.rpc] {
		return []any{}, 0
	}
	return nil, 7
}

// listChats returns the account's chats, newest first (MaZiqc body [2]).
func (s *Server) listChats(ss session) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	type item struct {
		cid string
		c   *conversation
	}
	var items []item
	for cid, c := range s.convs {
		if c.owner == ss.psid {
			items = append(items, item{cid, c})
		}
	}
	slices.SortFunc(items, func(a, b item) int { return cmp.Compare(b.c.seq, a.c.seq) })
	out := make([]any, 0, len(items))
	for _, it := range items {
		out = append(out, []any{it.cid, it.c.title, false, nil, nil, []any{it.c.created.Unix(), it.c.created.Nanosecond()}})
	}
	return out
}

// readChat returns up to limit turns of a chat, newest first (hNvQHb body
// [0]): turn [0][1] rid, [2][0][0] user text, [3][0] candidates.
func (s *Server) readChat(ss session, cid string, limit int) []any {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.convs[cid]
	if c == nil || c.owner != ss.psid {
		return []any{}
	}
	out := []any{}
	for i := len(c.turns) - 1; i >= 0 && len(out) < limit; i-- {
		t := c.turns[i]
		out = append(out, []any{
			[]any{cid, t.rid},
			[]any{cid, t.rid, t.rcid},
			[]any{[]any{t.user}},
			[]any{[]any{t.cand}},
			[]any{t.at.Unix(), t.at.Nanosecond()},
		})
	}
	return out
}
