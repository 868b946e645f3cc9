package config_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/config"
)

// TestEnvValues: what each kind of variable accepts, and what its error
// says: the variable's name (never the Go field's), the value given and
// the accepted values.
func TestEnvValues(t *testing.T) {
	tests := []struct {
		name, key, value string
		check            func(*config.Config) bool // for accepted values
		want, notWant    []string                  // for refused values
	}{
		{name: "bool yes", key: "TOOL_CALLING_ENABLED", value: "yes", check: func(c *config.Config) bool { return c.ToolCallingEnabled }},
		{name: "bool NO", key: "TOOL_CALLING_ENABLED", value: "NO", check: func(c *config.Config) bool { return !c.ToolCallingEnabled }},
		{name: "bool Off", key: "TOOL_CALLING_ENABLED", value: "Off", check: func(c *config.Config) bool { return !c.ToolCallingEnabled }},
		{name: "bool on", key: "DEBUG", value: "on", check: func(c *config.Config) bool { return c.Debug }},
		{name: "bool 0", key: "DEBUG", value: "0", check: func(c *config.Config) bool { return !c.Debug }},
		{name: "bool TRUE padded", key: "DEBUG", value: " TRUE ", check: func(c *config.Config) bool { return c.Debug }},
		{name: "bool False", key: "TOOL_CALLING_ENABLED", value: "False", check: func(c *config.Config) bool { return !c.ToolCallingEnabled }},
		{name: "bool refused", key: "TOOL_CALLING_ENABLED", value: "maybe",
			want: []string{`TOOL_CALLING_ENABLED="maybe"`, "1, 0, true, false, yes, no, on, off", "default true"}, notWant: []string{"ToolCallingEnabled"}},
		{name: "bool t still accepted", key: "DEBUG", value: "T", check: func(c *config.Config) bool { return c.Debug }},
		{name: "bool y refused", key: "DEBUG", value: "y", want: []string{`DEBUG="y"`, "yes"}},
		{name: "number", key: "PORT", value: "8081", check: func(c *config.Config) bool { return c.Port == 8081 }},
		{name: "number refused", key: "PORT", value: "80a",
			want: []string{`PORT="80a"`, "whole number", "default 7055"}, notWant: []string{`"Port"`, "int"}},
		{name: "number too large", key: "REQUEST_RATE_LIMIT", value: "99999999999999999999999", want: []string{"REQUEST_RATE_LIMIT=", "too large"}},
		{name: "port out of range", key: "PORT", value: "70000", want: []string{"PORT=70000", "1 to 65535"}},
		{name: "no default", key: "KEY_RATE_LIMIT", value: "ten", want: []string{`KEY_RATE_LIMIT="ten"`, "whole number"}, notWant: []string{"default"}},
		{name: "duration", key: "IMAGE_PROXY_TTL", value: "90m", check: func(c *config.Config) bool { return c.ImageProxyTTL == 90*time.Minute }},
		{name: "duration without unit", key: "IMAGE_PROXY_TTL", value: "3600", want: []string{`IMAGE_PROXY_TTL="3600"`, "needs a unit", "3600s"}},
		{name: "duration refused", key: "IMAGE_PROXY_TTL", value: "forever", want: []string{`IMAGE_PROXY_TTL="forever"`, "not a duration", "24h", "default 24h"}},
		{name: "long value shortened", key: "PORT", value: strings.Repeat("9x", 500), want: []string{"PORT=", "…"}, notWant: []string{strings.Repeat("9x", 30)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(tt.key, tt.value)
			c, err := config.Load()
			if tt.check != nil {
				if err != nil {
					t.Fatalf("%s=%q refused: %v", tt.key, tt.value, err)
				}
				if !tt.check(c) {
					t.Fatalf("%s=%q read wrongly: %+v", tt.key, tt.value, c)
				}
				return
			}
			if err == nil {
				t.Fatalf("%s=%q accepted", tt.key, tt.value)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
			for _, n := range tt.notWant {
				if strings.Contains(err.Error(), n) {
					t.Errorf("error has %q: %v", n, err)
				}
			}
		})
	}
}

// TestEveryBooleanVariable: every boolean setting takes every spelling.
func TestEveryBooleanVariable(t *testing.T) {
	spellings := map[string]bool{"1": true, "true": true, "Yes": true, "ON": true, "0": false, "false": false, "no": false, "Off": false}
	typ := reflect.TypeFor[config.Config]()
	n := 0
	for i := range typ.NumField() {
		f := typ.Field(i)
		if f.Type.Kind() != reflect.Bool {
			continue
		}
		n++
		key, _, _ := strings.Cut(f.Tag.Get("env"), ",")
		for s, want := range spellings {
			t.Run(key+"="+s, func(t *testing.T) {
				t.Setenv(key, s)
				c, err := config.Load()
				if err != nil {
					t.Fatal(err)
				}
				if got := reflect.ValueOf(c).Elem().Field(i).Bool(); got != want {
					t.Fatalf("%s=%s read as %v", key, s, got)
				}
			})
		}
	}
	if n < 5 {
		t.Fatalf("found only %d boolean variables", n)
	}
}

// TestEnvErrorsAreAllReported: several bad variables are named at once.
func TestEnvErrorsAreAllReported(t *testing.T) {
	t.Setenv("PORT", "x")
	t.Setenv("DEBUG", "maybe")
	t.Setenv("IMAGE_PROXY_TTL", "soon")
	_, err := config.Load()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, key := range []string{"PORT=", "DEBUG=", "IMAGE_PROXY_TTL="} {
		if !strings.Contains(err.Error(), key) {
			t.Errorf("error does not name %s: %v", key, err)
		}
	}
}

func TestParseBool(t *testing.T) {
	for _, s := range []string{"", "2", "y", "enable", "truee"} {
		if _, err := config.ParseBool(s); err == nil || !strings.Contains(err.Error(), config.BoolValues) {
			t.Errorf("ParseBool(%q) = %v", s, err)
		}
	}
}
