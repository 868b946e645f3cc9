package files

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/store"
)

// List page sizes: OpenAI's limit is 1 to 10,000 (default 10,000),
// Anthropic's 1 to 1,000 (default 20).
const (
	maxOpenAIPage       = 10000
	maxAnthropicPage    = 1000
	defaultAnthropicPag = 20
)

// anthropicPagePrefix starts the opaque next_page cursors this handler
// mints ("page_" + the id of the page's last file), as Anthropic's do.
const anthropicPagePrefix = "page_"

// maxListIDs bounds Anthropic's ids filter (its API takes at most 100).
const maxListIDs = 100

// list serves GET /v1/files.
func (h *Handler) list(w http.ResponseWriter, r *http.Request) error {
	q := r.URL.Query()
	word := wording(r)
	anth := isAnthropic(r)
	if anth {
		if ids := append(q["ids[]"], q["ids"]...); len(ids) > 0 || q.Get("scope_id") != "" {
			return h.listSelected(w, r, ids)
		}
	}
	f := store.FileFilter{Limit: maxOpenAIPage}
	maxPage := maxOpenAIPage
	if anth {
		f.Limit, maxPage = defaultAnthropicPag, maxAnthropicPage
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPage {
			return word("limit", "Invalid 'limit': expected an integer from 1 to %d.", maxPage)
		}
		f.Limit = n
	}
	cursorParam := "after"
	if anth {
		f.After, f.Before = q.Get("after_id"), q.Get("before_id")
		cursorParam = "after_id"
		if page := q.Get("page"); page != "" {
			id, ok := strings.CutPrefix(page, anthropicPagePrefix)
			if !ok || f.After != "" || f.Before != "" {
				return word("page", "Invalid 'page': pass a next_page value of a previous list, without after_id or before_id.")
			}
			f.After, cursorParam = id, "page"
		}
		if f.After != "" && f.Before != "" {
			return word("before_id", "Pass at most one of 'after_id' and 'before_id'.")
		}
		if f.Before != "" {
			cursorParam = "before_id"
		}
	} else {
		f.After, f.Purpose = q.Get("after"), q.Get("purpose")
		switch q.Get("order") {
		case "", "desc":
		case "asc":
			f.Ascending = true
		default:
			return word("order", "Invalid 'order': expected 'asc' or 'desc'.")
		}
	}
	files, more, err := h.st.ListFiles(r.Context(), ownerOf(r), f)
	if errors.Is(err, store.ErrNotFound) {
		e := word(cursorParam, "Invalid '%s': no such file in this list.", cursorParam)
		e.Cause = err
		return e
	}
	if err != nil {
		return storeError(r, "", err)
	}
	data := make([]any, len(files))
	for i, file := range files {
		data[i] = fileObject(r, file)
	}
	var first, last *string
	if len(files) > 0 {
		first, last = &files[0].ID, &files[len(files)-1].ID
	}
	if !anth {
		writeJSON(w, r, http.StatusOK, openAIList{Object: "list", Data: data, HasMore: more, FirstID: first, LastID: last})
		return nil
	}
	page := anthropicList{Data: data, HasMore: more, FirstID: first, LastID: last}
	if more && f.Before == "" {
		next := anthropicPagePrefix + *last
		page.NextPage = &next
	}
	writeJSON(w, r, http.StatusOK, page)
	return nil
}

// listSelected serves an Anthropic list filtered by ids (the owner's
// current files among them, in the order given, one page) or by scope_id
// (no file of this gateway belongs to a scope: an empty page).
func (h *Handler) listSelected(w http.ResponseWriter, r *http.Request, ids []string) error {
	if q := r.URL.Query(); q.Get("limit") != "" || q.Get("page") != "" {
		return wire.InvalidField("ids", "'ids' cannot be combined with 'page' or 'limit'")
	}
	if len(ids) > maxListIDs {
		return wire.InvalidField("ids", "at most %d ids", maxListIDs)
	}
	data := []any{}
	var first, last *string
	if r.URL.Query().Get("scope_id") == "" {
		seen := map[string]bool{}
		for _, id := range ids {
			if seen[id] || len(id) > wire.MaxFileIDBytes {
				continue
			}
			seen[id] = true
			f, err := h.st.GetFile(r.Context(), ownerOf(r), id)
			if errors.Is(err, store.ErrNotFound) {
				continue // absent ids are left out, as Anthropic does
			}
			if err != nil {
				return storeError(r, id, err)
			}
			data = append(data, fileObject(r, f))
			if first == nil {
				first = &f.ID
			}
			last = &f.ID
		}
	}
	writeJSON(w, r, http.StatusOK, anthropicList{Data: data, FirstID: first, LastID: last})
	return nil
}
