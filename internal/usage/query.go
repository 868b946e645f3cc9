package usage

import (
	"cmp"
	"context"
	"encoding/csv"
	"fmt"
	"io"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// Summary groupings (group_by).
const (
	GroupDay     = "day"
	GroupHour    = "hour"
	GroupModel   = "model"
	GroupKey     = "key"
	GroupAccount = "account"
	GroupStatus  = "status"
)

// Query bounds.
const (
	// MaxSummaryDays bounds a summary's date range.
	MaxSummaryDays = 366
	// MaxHourDays bounds a summary by hour, which reads the records
	// themselves rather than the daily roll-ups.
	MaxHourDays = 7
	// MaxHourRecords bounds the records a summary by hour reads.
	MaxHourRecords = 2_000_000
	// DefaultPage and MaxPage are the records a page of requests holds by
	// default and at most.
	DefaultPage = 50
	MaxPage     = 500
	// MaxExportRows bounds a CSV export.
	MaxExportRows = 100_000
)

// SummaryQuery asks for usage between two UTC dates, both included.
type SummaryQuery struct {
	From, To time.Time // midnight UTC of the first and last day
	GroupBy  string
	// Owners limits the summary to the requests of keys these users own
	// ("" = the built-in admin); nil: everyone's.
	Owners []string
}

// SummaryRow is one group of a summary. Percentiles are estimated from
// logarithmic latency histograms (store.Histogram): within about 12% of
// the exact value, for any range, from the daily roll-ups.
type SummaryRow struct {
	Group           string `json:"group"`
	Requests        int64  `json:"requests"`
	Errors          int64  `json:"errors"`
	InputTokens     int64  `json:"input_tokens"`
	OutputTokens    int64  `json:"output_tokens"`
	ReasoningTokens int64  `json:"reasoning_tokens"`
	LatencyP50MS    int64  `json:"latency_p50_ms"`
	LatencyP95MS    int64  `json:"latency_p95_ms"`
	TTFTP50MS       int64  `json:"ttft_p50_ms"`
}

// ParseSummaryQuery reads from, to (YYYY-MM-DD, UTC, both included; to
// defaults to today, from to six days before to) and group_by (default
// day) from q. Errors name the parameter.
func ParseSummaryQuery(q url.Values, now time.Time) (SummaryQuery, error) {
	today := now.UTC().Truncate(24 * time.Hour)
	sq := SummaryQuery{To: today, GroupBy: GroupDay}
	var err error
	if v := q.Get("to"); v != "" {
		if sq.To, err = time.Parse(time.DateOnly, v); err != nil {
			return sq, paramError("to", "to: want a date such as 2026-03-31")
		}
	}
	sq.From = sq.To.AddDate(0, 0, -6)
	if v := q.Get("from"); v != "" {
		if sq.From, err = time.Parse(time.DateOnly, v); err != nil {
			return sq, paramError("from", "from: want a date such as 2026-03-01")
		}
	}
	if sq.From.After(sq.To) {
		return sq, paramError("from", "from is after to")
	}
	days := int(sq.To.Sub(sq.From)/(24*time.Hour)) + 1
	if days > MaxSummaryDays {
		return sq, paramError("from", fmt.Sprintf("the range is %d days; the limit is %d", days, MaxSummaryDays))
	}
	if v := q.Get("group_by"); v != "" {
		sq.GroupBy = v
	}
	switch sq.GroupBy {
	case GroupDay, GroupModel, GroupKey, GroupAccount, GroupStatus:
	case GroupHour:
		if days > MaxHourDays {
			return sq, paramError("group_by", fmt.Sprintf("group_by=hour covers at most %d days; this range has %d", MaxHourDays, days))
		}
	default:
		return sq, paramError("group_by", "group_by: use day, hour, model, key, account or status")
	}
	return sq, nil
}

// Summary sums the usage q asks for by its grouping: from the daily
// roll-ups, except by hour, from the records. Rows by day or hour come in
// time order, the others by requests, most first.
func Summary(ctx context.Context, st store.UsageStore, q SummaryQuery) ([]SummaryRow, error) {
	groups := map[string]*store.UsageRollup{}
	add := func(g string, u store.UsageRollup) {
		if cur := groups[g]; cur != nil {
			cur.Add(u)
			return
		}
		groups[g] = &u
	}
	if q.GroupBy == GroupHour {
		if err := hourly(ctx, st, q, add); err != nil {
			return nil, err
		}
	} else {
		rollups, err := st.UsageRollups(ctx, q.From, q.To)
		if err != nil {
			return nil, fmt.Errorf("usage summary: %w", err)
		}
		for _, u := range rollups {
			if q.Owners == nil || slices.Contains(q.Owners, u.OwnerID) {
				add(groupOf(q.GroupBy, u), u)
			}
		}
	}
	rows := make([]SummaryRow, 0, len(groups))
	for g, u := range groups {
		rows = append(rows, SummaryRow{
			Group: g, Requests: u.Requests, Errors: u.Errors,
			InputTokens: u.InputTokens, OutputTokens: u.OutputTokens, ReasoningTokens: u.ReasoningTokens,
			LatencyP50MS: u.Latency.Quantile(0.5), LatencyP95MS: u.Latency.Quantile(0.95), TTFTP50MS: u.TTFT.Quantile(0.5),
		})
	}
	slices.SortFunc(rows, func(a, b SummaryRow) int {
		if q.GroupBy == GroupDay || q.GroupBy == GroupHour {
			return strings.Compare(a.Group, b.Group)
		}
		return cmp.Or(cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Group, b.Group))
	})
	return rows, nil
}

// groupOf is the group of roll-up u.
func groupOf(by string, u store.UsageRollup) string {
	switch by {
	case GroupModel:
		return u.Model
	case GroupKey:
		return u.KeyID
	case GroupAccount:
		return u.AccountID
	case GroupStatus:
		return strconv.Itoa(u.Status)
	}
	return u.Day
}

// hourly sums the records of q's range by hour (groups like
// "2026-03-10T14:00Z").
func hourly(ctx context.Context, st store.UsageStore, q SummaryQuery, add func(string, store.UsageRollup)) error {
	f := store.UsageFilter{From: q.From, To: q.To.AddDate(0, 0, 1), Owners: q.Owners, Limit: store.MaxUsagePage}
	read := 0
	for {
		page, err := st.ListUsage(ctx, f)
		if err != nil {
			return fmt.Errorf("usage summary by hour: %w", err)
		}
		for _, r := range page {
			var u store.UsageRollup
			u.AddRecord(r)
			add(r.Time.UTC().Truncate(time.Hour).Format("2006-01-02T15:04Z"), u)
		}
		read += len(page)
		if len(page) < f.Limit {
			return nil
		}
		if read >= MaxHourRecords {
			return fmt.Errorf("usage summary by hour: more than %d records in the range; use group_by=day", MaxHourRecords)
		}
		f.Before = page[len(page)-1].ID
	}
}

// RequestRow is one request as the dashboard lists it.
type RequestRow struct {
	Time            time.Time `json:"time"`
	RequestID       string    `json:"request_id"`
	KeyID           string    `json:"key_id"`
	AccountID       string    `json:"account_id"`
	Route           string    `json:"route"`
	Model           string    `json:"model"`
	ServedModel     string    `json:"served_model"`
	Status          int       `json:"status"`
	ErrorClass      string    `json:"error_class"`
	InputTokens     int64     `json:"input_tokens"`
	OutputTokens    int64     `json:"output_tokens"`
	ReasoningTokens int64     `json:"reasoning_tokens"`
	LatencyMS       int64     `json:"latency_ms"`
	TTFTMS          *int64    `json:"ttft_ms"` // null when no answer event came
	Stream          bool      `json:"stream"`
}

// RequestsPage is a page of requests, newest first; NextCursor (null on
// the last page) is the cursor parameter of the next page.
type RequestsPage struct {
	Data       []RequestRow `json:"data"`
	NextCursor *string      `json:"next_cursor"`
}

// ParseRequestsQuery reads the filters of the requests listing and the CSV
// export from q: limit, cursor (a next_cursor), key (a key id), model (as
// requested), status (an HTTP status, or "error" / "ok"). limit defaults
// to defaultLimit and is bounded by maxLimit.
func ParseRequestsQuery(q url.Values, defaultLimit, maxLimit int) (store.UsageFilter, error) {
	f := store.UsageFilter{KeyID: q.Get("key"), Model: q.Get("model"), Limit: defaultLimit}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return f, paramError("limit", "limit: want a positive number")
		}
		f.Limit = min(n, maxLimit)
	}
	if v := q.Get("cursor"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			return f, paramError("cursor", "cursor: pass the next_cursor of the previous page")
		}
		f.Before = n
	}
	switch v := q.Get("status"); v {
	case "":
	case "error", "ok":
		failed := v == "error"
		f.Errors = &failed
	default:
		n, err := strconv.Atoi(v)
		if err != nil || n < 100 || n > 599 {
			return f, paramError("status", "status: want an HTTP status (such as 429), error or ok")
		}
		f.Status = n
	}
	if len(f.Model) > store.MaxUsageModelBytes {
		f.Model = store.ClipUTF8(f.Model, store.MaxUsageModelBytes) // as stored
	}
	return f, nil
}

// Requests returns one page of the records f selects, newest first.
func Requests(ctx context.Context, st store.UsageStore, f store.UsageFilter) (RequestsPage, error) {
	limit := min(max(f.Limit, 1), MaxPage)
	f.Limit = limit + 1 // one more tells whether another page follows
	recs, err := st.ListUsage(ctx, f)
	if err != nil {
		return RequestsPage{}, fmt.Errorf("usage requests: %w", err)
	}
	page := RequestsPage{Data: make([]RequestRow, 0, min(len(recs), limit))}
	more := len(recs) > limit
	if more {
		recs = recs[:limit]
	}
	for _, r := range recs {
		page.Data = append(page.Data, row(r))
	}
	if more && len(recs) > 0 {
		c := strconv.FormatInt(recs[len(recs)-1].ID, 10)
		page.NextCursor = &c
	}
	return page, nil
}

func row(r store.UsageRecord) RequestRow {
	out := RequestRow{
		Time: r.Time, RequestID: r.RequestID, KeyID: r.KeyID, AccountID: r.AccountID, Route: r.Route,
		Model: r.Model, ServedModel: r.ServedModel, Status: r.Status, ErrorClass: r.ErrorClass,
		InputTokens: r.InputTokens, OutputTokens: r.OutputTokens, ReasoningTokens: r.ReasoningTokens,
		LatencyMS: r.LatencyMS, Stream: r.Stream,
	}
	if r.TTFTMS > 0 {
		ttft := r.TTFTMS
		out.TTFTMS = &ttft
	}
	return out
}

// csvHeader is the CSV export's first line.
var csvHeader = []string{"time", "request_id", "key_id", "account_id", "route", "model", "served_model", "status",
	"error_class", "input_tokens", "output_tokens", "reasoning_tokens", "latency_ms", "ttft_ms", "stream"}

// WriteCSV writes the records f selects, newest first, as CSV with a
// header line: at most f.Limit rows (bounded by MaxExportRows; 0 =
// MaxExportRows), read a page at a time. flush, when not nil, is called
// after each page so the export streams. Cells a spreadsheet would take
// for a formula (a client-chosen model name starting with =, +, - or @)
// are prefixed with a quote.
func WriteCSV(ctx context.Context, w io.Writer, st store.UsageStore, f store.UsageFilter, flush func()) error {
	left := f.Limit
	if left <= 0 || left > MaxExportRows {
		left = MaxExportRows
	}
	cw := csv.NewWriter(w)
	if err := cw.Write(csvHeader); err != nil {
		return err
	}
	for left > 0 {
		f.Limit = min(left, store.MaxUsagePage)
		recs, err := st.ListUsage(ctx, f)
		if err != nil {
			return fmt.Errorf("usage export: %w", err)
		}
		for _, r := range recs {
			ttft := ""
			if r.TTFTMS > 0 {
				ttft = strconv.FormatInt(r.TTFTMS, 10)
			}
			if err := cw.Write([]string{
				r.Time.UTC().Format(time.RFC3339Nano), r.RequestID, cell(r.KeyID), cell(r.AccountID), cell(r.Route),
				cell(r.Model), cell(r.ServedModel), strconv.Itoa(r.Status), cell(r.ErrorClass),
				strconv.FormatInt(r.InputTokens, 10), strconv.FormatInt(r.OutputTokens, 10), strconv.FormatInt(r.ReasoningTokens, 10),
				strconv.FormatInt(r.LatencyMS, 10), ttft, strconv.FormatBool(r.Stream),
			}); err != nil {
				return err
			}
		}
		cw.Flush()
		if err := cw.Error(); err != nil {
			return err
		}
		if flush != nil {
			flush()
		}
		left -= len(recs)
		if len(recs) < f.Limit {
			break
		}
		f.Before = recs[len(recs)-1].ID
	}
	return nil
}

// cell neutralises a value a spreadsheet would evaluate as a formula.
func cell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}
