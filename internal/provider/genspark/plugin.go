package genspark

import (
	"context"
	_ "embed"
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/provider"
)

// Credential is the shape of a Genspark account: a cookie string identified
// by its session_id, or the bare session id alone (the GS_COOKIE rule of
// genspark2api).
var Credential = credential.Cookie{Name: "session_id", Bare: true}

// Plugin declares Genspark to the gateway.
func Plugin() provider.Plugin {
	return provider.Plugin{
		Name:        Name,
		DisplayName: "Genspark",
		AccountsEnv: "GS_COOKIE",
		Credential:  Credential,
		Catalog:     catalogJSON,
		HelperModel: "claude-sonnet-4-5",
		Images: imageproxy.Upstream{
			CookieHost: func(host string) bool { return host == "genspark.ai" || strings.HasSuffix(host, ".genspark.ai") },
			Cookie:     cookieHeader,
		},
		Always: true,
		New: func(ctx context.Context, d provider.Deps) (provider.Provider, error) {
			chatMap, err := d.Config.ChatMap()
			if err != nil {
				return nil, err
			}
			bindings := newStoreBindings(d.Bindings)
			if d.WatchBindings != nil {
				d.WatchBindings(bindings.c.forget)
			}
			return New(Config{
				BaseURL:      d.Config.GensparkBaseURL,
				Clients:      d.Clients,
				Logger:       d.Logger,
				Catalog:      d.Catalog,
				RecaptchaURL: strings.TrimSpace(d.Config.RecaptchaProxyURL),
				ModelChatMap: chatMap,
				AutoBind:     d.Config.AutoModelChatMapType == 1,
				AutoDelete:   d.Config.AutoDelChat,
				Bindings:     bindings,
				Debug:        d.Config.Debug,
				IdleTimeout:  d.Config.UpstreamIdleTimeout,
			})
		},
		Demo: provider.Demo{
			Wire: func(cfg *config.Config, simURL string) {
				// The simulator always rate-limits the third account.
				cfg.GSCookie = "session_id=demo-alpha,session_id=demo-beta,session_id=limited-demo"
				cfg.GensparkBaseURL = simURL
				cfg.RecaptchaProxyURL = simURL
			},
			ChatModel:  "gpt-5.1",
			ImageModel: "gpt-image-1",
		},
	}
}

var _ provider.Doctor = (*Provider)(nil)

// loginProbe is the answer of GET /api/is_login (docs/genspark-upstream.md §1.9).
type loginProbe struct {
	Status  int    `json:"status"`
	Message string `json:"message"`
	Data    struct {
		IsLogin bool `json:"is_login"`
	} `json:"data"`
}

// Check tests acct with the login probe (GET /api/is_login): no chat is
// started. Genspark does not list models per account, so Models is empty.
func (p *Provider) Check(ctx context.Context, acct *gw.Account) provider.Checkup {
	client, err := p.cfg.Clients.Get(acct.Proxy)
	if err != nil {
		return provider.Checkup{State: provider.CheckError, Problem: "the account's proxy is invalid"}
	}
	up := &upstream{p: p, client: client, cookie: cookieHeader(acct.Cookie)}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.base+"/api/is_login", nil)
	if err != nil {
		return provider.CheckupFromError(err)
	}
	up.headers(req.Header, "application/json")
	resp, err := up.do(req, "Genspark login probe")
	if err != nil {
		return provider.CheckupFromError(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
	if err != nil {
		return provider.CheckupFromError(newErr(gw.CodeTransient, "reading the Genspark login probe failed", err))
	}
	if sig := detectBody(body); sig != nil {
		return provider.CheckupFromError(sig)
	}
	var probe loginProbe
	if err := json.Unmarshal(body, &probe); err != nil {
		return provider.Checkup{State: provider.CheckError, Code: gw.CodeProtocolChanged,
			Problem: "the Genspark login probe answered in an unknown format"}
	}
	if !probe.Data.IsLogin {
		return provider.CheckupFromError(errLoggedOut())
	}
	return provider.Checkup{State: provider.CheckOK}
}

// catalogJSON is the built-in model catalog (see package catalog).
//
//go:embed catalog.json
var catalogJSON []byte

// DefaultCatalog returns the built-in model catalog.
func DefaultCatalog() (*catalog.Catalog, error) {
	return catalog.Defaults{Name: catalogJSON}.Default(Name)
}
