package geminiweb

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// bardErrorType ends the type URL of the error detail carrying Bard codes.
const bardErrorType = "BardErrorInfo"

// Entry is one envelope entry of a response frame (docs/gemini-web-upstream.md §3.1).
type Entry struct {
	// Kind is the entry's first element: "wrb.fr" (payload or status),
	// "er" (request rejected), "di" / "af.httprm" (timing trailers), "e"
	// (end marker).
	Kind string
	// RPC is the rpc id of a batchexecute result ("" for StreamGenerate).
	RPC string
	// Payload is the inner JSON string of a payload entry.
	Payload string
	// HasPayload reports whether slot 2 held a string.
	HasPayload bool
	// Status is slot 5 of a "wrb.fr" entry without payload (e.g. [13, null,
	// [[type, [1037]]]] or [7]); nil when absent.
	Status []any
	// StatusCode is Status[0] (a gRPC-like status), or the HTTP-like code in
	// slot 5 of an "er" entry; 0 when absent.
	StatusCode int
	// ErrorCodes are the codes of the BardErrorInfo details in Status.
	ErrorCodes []int
	// DetailTypes are the type URLs of every detail in Status.
	DetailTypes []string
	// Tag is the request identifier echoed by batchexecute ("generic", ...).
	Tag string
	// EndEntries and EndBytes are the counts of an "e" end marker.
	EndEntries, EndBytes int
	// Raw is the decoded entry.
	Raw []any
}

// ParseEntry decodes one envelope entry. Every slot is optional; only a
// value that is not a JSON array is an error.
func ParseEntry(raw json.RawMessage) (Entry, error) {
	v, err := decodeJSON(raw)
	if err != nil {
		return Entry{}, err
	}
	a, ok := v.([]any)
	if !ok {
		return Entry{}, errors.New("geminiweb: envelope entry is not an array")
	}
	e := Entry{Raw: a, Kind: str(at(a, 0))}
	switch e.Kind {
	case "wrb.fr":
		e.RPC = str(at(a, 1))
		if s, ok := at(a, 2).(string); ok {
			e.Payload, e.HasPayload = s, true
		}
		e.Tag = str(at(a, 6))
		if st, ok := at(a, 5).([]any); ok {
			e.Status = st
			e.StatusCode, _ = num(at(st, 0))
			for _, d := range arr(at(st, 2)) {
				t := str(at(d, 0))
				if t == "" {
					continue
				}
				e.DetailTypes = append(e.DetailTypes, t)
				if strings.HasSuffix(t, bardErrorType) {
					if c, ok := num(at(d, 1, 0)); ok {
						e.ErrorCodes = append(e.ErrorCodes, c)
					}
				}
			}
		}
	case "er":
		e.StatusCode, _ = num(at(a, 5))
	case "e":
		e.EndEntries, _ = num(at(a, 1))
		e.EndBytes, _ = num(at(a, 4))
	}
	return e, nil
}

// Payload is the decoded inner payload of a StreamGenerate entry (docs/gemini-web-upstream.md §3.2).
type Payload struct {
	// CID and RID are the conversation and response ids ([1]).
	CID, RID string
	// Candidates are the answer drafts ([4]); usually one.
	Candidates []Candidate
	// Tool is the tool/progress status ([6]), when present.
	Tool *ToolStatus
	// ContextToken ([25]) is present once the turn is persisted.
	ContextToken string
	// ServedModel ([39]) is the hex id of the model actually served.
	ServedModel string
	// ServedModelName ([42]) is its display name ("3.1 Pro", with a suffix
	// such as "Extended" for extended thinking).
	ServedModelName string
	// ServedMode ([58]) is the served mode category; 0 when absent.
	ServedMode int
	// Location ([5][0]) and Country ([8]) describe where Google places the
	// client.
	Location, Country string
}

// ToolStatus is a tool or progress status of an inner payload ([6]).
type ToolStatus struct {
	Tool  string // [6][1][0], e.g. "google", "data_analysis_tool"
	Label string // [6][1][1][2], e.g. "Google Search", "Analysis"
	Kind  string // [6][1][1][4], e.g. "search"
	State int    // [6][1][2] (meaning unknown)
	Text  string // a bare string status ("Loading Nano Banana Pro...")
}

// Candidate is one answer draft (docs/gemini-web-upstream.md §3.3).
type Candidate struct {
	RCID     string // [0]
	Text     string // [1][0], or [22][0] for a card_content placeholder
	Thoughts string // [37][0][0]
	Language string // [9]
	Status   int    // [8][0]: 1 streaming, 2 complete
	Images   []Image
}

// Image is a generated ([12][7][0]) or web ([12][1]) image of a candidate.
type Image struct {
	URL       string
	Alt       string
	ID        string // generated: http://googleusercontent.com/image_generation_content/N
	Generated bool
}

const cardPlaceholder = "http://googleusercontent.com/card_content/"

// ParsePayload decodes an inner payload string. Every index is optional;
// dense positions and the sparse trailing object (1-based field numbers) are
// both read. "null" gives an empty payload.
func ParsePayload(s string) (*Payload, error) {
	v, err := decodeJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	if v == nil {
		return &Payload{}, nil
	}
	if _, ok := v.([]any); !ok {
		return nil, errors.New("geminiweb: inner payload is not an array")
	}
	p := &Payload{
		CID:             str(at(v, 1, 0)),
		RID:             str(at(v, 1, 1)),
		ContextToken:    str(at(v, 25)),
		ServedModel:     str(at(v, 39)),
		ServedModelName: str(at(v, 42)),
		Location:        str(at(v, 5, 0)),
		Country:         str(at(v, 8)),
	}
	p.ServedMode, _ = num(at(v, 58))
	p.Tool = parseTool(at(v, 6))
	for _, c := range arr(at(v, 4)) {
		if _, ok := c.([]any); ok {
			p.Candidates = append(p.Candidates, parseCandidate(c))
		}
	}
	return p, nil
}

func parseTool(v any) *ToolStatus {
	switch t := v.(type) {
	case string:
		if t == "" {
			return nil
		}
		return &ToolStatus{Text: t}
	case []any:
		ts := &ToolStatus{
			Tool:  str(at(t, 1, 0)),
			Label: str(at(t, 1, 1, 2)),
			Kind:  str(at(t, 1, 1, 4)),
		}
		ts.State, _ = num(at(t, 1, 2))
		if ts.Tool == "" && ts.Label == "" {
			return nil
		}
		return ts
	}
	return nil
}

func parseCandidate(c any) Candidate {
	cd := Candidate{
		RCID:     str(at(c, 0)),
		Text:     str(at(c, 1, 0)),
		Thoughts: str(at(c, 37, 0, 0)),
		Language: str(at(c, 9)),
	}
	if strings.HasPrefix(cd.Text, cardPlaceholder) {
		if t, ok := at(c, 22, 0).(string); ok {
			cd.Text = t
		}
	}
	cd.Status, _ = num(at(c, 8, 0))
	rich := at(c, 12)
	for _, im := range arr(at(rich, 7, 0)) {
		u := str(at(im, 0, 3, 3))
		if isHTTP(u) {
			cd.Images = append(cd.Images, Image{URL: u, Alt: str(at(im, 0, 3, 2)), ID: str(at(im, 1, 0)), Generated: true})
		}
	}
	for _, im := range arr(at(rich, 1)) {
		u := str(at(im, 0, 0, 0))
		if isHTTP(u) {
			alt := str(at(im, 0, 4))
			if alt == "" {
				alt = str(at(im, 7, 0))
			}
			cd.Images = append(cd.Images, Image{URL: u, Alt: alt})
		}
	}
	return cd
}

func isHTTP(u string) bool {
	return strings.HasPrefix(u, "https://") || strings.HasPrefix(u, "http://")
}

// ---- defensive accessors over decoded JSPB (every index optional) ----

// decodeJSON decodes one JSON value keeping numbers exact.
func decodeJSON(b []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("geminiweb: trailing data after JSON value")
	}
	return v, nil
}

// get returns element i of a JSPB array: the dense position, or the field
// i+1 of a trailing sparse object ({"7": ...} carries index 6).
func get(v any, i int) any {
	a, ok := v.([]any)
	if !ok || i < 0 {
		return nil
	}
	if n := len(a); n > 0 {
		if m, ok := a[n-1].(map[string]any); ok {
			if i < n-1 {
				return a[i]
			}
			return m[strconv.Itoa(i+1)]
		}
	}
	if i < len(a) {
		return a[i]
	}
	return nil
}

// at follows a path of indexes with get.
func at(v any, path ...int) any {
	for _, i := range path {
		v = get(v, i)
		if v == nil {
			return nil
		}
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

// num reads an integer (json.Number or float64).
func num(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return int(i), true
		}
		if f, err := n.Float64(); err == nil {
			return int(f), true
		}
	case float64:
		return int(n), true
	}
	return 0, false
}

func nums(v any) []int {
	var out []int
	for _, x := range arr(v) {
		if n, ok := num(x); ok {
			out = append(out, n)
		}
	}
	return out
}
