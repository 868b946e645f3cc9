package store

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
)

// ImportSummary counts what [ImportCookies] did.
type ImportSummary struct {
	Created, Updated, Unchanged int
	// Accounts are the imported accounts as stored, in input order.
	Accounts []Account
}

// ProxySuffix introduces a per-account proxy in a cookie list entry.
const ProxySuffix = "|proxy="

// checkProxy accepts "" or a proxy URL the HTTP transport can use.
func checkProxy(raw string) error {
	if raw == "" {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%w: the proxy is not a URL", ErrInvalid)
	}
	switch u.Scheme {
	case "http", "https", "socks5", "socks5h":
		return nil
	}
	return fmt.Errorf("%w: proxy scheme %q is not http, https, socks5 or socks5h", ErrInvalid, u.Scheme)
}

// ImportCredentials imports each credential for provider, idempotently
// (the entries of a provider's account variable, such as GS_COOKIE, at
// every start): an entry whose login is already stored updates that
// account instead of adding one. An entry may name its own egress proxy
// after the credential: `name=abc|proxy=socks5://127.0.0.1:1080`
// (ProxySuffix). Empty entries are skipped. Invalid entries are reported
// as "<source> entry <n>" (1-based) with what is wrong, never by content,
// in the joined error, after the valid ones were imported.
func ImportCredentials(ctx context.Context, s AccountStore, provider, source string, entries []string) (ImportSummary, error) {
	var sum ImportSummary
	var errs []error
	for i, entry := range entries {
		c, proxy, _ := strings.Cut(entry, ProxySuffix)
		c, proxy = strings.TrimSpace(c), strings.TrimSpace(proxy)
		if c == "" {
			continue
		}
		if err := checkProxy(proxy); err != nil {
			errs = append(errs, fmt.Errorf("%s entry %d: %w", source, i+1, err))
			continue
		}
		a, res, err := s.ImportAccount(ctx, Account{Provider: provider, Cookie: c, Proxy: proxy})
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s entry %d: %w", source, i+1, err))
			continue
		}
		sum.Accounts = append(sum.Accounts, a)
		switch res {
		case ImportCreated:
			sum.Created++
		case ImportUpdated:
			sum.Updated++
		default:
			sum.Unchanged++
		}
	}
	return sum, errors.Join(errs...)
}
