package metrics

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"
	"strings"
)

// TokenAuthenticator admits a scrape of /metrics on the main port that
// sends "Authorization: Bearer <token>" (METRICS_TOKEN). It has the shape
// of the server's Authenticator for the metrics route class.
type TokenAuthenticator struct {
	sum [sha256.Size]byte
}

// NewTokenAuthenticator returns an authenticator for token (not empty).
func NewTokenAuthenticator(token string) *TokenAuthenticator {
	return &TokenAuthenticator{sum: sha256.Sum256([]byte(token))}
}

// Authenticate reports whether r carries the token. The comparison takes
// the same time whatever the token sent (both sides are hashed to a fixed
// length first, then compared in constant time).
func (a *TokenAuthenticator) Authenticate(r *http.Request) (string, bool, error) {
	h := strings.TrimSpace(r.Header.Get("Authorization"))
	scheme, cred, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false, nil
	}
	sum := sha256.Sum256([]byte(strings.TrimSpace(cred)))
	if subtle.ConstantTimeCompare(sum[:], a.sum[:]) != 1 {
		return "", false, nil
	}
	return "metrics", true, nil
}
