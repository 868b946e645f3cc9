package imageproxy

import "net/url"

// CookieAllowedForTest exposes Fetcher.cookieAllowed to the tests.
func CookieAllowedForTest(f *Fetcher, provider string, u *url.URL) bool {
	return f.cookieAllowed(provider, u)
}
