package geminisim_test

import (
	"encoding/json"
	"net/http"
	"testing"
)

// results decodes the wrb.fr entries of a batchexecute body.
type result struct {
	rpc, ident string
	body       any
	status     []any
}

func results(t *testing.T, b body) []result {
	t.Helper()
	var out []result
	for _, e := range b.entries {
		a, _ := e.([]any)
		if len(a) != 7 || a[0] != "wrb.fr" {
			continue
		}
		r := result{rpc: a[1].(string), ident: a[6].(string)}
		if s, ok := a[2].(string); ok {
			if err := json.Unmarshal([]byte(s), &r.body); err != nil {
				t.Fatal(err)
			}
		}
		r.status, _ = a[5].([]any)
		out = append(out, r)
	}
	return out
}

func TestModelDiscovery(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("vera")
	resp, raw := e.batch(cookie, at, [2]string{"otAQ7b", "[]"})
	if resp.StatusCode != http.StatusOK {
		t.Fatal(resp.StatusCode)
	}
	rs := results(t, parseBody(t, raw))
	if len(rs) != 1 || rs[0].rpc != "otAQ7b" || rs[0].ident != "generic" {
		t.Fatalf("results %+v", rs)
	}
	if st := dig(rs[0].body, 14); st != float64(1000) {
		t.Fatalf("account status %v", st)
	}
	list, _ := dig(rs[0].body, 15).([]any)
	want := map[string]string{hexLite: "3.1 Flash-Lite", hexFlash: "3.6 Flash", hexPro: "3.1 Pro"}
	if len(list) != len(want) {
		t.Fatalf("%d models", len(list))
	}
	for _, m := range list {
		hex, _ := dig(m, 0).(string)
		label, _ := dig(m, 1).(string)
		tagline, _ := dig(m, 2).(string)
		if want[hex] == "" || dig(m, 11) != want[hex] || label == "" || tagline == "" {
			t.Errorf("model entry %v", m)
		}
	}
	if _, ok := dig(rs[0].body, 16).([]any); !ok {
		t.Error("no tier flags at [16]")
	}
	// A paid account lists the paid ids and capability 115 (Plus).
	plus, plusAt := e.signedIn("plus-vera")
	_, raw = e.batch(plus, plusAt, [2]string{"otAQ7b", "[]"})
	rs = results(t, parseBody(t, raw))
	if dig(rs[0].body, 15, 2, 0) != "e6fa609c3fa255c0" {
		t.Errorf("plus pro entry %v", dig(rs[0].body, 15, 2))
	}
	// Expired and anonymous sessions get the same: 1016 and no list.
	for _, c := range []string{account("expired-vera"), ""} {
		_, raw = e.batch(c, "", [2]string{"otAQ7b", "[]"})
		rs = results(t, parseBody(t, raw))
		if dig(rs[0].body, 14) != float64(1016) || dig(rs[0].body, 15) != nil {
			t.Errorf("cookie %q: %v", c, rs[0].body)
		}
	}
}

func TestBatchDeleteHistoryAndUnknown(t *testing.T) {
	e := newEnv(t)
	cookie, at := e.signedIn("walt")
	_, raw := e.generate(gen{prompt: "remember me 🌍", cookie: cookie, at: at})
	ss := snaps(t, parseBody(t, raw))
	cid := dig(ss[len(ss)-1].inner, 1, 0).(string)

	// Chat list and history (for stream recovery).
	_, raw = e.batch(cookie, at, [2]string{"MaZiqc", "[13,null,[0,null,1]]"}, [2]string{"hNvQHb", `["` + cid + `",10,null,1,[1],[4],null,1]`})
	rs := results(t, parseBody(t, raw))
	if dig(rs[0].body, 2, 0, 0) != cid {
		t.Fatalf("MaZiqc %v", rs[0].body)
	}
	if dig(rs[1].body, 0, 0, 2, 0, 0) != "remember me 🌍" || dig(rs[1].body, 0, 0, 3, 0, 0, 8, 0) != float64(2) {
		t.Fatalf("hNvQHb %v", rs[1].body)
	}

	// Delete: recorded and gone from the list; unknown rpc: status [7] in
	// the fixture's shape, sharing the trailer frame.
	_, raw = e.batch(cookie, at, [2]string{"GzXR5e", `["` + cid + `"]`}, [2]string{"qWymEb", `["` + cid + `",[1,null,0,1]]`}, [2]string{"NoSuch", "[]"})
	b := parseBody(t, raw)
	rs = results(t, b)
	if len(rs) != 3 || rs[0].body == nil || rs[1].body == nil || len(rs[2].status) != 1 || rs[2].status[0] != float64(7) {
		t.Fatalf("results %+v", rs)
	}
	fx := parseBody(t, fixture(t, "batchexecute_2026-03_CNgdBe_status7_framed.txt"))
	fxLast := fx.frames[len(fx.frames)-2]
	myLast := b.frames[len(b.frames)-2]
	if len(fxLast) != len(myLast) || dig(myLast[0], 0) != "wrb.fr" || len(myLast[0].([]any)) != len(fxLast[0].([]any)) {
		t.Fatalf("status frame %v, fixture %v", myLast, fxLast)
	}
	if ent := e.lastEntry("gemini"); ent.Facts["deleted_cid"] != cid || ent.Facts["rpcs"] != "GzXR5e,qWymEb,NoSuch" {
		t.Fatalf("facts %v", ent.Facts)
	}
	_, raw = e.batch(cookie, at, [2]string{"MaZiqc", "[13,null,[0,null,1]]"})
	if list, _ := dig(results(t, parseBody(t, raw))[0].body, 2).([]any); len(list) != 0 {
		t.Fatalf("deleted chat still listed: %v", list)
	}
	// Bad at: 400.
	if resp, _ := e.batch(cookie, "wrong", [2]string{"otAQ7b", "[]"}); resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("wrong at: %d", resp.StatusCode)
	}
}
