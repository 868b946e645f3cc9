package usage

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/sparkgw/spark/internal/api/wire"
	"github.com/sparkgw/spark/internal/gw"
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

// Handler serves the dashboard's usage routes over a usage store.
//
// Every route needs an admin's dashboard session (route.Admin): the rows
// are not yet filtered by owner, so only admins read them until users own
// keys and accounts, which will scope them and open the routes to every
// signed-in user (route.Session).
type Handler struct {
	st  store.UsageStore
	log *slog.Logger
	now func() time.Time
}

// NewHandler returns the usage routes' handler.
func NewHandler(st store.UsageStore, opts HandlerOptions) *Handler {
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
		{Pattern: "GET /api/usage", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.summary)},
		{Pattern: "GET /api/usage/requests", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.requests)},
		{Pattern: "GET /api/usage/export.csv", Class: route.Admin, Dialect: route.OpenAI, Handler: http.HandlerFunc(h.export)},
	}
}

func (h *Handler) summary(w http.ResponseWriter, r *http.Request) {
	q, err := ParseSummaryQuery(r.URL.Query(), h.now())
	if err != nil {
		wire.WriteOpenAIError(w, err)
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

// fail answers a store failure with a 500 and logs it.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	h.log.LogAttrs(r.Context(), slog.LevelError, "usage query failed", slog.Any("error", err))
	wire.WriteOpenAIError(w, gw.Wrap(gw.CodeInternal, err, "the usage store failed"))
}
