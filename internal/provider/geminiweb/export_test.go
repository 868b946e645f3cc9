package geminiweb

import "github.com/sparkgw/spark/internal/gw"

// ImageCookieHeader returns the Cookie header with which acct's generated
// images are fetched: the account's current cookies (rotated values
// included), limited to the cookies the image hosts accept (docs/gemini-web-upstream.md §8).
func (p *Provider) ImageCookieHeader(acct *gw.Account) string {
	return p.state(acct).cookieHeader(imageCookieNames...)
}
