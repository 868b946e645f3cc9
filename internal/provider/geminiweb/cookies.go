package geminiweb

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"time"
)

// Cookie names that matter to the protocol (docs/gemini-web-upstream.md §1.1).
const (
	cookiePSID   = "__Secure-1PSID"
	cookiePSIDTS = "__Secure-1PSIDTS"
)

// imageCookieNames are the .google.com-scoped cookies the generated-image
// hosts accept (docs/gemini-web-upstream.md §8); host-only cookies (__Host-1PLSID, LSID, OSID, ...) make
// them answer 403.
var imageCookieNames = []string{
	"HSID", "SSID", "APISID", "SAPISID", "__Secure-1PAPISID", "__Secure-3PAPISID",
	"SID", cookiePSID, "__Secure-3PSID", "GOOGLE_ABUSE_EXEMPTION", "NID",
	cookiePSIDTS, "__Secure-1PSIDRTS", "__Secure-3PSIDTS", "__Secure-3PSIDRTS",
	"SIDCC", "__Secure-1PSIDCC", "__Secure-3PSIDCC",
}

// AppPage holds the values scraped from the app page's WIZ_global_data
// (docs/gemini-web-upstream.md §1.2).
type AppPage struct {
	// AccessToken is SNlM0e, sent as the form field `at`. Empty on the
	// anonymous (logged-out) page.
	AccessToken string
	// BuildLabel is cfb2h, sent as the query parameter `bl`.
	BuildLabel string
	// SessionID is FdrFJe, sent as `f.sid`.
	SessionID string
	// Language is TuX5cc (`hl`).
	Language string
	// PushID is qKIAYe, the upload channel (header Push-ID).
	PushID string
}

// SignedIn reports whether the page belongs to a signed-in session.
func (a AppPage) SignedIn() bool { return a.AccessToken != "" }

var pageKeyRE = map[string]*regexp.Regexp{}

func init() {
	for _, k := range []string{"SNlM0e", "cfb2h", "FdrFJe", "TuX5cc", "qKIAYe"} {
		// The key's opening quote is optional: page fragments printed in
		// issues start mid-key (the 2023 SNlM0e fixture).
		pageKeyRE[k] = regexp.MustCompile(k + `"\s*:\s*"((?:[^"\\]|\\.)*)"`)
	}
}

// ScrapeAppPage extracts the WIZ_global_data values of an app page (or a
// fragment of one). Values are JSON-unescaped.
func ScrapeAppPage(page []byte) AppPage {
	get := func(k string) string {
		m := pageKeyRE[k].FindSubmatch(page)
		if m == nil {
			return ""
		}
		var s string
		if json.Unmarshal([]byte(`"`+string(m[1])+`"`), &s) != nil {
			return string(m[1])
		}
		return s
	}
	return AppPage{
		AccessToken: get("SNlM0e"),
		BuildLabel:  get("cfb2h"),
		SessionID:   get("FdrFJe"),
		Language:    get("TuX5cc"),
		PushID:      get("qKIAYe"),
	}
}

// jar is an account's cookie jar: the imported cookie string with every
// Set-Cookie of the upstream merged in, in first-seen order. Not safe for
// concurrent use (the account's mutex guards it).
type jar struct {
	names  []string
	values map[string]string
}

// parseJar parses a Cookie header value ("a=1; b=2"). Malformed pieces are
// skipped.
func parseJar(s string) *jar {
	j := &jar{values: map[string]string{}}
	for part := range strings.SplitSeq(s, ";") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			continue
		}
		j.set(k, strings.TrimSpace(v))
	}
	return j
}

func (j *jar) set(name, value string) {
	if _, ok := j.values[name]; !ok {
		j.names = append(j.names, name)
	}
	j.values[name] = value
}

func (j *jar) del(name string) {
	if _, ok := j.values[name]; !ok {
		return
	}
	delete(j.values, name)
	for i, n := range j.names {
		if n == name {
			j.names = append(j.names[:i], j.names[i+1:]...)
			break
		}
	}
}

func (j *jar) get(name string) string { return j.values[name] }

// header renders the jar as a Cookie header value; with only set, just
// those cookies.
func (j *jar) header(only ...string) string {
	var b strings.Builder
	for _, n := range j.names {
		if len(only) > 0 && !contains(only, n) {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(n + "=" + j.values[n])
	}
	return b.String()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// merge applies the Set-Cookie headers of a response: new values replace
// old ones, expired cookies are removed. It reports whether anything
// changed.
func (j *jar) merge(h http.Header, now time.Time) bool {
	changed := false
	for _, line := range h.Values("Set-Cookie") {
		c, err := http.ParseSetCookie(line)
		if err != nil || c.Name == "" {
			continue
		}
		if c.MaxAge < 0 || !c.Expires.IsZero() && c.Expires.Before(now) && c.Expires.Unix() > 0 {
			if _, ok := j.values[c.Name]; ok {
				j.del(c.Name)
				changed = true
			}
			continue
		}
		if old, ok := j.values[c.Name]; !ok || old != c.Value {
			j.set(c.Name, c.Value)
			changed = true
		}
	}
	return changed
}
