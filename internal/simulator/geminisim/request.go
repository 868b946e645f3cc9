package geminisim

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
)

// Defensive accessors over decoded JSPB arrays: every index is optional.

func at(v any, path ...int) any {
	for _, i := range path {
		a, ok := v.([]any)
		if !ok || i < 0 || i >= len(a) {
			return nil
		}
		v = a[i]
	}
	return v
}

func str(v any) string {
	s, _ := v.(string)
	return s
}

func num(v any) (int, bool) {
	switch n := v.(type) {
	case json.Number:
		i, err := strconv.Atoi(n.String())
		if err != nil {
			f, ferr := n.Float64()
			return int(f), ferr == nil
		}
		return i, true
	case float64:
		return int(n), true
	}
	return 0, false
}

func arr(v any) []any {
	a, _ := v.([]any)
	return a
}

// decodeJSON decodes s keeping numbers exact.
func decodeJSON(s string) (any, error) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if dec.More() {
		return nil, errors.New("trailing data")
	}
	return v, nil
}

// fileRef is one attachment of inner[0][3].
type fileRef struct {
	ref  string
	name string
	mime string // browser shape only
	kind int    // browser shape only: 1 image, 3 other
}

// genRequest is what a StreamGenerate f.req carries (G1, G2 and G3 shapes).
type genRequest struct {
	innerLen  int
	prompt    string
	files     []fileRef
	lang      string
	cid       string
	rid       string
	rcid      string
	ctxToken  string
	turnIndex int
	gem       string
	temporary bool
	toolMode  int
	reqUUID   string
	mode      int // inner[79]
	thinking  int // inner[80]
}

// parseFReq decodes `[null, "<inner JSON>"]` and reads the known slots.
func parseFReq(freq string) (genRequest, error) {
	var g genRequest
	if freq == "" {
		return g, errors.New("missing f.req")
	}
	outer, err := decodeJSON(freq)
	if err != nil {
		return g, err
	}
	innerStr, ok := at(outer, 1).(string)
	if !ok {
		return g, errors.New("f.req[1] is not a string")
	}
	innerV, err := decodeJSON(innerStr)
	if err != nil {
		return g, err
	}
	inner, ok := innerV.([]any)
	if !ok {
		return g, errors.New("inner f.req is not an array")
	}
	g.innerLen = len(inner)
	p, ok := at(inner, 0, 0).(string)
	if !ok {
		return g, errors.New("inner[0][0] is not the prompt")
	}
	g.prompt = p
	for _, f := range arr(at(inner, 0, 3)) {
		var fr fileRef
		switch first := at(f, 0).(type) {
		case string: // [ref, name]
			fr.ref = first
		case []any:
			fr.ref = str(at(first, 0))
			fr.kind, _ = num(at(first, 1))
			fr.mime = str(at(first, 3))
		}
		fr.name = str(at(f, 1))
		if fr.ref != "" {
			g.files = append(g.files, fr)
		}
	}
	g.lang = str(at(inner, 1, 0))
	g.cid = str(at(inner, 2, 0))
	g.rid = str(at(inner, 2, 1))
	g.rcid = str(at(inner, 2, 2))
	g.ctxToken = str(at(inner, 2, 9))
	g.turnIndex, _ = num(at(inner, 17, 0, 0))
	g.gem = str(at(inner, 19))
	t, _ := num(at(inner, 45))
	g.temporary = t == 1
	g.toolMode, _ = num(at(inner, 49))
	g.reqUUID = str(at(inner, 59))
	g.mode, _ = num(at(inner, 79))
	g.thinking, _ = num(at(inner, 80))
	return g, nil
}

// modelHeader is the decoded `x-goog-ext-525001261-jspb` header.
type modelHeader struct {
	present  bool
	valid    bool
	raw      string
	hex      string
	capacity int
	capField int // 12 or 13 (1-based field number of the capacity slot)
	mode     int
	thinking int
	uuid     string
}

// parseModelHeader reads the G1/G2/G3 layouts of docs/gemini-web-upstream.md §2.2: hex at 4, capacity
// at 11 (or 12 with the field-13 variant, which shifts the rest by one),
// mode category at 14, thinking level at 15, client UUID at 16.
func parseModelHeader(values []string) modelHeader {
	var h modelHeader
	if len(values) == 0 {
		return h
	}
	h.present = true
	h.raw = strings.Join(values, "\n")
	v, err := decodeJSON(strings.TrimSpace(values[0]))
	a, ok := v.([]any)
	if err != nil || !ok {
		return h
	}
	h.valid = true
	h.hex = str(at(a, 4))
	shift := 0
	if c, ok := num(at(a, 11)); ok {
		h.capacity, h.capField = c, 12
	} else if c, ok := num(at(a, 12)); ok && at(a, 11) == nil {
		h.capacity, h.capField, shift = c, 13, 1
	}
	h.mode, _ = num(at(a, 14+shift))
	h.thinking, _ = num(at(a, 15+shift))
	h.uuid = str(at(a, 16+shift))
	return h
}

// batchCall is one call of a batchexecute f.req.
type batchCall struct {
	rpc     string
	payload any // decoded payload (nil when absent or invalid)
	ident   string
}

// parseBatchFReq decodes `[[[rpcid, "<payload>", null, "<ident>"], ...]]`.
func parseBatchFReq(freq string) ([]batchCall, error) {
	v, err := decodeJSON(freq)
	if err != nil {
		return nil, err
	}
	list := arr(at(v, 0))
	if len(list) == 0 {
		return nil, errors.New("no calls")
	}
	var calls []batchCall
	for _, c := range list {
		bc := batchCall{rpc: str(at(c, 0)), ident: str(at(c, 3))}
		if bc.rpc == "" {
			return nil, errors.New("call without rpc id")
		}
		if bc.ident == "" {
			bc.ident = "generic"
		}
		if ps, ok := at(c, 1).(string); ok {
			bc.payload, _ = decodeJSON(ps)
		}
		calls = append(calls, bc)
	}
	return calls, nil
}

// compactJSON compacts a JSON text for recording (returns s when invalid).
func compactJSON(s string) string {
	var b bytes.Buffer
	if json.Compact(&b, []byte(s)) != nil {
		return s
	}
	return b.String()
}
