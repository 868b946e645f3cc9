package genspark

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/httpx"
)

// initRecaptcha validates RECAPTCHA_PROXY_URL (docs/genspark-upstream.md §6). The README promises
// that a bare host:port works, so a value without scheme gets http://. The
// service is called directly (it is usually a local helper), with TLS
// verification on.
func (p *Provider) initRecaptcha(raw string) error {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil
	}
	if !strings.Contains(raw, "://") {
		raw = "http://" + raw
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("genspark: RECAPTCHA_PROXY_URL %q: want an http(s) URL", raw)
	}
	u.RawQuery, u.Fragment = "", ""
	p.recaptcha = strings.TrimRight(u.String(), "/") + "/genspark"
	tr, err := httpx.NewTransport("")
	if err != nil {
		return fmt.Errorf("genspark: token service transport: %w", err)
	}
	p.rcClient = &http.Client{Transport: tr}
	return nil
}

// recaptchaToken fetches a token for this account's cookie, or returns ""
// when no service is configured. A failing service fails the request: a
// body without a valid token is never sent in its place.
func (u *upstream) recaptchaToken(ctx context.Context) (string, error) {
	if u.p.recaptcha == "" {
		return "", nil
	}
	fail := func(detail string, cause error) error {
		return newErr(gw.CodeUpstream, "reCAPTCHA token service failed: "+detail, cause)
	}
	ctx, cancel := context.WithTimeout(ctx, u.p.cfg.RecaptchaTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.p.recaptcha, nil)
	if err != nil {
		return "", fail("bad request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Cookie", u.cookie)
	resp, err := u.p.rcClient.Do(req)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil && !isTimeout(cerr) {
			return "", ctxErr(cerr)
		}
		return "", fail("request error", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return "", fail("reading the answer", err)
	}
	if resp.StatusCode != http.StatusOK {
		return "", fail("HTTP "+strconv.Itoa(resp.StatusCode), excerptErr(body))
	}
	var ans struct {
		Code  json.RawMessage `json:"code"`
		Token json.RawMessage `json:"token"`
	}
	if err := json.Unmarshal(body, &ans); err != nil {
		return "", fail("answer is not JSON", excerptErr(body))
	}
	if code := strings.Trim(string(ans.Code), `" `); code != "200" {
		if code == "" {
			code = "missing"
		}
		return "", fail("code "+code, nil)
	}
	var token string
	if err := json.Unmarshal(ans.Token, &token); err != nil || strings.TrimSpace(token) == "" {
		return "", fail("empty token", nil)
	}
	return token, nil
}

func isTimeout(err error) bool { return errors.Is(err, context.DeadlineExceeded) }
