package config_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/config"
)

func TestLoadDefaults(t *testing.T) {
	for _, k := range []string{"PORT", "REQUEST_RATE_LIMIT", "RATE_LIMIT_COOKIE_LOCK_DURATION", "AUTO_MODEL_CHAT_MAP_TYPE", "TOOL_CALLING_ENABLED", "GENSPARK_BASE_URL", "DATA_DIR", "POOL_STRATEGY", "DATABASE_URL", "REDIS_URL", "UPSTREAM_HEADER_TIMEOUT", "UPSTREAM_IDLE_TIMEOUT", "FILES_MAX_BYTES", "FILES_QUOTA_BYTES"} {
		t.Setenv(k, "")
	}
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 7055 || c.RequestRateLimit != 60 || c.RateLimitCookieLock != 600 || c.AutoModelChatMapType != 1 ||
		!c.ToolCallingEnabled || c.GensparkBaseURL != "https://www.genspark.ai" || c.DataDir != "./data" || c.PoolStrategy != "random" ||
		c.UpstreamHeaderTimeout != 2*time.Minute || c.UpstreamIdleTimeout != 2*time.Minute ||
		c.FilesMaxBytes != 100<<20 || c.FilesQuotaBytes != 1<<30 {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestUsageSettings(t *testing.T) {
	for _, tt := range []struct {
		records, days string
		wantOn        bool
		wantKeep      time.Duration
	}{
		{"", "", true, 90 * 24 * time.Hour},
		{"0", "30", false, 30 * 24 * time.Hour},
		{"1", "0", true, 0},
	} {
		t.Setenv("USAGE_RECORDS", tt.records)
		t.Setenv("USAGE_RETENTION_DAYS", tt.days)
		c, err := config.Load()
		if err != nil {
			t.Fatal(err)
		}
		if c.UsageRecords != tt.wantOn || c.UsageRetention() != tt.wantKeep {
			t.Errorf("USAGE_RECORDS=%q USAGE_RETENTION_DAYS=%q: records %v, retention %v; want %v, %v",
				tt.records, tt.days, c.UsageRecords, c.UsageRetention(), tt.wantOn, tt.wantKeep)
		}
	}
}

func TestSeedVariablesAreRead(t *testing.T) {
	t.Setenv("PORT", "8080")
	t.Setenv("REASONING_HIDE", "1")
	t.Setenv("AUTO_DEL_CHAT", "1")
	t.Setenv("DEBUG", "true")
	t.Setenv("ROUTE_PREFIX", "/hf/")
	t.Setenv("MODEL_CHAT_MAP", "claude-3-7-sonnet=a649, gpt-5.2=su74")
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8080 || !c.ReasoningHide || !c.AutoDelChat || !c.Debug || c.Prefix() != "/hf" {
		t.Fatalf("%+v", c)
	}
	m, err := c.ChatMap()
	if err != nil || m["claude-3-7-sonnet"] != "a649" || m["gpt-5.2"] != "su74" {
		t.Fatalf("chat map %v %v", m, err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, key, value, want string
	}{
		{"admin password without email", "SPARK_ADMIN_PASSWORD", "long-enough-pw", "SPARK_ADMIN_EMAIL"},
		{"admin email without password", "SPARK_ADMIN_EMAIL", "a@example.com", "SPARK_ADMIN_PASSWORD"},
		{"bad admin emails", "SPARK_ADMIN_EMAILS", "a@example.com, nope", "SPARK_ADMIN_EMAILS"},
		{"bad password login", "PASSWORD_LOGIN", "maybe", "PASSWORD_LOGIN"},
		{"bad base url", "GENSPARK_BASE_URL", "ftp://x", "GENSPARK_BASE_URL"},
		{"bad recaptcha", "RECAPTCHA_PROXY_URL", "::nope", "RECAPTCHA_PROXY_URL"},
		{"bad strategy", "POOL_STRATEGY", "fastest", "POOL_STRATEGY"},
		{"bad chat map", "MODEL_CHAT_MAP", "justamodel", "MODEL_CHAT_MAP"},
		{"database URL not PostgreSQL", "DATABASE_URL", "mysql://u:pw@db/spark", "DATABASE_URL"},
		{"database URL without a host", "DATABASE_URL", "postgres:///spark", "DATABASE_URL"},
		{"negative limit", "REQUEST_RATE_LIMIT", "-1", "REQUEST_RATE_LIMIT"},
		{"negative header timeout", "UPSTREAM_HEADER_TIMEOUT", "-1s", "UPSTREAM_HEADER_TIMEOUT"},
		{"negative idle timeout", "UPSTREAM_IDLE_TIMEOUT", "-5m", "UPSTREAM_IDLE_TIMEOUT"},
		{"negative file bound", "FILES_MAX_BYTES", "-1", "FILES_MAX_BYTES"},
		{"negative file quota", "FILES_QUOTA_BYTES", "-5", "FILES_QUOTA_BYTES"},
		{"file bound not a number", "FILES_MAX_BYTES", "100MB", "FILES_MAX_BYTES"},
		{"negative usage retention", "USAGE_RETENTION_DAYS", "-1", "USAGE_RETENTION_DAYS"},
		{"redis url not a url", "REDIS_URL", "127.0.0.1:6379", "REDIS_URL"},
		{"redis url of another scheme", "REDIS_URL", "http://127.0.0.1:6379", "REDIS_URL"},
		{"bad redis failure mode", "REDIS_FAILURE_MODE", "maybe", "REDIS_FAILURE_MODE"},
		{"lease ttl too short", "LEASE_TTL", "1s", "LEASE_TTL"},
		{"lease ttl not a duration", "LEASE_TTL", "30", "LEASE_TTL"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(tc.key, tc.value)
			_, err := config.Load()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want mention of %s", err, tc.want)
			}
		})
	}
}

// TestDatabaseURL: a PostgreSQL URL selects the shared store; anything else
// is refused without echoing the URL, which holds a password.
func TestDatabaseURL(t *testing.T) {
	for _, v := range []string{"postgres://spark:pw@db:5432/spark?sslmode=disable", "postgresql://spark@127.0.0.1/spark"} {
		t.Setenv("DATABASE_URL", v)
		c, err := config.Load()
		if err != nil {
			t.Fatalf("DATABASE_URL=%s: %v", v, err)
		}
		if c.DatabaseURL != v {
			t.Errorf("DatabaseURL = %q, want %q", c.DatabaseURL, v)
		}
	}
	t.Setenv("DATABASE_URL", "mysql://spark:Hunter2Secret@db/spark")
	_, err := config.Load()
	if err == nil || strings.Contains(err.Error(), "Hunter2Secret") {
		t.Fatalf("a MySQL URL: %v; want an error that does not echo the password", err)
	}
}

func TestCookiesSplit(t *testing.T) {
	got := config.Cookies(" session_id=a , ,session_id=b;x=y ")
	if len(got) != 2 || got[0] != "session_id=a" || got[1] != "session_id=b;x=y" {
		t.Fatalf("%q", got)
	}
}

func TestLookup(t *testing.T) {
	c := &config.Config{GSCookie: "a=1", GeminiCookie: "b=2", ModelsFile: "/m.json"}
	for name, want := range map[string]string{"GS_COOKIE": "a=1", "GEMINI_COOKIE": "b=2", "SPARK_MODELS_FILE": "/m.json"} {
		if got, ok := c.Lookup(name); !ok || got != want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", name, got, ok, want)
		}
	}
	if _, ok := c.Lookup("NO_SUCH_VARIABLE"); ok {
		t.Error("Lookup of an unknown variable succeeded")
	}
	if _, ok := c.Lookup("PORT"); ok {
		t.Error("Lookup of a non-string setting succeeded")
	}
}

func TestChatMap(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr bool
	}{
		{"", map[string]string{}, false},
		{"gpt-5.1=abc, claude-sonnet-4-5=def,", map[string]string{"gpt-5.1": "abc", "claude-sonnet-4-5": "def"}, false},
		{"gpt-5.1", nil, true},
		{"=abc", nil, true},
		{"a=1,a=2", nil, true},
	}
	for _, tt := range tests {
		got, err := (&config.Config{ModelChatMap: tt.in}).ChatMap()
		if (err != nil) != tt.wantErr || (!tt.wantErr && !maps.Equal(got, tt.want)) {
			t.Errorf("ChatMap(%q) = %v, %v", tt.in, got, err)
		}
	}
}

func TestAdminSettings(t *testing.T) {
	t.Setenv("PASSWORD_LOGIN", "")
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if !c.PasswordLogin {
		t.Fatal("PASSWORD_LOGIN defaults to off")
	}
	t.Setenv("SPARK_ADMIN_EMAIL", "boss@example.com")
	t.Setenv("SPARK_ADMIN_PASSWORD", "short")
	if _, err := config.Load(); err == nil || !strings.Contains(err.Error(), "SPARK_ADMIN_PASSWORD must be") || strings.Contains(err.Error(), "short") {
		t.Fatalf("short password: %v", err)
	}
	t.Setenv("SPARK_ADMIN_PASSWORD", "long-enough-pw")
	t.Setenv("SPARK_ADMIN_EMAILS", " a@example.com ,b@example.com")
	t.Setenv("PASSWORD_LOGIN", "0")
	c, err = config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.AdminEmail != "boss@example.com" || c.PasswordLogin || !slices.Equal(c.AdminEmailList(), []string{"a@example.com", "b@example.com"}) {
		t.Fatalf("%+v", c)
	}
}

func TestRedisSettings(t *testing.T) {
	t.Setenv("REDIS_URL", "redis://:s3cret@127.0.0.1:6379/2")
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.RedisURL == "" || c.RedisFailureMode != "open" || c.LeaseTTL != 30*time.Second {
		t.Fatalf("REDIS_URL %q, mode %q, lease TTL %s; want the URL, open, 30s", c.RedisURL, c.RedisFailureMode, c.LeaseTTL)
	}
	for _, u := range []string{"rediss://cache.internal:6380", "unix:///run/redis.sock"} {
		t.Setenv("REDIS_URL", u)
		if _, err := config.Load(); err != nil {
			t.Errorf("REDIS_URL=%s: %v", u, err)
		}
	}
	t.Setenv("REDIS_URL", "redis://:s3cret@[::1")
	if _, err := config.Load(); err == nil || strings.Contains(err.Error(), "s3cret") {
		t.Fatalf("a malformed REDIS_URL: %v, want an error without its password", err)
	}
}

func TestSharedStateWarning(t *testing.T) {
	tests := []struct {
		db, redis string
		warn      bool
	}{
		{"", "", false},
		{"postgres://db/spark", "", true},
		{"postgres://db/spark", "redis://cache:6379", false},
		{"", "redis://cache:6379", false},
	}
	for _, tc := range tests {
		c := &config.Config{DatabaseURL: tc.db, RedisURL: tc.redis}
		if got := c.SharedStateWarning(); (got != "") != tc.warn || tc.warn && !strings.Contains(got, "REDIS_URL") {
			t.Errorf("DATABASE_URL=%q REDIS_URL=%q: warning %q", tc.db, tc.redis, got)
		}
	}
}

// TestOperationsSettings: LOG_FORMAT, METRICS_ADDR, METRICS_TOKEN and
// SHUTDOWN_TIMEOUT: defaults, accepted values, and refusals naming the
// variable.
func TestOperationsSettings(t *testing.T) {
	for _, k := range []string{"LOG_FORMAT", "METRICS_ADDR", "METRICS_TOKEN", "SHUTDOWN_TIMEOUT"} {
		t.Setenv(k, "")
	}
	c, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	if c.LogFormat != "text" || c.MetricsAddr != "" || c.MetricsToken != "" || c.ShutdownTimeout != 30*time.Second {
		t.Errorf("defaults: LOG_FORMAT %q METRICS_ADDR %q METRICS_TOKEN %q SHUTDOWN_TIMEOUT %v", c.LogFormat, c.MetricsAddr, c.MetricsToken, c.ShutdownTimeout)
	}
	for _, tt := range []struct {
		env     map[string]string
		wantErr string // "" = accepted
	}{
		{map[string]string{"LOG_FORMAT": "json", "METRICS_ADDR": "127.0.0.1:9090", "METRICS_TOKEN": "0123456789abcdef", "SHUTDOWN_TIMEOUT": "1m"}, ""},
		{map[string]string{"METRICS_ADDR": ":9090"}, ""},
		{map[string]string{"LOG_FORMAT": "xml"}, "LOG_FORMAT"},
		{map[string]string{"METRICS_ADDR": "9090"}, "METRICS_ADDR"},
		{map[string]string{"METRICS_TOKEN": "short"}, "METRICS_TOKEN"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "30"}, "SHUTDOWN_TIMEOUT"},
		{map[string]string{"SHUTDOWN_TIMEOUT": "-1s"}, "SHUTDOWN_TIMEOUT"},
	} {
		for _, k := range []string{"LOG_FORMAT", "METRICS_ADDR", "METRICS_TOKEN", "SHUTDOWN_TIMEOUT"} {
			t.Setenv(k, tt.env[k])
		}
		_, err := config.Load()
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%v: %v", tt.env, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%v: error %v, want one naming %s", tt.env, err, tt.wantErr)
		}
	}
}
