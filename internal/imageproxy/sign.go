// Package imageproxy serves generated images and videos whose upstream URLs
// cannot be handed to clients as they are: Gemini's generated images need
// the owning account's Google cookies at every redirect hop, and spark does
// not want to leak upstream URLs or cookies anyway.
//
// spark mints capability URLs of the form
//
//	{prefix}/v1/images/proxy?u=<base64url(upstream URL)>&a=<account id>&e=<unix expiry>&s=<signature>[&sz=<size>]
//
// where s is the unpadded base64url HMAC-SHA-256 of (upstream URL, account
// id, expiry) under a key derived from spark's master key (see
// [KeyFromSealer]). The URL is the capability: the proxy route needs no API
// key, and a tampered, truncated or expired URL is refused with 403 in the
// OpenAI error envelope. sz is not signed: it only asks for a smaller
// render of the same image.
//
// GET /v1/images/proxy ([Handler]) verifies the URL, fetches the upstream
// with the owning account's cookie through that account's proxy ([Fetcher]),
// following redirects itself and re-attaching the cookie at every hop only
// to hosts of the same upstream, and streams the bytes with the upstream's
// content type, bounded in size and time.
package imageproxy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/secret"
)

// Path is the proxy route, without ROUTE_PREFIX.
const Path = "/v1/images/proxy"

// DefaultTTL is how long a minted URL stays valid.
const DefaultTTL = 24 * time.Hour

// KeyPurpose is the purpose under which [KeyFromSealer] derives the signing
// key from spark's master key.
const KeyPurpose = "image-proxy"

// minKeySize is the shortest signing key accepted.
const minKeySize = 16

// Errors of [Signer.Verify]; both are answered with 403.
var (
	// ErrBadSignature means the URL is malformed or was not minted by this
	// spark (wrong key, tampered parameter).
	ErrBadSignature = errors.New("imageproxy: invalid signature")
	// ErrExpired means the URL was genuine but its validity has ended.
	ErrExpired = errors.New("imageproxy: URL expired")
)

// KeyFromSealer derives the URL signing key from spark's master key
// (SPARK_SECRET_KEY, or DATA_DIR/secret.key generated once at first start):
// HMAC-SHA-256 under the sealer's subkey for [KeyPurpose]. Every replica
// sharing the master key verifies the others' URLs; changing the master
// key invalidates minted URLs.
func KeyFromSealer(s *secret.Sealer) []byte {
	return s.MAC(KeyPurpose, []byte("spark/v1/image-proxy/url-signing-key"))
}

// SignerOptions configure a Signer.
type SignerOptions struct {
	// Prefix is ROUTE_PREFIX ("" or "/hf"), put in front of minted paths.
	Prefix string
	// TTL is the validity of minted URLs when Mint is given none; 0 means
	// DefaultTTL.
	TTL time.Duration
	// PublicURL is the gateway's external base URL (scheme://host[:port],
	// no path) used by [Signer.URL]; empty means the request's own host.
	PublicURL string
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Signer mints and verifies proxy URLs. It is safe for concurrent use.
type Signer struct {
	key  []byte
	opts SignerOptions
}

// NewSigner returns a Signer with key (at least 16 bytes; use
// [KeyFromSealer]).
func NewSigner(key []byte, opts SignerOptions) (*Signer, error) {
	if len(key) < minKeySize {
		return nil, errors.New("imageproxy: signing key shorter than 16 bytes")
	}
	if opts.TTL <= 0 {
		opts.TTL = DefaultTTL
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	opts.Prefix = strings.TrimRight(opts.Prefix, "/")
	opts.PublicURL = strings.TrimRight(opts.PublicURL, "/")
	return &Signer{key: append([]byte(nil), key...), opts: opts}, nil
}

// TTL is the default validity of minted URLs.
func (s *Signer) TTL() time.Duration { return s.opts.TTL }

// Mint returns the path and query of a proxy URL for upstreamURL owned by
// accountID ("" when no cookie is needed), valid for ttl (0 = the default
// TTL): "{prefix}/v1/images/proxy?u=...&a=...&e=...&s=...".
func (s *Signer) Mint(upstreamURL, accountID string, ttl time.Duration) string {
	if ttl <= 0 {
		ttl = s.opts.TTL
	}
	exp := s.opts.Now().Add(ttl).Unix()
	sig := s.mac(upstreamURL, accountID, exp)
	return s.opts.Prefix + Path +
		"?u=" + base64.RawURLEncoding.EncodeToString([]byte(upstreamURL)) +
		"&a=" + url.QueryEscape(accountID) +
		"&e=" + strconv.FormatInt(exp, 10) +
		"&s=" + base64.RawURLEncoding.EncodeToString(sig)
}

// URL returns an absolute proxy URL (default TTL) for a response to r: on
// PublicURL when configured, else on the host r was sent to (scheme from
// TLS or X-Forwarded-Proto, host from X-Forwarded-Host or Host).
func (s *Signer) URL(r *http.Request, upstreamURL, accountID string) string {
	return BaseURL(r, s.opts.PublicURL) + s.Mint(upstreamURL, accountID, 0)
}

// BaseURL is the scheme://host a client reached the gateway at: public
// when set, else derived from r.
func BaseURL(r *http.Request, public string) string {
	if public != "" {
		return strings.TrimRight(public, "/")
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	if p := strings.ToLower(strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Proto")))); p == "http" || p == "https" {
		scheme = p
	}
	host := r.Host
	if h := strings.TrimSpace(firstValue(r.Header.Get("X-Forwarded-Host"))); h != "" && validHost(h) {
		host = h
	}
	return scheme + "://" + host
}

func firstValue(v string) string {
	first, _, _ := strings.Cut(v, ",")
	return first
}

// validHost accepts host[:port] made of hostname or IP characters only.
func validHost(h string) bool {
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune(".-:[]", c)) {
			return false
		}
	}
	return h != ""
}

// Target is a verified proxy request.
type Target struct {
	URL     string    // upstream URL
	Account string    // owning account id, "" for none
	Expires time.Time // end of validity
	Size    string    // sz parameter, unverified ("" = full size)
}

// Verify checks the u, a, e and s parameters of q in constant time and
// returns the target. It fails with ErrBadSignature or ErrExpired.
func (s *Signer) Verify(q url.Values) (Target, error) {
	rawU, acct, rawE, rawS := q.Get("u"), q.Get("a"), q.Get("e"), q.Get("s")
	if rawU == "" || rawE == "" || rawS == "" || len(q["u"]) > 1 || len(q["a"]) > 1 || len(q["e"]) > 1 || len(q["s"]) > 1 {
		return Target{}, ErrBadSignature
	}
	u, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rawU, "="))
	if err != nil {
		return Target{}, ErrBadSignature
	}
	exp, err := strconv.ParseInt(rawE, 10, 64)
	if err != nil {
		return Target{}, ErrBadSignature
	}
	sig, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(rawS, "="))
	if err != nil || !hmac.Equal(sig, s.mac(string(u), acct, exp)) {
		return Target{}, ErrBadSignature
	}
	expires := time.Unix(exp, 0)
	if !s.opts.Now().Before(expires) {
		return Target{}, ErrExpired
	}
	return Target{URL: string(u), Account: acct, Expires: expires, Size: q.Get("sz")}, nil
}

// mac is the HMAC of one URL: every field length-prefixed, so no two
// different (url, account, expiry) triples share a message.
func (s *Signer) mac(upstreamURL, accountID string, exp int64) []byte {
	m := hmac.New(sha256.New, s.key)
	e := strconv.FormatInt(exp, 10)
	for _, f := range []string{"spark-image-proxy-v1", upstreamURL, accountID, e} {
		m.Write([]byte(strconv.Itoa(len(f))))
		m.Write([]byte{':'})
		m.Write([]byte(f))
	}
	return m.Sum(nil)
}

// verifyError is the client-facing error of a failed verification.
func verifyError(err error) *gw.Error {
	if errors.Is(err, ErrExpired) {
		return &gw.Error{Code: gw.CodeForbidden, Message: "This image URL has expired; request the image again for a fresh URL.", Cause: err}
	}
	return &gw.Error{Code: gw.CodeForbidden, Message: "Invalid image URL signature.", Cause: err}
}
