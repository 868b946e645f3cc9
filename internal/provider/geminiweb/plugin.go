package geminiweb

import (
	"context"
	_ "embed"
	"net/url"
	"regexp"
	"slices"
	"strings"

	"github.com/sparkgw/spark/internal/catalog"
	"github.com/sparkgw/spark/internal/config"
	"github.com/sparkgw/spark/internal/credential"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/imageproxy"
	"github.com/sparkgw/spark/internal/provider"
)

// Credential is the shape of a Gemini web account: the browser's cookie
// string, identified by __Secure-1PSID (docs/gemini-web-upstream.md §1.1).
var Credential = credential.Cookie{Name: cookiePSID}

// Plugin declares the Gemini web app to the gateway.
func Plugin() provider.Plugin {
	return provider.Plugin{
		Name:        Name,
		DisplayName: "Gemini web",
		AccountsEnv: "GEMINI_COOKIE",
		Credential:  Credential,
		Catalog:     catalogJSON,
		HelperModel: "gemini-3-flash",
		Images: imageproxy.Upstream{
			CookieHost: func(host string) bool { return hostIn(host, "google.com", "googleusercontent.com") },
			Cookie:     func(c string) string { return credential.Keep(c, imageCookieNames) },
			Resize:     resizeImage,
		},
		ImageChat: true,
		New: func(ctx context.Context, d provider.Deps) (provider.Provider, error) {
			return New(Config{
				BaseURL:     d.Config.GeminiBaseURL,
				UploadURL:   d.Config.GeminiUploadURL,
				AccountsURL: d.Config.GoogleAccountsURL,
				Clients:     d.Clients,
				Logger:      d.Logger,
				Catalog:     d.Catalog,
				Cookies:     d.Credentials,
				AutoDelete:  d.Config.AutoDelChat,
				Now:         d.Now,
				IdleTimeout: d.Config.UpstreamIdleTimeout,
				Claim:       d.Claim,
			})
		},
		Demo: provider.Demo{
			Wire: func(cfg *config.Config, simURL string) {
				// The simulator always rate-limits the second account:
				// after its first failure it rests and the first answers.
				cfg.GeminiCookie = "__Secure-1PSID=demo-gemini; __Secure-1PSIDTS=demo-ts," +
					"__Secure-1PSID=limited-gemini; __Secure-1PSIDTS=demo-ts"
				cfg.GeminiBaseURL, cfg.GeminiUploadURL, cfg.GoogleAccountsURL = simURL, simURL, simURL
			},
			ChatModel:  "gemini-3-flash",
			ImageModel: "gemini-3-flash",
		},
	}
}

var (
	_ provider.Doctor        = (*Provider)(nil)
	_ provider.AccountModels = (*Provider)(nil)
	_ provider.Maintainer    = (*Provider)(nil)
)

// Check tests acct without chatting: the app page must be signed in
// (docs/gemini-web-upstream.md §1.2), and the account's model list is read (docs/gemini-web-upstream.md §6.1).
func (p *Provider) Check(ctx context.Context, acct *gw.Account) provider.Checkup {
	st := p.state(acct)
	s, err := p.session(ctx, acct, st)
	if err != nil {
		return provider.CheckupFromError(err)
	}
	c := provider.Checkup{State: provider.CheckOK}
	if am := p.discover(ctx, acct, st, s); am != nil {
		for _, m := range am.models {
			if !slices.Contains(c.Models, m.info.ID) {
				c.Models = append(c.Models, m.info.ID)
			}
		}
	}
	return c
}

// Maintain rotates the cookies of the accounts that are due (RotateDue).
func (p *Provider) Maintain(ctx context.Context, accounts []*gw.Account) {
	p.RotateDue(ctx, accounts)
}

// imagePaths are the first path segments of Google-hosted generated images
// (docs/gemini-web-upstream.md §8).
var imagePaths = []string{"gg-dl", "gg", "rd-gg-dl", "bard"}

// resizeImage applies a size option to a Google-hosted image URL: the part
// of the last path segment after "=" is replaced. "" is the original size
// (s0); "none" keeps the URL as generated; digits N mean sN. ok is false
// for other URLs.
func resizeImage(u *url.URL, size string) (*url.URL, bool) {
	first, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	if !slices.Contains(imagePaths, first) && !hostIn(strings.ToLower(u.Hostname()), "googleusercontent.com") {
		return u, false
	}
	if size == "none" {
		return u, true
	}
	opt := size
	switch {
	case opt == "":
		opt = "s0"
	case isDigits(opt):
		opt = "s" + opt
	}
	out := *u
	dir, last := "", out.Path
	if i := strings.LastIndex(out.Path, "/"); i >= 0 {
		dir, last = out.Path[:i+1], out.Path[i+1:]
	}
	if last == "" {
		return u, true
	}
	last, _, _ = strings.Cut(last, "=")
	out.Path = dir + last + "=" + opt
	out.RawPath = ""
	return &out, true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// hostIn reports whether host is one of domains or a subdomain of one.
func hostIn(host string, domains ...string) bool {
	for _, d := range domains {
		if host == d || strings.HasSuffix(host, "."+d) {
			return true
		}
	}
	return false
}

var _ provider.Aliaser = (*Provider)(nil)

// Aliases implements provider.Aliaser: the Claude names of ClaudeAliases,
// and gemini-X-image (the official API's name of an image-capable model)
// as gemini-X, since every chat model of the web app draws.
func (p *Provider) Aliases(model string) []string {
	lower := strings.ToLower(model)
	if base, ok := strings.CutSuffix(lower, "-image"); ok && strings.HasPrefix(base, "gemini-") {
		return []string{base}
	}
	if strings.HasPrefix(lower, "gemini-") {
		return familyAliases(lower)
	}
	return ClaudeAliases(model)
}

// familyAliases maps a Gemini API model name the web app does not list
// (gemini-2.5-pro, gemini-3.8-flash, gemini-3.5-flash-lite,
// gemini-3.1-pro-preview: the names Gemini CLI and the google-genai SDKs
// send) to the web app's model of the same family: flash-lite, flash or
// pro. Other names (embedding models, ...) have none.
func familyAliases(lower string) []string {
	switch {
	case strings.Contains(lower, "flash-lite"):
		return []string{"gemini-3.1-flash-lite"}
	case strings.Contains(lower, "flash"):
		return []string{"gemini-3-flash"}
	case strings.Contains(lower, "pro"):
		return []string{"gemini-3-pro"}
	}
	return nil
}

// ClaudeAliases lists, in order, the Gemini models a Claude model name is
// served by, as the Gemini gateway seed maps them for Claude Code (which
// offers only names containing "claude"): claude-gemini-X is the Gemini
// model X; then the tiers: opus → the strongest model, sonnet, haiku and
// any other Claude name → the fast one. Release dates are ignored.
func ClaudeAliases(model string) []string {
	lower := strings.ToLower(model)
	if !strings.HasPrefix(lower, "claude") {
		return nil
	}
	lower = dateSuffix.ReplaceAllString(lower, "")
	var out []string
	if rest, ok := strings.CutPrefix(lower, "claude-gemini-"); ok {
		out = append(out, rest, "gemini-"+rest)
	}
	if strings.Contains(lower, "opus") {
		return append(out, "gemini-3-pro")
	}
	return append(out, "gemini-3-flash")
}

// dateSuffix matches the release date Anthropic appends to model ids.
var dateSuffix = regexp.MustCompile(`-(20\d{6}|latest)$`)

// catalogJSON is the built-in model catalog (see package catalog).
//
//go:embed catalog.json
var catalogJSON []byte

// DefaultCatalog returns the built-in model catalog.
func DefaultCatalog() (*catalog.Catalog, error) {
	return catalog.Defaults{Name: catalogJSON}.Default(Name)
}
