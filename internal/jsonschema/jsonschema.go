// Package jsonschema compiles and validates client-given JSON Schemas
// (tool parameters, response formats) with bounded work.
//
// It wraps github.com/santhosh-tekuri/jsonschema/v6 (Draft 2020-12 by
// default; drafts 4, 6, 7 and 2019-09 when "$schema" names them) and adds
// what a gateway needs on top of a conforming implementation:
//
//   - Compile refuses a schema larger than Limits.MaxBytes, with more than
//     Limits.MaxNodes JSON values or nested deeper than Limits.MaxDepth, and
//     one that loops without descending into the value (an "allOf"/"$ref"
//     chain that leads back to itself) or whose reference chains are longer
//     than maxChain.
//   - Only references inside the schema are resolved ("#", "#/$defs/x",
//     anchors, and the JSON Schema meta-schemas, which are built in): a
//     reference to any other URL or file is a compile error, nothing is ever
//     loaded.
//   - Validate spends at most Limits.MaxSteps steps and honours its context:
//     a schema whose evaluation blows up (the same subschema reached through
//     many paths, "allOf": [{"$ref": "#"}, {"$ref": "#"}] under a property)
//     ends with ErrBudgetExceeded instead of pinning a core. On its own the
//     library stops only a loop on the same value (an "infinite loop"
//     validation error); nothing bounds a blow-up without a loop, such as a
//     chain of "allOf" entries that each apply the next level twice.
//   - Errors are phrased for people and point at the value:
//     `at /items/1/id: expected integer, got string`.
//
// Formats ("format": "uri", "email", ...) are annotations and never
// asserted, for every draft: a model's almost-URL is not worth a failed call,
// and the client's own validation still sees the value.
package jsonschema

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	santhosh "github.com/santhosh-tekuri/jsonschema/v6"
)

// Limits bound the work Compile and Validate do. A zero field takes its
// DefaultLimits value.
type Limits struct {
	// MaxBytes bounds the schema document's size.
	MaxBytes int
	// MaxNodes bounds the JSON values (objects, arrays, strings, numbers,
	// booleans, nulls) of the schema document.
	MaxNodes int
	// MaxDepth bounds the nesting of the schema document and of a value
	// given to ValidateJSON.
	MaxDepth int
	// MaxSteps bounds one validation: a step is one subschema applied to
	// one value, plus one per value it may descend into and per enum entry
	// it may compare.
	MaxSteps int
}

// DefaultLimits are generous for real agent schemas: Claude Code's
// complete tool set (13 tools) is 10 KB and 371 JSON values all together,
// Codex's (12 tools) 7 KB and 254 values; none of their schemas is deeper
// than 9 levels, and validating one of their calls takes under a hundred
// steps. The limits apply to each schema.
var DefaultLimits = Limits{
	MaxBytes: 512 << 10,
	MaxNodes: 20_000,
	MaxDepth: 64,
	MaxSteps: 200_000,
}

// maxChain bounds the longest chain of subschemas applied to the same value
// ("$ref" to "allOf" to "$ref" ...). The validator walks that chain on every
// step to detect loops, and it is the validator's stack depth per level of
// the value.
const maxChain = 256

// ErrBudgetExceeded is returned (wrapped) by Validate when the validation
// needed more than Limits.MaxSteps steps.
var ErrBudgetExceeded = errors.New("validation exceeded its work budget")

// Options configure how a schema is compiled.
type Options struct {
	// Limits bound compilation and validation; zero fields take the
	// DefaultLimits values.
	Limits Limits
	// Lenient relaxes checks whose failure a model cannot fix or that the
	// schema's author did not mean strictly:
	//   - a "pattern" (or patternProperties key) that Go's RE2 cannot compile
	//     (lookaround, backreferences) matches every string instead of
	//     failing the compilation;
	//   - "oneOf" accepts a value that matches several of its schemas
	//     (overlapping branches such as number and integer are common);
	//   - OpenAPI's "nullable": true admits null besides the "type";
	//   - a "$schema" that names no known draft is ignored (Draft 2020-12
	//     applies) instead of failing the compilation;
	//   - a document without "$schema" that is invalid under Draft 2020-12
	//     but valid under draft-07 or draft-04 ("exclusiveMinimum": true,
	//     tuple "items") is compiled under that draft.
	Lenient bool
}

// Schema is a compiled schema. It is safe for concurrent use.
type Schema struct {
	raw    []byte // the document, compacted
	opts   Options
	limits Limits
	nodes  int             // JSON values of the document
	draft  *santhosh.Draft // for a document without "$schema"

	// idle holds compiled instances that no validation uses. A validation
	// takes one (compiling a new one when none is idle) and gives it back,
	// because an instance carries the step counter of the validation using
	// it.
	idle chan *instance
}

// maxIdle bounds the idle compiled instances kept per schema (each is
// about 7 times the size of the document).
const maxIdle = 2

// Compile compiles raw with Options{} (strict, DefaultLimits).
func Compile(raw json.RawMessage) (*Schema, error) {
	return Options{}.Compile(raw)
}

// Compile compiles raw, a JSON Schema document (an object or a boolean).
// The error says what is wrong in words a client can act on.
func (o Options) Compile(raw json.RawMessage) (*Schema, error) {
	lim := o.Limits.withDefaults()
	if len(raw) > lim.MaxBytes {
		return nil, fmt.Errorf("the schema is %d bytes, more than the limit of %d", len(raw), lim.MaxBytes)
	}
	doc, nodes, err := decodeSchemaDoc(raw, lim)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, raw); err != nil {
		return nil, fmt.Errorf("the schema is not valid JSON: %w", err)
	}
	s := &Schema{raw: buf.Bytes(), opts: o, limits: lim, nodes: nodes, idle: make(chan *instance, maxIdle),
		draft: santhosh.Draft2020}
	inst, err := s.compileInstance(doc)
	var meta *metaError
	if errors.As(err, &meta) && o.Lenient && !hasSchemaKeyword(doc) {
		// Older generators write draft-04 to 07 keywords ("exclusiveMinimum":
		// true, "items": [...], "definitions") without saying so.
		for _, d := range []*santhosh.Draft{santhosh.Draft7, santhosh.Draft4} {
			s.draft = d
			doc, _ := decodeJSON(s.raw)
			if inst2, err2 := s.compileInstance(doc); err2 == nil {
				inst, err = inst2, nil
				break
			}
		}
	}
	if err != nil {
		return nil, err
	}
	s.idle <- inst
	return s, nil
}

// hasSchemaKeyword reports whether doc says which draft it follows.
func hasSchemaKeyword(doc any) bool {
	obj, ok := doc.(map[string]any)
	if !ok {
		return false
	}
	_, ok = obj["$schema"].(string)
	return ok
}

func (l Limits) withDefaults() Limits {
	if l.MaxBytes <= 0 {
		l.MaxBytes = DefaultLimits.MaxBytes
	}
	if l.MaxNodes <= 0 {
		l.MaxNodes = DefaultLimits.MaxNodes
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultLimits.MaxDepth
	}
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultLimits.MaxSteps
	}
	return l
}

// decodeSchemaDoc decodes a schema document and checks its shape against
// lim. Numbers are json.Number, as the compiler expects.
func decodeSchemaDoc(raw []byte, lim Limits) (any, int, error) {
	doc, err := decodeJSON(raw)
	if err != nil {
		return nil, 0, fmt.Errorf("the schema is not valid JSON: %w", err)
	}
	switch doc.(type) {
	case map[string]any, bool:
	default:
		return nil, 0, errors.New("the schema must be a JSON object (or a boolean)")
	}
	nodes, err := measure(doc, lim)
	if err != nil {
		return nil, 0, err
	}
	return doc, nodes, nil
}

// decodeJSON decodes exactly one JSON value (numbers as json.Number).
// encoding/json bounds its own nesting (10,000 levels), so this cannot
// exhaust the stack; callers check the depth they accept.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("unexpected data after the JSON value")
	}
	return v, nil
}

// measure counts the JSON values of v and checks them and its depth against
// lim.
func measure(v any, lim Limits) (int, error) {
	nodes := 0
	var walk func(v any, depth int) error
	walk = func(v any, depth int) error {
		nodes++
		if nodes > lim.MaxNodes {
			return fmt.Errorf("the schema has more than %d JSON values", lim.MaxNodes)
		}
		if depth > lim.MaxDepth {
			return fmt.Errorf("the schema is nested more than %d levels deep", lim.MaxDepth)
		}
		switch t := v.(type) {
		case json.Number:
			if err := checkNumber(t); err != nil {
				return fmt.Errorf("the schema is refused: %w", err)
			}
		case map[string]any:
			for _, x := range t {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		case []any:
			for _, x := range t {
				if err := walk(x, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := walk(v, 0)
	return nodes, err
}

// baseURL names the document while it is compiled; references are
// resolved against it (a reserved domain: nothing is ever fetched).
const (
	baseDir = "https://schema.spark.invalid/"
	baseURL = baseDir + "schema.json"
)

// refusedLoadError is what the loader answers for every URL: nothing
// outside the document is loaded.
type refusedLoadError struct{ url string }

func (e *refusedLoadError) Error() string {
	return fmt.Sprintf("the schema refers to %q, which is outside it: only references inside the schema (\"#...\") are resolved, nothing is loaded", strings.TrimPrefix(e.url, baseDir))
}

// refusingLoader refuses every URL and remembers the first, because the
// compiler's errors do not all unwrap to the loader's.
type refusingLoader struct{ refused *refusedLoadError }

func (l *refusingLoader) Load(url string) (any, error) {
	err := &refusedLoadError{url: url}
	if l.refused == nil {
		l.refused = err
	}
	return nil, err
}

// knownDraft reports whether u names a draft whose meta-schema the
// compiler has built in.
func knownDraft(u string) bool {
	u, _, _ = strings.Cut(u, "#")
	u = strings.TrimPrefix(strings.TrimPrefix(u, "http://"), "https://")
	switch u {
	case "json-schema.org/draft-04/schema", "json-schema.org/draft-06/schema", "json-schema.org/draft-07/schema",
		"json-schema.org/draft/2019-09/schema", "json-schema.org/draft/2020-12/schema", "json-schema.org/schema":
		return true
	}
	return false
}

// matchAll is the lenient stand-in for a pattern RE2 cannot compile.
type matchAll string

func (m matchAll) MatchString(string) bool { return true }
func (m matchAll) String() string          { return string(m) }

func lenientRegexp(p string) (santhosh.Regexp, error) {
	re, err := regexp.Compile(p)
	if err != nil {
		return matchAll(p), nil
	}
	return re, nil
}

func strictRegexp(p string) (santhosh.Regexp, error) {
	re, err := regexp.Compile(p)
	if err != nil {
		return nil, fmt.Errorf("the pattern %q is not a regular expression Go's RE2 accepts: %w", p, err)
	}
	return re, nil
}

// compileInstance compiles doc (which it may modify) into a fresh instance.
func (s *Schema) compileInstance(doc any) (inst *instance, err error) {
	defer func() {
		if r := recover(); r != nil { // a defect of the library on some input
			inst, err = nil, fmt.Errorf("the schema cannot be compiled: the compiler failed: %v", r)
		}
	}()
	if obj, ok := doc.(map[string]any); ok && s.opts.Lenient {
		if u, ok := obj["$schema"].(string); ok && !knownDraft(u) {
			delete(obj, "$schema")
		}
	}
	inst = &instance{}
	c := santhosh.NewCompiler()
	c.DefaultDraft(s.draft)
	loader := &refusingLoader{}
	c.UseLoader(loader)
	if s.opts.Lenient {
		c.UseRegexpEngine(lenientRegexp)
	} else {
		c.UseRegexpEngine(strictRegexp)
	}
	c.AssertVocabs()
	c.RegisterVocabulary(&santhosh.Vocabulary{
		URL: "urn:spark:vocab:steps",
		Compile: func(ctx *santhosh.CompilerContext, obj map[string]any) (santhosh.SchemaExt, error) {
			// Called for every schema object: note it, to install the step
			// counter once the graph is complete.
			self := ctx.Enqueue(nil)
			inst.nodes = append(inst.nodes, self)
			if len(inst.nodes) > s.limits.MaxNodes {
				return nil, fmt.Errorf("the schema has more than %d subschemas", s.limits.MaxNodes)
			}
			if obj["nullable"] == true {
				if inst.nullable == nil {
					inst.nullable = map[string]bool{}
				}
				inst.nullable[self.Location] = true
			}
			return nil, nil
		},
	})
	if err := c.AddResource(baseURL, doc); err != nil {
		return nil, compileError(err, loader)
	}
	root, err := c.Compile(baseURL)
	if err != nil {
		return nil, compileError(err, loader)
	}
	inst.root = root
	if err := inst.prepare(); err != nil {
		return nil, err
	}
	return inst, nil
}

// metaError is a document that does not follow its draft's meta-schema.
type metaError struct{ msg string }

func (e *metaError) Error() string { return e.msg }

// compileError turns the compiler's error into a message for the client.
func compileError(err error, loader *refusingLoader) error {
	if loader.refused != nil {
		return loader.refused
	}
	var meta *santhosh.SchemaValidationError
	if errors.As(err, &meta) {
		err = meta.Err
	}
	var verr *santhosh.ValidationError
	if errors.As(err, &verr) {
		// The document does not follow its draft's meta-schema.
		leaf := verr
		for len(leaf.Causes) > 0 {
			leaf = leaf.Causes[0]
		}
		loc := "#" + pointer(leaf.InstanceLocation)
		return &metaError{fmt.Sprintf("the schema is invalid at %s: %s", loc, leaf.ErrorKind.LocalizedString(printer))}
	}
	msg := strings.ReplaceAll(err.Error(), baseDir, "")
	return fmt.Errorf("the schema cannot be compiled: %s", msg)
}

// Validate checks v, a decoded JSON value (objects as map[string]any,
// arrays as []any, numbers as json.Number or float64), against s. It
// returns nil, a *ValidationError naming the first problem, an error
// wrapping ErrBudgetExceeded, or ctx's error once ctx is done.
func (s *Schema) Validate(ctx context.Context, v any) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if verr := checkValue(v, s.limits.MaxDepth, nil); verr != nil {
		return verr
	}
	inst, err := s.acquire()
	if err != nil {
		return err
	}
	defer s.release(inst)
	verr, err := inst.validate(ctx, v, s.limits.MaxSteps)
	if err != nil {
		return err
	}
	if verr == nil {
		return nil
	}
	return describe(verr, v, s.opts.Lenient, inst.nullable)
}

// ValidateJSON decodes data (one JSON value) and validates it.
func (s *Schema) ValidateJSON(ctx context.Context, data []byte) error {
	v, err := decodeJSON(data)
	if err != nil {
		return &ValidationError{Message: "the value is not valid JSON: " + err.Error()}
	}
	return s.Validate(ctx, v)
}

// checkValue checks what the validator cannot bound itself: v nests at
// most maxDepth levels and its numbers are in range (see checkNumber).
func checkValue(v any, maxDepth int, loc []string) *ValidationError {
	switch t := v.(type) {
	case map[string]any:
		if len(loc) >= maxDepth {
			return &ValidationError{Message: fmt.Sprintf("the value is nested more than %d levels deep", maxDepth)}
		}
		for k, x := range t {
			if err := checkValue(x, maxDepth, append(loc, k)); err != nil {
				return err
			}
		}
	case []any:
		if len(loc) >= maxDepth {
			return &ValidationError{Message: fmt.Sprintf("the value is nested more than %d levels deep", maxDepth)}
		}
		for i, x := range t {
			if err := checkValue(x, maxDepth, append(loc, strconv.Itoa(i))); err != nil {
				return err
			}
		}
	case json.Number:
		if err := checkNumber(t); err != nil {
			return &ValidationError{Pointer: pointer(loc), Message: err.Error()}
		}
	}
	return nil
}

// Numbers are compared exactly (as big.Rat): 1e9999999 would take seconds
// and megabytes to expand, and a larger exponent crashes the library. A
// number longer than maxNumberLen or with an exponent beyond ±maxExponent
// (far beyond float64's range) is refused instead.
const (
	maxNumberLen = 128
	maxExponent  = 400
)

func checkNumber(n json.Number) error {
	s := string(n)
	bad := len(s) > maxNumberLen
	if i := strings.IndexAny(s, "eE"); i >= 0 && !bad {
		e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
		bad = err != nil || e > maxExponent || e < -maxExponent
	}
	if bad {
		return fmt.Errorf("number %.40s is too large or too precise to check (at most %d characters, exponent within ±%d)", s, maxNumberLen, maxExponent)
	}
	return nil
}

func (s *Schema) acquire() (*instance, error) {
	select {
	case inst := <-s.idle:
		return inst, nil
	default:
	}
	doc, err := decodeJSON(s.raw)
	if err != nil { // not reached: raw compiled before
		return nil, fmt.Errorf("recompiling the schema: %w", err)
	}
	return s.compileInstance(doc)
}

func (s *Schema) release(inst *instance) {
	inst.ctx = nil
	select {
	case s.idle <- inst:
	default:
	}
}
