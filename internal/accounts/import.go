package accounts

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sparkgw/spark/internal/dashapi"

	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/store"
)

// Import statuses.
const (
	StatusCreated   = "created"
	StatusUpdated   = "updated"
	StatusUnchanged = "unchanged"
	StatusInvalid   = "invalid"
)

// importRow is one line of an import's answer; nothing of the cookie.
type importRow struct {
	Index  int     `json:"index"`
	Status string  `json:"status"`
	ID     *string `json:"id"`
	Reason *string `json:"reason"`
}

// importAccounts is POST /api/accounts/import: {"provider","cookies":[...]}
// or text/plain with one cookie per line and the provider in the query
// (?provider=). Each cookie is created as the caller's account, updates
// the caller's own account with the same login (updated, or unchanged for
// the same cookie), or is invalid with the reason; a login that another
// user's account holds is invalid without saying whose. The answer has
// one row per cookie, in order, and nothing of the cookies.
func (h *Handler) importAccounts(w http.ResponseWriter, r *http.Request) {
	c, err := h.caller(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	provider, cookies, err := readImport(r)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if err := h.knownProvider(provider); err != nil {
		h.fail(w, r, err)
		return
	}
	if len(cookies) == 0 {
		h.fail(w, r, dashapi.BadRequest("missing_cookies", "Send at least one cookie."))
		return
	}
	if len(cookies) > MaxImport {
		h.fail(w, r, dashapi.BadRequest("too_many_cookies", fmt.Sprintf("At most %d cookies per import.", MaxImport)))
		return
	}
	rows, changed, err := h.importAll(r.Context(), c, provider, cookies)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if changed {
		h.reload(r.Context())
	}
	h.audit(r, c, ActionImport, "")
	dashapi.WriteJSON(w, http.StatusOK, map[string]any{"data": rows})
}

// readImport reads the provider and the cookies of an import: JSON, or
// text/plain with one cookie per line and ?provider=.
func readImport(r *http.Request) (string, []string, error) {
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if ct != "text/plain" {
		var in struct {
			Provider string   `json:"provider"`
			Cookies  []string `json:"cookies"`
		}
		if err := dashapi.DecodeJSON(r, &in); err != nil {
			return "", nil, err
		}
		return in.Provider, in.Cookies, nil
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return "", nil, &dashapi.Error{Status: http.StatusRequestEntityTooLarge, Type: gw.CodeTooLarge, Code: "too_large", Message: "Request body too large."}
		}
		return "", nil, dashapi.BadRequest("invalid_body", "The body could not be read.")
	}
	var cookies []string
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 4096), MaxImportBytes)
	for sc.Scan() {
		if line := strings.TrimSpace(sc.Text()); line != "" {
			cookies = append(cookies, line)
		}
	}
	return r.URL.Query().Get("provider"), cookies, nil
}

// importAll imports cookies for provider as the caller's, in order.
func (h *Handler) importAll(ctx context.Context, c caller, provider string, cookies []string) ([]importRow, bool, error) {
	existing, err := h.opts.Store.ListAccounts(ctx, store.AccountFilter{Provider: provider})
	if err != nil {
		return nil, false, fmt.Errorf("accounts: import: %w", err)
	}
	byLogin := map[string]store.Account{}
	for _, a := range existing {
		if id, err := h.opts.Rules.Identity(provider, a.Cookie); err == nil {
			byLogin[id] = a
		}
	}
	rows := make([]importRow, len(cookies))
	changed := false
	for i, raw := range cookies {
		row := importRow{Index: i, Status: StatusInvalid}
		reason := func(msg string) { row.Reason = &msg }
		id := func(a store.Account) { v := a.ID; row.ID = &v }
		if len(raw) > MaxCookieBytes {
			reason(fmt.Sprintf("the cookie is longer than %d bytes", MaxCookieBytes))
			rows[i] = row
			continue
		}
		norm, err := h.opts.Rules.Normalize(provider, raw)
		var login string
		if err == nil {
			login, err = h.opts.Rules.Identity(provider, norm)
		}
		switch {
		case err != nil:
			var ce *store.CredentialError
			if errors.As(err, &ce) {
				reason(ce.Error())
			} else {
				reason("the cookie is not valid")
			}
		default:
			cur, found := byLogin[login]
			switch {
			case found && !cur.OwnedBy(c.owners()):
				reason("this login is already registered")
			case found && cur.Cookie == norm:
				row.Status = StatusUnchanged
				id(cur)
			case found:
				if err := h.opts.Pool.UpdateCookie(ctx, cur.ID, norm); err != nil {
					if ctx.Err() != nil {
						return nil, changed, ctx.Err()
					}
					h.log.Warn("import: cookie not updated", "account_id", cur.ID, "error", err)
					reason("the account could not be updated")
					break
				}
				cur.Cookie = norm
				byLogin[login] = cur
				row.Status = StatusUpdated
				id(cur)
				changed = true
			default:
				a, err := h.opts.Store.CreateAccount(ctx, store.Account{Provider: provider, Cookie: norm, OwnerID: c.ID})
				switch {
				case errors.Is(err, store.ErrConflict):
					reason("this login is already registered")
				case err != nil:
					if ctx.Err() != nil {
						return nil, changed, ctx.Err()
					}
					h.log.Warn("import: account not created", "error", err)
					reason("the account could not be created")
				default:
					byLogin[login] = a
					row.Status = StatusCreated
					id(a)
					changed = true
				}
			}
		}
		rows[i] = row
	}
	return rows, changed, nil
}
