package gw

// Account is one upstream login spark drives: a cookie for a provider, with
// an optional egress proxy. Cookie is a credential: never log or render it.
type Account struct {
	ID       string // stable id (store primary key)
	Provider string // provider name (its plugin's Name)
	Label    string // human label, safe to show
	Cookie   string // cookie header value (secret)
	Proxy    string // per-account proxy URL; empty = the global PROXY_URL
}

// String returns what may be logged about the account: never the cookie.
func (a *Account) String() string {
	if a == nil {
		return "<no account>"
	}
	return a.Provider + "/" + a.Label
}
