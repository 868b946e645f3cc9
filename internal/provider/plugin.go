package provider

import (
	"context"
	"log/slog"
	"time"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/store"
)

// Plugin declares everything the gateway knows about one upstream. Each
// provider package exports one (genspark.Plugin, ...); the app keeps the
// one list of them, and nothing else in spark names an upstream.
type Plugin struct {
	// Name is the registry name, stored with each account.
	Name string
	// DisplayName is the name shown to people ("Genspark").
	DisplayName string
	// AccountsEnv is the environment variable whose comma-separated
	// entries seed the provider's accounts at every start. Its value is
	// read through config.Config.Lookup.
	AccountsEnv string
	// Credential checks, normalises and identifies the accounts'
	// credentials (a cookie string, an API key).
	Credential credential.Rule
	// Catalog is the built-in model catalog (JSON, see package catalog),
	// which a user's override file extends.
	Catalog []byte
	// Images tells the image proxy about the provider's generated media:
	// which hosts get an account's cookie, in what shape, how to resize.
	Images imageproxy.Upstream
	// HelperModel is a fast chat model the gateway may use for its own
	// work (moderations, audio transcription).
	HelperModel string
	// ImageChat is set when the provider's chat models draw images, so
	// image requests may be sent to them.
	ImageChat bool
	// Always builds the provider even when it has no account, so that a
	// first start answers with which variable to set (at most one plugin
	// should set it).
	Always bool
	// New builds the provider.
	New func(ctx context.Context, d Deps) (Provider, error)
	// Demo is the provider's part of `spark demo`.
	Demo Demo
}

// Deps is what the app hands a plugin to build its provider.
type Deps struct {
	// Config is spark's configuration (upstream URLs, options).
	Config *config.Config
	// Clients hands out the HTTP client of an account's proxy.
	Clients *httpx.Clients
	// Logger receives operational logs.
	Logger *slog.Logger
	// Catalog is the provider's model catalog (defaults, data directory,
	// SPARK_MODELS_FILE).
	Catalog *catalog.Catalog
	// Bindings persists small provider state such as conversation
	// bindings.
	Bindings store.BindingStore
	// WatchBindings, when set, registers forget to be called with the
	// key of every binding another replica changed in Bindings, so a
	// provider that caches bindings drops its copy. nil: this process is
	// the only writer.
	WatchBindings func(forget func(key string))
	// Credentials persists a credential the upstream rotated.
	Credentials CredentialSaver
	// Now is the wall clock of time-driven work.
	Now func() time.Time
	// Claim, when set, reports whether this replica is the one to do job
	// in the coming period (one of several replicas rotating an account's
	// cookie); nil: always, a single replica.
	Claim func(ctx context.Context, job string, period time.Duration) bool
}

// CredentialSaver persists an account's refreshed credential.
type CredentialSaver interface {
	SaveCookie(ctx context.Context, accountID, cookie string) error
}

// Demo is a provider's part of `spark demo`, wired to the simulator.
type Demo struct {
	// Wire points cfg at the simulator's base URL and gives it the demo
	// accounts (at least two, one of them always rate-limited by the
	// simulator, so the demo shows failover).
	Wire func(cfg *config.Config, simURL string)
	// Models are a chat model and, when the provider draws, an image model
	// to show in the demo's example requests ("" = none).
	ChatModel, ImageModel string
}

// Checkup is the result of a Doctor's check of one account.
type Checkup struct {
	// State is what the check found: "ok", "logged out", "rate limited",
	// "blocked", or "error".
	State string
	// Models are the models the account serves, when the upstream says.
	Models []string
	// Problem explains a state other than ok; it never holds a secret.
	Problem string
	// Code is the gateway error code of the failure found, when known
	// (the account doctor classifies it).
	Code gw.Code
}

// Check states.
const (
	CheckOK          = "ok"
	CheckLoggedOut   = "logged out"
	CheckRateLimited = "rate limited"
	CheckBlocked     = "blocked"
	CheckError       = "error"
)

// Doctor is implemented by providers that can test an account cheaply (no
// chat): the account's sign-in state, its models, and what is wrong.
type Doctor interface {
	Check(ctx context.Context, acct *gw.Account) Checkup
}

// CheckupFromError maps a provider error to a Checkup.
func CheckupFromError(err error) Checkup {
	c := Checkup{State: CheckError, Problem: err.Error(), Code: gw.ErrorCode(err)}
	switch c.Code {
	case gw.CodeLoggedOut:
		c.State = CheckLoggedOut
	case gw.CodeRateLimited, gw.CodeQuotaExhausted:
		c.State = CheckRateLimited
	case gw.CodeChallenged, gw.CodeIPBlocked, gw.CodeAttestation:
		c.State = CheckBlocked
	}
	return c
}

// AccountModels is implemented by providers whose accounts differ in the
// models they serve (a free account lacks the paid ones). The pool calls
// Serves with its lock held: it must be fast and do no I/O.
type AccountModels interface {
	Serves(accountID, model string) bool
}

// Maintainer is implemented by providers with periodic work on their
// accounts (credential rotation); the app calls Maintain every minute with
// the provider's accounts.
type Maintainer interface {
	Maintain(ctx context.Context, accounts []*gw.Account)
}
