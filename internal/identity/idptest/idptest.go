// Package idptest is an OpenID provider for tests, served on loopback:
// go-oidc's oidctest server answers discovery and keys, and this package
// adds an authorization endpoint that signs in whoever the test chose and
// a token endpoint that checks the client's secret, the redirect URI and
// the PKCE verifier (S256) before it issues a signed ID token.
package idptest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/coreos/go-oidc/v3/oidc/oidctest"
)

// Identity is who the provider signs in at the next authorization.
type Identity struct {
	Email string
	// EmailVerified is sent as email_verified when not nil: true, false,
	// or a string as some providers send.
	EmailVerified any
	Name          string
	// Nonce, when set, replaces the authorization request's nonce in the
	// ID token (an ID token of another sign-in).
	Nonce *string
}

// Verified is a verified identity with a name.
func Verified(email string) Identity {
	return Identity{Email: email, EmailVerified: true, Name: "Name of " + email}
}

// grant is an authorization code the provider issued.
type grant struct {
	redirectURI, challenge, nonce string
	who                           Identity
}

// Provider is the loopback OpenID provider.
type Provider struct {
	// URL is the issuer (and base URL) of the provider.
	URL string

	clientID, clientSecret string
	key                    *ecdsa.PrivateKey
	now                    func() time.Time

	mu          sync.Mutex
	next        Identity
	codes       map[string]grant
	issued      []string
	pkceRefused int
	pkceChecked int
	lastAuth    url.Values
}

// New starts a provider for the client (clientID, clientSecret) until the
// test ends; now stamps ID tokens (iat, exp = now + 1 h).
func New(t testing.TB, clientID, clientSecret string, now func() time.Time) *Provider {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{clientID: clientID, clientSecret: clientSecret, key: key, now: now, codes: map[string]grant{}}
	disc := &oidctest.Server{PublicKeys: []oidctest.PublicKey{{PublicKey: key.Public(), KeyID: "k1", Algorithm: oidc.ES256}},
		Algorithms: []string{oidc.ES256}}
	mux := http.NewServeMux()
	mux.Handle("/", disc)
	mux.HandleFunc("GET /auth", p.authorize)
	mux.HandleFunc("POST /token", p.token)
	ts := httptest.NewServer(mux)
	t.Cleanup(ts.Close)
	disc.SetIssuer(ts.URL)
	p.URL = ts.URL
	return p
}

// SignInAs sets who the next authorization signs in.
func (p *Provider) SignInAs(who Identity) {
	p.mu.Lock()
	p.next = who
	p.mu.Unlock()
}

// PKCE returns how many token requests were refused for a wrong verifier
// and how many had a matching one.
func (p *Provider) PKCE() (refused, matched int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.pkceRefused, p.pkceChecked
}

// LastAuthorization is the query of the last authorization request.
func (p *Provider) LastAuthorization() url.Values {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lastAuth
}

// IDTokens are the ID tokens issued so far.
func (p *Provider) IDTokens() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.issued...)
}

// authorize is the authorization endpoint: it checks the request is an
// authorization-code request with PKCE S256, state and nonce, and sends
// the browser back with a code.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("response_type") != "code" || q.Get("client_id") != p.clientID || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("nonce") == "" || q.Get("state") == "" || !strings.Contains(q.Get("scope"), "openid") {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	to, err := url.Parse(q.Get("redirect_uri"))
	if err != nil || to.Host == "" {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	code := rand.Text()
	p.mu.Lock()
	p.lastAuth = q
	p.codes[code] = grant{redirectURI: q.Get("redirect_uri"), challenge: q.Get("code_challenge"), nonce: q.Get("nonce"), who: p.next}
	p.mu.Unlock()
	v := to.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	to.RawQuery = v.Encode()
	http.Redirect(w, r, to.String(), http.StatusFound)
}

func tokenError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

// token is the token endpoint (RFC 6749, section 4.1.3, with RFC 7636's
// code_verifier): one use per code.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		tokenError(w, http.StatusBadRequest, "invalid_request")
		return
	}
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if id != p.clientID || secret != p.clientSecret {
		tokenError(w, http.StatusUnauthorized, "invalid_client")
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	code := r.PostForm.Get("code")
	g, ok := p.codes[code]
	delete(p.codes, code)
	if !ok || r.PostForm.Get("grant_type") != "authorization_code" || r.PostForm.Get("redirect_uri") != g.redirectURI {
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	sum := sha256.Sum256([]byte(r.PostForm.Get("code_verifier")))
	if base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge {
		p.pkceRefused++
		tokenError(w, http.StatusBadRequest, "invalid_grant")
		return
	}
	p.pkceChecked++
	nonce := g.nonce
	if g.who.Nonce != nil {
		nonce = *g.who.Nonce
	}
	now := p.now()
	claims := map[string]any{"iss": p.URL, "aud": p.clientID, "sub": "sub-" + g.who.Email, "iat": now.Unix(),
		"exp": now.Add(time.Hour).Unix(), "nonce": nonce, "email": g.who.Email, "name": g.who.Name}
	if g.who.EmailVerified != nil {
		claims["email_verified"] = g.who.EmailVerified
	}
	raw, _ := json.Marshal(claims)
	idt := oidctest.SignIDToken(p.key, "k1", oidc.ES256, string(raw))
	p.issued = append(p.issued, idt)
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"access_token": "at-" + rand.Text(), "token_type": "Bearer",
		"expires_in": 3600, "id_token": idt})
}
