package config

import (
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"github.com/caarlos0/env/v11"
)

// BoolValues lists the accepted spellings of a boolean variable (any case).
const BoolValues = "1, 0, true, false, yes, no, on, off"

// ParseBool reads a boolean the way every spark setting does: 1, true, yes,
// on are true; 0, false, no, off are false; case and surrounding spaces do
// not matter. t and f, which earlier releases accepted (strconv.ParseBool),
// still work. The error names the accepted values.
func ParseBool(s string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "1", "true", "yes", "on", "t":
		return true, nil
	case "0", "false", "no", "off", "f":
		return false, nil
	}
	return false, fmt.Errorf("not a boolean; use one of %s", BoolValues)
}

// parseInt reads a whole number; the error says what was wrong with it.
func parseInt(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if errors.Is(err, strconv.ErrRange) {
		return 0, errors.New("number too large")
	}
	if err != nil {
		return 0, errors.New("not a whole number; use digits only")
	}
	return n, nil
}

// parseDuration reads a Go duration; a bare number is refused with a hint
// rather than guessed to be seconds.
func parseDuration(s string) (time.Duration, error) {
	s = strings.TrimSpace(s)
	d, err := time.ParseDuration(s)
	if err == nil {
		return d, nil
	}
	if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
		return 0, fmt.Errorf("a duration needs a unit, such as %ss (units ns, us, ms, s, m, h)", s)
	}
	return 0, errors.New("not a duration; use for example 90s, 15m, 24h or 1h30m (units ns, us, ms, s, m, h)")
}

// envOptions makes the environment parser read booleans, numbers and
// durations with spark's rules and messages, and records each variable's
// raw value into raw (for error messages).
func envOptions(raw map[string]string) env.Options {
	return env.Options{
		OnSet: func(key string, value any, _ bool) {
			if s, ok := value.(string); ok {
				raw[key] = s
			}
		},
		FuncMap: map[reflect.Type]env.ParserFunc{
			reflect.TypeFor[bool]():          func(s string) (any, error) { return ParseBool(s) },
			reflect.TypeFor[int]():           func(s string) (any, error) { return parseInt(s) },
			reflect.TypeFor[time.Duration](): func(s string) (any, error) { return parseDuration(s) },
		},
	}
}

// parseEnv fills c from the environment. Its errors name the variable (not
// the Go field), the value given and the values accepted, one per line.
func parseEnv(c *Config) error {
	raw := map[string]string{}
	err := env.ParseWithOptions(c, envOptions(raw))
	if err == nil {
		return nil
	}
	var agg env.AggregateError
	if !errors.As(err, &agg) {
		return err
	}
	t := reflect.TypeFor[Config]()
	errs := make([]error, 0, len(agg.Errors))
	for _, e := range agg.Errors {
		var pe env.ParseError
		if !errors.As(e, &pe) {
			errs = append(errs, e)
			continue
		}
		f, ok := envField(t, pe.Name)
		if !ok {
			errs = append(errs, e)
			continue
		}
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		msg := fmt.Errorf("%s=%q: %w", key, shorten(raw[key]), pe.Err)
		if def, ok := f.Tag.Lookup("envDefault"); ok {
			msg = fmt.Errorf("%w (default %s)", msg, def)
		}
		errs = append(errs, msg)
	}
	return errors.Join(errs...)
}

// envField is the field called name of struct type t that reads a
// variable, searched depth first through nested structs.
func envField(t reflect.Type, name string) (reflect.StructField, bool) {
	for i := range t.NumField() {
		f := t.Field(i)
		if f.Name == name && f.Tag.Get("env") != "" {
			return f, true
		}
		if f.Type.Kind() == reflect.Struct {
			if nested, ok := envField(f.Type, name); ok {
				return nested, true
			}
		}
	}
	return reflect.StructField{}, false
}

// shorten bounds a value quoted in an error message.
func shorten(s string) string {
	const max = 40
	if len(s) <= max {
		return s
	}
	return strings.ToValidUTF8(s[:max], "") + "…"
}
