package pool_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/apikey"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/pool"
	"github.com/sparkgw/spark/internal/provider/geminiweb"
	"github.com/sparkgw/spark/internal/provider/genspark"
	"github.com/sparkgw/spark/internal/secret"
	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/sqlite"
	"github.com/sparkgw/spark/internal/testutil"
)

// TestNoSecretsInLogs drives the store, the pool and the API keys through
// every state change with a debug-level logger that redacts nothing, and
// checks that no cookie, proxy password or key reaches the log, the
// account table or the formatted records (DEBUG=true must stay safe).
func TestNoSecretsInLogs(t *testing.T) {
	ctx := t.Context()
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	dir := t.TempDir()
	key, err := secret.LoadOrCreateKey(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	sealer, err := secret.NewSealer(key.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	logger.Info("secret key loaded", "key", key.String())
	db, err := sqlite.Open(ctx, filepath.Join(dir, sqlite.FileName), sealer, store.WithRules(store.Rules{
		genspark.Name: genspark.Credential, geminiweb.Name: geminiweb.Credential,
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()

	secrets := map[string]string{
		"genspark session":  "GsSessionSecret000111222333",
		"genspark other":    "GsOtherCookieSecret444555",
		"gemini psid":       "g.a000PsidSecretValue777888999",
		"gemini psidts":     "sidts-PsidTsSecret121212",
		"gemini rotated":    "sidts-RotatedSecret343434",
		"proxy password":    "ProxyPassSecret565656",
		"api secret env":    "EnvApiSecretValue787878",
		"expired session":   "expiredSessionSecret909090",
		"genspark new":      "GsFreshSessionSecret131313",
		"secret key base64": base64.StdEncoding.EncodeToString(key.Bytes),
	}
	gsCookie := "session_id=" + secrets["genspark session"] + "; ai_user=" + secrets["genspark other"]
	geminiCookie := "__Secure-1PSID=" + secrets["gemini psid"] + "; __Secure-1PSIDTS=" + secrets["gemini psidts"]
	expired := "session_id=" + secrets["expired session"]

	sum, err := store.ImportCredentials(ctx, db, "genspark", "GS_COOKIE", []string{gsCookie, expired, "session_id=; x=" + secrets["genspark other"]})
	if err == nil {
		t.Fatal("invalid entry accepted")
	}
	logger.Warn("cookie import", "created", sum.Created, "error", err)
	if _, _, err := db.ImportAccount(ctx, store.Account{Provider: "geminiweb", Cookie: geminiCookie,
		Proxy: "http://user:" + secrets["proxy password"] + "@proxy:3128"}); err != nil {
		t.Fatal(err)
	}
	for _, a := range sum.Accounts {
		logger.Debug("imported", "account", a) // LogValue hides the cookie
		logger.Debug(fmt.Sprintf("imported %v %+v %#v", a, a, a))
	}

	clock := testutil.NewClock(time.Now())
	p, err := pool.New(ctx, pool.Options{Store: db, Clock: clock, Logger: logger, Strategy: pool.RoundRobin, MaxConcurrentPerAccount: 1})
	if err != nil {
		t.Fatal(err)
	}
	expiredID := sum.Accounts[1].ID

	// Every failure class, with messages that echo the cookie as a careless
	// provider might.
	outcomes := []error{
		&gw.Error{Code: gw.CodeTransient, Message: "bad answer for " + gsCookie},
		&gw.Error{Code: gw.CodeTransient, Message: "cookie " + secrets["gemini psidts"] + " refused"},
		&gw.Error{Code: gw.CodeUnavailable, Message: "Service Unavailable", Cause: errors.New(gsCookie)},
		&gw.Error{Code: gw.CodeRateLimited, Message: "Rate limit exceeded cf1 " + secrets["genspark session"]},
		&gw.Error{Code: gw.CodeChallenged, Message: "Detected Cloudflare Challenge Page"},
		&gw.Error{Code: gw.CodeQuotaExhausted, Message: "free usage limit"},
		nil,
	}
	for _, provider := range []string{"genspark", "geminiweb"} {
		for _, out := range outcomes {
			clock.Advance(time.Hour * 25)
			l, err := p.Acquire(ctx, pool.Request{Provider: provider, Exclude: map[string]bool{expiredID: true}})
			if err != nil {
				t.Fatal(err)
			}
			l.Release(out)
		}
	}
	l, err := p.Acquire(ctx, pool.Request{Provider: "genspark", Exclude: map[string]bool{sum.Accounts[0].ID: true}})
	if err != nil {
		t.Fatal(err)
	}
	l.Release(&gw.Error{Code: gw.CodeLoggedOut, Message: `{"status":-5,"message":"not login"} ` + expired})
	if err := p.UpdateCookie(ctx, expiredID, "session_id="+secrets["expired session"]+"; fresh=1"); err != nil {
		t.Fatal(err)
	}
	gem, _ := db.ListAccounts(ctx, store.AccountFilter{Provider: "geminiweb"})
	if err := p.UpdateCookie(ctx, gem[0].ID, "__Secure-1PSID="+secrets["gemini psid"]+"; __Secure-1PSIDTS="+secrets["gemini rotated"]); err != nil {
		t.Fatal(err)
	}
	if err := p.UpdateCookie(ctx, gem[0].ID, gsCookie); err == nil { // wrong provider's cookie: invalid
		t.Fatal("gemini account accepted a genspark cookie")
	} else {
		logger.Warn("update failed", "error", err)
	}
	if _, err := db.CreateAccount(ctx, store.Account{Provider: "genspark", Cookie: "session_id=" + secrets["genspark new"]}); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := p.Acquire(ctx, pool.Request{Provider: "genspark", Model: "m"})
		if err != nil {
			logger.Info("acquire failed", "error", err)
			break
		}
	}

	// API keys: the minted key and API_SECRET.
	minted, err := apikey.EnsureInitial(ctx, db, "")
	if err != nil {
		t.Fatal(err)
	}
	secrets["minted key"] = minted[len(apikey.DisplayPrefix(minted)):]
	v := apikey.NewVerifier(db, secrets["api secret env"], apikey.Options{})
	for _, k := range []string{minted, secrets["api secret env"], minted + "x"} {
		pr, err := v.Verify(ctx, k)
		logger.Info("verify", "principal", pr.KeyID, "error", err)
	}

	var table bytes.Buffer
	if err := pool.Describe(&table, p.Snapshot()); err != nil {
		t.Fatal(err)
	}
	fromStore, err := pool.StatusFromStore(ctx, db, clock.Now(), 0)
	if err != nil {
		t.Fatal(err)
	}
	pool.Describe(&table, fromStore)
	logger.Debug("snapshot", "statuses", fmt.Sprintf("%+v", p.Snapshot()))

	var stored bytes.Buffer
	accts, _ := db.ListAccounts(ctx, store.AccountFilter{})
	for _, a := range accts {
		fmt.Fprintf(&stored, "%s %s %+v\n", a.LastError.Message, a.DisabledReason, a.LastError)
		evs, _ := db.ListEvents(ctx, a.ID, 0)
		fmt.Fprintf(&stored, "%+v\n", evs)
	}

	for what, out := range map[string]string{"log": logs.String(), "accounts table": table.String(), "stored messages": stored.String()} {
		for name, s := range secrets {
			if strings.Contains(out, s) {
				t.Errorf("%s contains the %s", what, name)
			}
		}
	}
	for _, want := range []string{"account state changed", "to=resting", "to=disabled", "PROXY_URL", "[redacted]"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q; the test did not exercise what it claims", want)
		}
	}
	if t.Failed() {
		t.Logf("log:\n%s\ntable:\n%s", logs.String(), table.String())
	}
}
