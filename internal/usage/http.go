package usage

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
	"github.com/sparkgw/spark/internal/reqctx"
	"github.com/sparkgw/spark/internal/route"
	"github.com/sparkgw/spark/internal/store"
)

// paramError is a 400 about one query parameter.
func paramError(param, msg string) error {
	return &gw.Error{Code: gw.CodeInvalidRequest, Param: param, Message: msg}
}

// HandlerOptions configure a Handler.
type HandlerOptions struct {
	Logger *slog.Logger
	Now    func() time.Time // the clock of the default date range; nil = time.Now
}

// Store is what the usage routes read: the records and roll-ups, and the
// users and keys that scope them.
type Store interface {
	store.UsageStore
	GetUser(ctx context.Context, id string) (store.User, error)
	GetAPIKey(ctx context.Context, id string) (store.APIKey, error)
}

// Handler serves the dashboard's usage routes over a usage store.
//
// Every route needs a dashboard session (route.Session) and shows the
// caller's usage only: the requests made with the keys they own (for the
// built-in admin also the environment's keys). An admin sees everyone's,
// or one user's with owner=<user id>. A key filter (key=<key id>) must
// name one of the caller's keys: another's is 404.
type Handler struct {
	st  Store
	log *slog.Logger
	now func() time.Time
}

// NewHandler returns the usage routes' handler.
func NewHandler(st Store, opts HandlerOptions) *Handler {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Handler{st: st, log: opts.Logger, now: opts.Now}
}

// Routes are GET /api/usage, /api/usage/requests and /api/usage/export.csv.
func (h *Handler) Routes() []route.Route {
	return []route.Route{
		{Pattern: "GET /api/usage", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.summary)},
		{Pattern: "GET /api/usage/requests", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.requests)},
		{Pattern: "GET /api/usage/export.csv", Class: route.Session, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.export)},
	}
}

// scope returns the owners whose usage the caller may read (nil: an
// admin reading everyone's), after checking the owner and key filters.
// The caller is the user the server's session authenticator let through.
func (h *Handler) scope(r *http.Request, keyID string) ([]string, error) {
	ctx := r.Context()
	u, err := h.st.GetUser(ctx, reqctx.KeyID(ctx))
	if errors.Is(err, store.ErrNotFound) {
		return nil, &gw.Error{Code: gw.CodeUnauthorized, Message: "Sign in first: this route needs a valid dashboard session."}
	}
	if err != nil {
		return nil, gw.Wrap(gw.CodeInternal, err, "the user store failed")
	}
	var owners []string
	owner := r.URL.Query().Get("owner")
	switch {
	case u.Role != store.RoleAdmin:
		if owner != "" && owner != u.ID {
			return nil, notFound("No such user.")
		}
		owners = u.OwnerIDs()
	case owner != "":
		o, err := h.st.GetUser(ctx, owner)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("No such user.")
		}
		if err != nil {
			return nil, gw.Wrap(gw.CodeInternal, err, "the user store failed")
		}
		owners = o.OwnerIDs()
	}
	if keyID == "" || owners == nil {
		return owners, nil
	}
	keyOwner := "" // API_SECRET keys ("env:N") are the built-in admin's
	if !strings.HasPrefix(keyID, "env:") {
		k, err := h.st.GetAPIKey(ctx, keyID)
		if errors.Is(err, store.ErrNotFound) {
			return nil, notFound("No such key.")
		}
		if err != nil {
			return nil, gw.Wrap(gw.CodeInternal, err, "the key store failed")
		}
		keyOwner = k.OwnerID
	}
	if !slices.Contains(owners, keyOwner) {
		return nil, notFound("No such key.")
	}
	return owners, nil
}

func notFound(msg string) error {
	return &gw.Error{Code: gw.CodeNotFound, Param: "key", Message: msg}
}

func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	q, err := ParseSummaryQuery(r.URL.Query(), h.now())
	if err != nil {
		wire.WriteOpenAIError(w, err)
		return
	}
	if q.Owners, err = h.scope(r, ""); err != nil {
		h.refuse(w, r, err)
		return
	}
	rows, err := Summary(r.Context(), h.st, q)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, struct {
		Data []SummaryRow `json:"data"`
	}{rows}, `{"data":[]}`)
}

func (h *Handler) requests(w http.ResponseWriter, r *http.Request) {
	f, err := ParseRequestsQuery(r.URL.Query(), DefaultPage, MaxPage)
	if err != nil {
		wire.WriteOpenAIError(w, err)
		return
	}
	if f.Owners, err = h.scope(r, f.KeyID); err != nil {
		h.refuse(w, r, err)
		return
	}
	page, err := Requests(r.Context(), h.st, f)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	wire.WriteJSON(w, http.StatusOK, page, `{"data":[],"next_cursor":null}`)
}

func (h *Handler) export(w http.ResponseWriter, r *http.Request) {
	f, err := ParseRequestsQuery(r.URL.Query(), MaxExportRows, MaxExportRows)
	if err != nil {
		wire.WriteOpenAIError(w, err)
		return
	}
	if f.Owners, err = h.scope(r, f.KeyID); err != nil {
		h.refuse(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="usage.csv"`)
	w.Header().Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	err = WriteCSV(r.Context(), w, h.st, f, func() { _ = rc.Flush() })
	if err != nil && !errors.Is(err, context.Canceled) {
		// The header is sent: the export ends short, and the log says why.
		h.log.LogAttrs(r.Context(), slog.LevelError, "usage export failed", slog.Any("error", err))
	}
}

// refuse answers a scope error: its own status, or a logged 500.
func (h *Handler) refuse(w http.ResponseWriter, r *http.Request, err error) {
	if gw.ErrorCode(err) == gw.CodeInternal {
		h.fail(w, r, err)
		return
	}
	wire.WriteOpenAIError(w, err)
}

// fail answers a store failure with a 500 and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelError, "usage query failed", slog.Any("error", err))
	wire.WriteOpenAIError(w, gw.Wrap(gw.CodeInternal, err, "the usage store failed"))
}
