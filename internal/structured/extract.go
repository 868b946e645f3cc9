package structured

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/sparkgw/spark/internal/jsonschema"
	"github.com/sparkgw/spark/internal/llm"
)

// Bounds of the search for the JSON value in one answer.
const (
	// maxCandidates bounds the complete JSON values (and the unclosed
	// brackets) tried in one answer.
	maxCandidates = 64
	// maxScanBytes bounds the bytes the bracket scanner reads in one
	// answer, all candidates together (an answer of unclosed brackets
	// would otherwise cost its length once per bracket).
	maxScanBytes = 16 << 20
	// answerSteps bounds the schema validation of one answer's
	// candidates, all together (see jsonschema.Budget).
	answerSteps = 400_000
)

// extraction is what an answer holds.
type extraction struct {
	value   string // the first candidate valid for the format ("" when none)
	anyJSON bool   // the answer holds at least one complete JSON value
	problem string // why no candidate is usable (for the repair and the error)
}

// format is the compiled form of a request's llm.OutputFormat.
type format struct {
	kind   llm.OutputKind
	schema *jsonschema.Schema // nil for json_object
}

// extract finds the first complete JSON value of answer that the format
// accepts. Candidates, in order: the whole answer, the contents of fenced
// code blocks, then every balanced {...} or [...] in the text from left to
// right (a value found is skipped whole, so its inner objects are not tried
// on their own). The error is ctx's when the request ended meanwhile.
func (f *format) extract(ctx context.Context, answer string) (extraction, error) {
	var ex extraction
	ctx = jsonschema.WithBudget(ctx, &jsonschema.Budget{Steps: answerSteps})
	tried := 0
	seen := map[string]bool{}
	try := func(cand string) (bool, error) {
		cand = strings.TrimSpace(cand)
		if cand == "" || seen[cand] || !json.Valid([]byte(cand)) {
			return false, nil
		}
		seen[cand] = true
		tried++
		ex.anyJSON = true
		prob, err := f.check(ctx, cand)
		if err != nil {
			return false, err
		}
		if prob == "" {
			ex.value = cand
			return true, nil
		}
		if ex.problem == "" {
			ex.problem = prob
		}
		return false, nil
	}
	if ok, err := try(answer); ok || err != nil {
		return ex, err
	}
	for _, block := range fencedBlocks(answer) {
		if tried >= maxCandidates {
			break
		}
		if ok, err := try(block); ok || err != nil {
			return ex, err
		}
	}
	scanned := 0
	for i := 0; i < len(answer) && tried < maxCandidates && scanned < maxScanBytes; i++ {
		c := answer[i]
		if c != '{' && c != '[' {
			continue
		}
		end, n := balanced(answer[i:], maxScanBytes-scanned)
		scanned += n
		if end < 0 {
			tried++ // an unclosed bracket costs a scan: count it
			continue
		}
		cand := answer[i : i+end]
		if !json.Valid([]byte(cand)) {
			continue
		}
		ok, err := try(cand)
		if ok || err != nil {
			return ex, err
		}
		i += end - 1 // skip the value whole
	}
	if !ex.anyJSON {
		if f.kind == llm.OutputJSONObject {
			ex.problem = "the answer holds no JSON object"
		} else {
			ex.problem = "the answer holds no JSON value"
		}
	}
	return ex, nil
}

// check reports why cand (valid JSON) does not fit the format, or "".
func (f *format) check(ctx context.Context, cand string) (string, error) {
	if f.kind == llm.OutputJSONObject || f.schema == nil {
		if cand[0] != '{' {
			return "the answer's JSON is not an object", nil
		}
		return "", nil
	}
	err := f.schema.ValidateJSON(ctx, []byte(cand))
	switch {
	case err == nil:
		return "", nil
	case errors.Is(err, jsonschema.ErrBudgetExceeded):
		return "checking the JSON against the schema took too long (" + err.Error() + ")", nil
	case ctx.Err() != nil:
		return "", ctx.Err()
	}
	return fmt.Sprintf("the JSON does not follow the schema: %v", err), nil
}

// fencedBlocks returns the contents of the ``` code blocks of s (any info
// string), in order; an unclosed last block runs to the end of s.
func fencedBlocks(s string) []string {
	var out []string
	for len(out) < maxCandidates {
		i := strings.Index(s, "```")
		if i < 0 {
			return out
		}
		s = s[i+3:]
		// The info string (json, JSON, ...) ends the opening line.
		nl := strings.IndexByte(s, '\n')
		if nl < 0 {
			return out
		}
		body := s[nl+1:]
		j := strings.Index(body, "```")
		if j < 0 {
			return append(out, body)
		}
		out = append(out, body[:j])
		s = body[j+3:]
	}
	return out
}

// balanced returns the length of the bracketed value that opens s (s[0] is
// '{' or '['), honouring JSON strings, or -1 when it is not closed within s
// or within limit bytes; n is the bytes read.
func balanced(s string, limit int) (end, n int) {
	depth := 0
	inString, escaped := false, false
	for i := 0; i < len(s); i++ {
		if i >= limit {
			return -1, i
		}
		c := s[i]
		if inString {
			switch {
			case escaped:
				escaped = false
			case c == '\\':
				escaped = true
			case c == '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return i + 1, i + 1
			}
		}
	}
	return -1, len(s)
}

// refusalOpenings are how refusals begin, lower case with straight
// apostrophes.
var refusalOpenings = []string{
	"i can't", "i cannot", "i can not", "i won't", "i will not", "i'm sorry", "i am sorry",
	"sorry,", "sorry but", "i'm unable", "i am unable", "i'm not able", "i am not able",
	"i must decline", "i have to decline", "i'm afraid i can", "unfortunately, i can",
}

// maxRefusalBytes bounds what reads as a refusal: a long answer without
// JSON is a model that ignored the format, not a refusal.
const maxRefusalBytes = 1000

// readsAsRefusal reports whether answer (which holds no JSON) is a short
// text that begins like a refusal.
func readsAsRefusal(answer string) bool {
	t := strings.TrimSpace(answer)
	if t == "" || len(t) > maxRefusalBytes {
		return false
	}
	t = strings.ToLower(strings.ReplaceAll(t, "\u2019", "'"))
	for _, p := range refusalOpenings {
		if strings.HasPrefix(t, p) {
			return true
		}
	}
	return false
}

// FindObject returns the first complete JSON object of text that schema
// accepts (any object when schema is nil), looked for as the emulator looks
// for an answer (the whole text, fenced blocks, then {...} in prose), with
// the same bounded work. found is false when there is none; err is ctx's
// when the request ended meanwhile.
func FindObject(ctx context.Context, text string, schema *jsonschema.Schema) (obj string, found bool, err error) {
	f := &format{kind: llm.OutputJSONObject}
	if schema != nil {
		f = &format{kind: llm.OutputJSONSchema, schema: schema}
	}
	ex, err := f.extract(ctx, text)
	if err != nil || ex.value == "" || ex.value[0] != '{' {
		return "", false, err
	}
	return ex.value, true, nil
}
