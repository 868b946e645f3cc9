package jsonschema

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
)

// dagSchema is a schema without loops whose evaluation doubles per level:
// a0 applies a1 twice, a1 applies a2 twice, ... (2^levels evaluations).
func dagSchema(levels int) string {
	var b strings.Builder
	b.WriteString(`{"$ref":"#/$defs/a0","$defs":{`)
	for i := range levels {
		fmt.Fprintf(&b, `"a%d":{"allOf":[{"$ref":"#/$defs/a%d"},{"$ref":"#/$defs/a%d"}]},`, i, i+1, i+1)
	}
	fmt.Fprintf(&b, `"a%d":{"type":"object"}}}`, levels)
	return b.String()
}

// names returns n distinct quoted property names, comma-separated.
func names(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `"p%d"`, i)
	}
	return b.String()
}

// nested returns {"a":{"a":...{}}} levels deep.
func nested(levels int) string {
	return strings.Repeat(`{"a":`, levels) + `{}` + strings.Repeat(`}`, levels)
}

// steps returns the steps the last validation of s charged (s has one
// idle instance after a validation on this goroutine).
func steps(t *testing.T, s *Schema) int {
	t.Helper()
	select {
	case inst := <-s.idle:
		s.idle <- inst
		return inst.steps
	default:
		t.Fatal("no idle instance")
		return 0
	}
}

func TestValidateBudget(t *testing.T) {
	small := Options{Lenient: true, Limits: Limits{MaxSteps: 10_000}}
	tests := []struct {
		name, schema, value string
		opts                Options
		wantBudget          bool
	}{
		// The schema under a property: each level of the value
		// doubles the evaluations (2^40 without a budget).
		{"allOf ref loop through a property", `{"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`, nested(40), small, true},
		{"DAG blow-up, 40 levels", dagSchema(40), `{}`, small, true},
		{"DAG blow-up, 5 levels fits", dagSchema(5), `{}`, small, false},
		// 2^8 evaluations fit the budget, but each checks 3,000 required
		// names.
		{"required names per evaluation", `{"required":[` + names(3000) + `],"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`, nested(8), small, true},
		{"required names, one evaluation", `{"required":[` + names(3000) + `]}`, `{` + strings.ReplaceAll(names(3000), ",", ":0,") + `:0}`, small, false},
		// Each evaluation matches a 64 KB string against a pattern.
		{"pattern per evaluation", `{"allOf":[` + strings.TrimSuffix(strings.Repeat(`{"pattern":"a"},`, 200), ",") + `]}`, `"` + strings.Repeat("b", 64<<10) + `"`, small, true},
		// Every item fails its enum before its own hook runs: the array's
		// evaluation pays for them in advance.
		{"enum per item", `{"allOf":[` + strings.TrimSuffix(strings.Repeat(`{"items":{"enum":[`+strings.TrimSuffix(strings.Repeat(`0,`, 500), ",")+`]}},`, 20), ",") + `]}`,
			`[` + strings.TrimSuffix(strings.Repeat(`1,`, 2000), ",") + `]`, small, true},
		{"big array fits the default budget", `{"type":"array","items":{"type":"object","properties":{"id":{"type":"integer"},"name":{"type":"string"}},"required":["id"]}}`,
			`[` + strings.TrimSuffix(strings.Repeat(`{"id":1,"name":"x"},`, 5000), ",") + `]`, lenient, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := tc.opts.Compile(json.RawMessage(tc.schema))
			if err != nil {
				t.Fatal(err)
			}
			err = s.ValidateJSON(context.Background(), []byte(tc.value))
			if got := errors.Is(err, ErrBudgetExceeded); got != tc.wantBudget {
				t.Fatalf("budget exceeded = %v (err %v), want %v", got, err, tc.wantBudget)
			}
			n := steps(t, s)
			if tc.wantBudget && n < s.limits.MaxSteps {
				t.Fatalf("stopped after %d steps, before the budget of %d", n, s.limits.MaxSteps)
			}
			if !tc.wantBudget && err != nil {
				t.Fatalf("unexpected error %v", err)
			}
			// The instance is reusable after an abort.
			if err := s.ValidateJSON(context.Background(), []byte(`"x"`)); err != nil && !errors.Is(err, ErrBudgetExceeded) {
				var verr *ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("after an abort: %v", err)
				}
			}
		})
	}
}

// cancelAfter is a context whose Err turns non-nil after n calls: it
// cancels a validation midway without timing.
type cancelAfter struct {
	context.Context
	n atomic.Int64
}

func (c *cancelAfter) Err() error {
	if c.n.Add(-1) < 0 {
		return context.Canceled
	}
	return nil
}

func TestValidateCancellation(t *testing.T) {
	s, err := lenient.Compile(json.RawMessage(dagSchema(40)))
	if err != nil {
		t.Fatal(err)
	}
	t.Run("before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := s.ValidateJSON(ctx, []byte(`{}`)); !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
	})
	t.Run("while validating", func(t *testing.T) {
		ctx := &cancelAfter{Context: context.Background()}
		ctx.n.Store(3) // three looks pass (Validate's own, two by the hooks), the fourth is cancelled
		err := s.ValidateJSON(ctx, []byte(`{}`))
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("got %v, want context.Canceled", err)
		}
		if n := steps(t, s); n > 3*ctxCheckEvery+100 {
			t.Fatalf("went on for %d steps after the context was done", n)
		}
	})
}

// Concurrent validations of one schema each get their own counter.
func TestValidateConcurrent(t *testing.T) {
	s, err := lenient.Compile(json.RawMessage(`{"type":"object","properties":{"n":{"type":"integer"}},"required":["n"]}`))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	for i := range 16 {
		go func() {
			var err error
			for j := range 50 {
				v := fmt.Sprintf(`{"n":%d}`, i*j)
				if j%2 == 1 {
					v = `{"n":"x"}`
				}
				e := s.ValidateJSON(context.Background(), []byte(v))
				if (e != nil) != (j%2 == 1) {
					err = fmt.Errorf("value %s: %v", v, e)
				}
			}
			done <- err
		}()
	}
	for range 16 {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	if n := len(s.idle); n == 0 || n > maxIdle {
		t.Fatalf("%d idle instances", n)
	}
}

// BenchmarkBudgetExhausted is the worst a schema can make one validation
// cost: the default budget spent on a blow-up.
func BenchmarkBudgetExhausted(b *testing.B) {
	s, err := lenient.Compile(json.RawMessage(`{"properties":{"a":{"allOf":[{"$ref":"#"},{"$ref":"#"}]}}}`))
	if err != nil {
		b.Fatal(err)
	}
	value := []byte(nested(40))
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if err := s.ValidateJSON(ctx, value); !errors.Is(err, ErrBudgetExceeded) {
			b.Fatal(err)
		}
	}
}

// Validations sharing a Budget draw on it together.
func TestSharedBudget(t *testing.T) {
	s, err := lenient.Compile(json.RawMessage(`{"type":"array","items":{"type":"integer"}}`))
	if err != nil {
		t.Fatal(err)
	}
	value := []byte(`[` + strings.TrimSuffix(strings.Repeat(`1,`, 100), ",") + `]`)
	b := &Budget{Steps: 500}
	ctx := WithBudget(context.Background(), b)
	if err := s.ValidateJSON(ctx, value); err != nil {
		t.Fatal(err)
	}
	spent := 500 - b.Steps
	if spent < 100 || spent > 400 {
		t.Fatalf("one validation of 100 items spent %d steps", spent)
	}
	var failed bool
	for range 500 / spent {
		if err := s.ValidateJSON(ctx, value); errors.Is(err, ErrBudgetExceeded) {
			failed = true
			break
		}
	}
	if !failed || b.Steps != 0 {
		t.Fatalf("budget left %d, exhausted %v", b.Steps, failed)
	}
	// Without a shared budget the same validation passes.
	if err := s.ValidateJSON(context.Background(), value); err != nil {
		t.Fatal(err)
	}
}
