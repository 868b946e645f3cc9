package store

import (
	"context"
	"errors"
	"fmt"
)

// ImportSummary counts what [ImportCookies] did.
type ImportSummary struct {
	Created, Updated, Unchanged int
	// Accounts are the imported accounts as stored, in input order.
	Accounts []Account
}

// ImportCookies imports each cookie for provider, idempotently (the
// GS_COOKIE and GEMINI_COOKIE entries, at every start): an entry whose
// login is already stored updates that account instead of adding one.
// Empty entries are skipped. Invalid entries are reported by position
// (1-based), never by content, in the joined error, after the valid ones
// were imported.
func ImportCookies(ctx context.Context, s AccountStore, provider string, cookies []string) (ImportSummary, error) {
	var sum ImportSummary
	var errs []error
	for i, c := range cookies {
		c = NormalizeCookie(provider, c)
		if c == "" {
			continue
		}
		a, res, err := s.ImportAccount(ctx, Account{Provider: provider, Cookie: c})
		if err != nil {
			if ctx.Err() != nil {
				return sum, ctx.Err()
			}
			errs = append(errs, fmt.Errorf("%s cookie entry %d: %w", provider, i+1, err))
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
