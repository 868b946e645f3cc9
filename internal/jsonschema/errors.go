package jsonschema

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"

	santhosh "github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

var printer = message.NewPrinter(language.English)

// ValidationError is the first problem a validation found, phrased for
// people (it goes back to the model in a repair request, and to clients).
type ValidationError struct {
	// Pointer is the JSON Pointer of the offending value ("" for the whole
	// value, "/items/1/id" for a nested one).
	Pointer string
	// Message says what is wrong: `missing required property "city"`.
	Message string
}

func (e *ValidationError) Error() string {
	if e.Pointer == "" {
		return e.Message
	}
	return "at " + e.Pointer + ": " + e.Message
}

// describe turns the validator's error tree into the first problem, or nil
// when lenient checking forgives every problem.
// nullable holds the locations of the subschemas that say "nullable": true.
func describe(verr *santhosh.ValidationError, v any, lenient bool, nullable map[string]bool) error {
	f := forgiver{v: v, lenient: lenient, nullable: nullable}
	if f.forgiven(verr) {
		return nil
	}
	return f.first(verr)
}

// forgiver decides which problems lenient checking accepts (none unless
// lenient) and phrases the others.
type forgiver struct {
	v        any // the validated value
	lenient  bool
	nullable map[string]bool
}

// forgiven reports whether every problem in e is one lenient checking
// accepts (see Options.Lenient).
func (f forgiver) forgiven(e *santhosh.ValidationError) bool {
	if !f.lenient {
		return false
	}
	switch k := e.ErrorKind.(type) {
	case *kind.OneOf:
		if k.Subschemas != nil {
			return true // several branches matched
		}
		return slices.ContainsFunc(e.Causes, func(c *santhosh.ValidationError) bool { return f.forgiven(c) })
	case *kind.AnyOf, *kind.Contains:
		return slices.ContainsFunc(e.Causes, func(c *santhosh.ValidationError) bool { return f.forgiven(c) })
	case *kind.Type:
		if len(e.Causes) == 0 {
			val, ok := lookup(f.v, e.InstanceLocation)
			return ok && val == nil && f.nullable[e.SchemaURL]
		}
	}
	if len(e.Causes) == 0 {
		return false
	}
	for _, c := range e.Causes {
		if !f.forgiven(c) {
			return false
		}
	}
	return true
}

// first returns the first unforgiven problem of e in document order (the
// shallowest value first, then the order the validator checks keywords).
func (f forgiver) first(e *santhosh.ValidationError) *ValidationError {
	leaf := e
	for {
		causes := slices.Clone(leaf.Causes)
		causes = slices.DeleteFunc(causes, f.forgiven)
		if len(causes) == 0 {
			break
		}
		slices.SortStableFunc(causes, func(a, b *santhosh.ValidationError) int {
			return cmpLocation(a.InstanceLocation, b.InstanceLocation)
		})
		switch leaf.ErrorKind.(type) {
		case *kind.AnyOf:
			if len(causes) > 1 {
				inner := f.first(causes[0])
				return &ValidationError{Pointer: pointer(leaf.InstanceLocation),
					Message: fmt.Sprintf("value matches none of the %d allowed forms (first: %v)", len(causes), inner)}
			}
		case *kind.OneOf:
			if len(causes) > 1 {
				inner := f.first(causes[0])
				return &ValidationError{Pointer: pointer(leaf.InstanceLocation),
					Message: fmt.Sprintf("value matches none of the %d allowed forms (first: %v)", len(causes), inner)}
			}
		}
		leaf = causes[0]
	}
	return &ValidationError{Pointer: pointer(leaf.InstanceLocation), Message: message1(leaf, f.v)}
}

// cmpLocation orders instance locations: parents before children,
// siblings by name.
func cmpLocation(a, b []string) int {
	for i := 0; i < len(a) && i < len(b); i++ {
		if a[i] != b[i] {
			ai, errA := strconv.Atoi(a[i])
			bi, errB := strconv.Atoi(b[i])
			if errA == nil && errB == nil {
				return cmp.Compare(ai, bi)
			}
			return strings.Compare(a[i], b[i])
		}
	}
	return cmp.Compare(len(a), len(b))
}

// message1 phrases one problem.
func message1(e *santhosh.ValidationError, v any) string {
	val, _ := lookup(v, e.InstanceLocation)
	switch k := e.ErrorKind.(type) {
	case *kind.FalseSchema:
		return "no value is allowed here"
	case *kind.Type:
		return "expected " + strings.Join(k.Want, " or ") + ", got " + typeName(val)
	case *kind.Const:
		return "value must be " + render(k.Want)
	case *kind.Enum:
		return "value " + render(k.Got) + " is not one of " + renderList(k.Want)
	case *kind.Required:
		return "missing required " + plural(len(k.Missing), "property", "properties") + " " + quoteList(k.Missing)
	case *kind.AdditionalProperties:
		props := slices.Clone(k.Properties)
		slices.Sort(props)
		return "unexpected " + plural(len(props), "property", "properties") + " " + quoteList(props)
	case *kind.DependentRequired:
		return fmt.Sprintf("property %q requires %s %s", k.Prop, plural(len(k.Missing), "property", "properties"), quoteList(k.Missing))
	case *kind.Dependency:
		return fmt.Sprintf("property %q requires %s %s", k.Prop, plural(len(k.Missing), "property", "properties"), quoteList(k.Missing))
	case *kind.MinProperties:
		return fmt.Sprintf("object has fewer than %d properties", k.Want)
	case *kind.MaxProperties:
		return fmt.Sprintf("object has more than %d properties", k.Want)
	case *kind.MinItems:
		return fmt.Sprintf("array has fewer than %d items", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("array has more than %d items", k.Want)
	case *kind.AdditionalItems:
		return fmt.Sprintf("array has %d more items than allowed", k.Count)
	case *kind.UniqueItems:
		return fmt.Sprintf("array items %d and %d are equal but must be unique", k.Duplicates[0], k.Duplicates[1])
	case *kind.MinLength:
		return fmt.Sprintf("string is shorter than %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("string is longer than %d characters", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("string does not match pattern %q", k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("value %s is less than the minimum %s", number(val), rat(k.Want))
	case *kind.Maximum:
		return fmt.Sprintf("value %s is greater than the maximum %s", number(val), rat(k.Want))
	case *kind.ExclusiveMinimum:
		return fmt.Sprintf("value %s must be greater than %s", number(val), rat(k.Want))
	case *kind.ExclusiveMaximum:
		return fmt.Sprintf("value %s must be less than %s", number(val), rat(k.Want))
	case *kind.MultipleOf:
		return fmt.Sprintf("value %s is not a multiple of %s", number(val), rat(k.Want))
	case *kind.OneOf:
		if k.Subschemas != nil {
			return fmt.Sprintf("value matches more than one of the allowed forms (%d and %d) but must match exactly one", k.Subschemas[0], k.Subschemas[1])
		}
		return "value matches none of the allowed forms"
	case *kind.AnyOf:
		return "value matches none of the allowed forms"
	case *kind.Not:
		return `value matches the schema under "not", which it must not`
	case *kind.Contains:
		return "array has no item of the required form"
	case *kind.RefCycle:
		return "the schema loops on this value (a reference leads back to itself)"
	}
	return e.ErrorKind.LocalizedString(printer)
}

// lookup finds the value at loc in v.
func lookup(v any, loc []string) (any, bool) {
	for _, tok := range loc {
		switch t := v.(type) {
		case map[string]any:
			x, ok := t[tok]
			if !ok {
				return nil, false
			}
			v = x
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(t) {
				return nil, false
			}
			v = t[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// pointer renders an instance location as a JSON Pointer.
func pointer(loc []string) string {
	var b strings.Builder
	for _, tok := range loc {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(tok, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// typeName names v's JSON type; integral numbers are "integer".
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
		if r, ok := new(big.Rat).SetString(string(x)); ok && r.IsInt() {
			return "integer"
		}
		return "number"
	case float64:
		if x == math.Trunc(x) && !math.IsInf(x, 0) {
			return "integer"
		}
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

func number(v any) string {
	switch x := v.(type) {
	case json.Number:
		return string(x)
	case float64:
		return strconv.FormatFloat(x, 'g', -1, 64)
	}
	return render(v)
}

func rat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	f, _ := r.Float64()
	return strconv.FormatFloat(f, 'g', -1, 64)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func quoteList(names []string) string {
	const most = 10
	parts := make([]string, 0, min(len(names), most+1))
	for i, n := range names {
		if i == most {
			parts = append(parts, "...")
			break
		}
		parts = append(parts, strconv.Quote(n))
	}
	return strings.Join(parts, ", ")
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
