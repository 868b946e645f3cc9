package jsonschema

import (
	"context"
	"errors"
	"fmt"
	"math"

	santhosh "github.com/santhosh-tekuri/jsonschema/v6"
)

// instance is one compiled copy of a schema, used by one validation at a
// time: its subschemas' step hooks charge its counter.
//
// How the budget holds: the validator evaluates a subschema in this order:
// false schema, loop check, type, const, enum, format, then everything that
// recurses ($ref, properties, items, allOf ...). Every subschema's "format"
// is replaced by a hook (formats are not asserted, see the package doc),
// so each evaluation that gets as far as recursing is charged first. A hook
// charges for the evaluation itself plus, in advance, for what its direct
// children may cost before reaching their own hooks (their type, const and
// enum checks): one per in-place subschema and per value the evaluation may
// descend into. Evaluations are thus bounded by the budget, each does
// bounded work apart from the loop check, which walks the chain of
// subschemas applied to the same value (at most maxChain long, checked at
// compile time).
type instance struct {
	root  *santhosh.Schema
	nodes []*santhosh.Schema // every compiled schema object
	// nullable holds the locations of the subschemas that say
	// "nullable": true (OpenAPI), for lenient checking.
	nullable map[string]bool

	ctx   context.Context
	steps int // charged so far in the current validation
	evals int // subschema evaluations that reached their hook
	max   int
	check int // steps at which ctx is checked next
}

// Budget is a number of validation steps shared by several validations
// (all the calls of one model answer, say): a validation whose context
// carries a Budget (see WithBudget) may spend no more than what is left of
// it, nor more than Limits.MaxSteps, and what it spends is taken off. A
// Budget is not safe for concurrent use.
type Budget struct {
	// Steps is what is left.
	Steps int
}

type budgetKey struct{}

// WithBudget returns a context whose validations draw on b.
func WithBudget(ctx context.Context, b *Budget) context.Context {
	return context.WithValue(ctx, budgetKey{}, b)
}

// ctxCheckEvery is how many steps pass between two looks at the context.
const ctxCheckEvery = 1024

// abort is the panic value that ends a validation early; validate
// recovers it.
type abort struct{ err error }

// charge adds n steps and aborts the validation when the budget is spent
// or the context is done.
func (in *instance) charge(n int) {
	in.steps += n
	if in.steps > in.max {
		panic(abort{fmt.Errorf("%w (more than %d steps)", ErrBudgetExceeded, in.max)})
	}
	if in.steps >= in.check {
		in.check = in.steps + ctxCheckEvery
		if err := in.ctx.Err(); err != nil {
			panic(abort{err})
		}
	}
}

// validate runs one validation. It returns the validator's error tree, or
// err when the validation was aborted.
func (in *instance) validate(ctx context.Context, v any, limit int) (verr *santhosh.ValidationError, err error) {
	in.ctx, in.steps, in.evals, in.check, in.max = ctx, 0, 0, ctxCheckEvery, limit
	shared, _ := ctx.Value(budgetKey{}).(*Budget)
	if shared != nil {
		in.max = max(0, min(in.max, shared.Steps))
		defer func() { shared.Steps = max(0, shared.Steps-in.steps) }()
	}
	defer func() {
		if r := recover(); r != nil {
			a, ok := r.(abort)
			if !ok {
				// A defect of the library on some input: that validation
				// fails, the process goes on.
				a.err = fmt.Errorf("the validator failed on this value: %v", r)
			}
			verr, err = nil, a.err
		}
	}()
	in.charge(preCost(in.root))
	if e := in.root.Validate(v); e != nil {
		if !errors.As(e, &verr) {
			return nil, fmt.Errorf("validating: %w", e)
		}
	}
	return verr, nil
}

// prepare installs the step hooks and checks the graph's chains.
func (in *instance) prepare() error {
	if err := checkChains(in.root, in.nodes); err != nil {
		return err
	}
	for _, n := range in.nodes {
		n.Format = in.hook(n)
	}
	return nil
}

// hook returns the step counter for subschema n.
func (in *instance) hook(n *santhosh.Schema) *santhosh.Format {
	// The evaluation's own keywords that loop over the schema: required
	// names and dependencies.
	self := 1 + len(n.Required)
	for _, names := range n.DependentRequired {
		self += len(names)
	}
	for _, d := range n.Dependencies {
		if names, ok := d.([]string); ok {
			self += len(names)
		}
	}
	for _, c := range inPlace(n) {
		self += preCost(c)
	}
	stringWork := n.MinLength != nil || n.MaxLength != nil || n.Pattern != nil
	perChild := 0
	for _, c := range perValue(n) {
		perChild += preCost(c)
	}
	perChild += len(n.PatternProperties) // one regexp match per property and pattern
	return &santhosh.Format{Name: "spark-steps", Validate: func(v any) error {
		cost := self
		switch t := v.(type) {
		case map[string]any:
			cost += len(t) * (1 + perChild)
		case []any:
			cost += len(t) * (1 + perChild)
			if n.UniqueItems {
				// Every item is hashed whole.
				cost += countValues(t, in.max-in.steps+1)
			}
		case string:
			if stringWork {
				// Runes counted, pattern matched: linear in the length.
				cost += len(t) / 64
			}
		}
		in.evals++
		in.charge(cost)
		return nil
	}}
}

// preCost is what evaluating c costs before its hook runs: the type check,
// const and enum comparisons (each at most as long as the schema's value).
func preCost(c *santhosh.Schema) int {
	if c == nil {
		return 0
	}
	n := 1
	if c.Enum != nil {
		n += countValues(c.Enum.Values, math.MaxInt)
	}
	if c.Const != nil {
		n += countValues(*c.Const, math.MaxInt)
	}
	return n
}

// countValues counts the JSON values in v, stopping once it passes limit.
func countValues(v any, limit int) int {
	n := 1
	switch t := v.(type) {
	case map[string]any:
		for _, x := range t {
			if n > limit {
				break
			}
			n += countValues(x, limit-n)
		}
	case []any:
		for _, x := range t {
			if n > limit {
				break
			}
			n += countValues(x, limit-n)
		}
	}
	return n
}

// inPlace lists the subschemas n applies to the value itself.
func inPlace(n *santhosh.Schema) []*santhosh.Schema {
	var out []*santhosh.Schema
	add := func(c ...*santhosh.Schema) {
		for _, x := range c {
			if x != nil {
				out = append(out, x)
			}
		}
	}
	add(n.Ref, n.RecursiveRef, n.Not, n.If, n.Then, n.Else)
	if n.DynamicRef != nil {
		add(n.DynamicRef.Ref)
	}
	add(n.AllOf...)
	add(n.AnyOf...)
	add(n.OneOf...)
	for _, c := range n.DependentSchemas {
		add(c)
	}
	for _, d := range n.Dependencies {
		if c, ok := d.(*santhosh.Schema); ok {
			add(c)
		}
	}
	return out
}

// perValue lists the subschemas n may apply to each property or item of
// the value.
func perValue(n *santhosh.Schema) []*santhosh.Schema {
	var out []*santhosh.Schema
	add := func(c ...*santhosh.Schema) {
		for _, x := range c {
			if x != nil {
				out = append(out, x)
			}
		}
	}
	add(n.PropertyNames, n.UnevaluatedProperties, n.Items2020, n.Contains, n.UnevaluatedItems)
	add(n.PrefixItems...)
	if c, ok := n.AdditionalProperties.(*santhosh.Schema); ok {
		add(c)
	}
	if c, ok := n.AdditionalItems.(*santhosh.Schema); ok {
		add(c)
	}
	switch it := n.Items.(type) {
	case *santhosh.Schema:
		add(it)
	case []*santhosh.Schema:
		add(it...)
	}
	// One property is checked against its own schema: the dearest counts.
	var dearest *santhosh.Schema
	for _, c := range n.Properties {
		if dearest == nil || preCost(c) > preCost(dearest) {
			dearest = c
		}
	}
	add(dearest)
	for _, c := range n.PatternProperties {
		add(c)
	}
	return out
}

// checkChains refuses a graph in which a subschema applies itself to the
// same value again (directly or through others: the validator would stop
// it with an "infinite loop" error on every value that gets there) or
// whose longest chain of in-place subschemas exceeds maxChain.
func checkChains(root *santhosh.Schema, nodes []*santhosh.Schema) error {
	const (
		unseen = iota
		active
		done
	)
	state := map[*santhosh.Schema]int{}
	longest := map[*santhosh.Schema]int{}
	var visit func(n *santhosh.Schema, depth int) error
	visit = func(n *santhosh.Schema, depth int) error {
		switch state[n] {
		case active:
			return fmt.Errorf("the schema loops: %s applies itself to the same value again (through $ref, allOf, anyOf, oneOf, not or if/then/else) without descending into a property or item", location(n))
		case done:
			return nil
		}
		if depth > maxChain {
			return fmt.Errorf("the schema has chains of $ref, allOf, anyOf and oneOf longer than %d", maxChain)
		}
		state[n] = active
		best := 0
		for _, c := range inPlace(n) {
			if err := visit(c, depth+1); err != nil {
				return err
			}
			best = max(best, 1+longest[c])
		}
		if best > maxChain {
			return fmt.Errorf("the schema has chains of $ref, allOf, anyOf and oneOf longer than %d", maxChain)
		}
		longest[n], state[n] = best, done
		return nil
	}
	if err := visit(root, 0); err != nil {
		return err
	}
	for _, n := range nodes {
		if err := visit(n, 0); err != nil {
			return err
		}
	}
	return nil
}

// location shows where subschema n is in the document ("#/allOf/0").
func location(n *santhosh.Schema) string {
	if rest, ok := cutBase(n.Location); ok {
		return rest
	}
	return n.Location
}

func cutBase(loc string) (string, bool) {
	if len(loc) >= len(baseURL) && loc[:len(baseURL)] == baseURL {
		rest := loc[len(baseURL):]
		if rest == "" || rest == "#" {
			return "#", true
		}
		return rest, true
	}
	return "", false
}
