package store

import (
	"context"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// UsageStore keeps one record per client request (never a prompt or an
// answer) and daily roll-ups of them, so that a summary over the whole
// retention reads the roll-ups rather than every record. Implementations
// are safe for concurrent use.
type UsageStore interface {
	// AddUsage stores recs (their ID is assigned; Time defaults to now)
	// and adds them to the daily roll-ups, all in one transaction.
	AddUsage(ctx context.Context, recs []UsageRecord) error

	// ListUsage returns up to f.Limit records matching f, newest first
	// (highest ID first). f.Limit <= 0 or above MaxUsagePage reads
	// MaxUsagePage.
	ListUsage(ctx context.Context, f UsageFilter) ([]UsageRecord, error)

	// UsageRollups returns the daily roll-ups of the UTC days from the
	// day of from to the day of to, both included, in no set order.
	UsageRollups(ctx context.Context, from, to time.Time) ([]UsageRollup, error)

	// PruneUsage removes the records that ended before cutoff and the
	// roll-ups of the days before cutoff's UTC day, and returns how many
	// records it removed.
	PruneUsage(ctx context.Context, cutoff time.Time) (int, error)
}

// MaxUsagePage bounds the records one ListUsage call returns.
const MaxUsagePage = 1000

// MaxUsageModelBytes bounds UsageRecord.Model and ServedModel: the model
// name a client sent is stored cut to this length.
const MaxUsageModelBytes = 128

// UsageRecord is the account of one client request.
type UsageRecord struct {
	ID          int64     // assigned by the store; increases with every record
	Time        time.Time // when the request ended
	RequestID   string    // the X-Request-Id header of the answer
	KeyID       string    // the client API key ("" when none authenticated the request)
	OwnerID     string    // the user who owns the key ("" = the built-in admin, or no key)
	AccountID   string    // the upstream account that served it ("" when none did)
	Route       string    // the route pattern ("POST /v1/chat/completions")
	Model       string    // as the client asked, cut to MaxUsageModelBytes
	ServedModel string    // the catalog model the upstream was asked for
	Status      int       // HTTP status of the answer (499: the client went away)
	ErrorClass  string    // the gateway's error code (gw.Code), "" for a success
	// Token counts as the gateway reports them to the client (estimates
	// where the upstream reports none).
	InputTokens, OutputTokens, ReasoningTokens int64
	LatencyMS                                  int64 // from the request's arrival to the end of the answer
	TTFTMS                                     int64 // to the first answer event; 0 when there was none
	Stream                                     bool  // answered as server-sent events
}

// Failed reports whether the request counts as an error: an error status,
// or an error class (an answer stream that failed after a 200).
func (r UsageRecord) Failed() bool { return r.Status >= 400 || r.ErrorClass != "" }

// UsageFilter selects usage records. Zero fields select everything.
type UsageFilter struct {
	Before int64  // only records with an ID below this (a page cursor)
	KeyID  string // only this key's
	// Owners selects the records of keys owned by these users ("" = the
	// built-in admin); nil selects every owner's.
	Owners []string
	Model  string // only those that asked for this model
	Status int    // only those with this HTTP status
	// Errors selects failed requests (true) or successful ones (false);
	// nil selects both.
	Errors   *bool
	From, To time.Time // only records that ended in [From, To)
	Limit    int
}

// Match reports whether r passes f (engines without a query language use
// it; SQL engines translate f).
func (f UsageFilter) Match(r UsageRecord) bool {
	switch {
	case f.Before > 0 && r.ID >= f.Before,
		f.KeyID != "" && r.KeyID != f.KeyID,
		f.Owners != nil && !contains(f.Owners, r.OwnerID),
		f.Model != "" && r.Model != f.Model,
		f.Status != 0 && r.Status != f.Status,
		f.Errors != nil && r.Failed() != *f.Errors,
		!f.From.IsZero() && r.Time.Before(NormTime(f.From)),
		!f.To.IsZero() && !r.Time.Before(NormTime(f.To)):
		return false
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// PageLimit is f.Limit bounded to (0, MaxUsagePage].
func (f UsageFilter) PageLimit() int {
	if f.Limit <= 0 || f.Limit > MaxUsagePage {
		return MaxUsagePage
	}
	return f.Limit
}

// UsageRollup is the sum of one UTC day's records with the same key,
// requested model, account and status.
type UsageRollup struct {
	Day       string // YYYY-MM-DD (UTC)
	OwnerID   string
	KeyID     string
	Model     string
	AccountID string
	Status    int

	Requests, Errors                           int64
	InputTokens, OutputTokens, ReasoningTokens int64
	Latency                                    Histogram // of LatencyMS
	TTFT                                       Histogram // of TTFTMS, for the records that had a first event
}

// UsageRollupKey identifies a roll-up row.
type UsageRollupKey struct {
	Day, OwnerID, KeyID, Model, AccountID string
	Status                                int
}

// Key returns u's identity.
func (u UsageRollup) Key() UsageRollupKey {
	return UsageRollupKey{u.Day, u.OwnerID, u.KeyID, u.Model, u.AccountID, u.Status}
}

// Add adds o's sums to u (same key).
func (u *UsageRollup) Add(o UsageRollup) {
	u.Requests += o.Requests
	u.Errors += o.Errors
	u.InputTokens += o.InputTokens
	u.OutputTokens += o.OutputTokens
	u.ReasoningTokens += o.ReasoningTokens
	u.Latency.Merge(&o.Latency)
	u.TTFT.Merge(&o.TTFT)
}

// AddRecord adds one record to u.
func (u *UsageRollup) AddRecord(r UsageRecord) {
	u.Requests++
	if r.Failed() {
		u.Errors++
	}
	u.InputTokens += r.InputTokens
	u.OutputTokens += r.OutputTokens
	u.ReasoningTokens += r.ReasoningTokens
	u.Latency.Add(r.LatencyMS)
	if r.TTFTMS > 0 {
		u.TTFT.Add(r.TTFTMS)
	}
}

// UsageDay is the roll-up day of t: its UTC date, YYYY-MM-DD.
func UsageDay(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// RollUp sums recs by roll-up key, in the order keys first appear. Engines
// add the result to their stored roll-ups.
func RollUp(recs []UsageRecord) []UsageRollup {
	idx := map[UsageRollupKey]int{}
	var out []UsageRollup
	for _, r := range recs {
		k := UsageRollupKey{UsageDay(r.Time), r.OwnerID, r.KeyID, r.Model, r.AccountID, r.Status}
		i, ok := idx[k]
		if !ok {
			i = len(out)
			idx[k] = i
			out = append(out, UsageRollup{Day: k.Day, OwnerID: k.OwnerID, KeyID: k.KeyID, Model: k.Model, AccountID: k.AccountID, Status: k.Status})
		}
		out[i].AddRecord(r)
	}
	return out
}

// PrepareUsage completes records about to be stored: Time defaulted to now
// and normalised, model names bounded, negative numbers zeroed. It returns
// ErrInvalid for a record without a status.
func PrepareUsage(recs []UsageRecord, now time.Time) ([]UsageRecord, error) {
	out := make([]UsageRecord, len(recs))
	for i, r := range recs {
		if r.Status <= 0 {
			return nil, fmt.Errorf("%w: usage record %d has no status", ErrInvalid, i)
		}
		if r.Time.IsZero() {
			r.Time = now
		}
		r.Time = NormTime(r.Time)
		r.Model = ClipUTF8(r.Model, MaxUsageModelBytes)
		r.ServedModel = ClipUTF8(r.ServedModel, MaxUsageModelBytes)
		r.InputTokens, r.OutputTokens, r.ReasoningTokens = max(r.InputTokens, 0), max(r.OutputTokens, 0), max(r.ReasoningTokens, 0)
		r.LatencyMS, r.TTFTMS = max(r.LatencyMS, 0), max(r.TTFTMS, 0)
		out[i] = r
	}
	return out, nil
}

// ClipUTF8 cuts s to at most n bytes on a rune boundary.
func ClipUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && s[n]&0xC0 == 0x80 {
		n--
	}
	return s[:n]
}

// HistogramBuckets is the number of buckets of a latency Histogram.
const HistogramBuckets = 64

// histogramBase is the ratio between consecutive bucket bounds: a
// percentile read from a Histogram is within about 12% of the exact one.
const histogramBase = 1.25

// Histogram counts durations in milliseconds in logarithmic buckets:
// bucket 0 holds 0 ms, bucket i ≥ 1 holds [1.25^(i-1), 1.25^i) ms, the
// last bucket everything above (about 12 days). Roll-ups keep one per row,
// so that percentiles over any number of days come from summing them.
type Histogram [HistogramBuckets]int64

// bucket returns the bucket of ms.
func bucket(ms int64) int {
	if ms <= 0 {
		return 0
	}
	i := 1 + int(math.Floor(math.Log(float64(ms))/math.Log(histogramBase)+1e-9))
	return min(max(i, 1), HistogramBuckets-1)
}

// Add counts one duration of ms milliseconds.
func (h *Histogram) Add(ms int64) { h[bucket(ms)]++ }

// Merge adds o's counts to h.
func (h *Histogram) Merge(o *Histogram) {
	for i := range h {
		h[i] += o[i]
	}
}

// Count is the number of durations counted.
func (h *Histogram) Count() int64 {
	var n int64
	for _, c := range h {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0 < q ≤ 1) in milliseconds: the
// geometric middle of the bucket holding it (0 for an empty histogram).
func (h *Histogram) Quantile(q float64) int64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(n)))
	rank = min(max(rank, 1), n)
	var seen int64
	for i, c := range h {
		seen += c
		if seen < rank {
			continue
		}
		if i == 0 {
			return 0
		}
		lo := math.Pow(histogramBase, float64(i-1))
		return int64(math.Round(lo * math.Sqrt(histogramBase)))
	}
	return 0
}

// String encodes h for storage: the counts, comma-separated, trailing
// zero buckets left out.
func (h *Histogram) String() string {
	last := len(h) - 1
	for last >= 0 && h[last] == 0 {
		last--
	}
	var b strings.Builder
	for i := 0; i <= last; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(strconv.FormatInt(h[i], 10))
	}
	return b.String()
}

// ParseHistogram decodes the form String writes.
func ParseHistogram(s string) (Histogram, error) {
	var h Histogram
	if s == "" {
		return h, nil
	}
	i := 0
	for part := range strings.SplitSeq(s, ",") {
		if i >= len(h) {
			return h, fmt.Errorf("store: histogram has more than %d buckets", len(h))
		}
		n, err := strconv.ParseInt(part, 10, 64)
		if err != nil || n < 0 {
			return h, fmt.Errorf("store: histogram bucket %d: %q", i, part)
		}
		h[i] = n
		i++
	}
	return h, nil
}
