package geminiweb

import (
	"net/http"
	"testing"
	"time"
)

// The header layouts of docs/gemini-web-upstream.md §2.2: capacity field 12 (index 11) and field 13
// (index 12, everything after shifted by one).
func TestModelHeaderLayouts(t *testing.T) {
	sel := selection{hex: "9d8ca3786ebdfbea", capacity: 1, capField: 12, mode: 3, thinking: 2}
	if got, want := modelHeader(sel, "U"), `[1,null,null,null,"9d8ca3786ebdfbea",null,null,0,[4,5,6,8],null,null,1,null,null,3,2,"U"]`; got != want {
		t.Errorf("field 12:\n got %s\nwant %s", got, want)
	}
	sel.capacity, sel.capField = 2, 13
	if got, want := modelHeader(sel, "U"), `[1,null,null,null,"9d8ca3786ebdfbea",null,null,0,[4,5,6,8],null,null,null,2,null,null,3,2,"U"]`; got != want {
		t.Errorf("field 13:\n got %s\nwant %s", got, want)
	}
}

func TestCapacityOf(t *testing.T) {
	for _, tc := range []struct {
		tiers, caps []int
		val, field  int
	}{
		{nil, nil, 1, 12},
		{[]int{1, 2}, []int{4, 5, 6, 8}, 1, 12},
		{[]int{21}, nil, 1, 13},
		{[]int{22}, nil, 2, 13},
		{nil, []int{115}, 4, 12},
		{[]int{16}, nil, 3, 12},
		{nil, []int{19, 106}, 3, 12},
		{nil, []int{19}, 2, 12},
		{[]int{8}, nil, 2, 12},
	} {
		if v, f := capacityOf(tc.tiers, tc.caps); v != tc.val || f != tc.field {
			t.Errorf("capacityOf(%v, %v) = %d, %d; want %d, %d", tc.tiers, tc.caps, v, f, tc.val, tc.field)
		}
	}
}

func TestSlugAndFamily(t *testing.T) {
	for name, want := range map[string]string{
		"3.1 Flash-Lite": "gemini-3.1-flash-lite", "3.6 Flash": "gemini-3.6-flash",
		"Pro": "gemini-pro", "Gemini 3 Pro": "gemini-3-pro", "  ": "",
	} {
		if got := slugOf(name); got != want {
			t.Errorf("slugOf(%q) = %q, want %q", name, got, want)
		}
	}
	for name, want := range map[string]string{
		"3.1 Pro Extended": famPro, "Flash-Lite": famLite, "Fast": famFlash,
		"gemini-3.1-flash-lite": famLite, "Improved model": "", "3 Flash Thinking": famFlash,
	} {
		if got := familyOfName(name); got != want {
			t.Errorf("familyOfName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestJarMerge(t *testing.T) {
	j := parseJar("__Secure-1PSID=a; __Secure-1PSIDTS=b; NID=c; junk; =x")
	h := http.Header{}
	h.Add("Set-Cookie", "__Secure-1PSIDTS=new; Domain=.google.com; Path=/; Secure; HttpOnly")
	h.Add("Set-Cookie", "SIDCC=cc; path=/")
	h.Add("Set-Cookie", "NID=; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:01 GMT")
	if !j.merge(h, time.Now()) {
		t.Fatal("no change")
	}
	if got := j.header(); got != "__Secure-1PSID=a; __Secure-1PSIDTS=new; SIDCC=cc" {
		t.Errorf("jar %q", got)
	}
	if got := j.header(cookiePSID, cookiePSIDTS); got != "__Secure-1PSID=a; __Secure-1PSIDTS=new" {
		t.Errorf("rotation cookies %q", got)
	}
	if j.merge(http.Header{"Set-Cookie": {"SIDCC=cc"}}, time.Now()) {
		t.Error("same value reported as a change")
	}
}
