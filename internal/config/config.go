// Package config reads spark's configuration from the environment. The
// variable names of genspark2api (seed 000) are a compatibility contract;
// README.md lists the rest.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// Config is spark's whole configuration.
type Config struct {
	Port        int    `env:"PORT" envDefault:"7055"`
	Host        string `env:"HOST"` // listen host; empty = all interfaces
	APISecret   string `env:"API_SECRET"`
	AllowNoAuth bool   `env:"ALLOW_NO_AUTH"`
	DataDir     string `env:"DATA_DIR" envDefault:"./data"`
	SecretKey   string `env:"SPARK_SECRET_KEY"`
	ModelsFile  string `env:"SPARK_MODELS_FILE"` // model catalog override file

	// AccountCheckOnStart tests every account at start (provider doctor)
	// and logs one line each.
	AccountCheckOnStart bool `env:"ACCOUNT_CHECK_ON_START"`

	GSCookie     string `env:"GS_COOKIE"`
	GeminiCookie string `env:"GEMINI_COOKIE"`

	GensparkBaseURL   string `env:"GENSPARK_BASE_URL" envDefault:"https://www.genspark.ai"`
	GeminiBaseURL     string `env:"GEMINI_BASE_URL" envDefault:"https://gemini.google.com"`
	GeminiUploadURL   string `env:"GEMINI_UPLOAD_URL" envDefault:"https://content-push.googleapis.com"`
	GoogleAccountsURL string `env:"GOOGLE_ACCOUNTS_URL" envDefault:"https://accounts.google.com"`
	GoogleAIBaseURL   string `env:"GOOGLE_AI_BASE_URL" envDefault:"https://generativelanguage.googleapis.com"`
	GoogleAIAPIKey    string `env:"GOOGLE_AI_API_KEY"`

	// UpstreamHeaderTimeout bounds the wait for an upstream's response
	// headers once a request is sent (0 = the built-in 2 minutes).
	UpstreamHeaderTimeout time.Duration `env:"UPSTREAM_HEADER_TIMEOUT" envDefault:"2m"`
	// UpstreamIdleTimeout fails an upstream answer stream that sends
	// nothing for this long (0 = the built-in 2 minutes).
	UpstreamIdleTimeout time.Duration `env:"UPSTREAM_IDLE_TIMEOUT" envDefault:"2m"`

	Debug                bool   `env:"DEBUG"`
	RequestRateLimit     int    `env:"REQUEST_RATE_LIMIT" envDefault:"60"`
	KeyRateLimit         int    `env:"KEY_RATE_LIMIT"`
	RateLimitCookieLock  int    `env:"RATE_LIMIT_COOKIE_LOCK_DURATION" envDefault:"600"`
	AutoDelChat          bool   `env:"AUTO_DEL_CHAT"`
	ProxyURL             string `env:"PROXY_URL"`
	RecaptchaProxyURL    string `env:"RECAPTCHA_PROXY_URL"`
	AutoModelChatMapType int    `env:"AUTO_MODEL_CHAT_MAP_TYPE" envDefault:"1"`
	ModelChatMap         string `env:"MODEL_CHAT_MAP"`
	RoutePrefix          string `env:"ROUTE_PREFIX"`
	ReasoningHide        bool   `env:"REASONING_HIDE"`
	ToolCallingEnabled   bool   `env:"TOOL_CALLING_ENABLED" envDefault:"true"`

	// AdminEmail and AdminPassword make the first (built-in) admin at
	// start, or update that admin's password when it changed.
	AdminEmail    string `env:"SPARK_ADMIN_EMAIL"`
	AdminPassword string `env:"SPARK_ADMIN_PASSWORD"`
	// AdminEmails (comma list) are admins when they sign in through OIDC.
	AdminEmails string `env:"SPARK_ADMIN_EMAILS"`
	// PasswordLogin allows dashboard sign-in with a password
	// (PASSWORD_LOGIN=0 leaves only OIDC).
	PasswordLogin bool `env:"PASSWORD_LOGIN" envDefault:"true"`

	// OIDC sign-in (on when OIDCClientID and OIDCClientSecret are set);
	// see oidc.go.
	OIDCIssuer         string `env:"OIDC_ISSUER" envDefault:"https://accounts.google.com"`
	OIDCClientID       string `env:"OIDC_CLIENT_ID"`
	OIDCClientSecret   string `env:"OIDC_CLIENT_SECRET"`
	OIDCAllowedDomains string `env:"OIDC_ALLOWED_DOMAINS"`
	OIDCAllowedEmails  string `env:"OIDC_ALLOWED_EMAILS"`
	OIDCProviderName   string `env:"OIDC_PROVIDER_NAME"`

	PublicURL             string        `env:"PUBLIC_URL"`
	TrustProxy            bool          `env:"TRUST_PROXY"`
	ImageProxyTTL         time.Duration `env:"IMAGE_PROXY_TTL" envDefault:"24h"`
	ImageProxyCookieHosts string        `env:"IMAGE_PROXY_COOKIE_HOSTS"`

	PoolStrategy          string `env:"POOL_STRATEGY" envDefault:"random"`
	AccountMaxConcurrency int    `env:"ACCOUNT_MAX_CONCURRENCY"`

	// FilesMaxBytes bounds one file uploaded to the Files API (POST
	// /v1/files; 0 = the default, 100 MiB); FilesQuotaBytes bounds the
	// bytes of the files one owner (API key) keeps (0 = no bound).
	FilesMaxBytes   int `env:"FILES_MAX_BYTES" envDefault:"104857600"`
	FilesQuotaBytes int `env:"FILES_QUOTA_BYTES" envDefault:"1073741824"`
	// UsageRecords keeps one usage record per client request (USAGE_RECORDS=0
	// turns usage accounting off); UsageRetentionDays prunes records and
	// daily roll-ups older than that many days (0 keeps them forever).
	UsageRecords       bool `env:"USAGE_RECORDS" envDefault:"true"`
	UsageRetentionDays int  `env:"USAGE_RETENTION_DAYS" envDefault:"90"`

	// DatabaseURL selects the PostgreSQL store shared by several replicas
	// (postgres://user:password@host:5432/db, with pgx's options); empty:
	// the embedded SQLite file under DataDir.
	DatabaseURL string `env:"DATABASE_URL"`
	// RedisURL (redis://, rediss:// or unix://) holds what several
	// replicas must agree on: admission limits, account rests and
	// concurrency, the change feed, job claims. Empty: per process.
	RedisURL string `env:"REDIS_URL"`
	// RedisFailureMode is what admission does while Redis fails: "open"
	// (local limits, a WARN) or "closed" (429 until Redis answers).
	RedisFailureMode string `env:"REDIS_FAILURE_MODE" envDefault:"open"`
	// LeaseTTL is how long a concurrency slot outlives the last refresh
	// of the replica holding it (a crashed replica's slots expire); 0:
	// the default, 30 s.
	LeaseTTL time.Duration `env:"LEASE_TTL" envDefault:"30s"`

	// LogFormat is the log line format: text (logfmt-style key=value) or
	// json (one object per line).
	LogFormat string `env:"LOG_FORMAT" envDefault:"text"`
	// MetricsAddr serves /metrics without a token on a listener of its own
	// (host:port, e.g. 127.0.0.1:9090); MetricsToken serves it on the main
	// port to "Authorization: Bearer <token>". Neither set: no /metrics.
	MetricsAddr  string `env:"METRICS_ADDR"`
	MetricsToken string `env:"METRICS_TOKEN"`
	// ShutdownTimeout is how long requests in flight may run on after
	// SIGTERM before their streams are ended with an error event.
	ShutdownTimeout time.Duration `env:"SHUTDOWN_TIMEOUT" envDefault:"30s"`
}

// Load reads the configuration from the environment and validates it.
func Load() (*Config, error) {
	var c Config
	if err := parseEnv(&c); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &c, nil
}

// Validate checks values that would otherwise fail later and obscurely.
func (c *Config) Validate() error {
	var errs []error
	if c.Port < 0 || c.Port > 65535 { // 0 = any free port
		errs = append(errs, fmt.Errorf("PORT=%d: use a port from 1 to 65535 (0 picks any free port)", c.Port))
	}
	for name, v := range map[string]string{
		"GENSPARK_BASE_URL": c.GensparkBaseURL, "GEMINI_BASE_URL": c.GeminiBaseURL,
		"GEMINI_UPLOAD_URL": c.GeminiUploadURL, "GOOGLE_ACCOUNTS_URL": c.GoogleAccountsURL,
		"GOOGLE_AI_BASE_URL": c.GoogleAIBaseURL,
	} {
		u, err := url.Parse(v)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("%s must be an http(s) URL", name))
		}
	}
	if c.RecaptchaProxyURL != "" {
		u, err := url.Parse(strings.TrimSpace(c.RecaptchaProxyURL))
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, errors.New("RECAPTCHA_PROXY_URL must be an http(s) URL such as http://127.0.0.1:7022"))
		}
	}
	if c.RequestRateLimit < 0 || c.KeyRateLimit < 0 {
		errs = append(errs, errors.New("REQUEST_RATE_LIMIT and KEY_RATE_LIMIT must be >= 0"))
	}
	if c.UpstreamHeaderTimeout < 0 || c.UpstreamIdleTimeout < 0 {
		errs = append(errs, errors.New("UPSTREAM_HEADER_TIMEOUT and UPSTREAM_IDLE_TIMEOUT must be >= 0 (a duration such as 90s or 2m)"))
	}
	if c.UsageRetentionDays < 0 {
		errs = append(errs, errors.New("USAGE_RETENTION_DAYS must be >= 0 days (0 keeps usage records forever)"))
	}
	if c.RateLimitCookieLock < 0 {
		errs = append(errs, errors.New("RATE_LIMIT_COOKIE_LOCK_DURATION must be >= 0 seconds"))
	}
	switch c.PoolStrategy {
	case "random", "round-robin", "least-busy":
	default:
		errs = append(errs, fmt.Errorf("POOL_STRATEGY %q: use random, round-robin or least-busy", c.PoolStrategy))
	}
	errs = append(errs, c.validateAdmin()...)
	errs = append(errs, c.validateOIDC()...)
	if _, err := c.ChatMap(); err != nil {
		errs = append(errs, err)
	}
	if c.FilesMaxBytes < 0 || c.FilesQuotaBytes < 0 {
		errs = append(errs, errors.New("FILES_MAX_BYTES and FILES_QUOTA_BYTES must be >= 0 bytes (FILES_QUOTA_BYTES=0: no quota)"))
	}
	switch c.LogFormat {
	case "", "text", "json": // "": a Config not read from the environment
	default:
		errs = append(errs, fmt.Errorf("LOG_FORMAT %q: use text or json", shorten(c.LogFormat)))
	}
	if c.MetricsAddr != "" {
		if _, port, err := net.SplitHostPort(c.MetricsAddr); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("METRICS_ADDR %q: use host:port, such as 127.0.0.1:9090 or :9090", shorten(c.MetricsAddr)))
		}
	}
	if c.MetricsToken != "" && len(strings.TrimSpace(c.MetricsToken)) < MinMetricsToken {
		errs = append(errs, fmt.Errorf("METRICS_TOKEN must be at least %d characters", MinMetricsToken))
	}
	if c.ShutdownTimeout < 0 {
		errs = append(errs, errors.New("SHUTDOWN_TIMEOUT must be >= 0 (a duration such as 30s; 0 ends streams at once)"))
	}
	if c.DatabaseURL != "" {
		// Only the scheme is checked here (and nothing of the URL is
		// echoed: it holds the password); the engine parses the rest.
		u, err := url.Parse(strings.TrimSpace(c.DatabaseURL))
		if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") || u.Host == "" {
			errs = append(errs, errors.New("DATABASE_URL must be a PostgreSQL URL such as postgres://user:password@host:5432/spark; unset it to use the embedded SQLite store under DATA_DIR"))
		}
	}
	errs = append(errs, c.validateRedis()...)
	return errors.Join(errs...)
}

// MinLeaseTTL is the shortest LEASE_TTL accepted (leases are refreshed
// every third of it).
const MinLeaseTTL = 3 * time.Second

func (c *Config) validateRedis() []error {
	var errs []error
	if c.RedisURL != "" {
		// The URL's content (a password) is never repeated.
		u, err := url.Parse(strings.TrimSpace(c.RedisURL))
		if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") ||
			(u.Scheme != "unix" && u.Host == "") || (u.Scheme == "unix" && u.Path == "") {
			errs = append(errs, errors.New("REDIS_URL must be a redis://host:port/db, rediss:// or unix:///path URL"))
		}
	}
	switch c.RedisFailureMode {
	case "", "open", "closed": // "": open (a Config built in code)
	default:
		errs = append(errs, fmt.Errorf("REDIS_FAILURE_MODE %q: use open or closed", shorten(c.RedisFailureMode)))
	}
	if c.LeaseTTL != 0 && c.LeaseTTL < MinLeaseTTL { // 0: the default (a Config built in code)
		errs = append(errs, fmt.Errorf("LEASE_TTL must be at least %s (a duration such as 30s)", MinLeaseTTL))
	}
	return errs
}

// SharedStateWarning is the warning to log at start when several
// replicas may run without Redis (DATABASE_URL set, REDIS_URL not): their
// limits and account rests would be per process. "" otherwise.
func (c *Config) SharedStateWarning() string {
	if c.DatabaseURL != "" && c.RedisURL == "" {
		return "DATABASE_URL is set without REDIS_URL: if several replicas share this database, each keeps its own " +
			"rate and concurrency limits, account rests and background jobs (limits multiply by the replica count); set REDIS_URL"
	}
	return ""
}

// MinMetricsToken is the shortest METRICS_TOKEN accepted.
const MinMetricsToken = 16

// MinAdminPassword is the shortest SPARK_ADMIN_PASSWORD accepted (the
// dashboard's password policy).
const MinAdminPassword = 8

func (c *Config) validateAdmin() []error {
	var errs []error
	email, pw := strings.TrimSpace(c.AdminEmail), c.AdminPassword
	switch {
	case email == "" && pw != "":
		errs = append(errs, errors.New("SPARK_ADMIN_PASSWORD is set without SPARK_ADMIN_EMAIL: set both or neither"))
	case email != "" && pw == "":
		errs = append(errs, errors.New("SPARK_ADMIN_EMAIL is set without SPARK_ADMIN_PASSWORD: set both or neither"))
	case email != "":
		if !isEmail(email) {
			errs = append(errs, errors.New("SPARK_ADMIN_EMAIL must be an email address such as admin@example.com"))
		}
		if len([]rune(pw)) < MinAdminPassword || len(pw) > 1024 {
			errs = append(errs, fmt.Errorf("SPARK_ADMIN_PASSWORD must be %d to 1024 characters", MinAdminPassword))
		}
	}
	for _, e := range c.AdminEmailList() {
		if !isEmail(e) {
			errs = append(errs, fmt.Errorf("SPARK_ADMIN_EMAILS: %q is not an email address", shorten(e)))
		}
	}
	return errs
}

func isEmail(s string) bool {
	a, err := mail.ParseAddress(s)
	return err == nil && a.Address == s
}

// AdminEmailList splits SPARK_ADMIN_EMAILS (comma-separated, trimmed).
func (c *Config) AdminEmailList() []string { return Cookies(c.AdminEmails) }

// ChatMap parses MODEL_CHAT_MAP (`model=chatId,model2=chatId2`). Unlike the
// seed, which refuses MODEL_CHAT_MAP with AUTO_MODEL_CHAT_MAP_TYPE=1, spark
// lets the static map win for its models and binds the others automatically.
// A model bound twice is an error. It is the one parser of MODEL_CHAT_MAP.
func (c *Config) ChatMap() (map[string]string, error) {
	out := map[string]string{}
	for entry := range strings.SplitSeq(c.ModelChatMap, ",") {
		entry = strings.TrimSpace(entry)
		if entry == "" {
			continue
		}
		model, chat, ok := strings.Cut(entry, "=")
		model, chat = strings.TrimSpace(model), strings.TrimSpace(chat)
		if !ok || model == "" || chat == "" {
			return nil, fmt.Errorf("MODEL_CHAT_MAP entry %q: want model=chatId", entry)
		}
		if _, dup := out[model]; dup {
			return nil, fmt.Errorf("MODEL_CHAT_MAP: model %q is bound twice", model)
		}
		out[model] = chat
	}
	return out, nil
}

// Cookies splits a comma-separated cookie list (GS_COOKIE, GEMINI_COOKIE).
func Cookies(list string) []string {
	var out []string
	for c := range strings.SplitSeq(list, ",") {
		if c = strings.TrimSpace(c); c != "" {
			out = append(out, c)
		}
	}
	return out
}

// Lookup returns the value of the string setting read from the
// environment variable name (a provider's AccountsEnv, such as GS_COOKIE);
// ok is false when no setting has that variable.
func (c *Config) Lookup(name string) (value string, ok bool) {
	v := reflect.ValueOf(c).Elem()
	for i := range v.NumField() {
		f := v.Type().Field(i)
		if tag, _, _ := strings.Cut(f.Tag.Get("env"), ","); tag == name && f.Type.Kind() == reflect.String {
			return v.Field(i).String(), true
		}
	}
	return "", false
}

// RateLimitLock is RATE_LIMIT_COOKIE_LOCK_DURATION as a duration.
func (c *Config) RateLimitLock() time.Duration {
	return time.Duration(c.RateLimitCookieLock) * time.Second
}

// UsageRetention is USAGE_RETENTION_DAYS as a duration (0: keep forever).
func (c *Config) UsageRetention() time.Duration {
	return time.Duration(c.UsageRetentionDays) * 24 * time.Hour
}

// Prefix returns ROUTE_PREFIX normalised to "" or "/name".
func (c *Config) Prefix() string {
	p := strings.Trim(strings.TrimSpace(c.RoutePrefix), "/")
	if p == "" {
		return ""
	}
	return "/" + p
}
