package toolcall

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// schema is a compiled JSON Schema for one tool's arguments.
//
// It checks the keywords that catch a model's real mistakes — type,
// properties, required, additionalProperties, items/prefixItems, enum, const,
// anyOf/oneOf/allOf, length/size/range bounds, pattern and local $ref — and
// ignores everything else (format, not, if/then/else, dependencies, remote
// references). It is deliberately lenient: an unknown or malformed keyword
// never fails a call, oneOf accepts any matching branch, and a pattern Go's
// RE2 cannot compile is skipped. Validation only decides whether to ask the
// model for a corrected call, so a false rejection costs a round trip while
// a missed one merely lets the client's own validation speak.
type schema struct {
	root any
	// patterns holds every "pattern" keyword of the schema compiled once,
	// nil for patterns Go's regexp cannot compile (they are not checked).
	patterns map[string]*regexp.Regexp
}

// maxSchemaDepth bounds $ref chains and nesting, so a cyclic schema cannot
// loop.
const maxSchemaDepth = 64

// compileSchema decodes raw. It returns nil (no validation) for an empty or
// undecodable schema.
func compileSchema(raw json.RawMessage) *schema {
	if len(bytes.TrimSpace(raw)) == 0 {
		return nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil
	}
	switch v.(type) {
	case map[string]any, bool:
		s := &schema{root: v}
		s.compilePatterns(v, 0)
		return s
	}
	return nil
}

// compilePatterns compiles the pattern keywords found anywhere in v.
func (s *schema) compilePatterns(v any, depth int) {
	if depth > 2*maxSchemaDepth {
		return
	}
	switch t := v.(type) {
	case map[string]any:
		for k, sub := range t {
			if p, ok := sub.(string); ok && k == "pattern" {
				if _, done := s.patterns[p]; !done {
					if s.patterns == nil {
						s.patterns = map[string]*regexp.Regexp{}
					}
					re, err := regexp.Compile(p)
					if err != nil {
						re = nil
					}
					s.patterns[p] = re
				}
				continue
			}
			s.compilePatterns(sub, depth+1)
		}
	case []any:
		for _, sub := range t {
			s.compilePatterns(sub, depth+1)
		}
	}
}

// pattern returns the compiled pattern p, or nil when Go cannot compile it.
func (s *schema) pattern(p string) *regexp.Regexp {
	if re, ok := s.patterns[p]; ok {
		return re
	}
	re, err := regexp.Compile(p) // not reached: compileSchema saw every pattern
	if err != nil {
		return nil
	}
	return re
}

// validate checks the JSON value args against s and returns the first
// problem, phrased for people ("missing required property \"city\"").
func (s *schema) validate(args []byte) error {
	if s == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(args))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("arguments are not valid JSON: %v", err)
	}
	return s.check(s.root, v, "", 0)
}

func (s *schema) check(sch, v any, path string, depth int) error {
	if depth > maxSchemaDepth {
		return nil
	}
	var m map[string]any
	switch t := sch.(type) {
	case bool:
		if !t {
			return violation(path, "no value is allowed here")
		}
		return nil
	case map[string]any:
		m = t
	default:
		return nil
	}
	if ref, ok := m["$ref"].(string); ok {
		if target, ok := s.resolve(ref); ok {
			if err := s.check(target, v, path, depth+1); err != nil {
				return err
			}
		}
	}
	if v == nil && m["nullable"] == true {
		return nil
	}
	if err := checkType(m["type"], v, path); err != nil {
		return err
	}
	if c, ok := m["const"]; ok && !jsonEqual(c, v) {
		return violation(path, "value must be "+render(c))
	}
	if e, ok := m["enum"].([]any); ok && len(e) > 0 {
		found := false
		for _, x := range e {
			if jsonEqual(x, v) {
				found = true
				break
			}
		}
		if !found {
			return violation(path, "value "+render(v)+" is not one of "+renderList(e))
		}
	}
	if all, ok := m["allOf"].([]any); ok {
		for _, sub := range all {
			if err := s.check(sub, v, path, depth+1); err != nil {
				return err
			}
		}
	}
	for _, kw := range [...]string{"anyOf", "oneOf"} {
		alts, ok := m[kw].([]any)
		if !ok || len(alts) == 0 {
			continue
		}
		var first error
		matched := false
		for _, sub := range alts {
			err := s.check(sub, v, path, depth+1)
			if err == nil {
				matched = true
				break
			}
			if first == nil {
				first = err
			}
		}
		if !matched {
			if len(alts) == 1 {
				return first
			}
			return violation(path, fmt.Sprintf("value matches none of the %d allowed forms (first: %v)", len(alts), first))
		}
	}
	switch x := v.(type) {
	case map[string]any:
		return s.checkObject(m, x, path, depth)
	case []any:
		return s.checkArray(m, x, path, depth)
	case string:
		n := utf8.RuneCountInString(x)
		if lim, ok := number(m["minLength"]); ok && float64(n) < lim {
			return violation(path, fmt.Sprintf("string is shorter than %v characters", lim))
		}
		if lim, ok := number(m["maxLength"]); ok && float64(n) > lim {
			return violation(path, fmt.Sprintf("string is longer than %v characters", lim))
		}
		if p, ok := m["pattern"].(string); ok {
			if re := s.pattern(p); re != nil && !re.MatchString(x) {
				return violation(path, fmt.Sprintf("string does not match pattern %q", p))
			}
		}
	case json.Number:
		f, err := x.Float64()
		if err != nil {
			return nil
		}
		if lim, ok := number(m["minimum"]); ok && f < lim {
			return violation(path, fmt.Sprintf("value %s is less than the minimum %v", x, lim))
		}
		if lim, ok := number(m["maximum"]); ok && f > lim {
			return violation(path, fmt.Sprintf("value %s is greater than the maximum %v", x, lim))
		}
		if lim, ok := number(m["exclusiveMinimum"]); ok && f <= lim {
			return violation(path, fmt.Sprintf("value %s must be greater than %v", x, lim))
		}
		if lim, ok := number(m["exclusiveMaximum"]); ok && f >= lim {
			return violation(path, fmt.Sprintf("value %s must be less than %v", x, lim))
		}
	}
	return nil
}

func (s *schema) checkObject(m map[string]any, obj map[string]any, path string, depth int) error {
	if req, ok := m["required"].([]any); ok {
		for _, r := range req {
			name, ok := r.(string)
			if !ok {
				continue
			}
			if _, present := obj[name]; !present {
				return violation(path, fmt.Sprintf("missing required property %q", name))
			}
		}
	}
	props, _ := m["properties"].(map[string]any)
	for _, name := range sortedKeys(obj) {
		sub, declared := props[name]
		if declared {
			if err := s.check(sub, obj[name], path+"/"+pointerEscape(name), depth+1); err != nil {
				return err
			}
			continue
		}
		if _, ok := m["patternProperties"]; ok {
			continue // not checked; do not call the property unexpected
		}
		switch ap := m["additionalProperties"].(type) {
		case bool:
			if !ap {
				return violation(path, fmt.Sprintf("unexpected property %q", name))
			}
		case map[string]any:
			if err := s.check(ap, obj[name], path+"/"+pointerEscape(name), depth+1); err != nil {
				return err
			}
		}
	}
	n := float64(len(obj))
	if lim, ok := number(m["minProperties"]); ok && n < lim {
		return violation(path, fmt.Sprintf("object has fewer than %v properties", lim))
	}
	if lim, ok := number(m["maxProperties"]); ok && n > lim {
		return violation(path, fmt.Sprintf("object has more than %v properties", lim))
	}
	return nil
}

func (s *schema) checkArray(m map[string]any, arr []any, path string, depth int) error {
	n := float64(len(arr))
	if lim, ok := number(m["minItems"]); ok && n < lim {
		return violation(path, fmt.Sprintf("array has fewer than %v items", lim))
	}
	if lim, ok := number(m["maxItems"]); ok && n > lim {
		return violation(path, fmt.Sprintf("array has more than %v items", lim))
	}
	prefix, _ := m["prefixItems"].([]any)
	items := m["items"]
	if tuple, ok := items.([]any); ok { // draft 4-7 tuple form
		prefix, items = tuple, m["additionalItems"]
	}
	for i, x := range arr {
		sub := items
		if i < len(prefix) {
			sub = prefix[i]
		}
		if sub == nil {
			continue
		}
		if err := s.check(sub, x, path+"/"+strconv.Itoa(i), depth+1); err != nil {
			return err
		}
	}
	if m["uniqueItems"] == true {
		for i := range arr {
			for j := i + 1; j < len(arr); j++ {
				if jsonEqual(arr[i], arr[j]) {
					return violation(path, fmt.Sprintf("array items %d and %d are equal but must be unique", i, j))
				}
			}
		}
	}
	return nil
}

// resolve follows a local reference ("#", "#/$defs/x", "#/definitions/x").
func (s *schema) resolve(ref string) (any, bool) {
	if ref == "#" {
		return s.root, true
	}
	if !strings.HasPrefix(ref, "#/") {
		return nil, false
	}
	cur := s.root
	for _, tok := range strings.Split(ref[2:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			next, ok := c[tok]
			if !ok {
				return nil, false
			}
			cur = next
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, false
			}
			cur = c[i]
		default:
			return nil, false
		}
	}
	return cur, true
}

// checkType checks the "type" keyword (a name or a list of names).
func checkType(t any, v any, path string) error {
	var names []string
	switch x := t.(type) {
	case string:
		names = []string{x}
	case []any:
		for _, n := range x {
			if s, ok := n.(string); ok {
				names = append(names, s)
			}
		}
	}
	if len(names) == 0 {
		return nil
	}
	for _, n := range names {
		if hasType(n, v) {
			return nil
		}
	}
	return violation(path, "expected "+strings.Join(names, " or ")+", got "+typeName(v))
}

func hasType(name string, v any) bool {
	switch name {
	case "object":
		_, ok := v.(map[string]any)
		return ok
	case "array":
		_, ok := v.([]any)
		return ok
	case "string":
		_, ok := v.(string)
		return ok
	case "boolean":
		_, ok := v.(bool)
		return ok
	case "null":
		return v == nil
	case "number":
		_, ok := v.(json.Number)
		return ok
	case "integer":
		n, ok := v.(json.Number)
		if !ok {
			return false
		}
		if _, err := n.Int64(); err == nil {
			return true
		}
		f, err := n.Float64()
		return err == nil && !math.IsInf(f, 0) && f == math.Trunc(f)
	}
	return true // unknown type names do not fail a call
}

func typeName(v any) string {
	switch x := v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case bool:
		return "boolean"
	case nil:
		return "null"
	case json.Number:
		if hasType("integer", x) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// number reads a numeric keyword, which json.Unmarshal decoded as float64.
func number(v any) (float64, bool) {
	f, ok := v.(float64)
	return f, ok
}

// jsonEqual compares a schema value (numbers as float64) with an instance
// value (numbers as json.Number).
func jsonEqual(a, b any) bool {
	switch x := a.(type) {
	case float64:
		return numEqual(x, b)
	case json.Number:
		f, err := x.Float64()
		return err == nil && numEqual(f, b)
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !jsonEqual(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !jsonEqual(x[i], y[i]) {
				return false
			}
		}
		return true
	default:
		return a == b
	}
}

func numEqual(f float64, b any) bool {
	switch y := b.(type) {
	case float64:
		return f == y
	case json.Number:
		g, err := y.Float64()
		return err == nil && f == g
	}
	return false
}

func violation(path, msg string) error {
	if path == "" {
		return fmt.Errorf("%s", msg)
	}
	return fmt.Errorf("at %s: %s", path, msg)
}

func pointerEscape(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// render shows a JSON value compactly for an error message.
func render(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	if len(b) > 80 {
		return string(b[:77]) + "..."
	}
	return string(b)
}

func renderList(vs []any) string {
	var parts []string
	for i, v := range vs {
		if i == 10 {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, render(v))
	}
	return strings.Join(parts, ", ")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
