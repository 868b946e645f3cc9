package storetest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// usageTests are the suite's usage-accounting cases.
var usageTests = []struct {
	name string
	fn   func(t *testing.T, db DB)
}{
	{"UsageRecords", testUsageRecords},
	{"UsageFilters", testUsageFilters},
	{"UsagePages", testUsagePages},
	{"UsageRollups", testUsageRollups},
	{"UsageRollupOwners", testUsageRollupOwners},
	{"UsagePersists", testUsagePersists},
	{"UsagePrune", testUsagePrune},
	{"UsageInvalid", testUsageInvalid},
	{"UsageConcurrentWriters", testUsageConcurrentWriters},
}

var usageBase = time.Date(2026, 3, 10, 22, 0, 0, 123456000, time.UTC)

func usageRec(i int, key, model string, status int) store.UsageRecord {
	return store.UsageRecord{
		Time: usageBase.Add(time.Duration(i) * time.Minute), RequestID: fmt.Sprintf("req_%d", i),
		KeyID: key, AccountID: "acct_" + key, Route: "POST /v1/chat/completions", Model: model, ServedModel: model + "-served",
		Status: status, InputTokens: int64(10 + i), OutputTokens: int64(20 + i), ReasoningTokens: int64(i),
		LatencyMS: int64(100 * (i + 1)), TTFTMS: int64(10 * (i + 1)), Stream: i%2 == 0,
	}
}

func testUsageRecords(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	in := []store.UsageRecord{usageRec(0, "k1", "gpt-5.1", 200), usageRec(1, "k2", "claude", 502)}
	in[1].ErrorClass = "upstream_unavailable"
	in[1].TTFTMS = 0
	ok(t, s.AddUsage(ctx, in))
	got := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{}))
	if len(got) != 2 {
		t.Fatalf("ListUsage: %d records, want 2", len(got))
	}
	if got[0].ID <= got[1].ID || got[1].ID <= 0 {
		t.Fatalf("ids %d, %d: want positive, newest first", got[0].ID, got[1].ID)
	}
	for i, want := range []store.UsageRecord{in[1], in[0]} {
		want.ID = got[i].ID
		if got[i] != want {
			t.Errorf("record %d:\n got %+v\nwant %+v", i, got[i], want)
		}
	}
	if !got[0].Failed() || got[1].Failed() {
		t.Errorf("Failed: %v, %v; want true, false", got[0].Failed(), got[1].Failed())
	}
	// A model name a client sent is bounded; Time defaults to now.
	long := strings.Repeat("é", store.MaxUsageModelBytes) // 2 bytes each
	before := time.Now()
	ok(t, s.AddUsage(ctx, []store.UsageRecord{{Status: 400, Model: long, ErrorClass: "invalid_request"}}))
	r := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{Limit: 1}))[0]
	if len(r.Model) != store.MaxUsageModelBytes || !strings.HasPrefix(long, r.Model) {
		t.Errorf("long model stored as %d bytes, want the first %d", len(r.Model), store.MaxUsageModelBytes)
	}
	if !near(r.Time, before, time.Now()) {
		t.Errorf("default time %v, want now", r.Time)
	}
	if r.ID <= got[0].ID {
		t.Errorf("id %d after %d: ids must increase", r.ID, got[0].ID)
	}
}

func testUsageFilters(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	recs := []store.UsageRecord{
		usageRec(0, "k1", "m1", 200), usageRec(1, "k1", "m2", 429), usageRec(2, "k2", "m1", 200),
		usageRec(3, "k2", "m2", 200), usageRec(4, "k1", "m1", 500),
	}
	recs[3].ErrorClass = "upstream_transient" // failed mid-stream after a 200
	ok(t, s.AddUsage(ctx, recs))
	yes, no := true, false
	for _, tt := range []struct {
		name string
		f    store.UsageFilter
		want []string // request ids, newest first
	}{
		{"all", store.UsageFilter{}, []string{"req_4", "req_3", "req_2", "req_1", "req_0"}},
		{"key", store.UsageFilter{KeyID: "k1"}, []string{"req_4", "req_1", "req_0"}},
		{"model", store.UsageFilter{Model: "m2"}, []string{"req_3", "req_1"}},
		{"status", store.UsageFilter{Status: 200}, []string{"req_3", "req_2", "req_0"}},
		{"errors", store.UsageFilter{Errors: &yes}, []string{"req_4", "req_3", "req_1"}},
		{"successes", store.UsageFilter{Errors: &no}, []string{"req_2", "req_0"}},
		{"key and model", store.UsageFilter{KeyID: "k1", Model: "m1"}, []string{"req_4", "req_0"}},
		{"time range", store.UsageFilter{From: usageBase.Add(time.Minute), To: usageBase.Add(3 * time.Minute)}, []string{"req_2", "req_1"}},
		{"limit", store.UsageFilter{Limit: 2}, []string{"req_4", "req_3"}},
		{"no match", store.UsageFilter{KeyID: "k3"}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var ids []string
			for _, r := range must[[]store.UsageRecord](t)(s.ListUsage(ctx, tt.f)) {
				ids = append(ids, r.RequestID)
			}
			if fmt.Sprint(ids) != fmt.Sprint(tt.want) {
				t.Errorf("got %v, want %v", ids, tt.want)
			}
		})
	}
}

func testUsagePages(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	var recs []store.UsageRecord
	for i := range 25 {
		recs = append(recs, usageRec(i, "k1", "m", 200))
	}
	ok(t, s.AddUsage(ctx, recs[:10]))
	ok(t, s.AddUsage(ctx, recs[10:]))
	var (
		seen   []string
		before int64
	)
	for range 10 {
		page := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{Before: before, Limit: 7}))
		for _, r := range page {
			seen = append(seen, r.RequestID)
		}
		if len(page) < 7 {
			break
		}
		before = page[len(page)-1].ID
	}
	if len(seen) != 25 {
		t.Fatalf("paged through %d records, want 25: %v", len(seen), seen)
	}
	for i, id := range seen {
		if want := fmt.Sprintf("req_%d", 24-i); id != want {
			t.Fatalf("record %d is %s, want %s", i, id, want)
		}
	}
}

func testUsageRollups(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	// usageBase is 22:00 UTC: records 0..119 fall on 2026-03-10, the
	// rest on the 11th.
	var recs []store.UsageRecord
	for i := range 260 { // the second write is more than 100 records (SQL engines split it)
		status := 200
		if i%10 == 9 {
			status = 429
		}
		r := usageRec(i, "k1", "m1", status)
		r.LatencyMS, r.TTFTMS = 100, 10
		if i%2 == 1 {
			r.LatencyMS = 1000
			r.TTFTMS = 0 // no first event
		}
		recs = append(recs, r)
	}
	// Two writes add up in the same roll-up rows.
	ok(t, s.AddUsage(ctx, recs[:50]))
	ok(t, s.AddUsage(ctx, recs[50:]))
	got := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase, usageBase))
	byKey := map[store.UsageRollupKey]store.UsageRollup{}
	for _, u := range got {
		byKey[u.Key()] = u
	}
	want := map[store.UsageRollupKey]store.UsageRollup{}
	for _, r := range recs[:120] {
		k := store.UsageRollupKey{Day: "2026-03-10", KeyID: "k1", Model: "m1", AccountID: "acct_k1", Status: r.Status}
		u := want[k]
		u.Day, u.KeyID, u.Model, u.AccountID, u.Status = k.Day, k.KeyID, k.Model, k.AccountID, k.Status
		u.AddRecord(r)
		want[k] = u
	}
	if len(byKey) != len(want) {
		t.Fatalf("roll-ups of 2026-03-10: %d rows, want %d: %+v", len(byKey), len(want), got)
	}
	for k, w := range want {
		if byKey[k] != w {
			t.Errorf("roll-up %+v:\n got %+v\nwant %+v", k, byKey[k], w)
		}
	}
	ok200 := byKey[store.UsageRollupKey{Day: "2026-03-10", KeyID: "k1", Model: "m1", AccountID: "acct_k1", Status: 200}]
	if ok200.Requests != 108 || ok200.Latency.Count() != 108 || ok200.TTFT.Count() != 60 {
		t.Errorf("200 row: %d requests, %d latencies, %d TTFTs; want 108, 108, 60", ok200.Requests, ok200.Latency.Count(), ok200.TTFT.Count())
	}
	both := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase, usageBase.Add(24*time.Hour)))
	var n int64
	for _, u := range both {
		n += u.Requests
	}
	if n != 260 {
		t.Errorf("roll-ups of both days count %d requests, want 260", n)
	}
	if none := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase.AddDate(0, 0, 2), usageBase.AddDate(0, 0, 9))); len(none) != 0 {
		t.Errorf("roll-ups of later days: %+v", none)
	}
}

// testUsageRollupOwners: records without a key (the dashboard's
// playground) of two owners, otherwise alike, stay in two roll-up rows,
// each with its owner's sums.
func testUsageRollupOwners(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	var recs []store.UsageRecord
	for i, owner := range []string{"usr_a", "usr_b", "usr_a"} {
		r := usageRec(i, "", "m1", 200)
		r.OwnerID = owner
		recs = append(recs, r)
	}
	ok(t, s.AddUsage(ctx, recs[:2]))
	ok(t, s.AddUsage(ctx, recs[2:]))
	got := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase, usageBase))
	requests := map[string]int64{}
	for _, u := range got {
		requests[u.OwnerID] += u.Requests
	}
	if len(got) != 2 || requests["usr_a"] != 2 || requests["usr_b"] != 1 {
		t.Fatalf("roll-ups of two owners' keyless records: %+v", got)
	}
}

func testUsagePersists(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	ok(t, s.AddUsage(ctx, []store.UsageRecord{usageRec(0, "k1", "m1", 200)}))
	s = reopen(t, db, s)
	if got := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{})); len(got) != 1 || got[0].RequestID != "req_0" {
		t.Fatalf("after reopen: %+v", got)
	}
	if got := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase, usageBase)); len(got) != 1 || got[0].Requests != 1 || got[0].Latency.Count() != 1 {
		t.Fatalf("roll-ups after reopen: %+v", got)
	}
	ok(t, s.AddUsage(ctx, []store.UsageRecord{usageRec(1, "k1", "m1", 200)}))
	if got := must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase, usageBase)); len(got) != 1 || got[0].Requests != 2 || got[0].Latency.Count() != 2 {
		t.Fatalf("roll-ups after a second write: %+v", got)
	}
}

func testUsagePrune(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	day := 24 * time.Hour
	var recs []store.UsageRecord
	for i := range 4 {
		r := usageRec(i, "k1", "m1", 200)
		r.Time = usageBase.Add(time.Duration(i) * day)
		recs = append(recs, r)
	}
	ok(t, s.AddUsage(ctx, recs))
	cutoff := usageBase.Add(2 * day) // records 0 and 1 are older
	if n := must[int](t)(s.PruneUsage(ctx, cutoff)); n != 2 {
		t.Fatalf("pruned %d, want 2", n)
	}
	var ids []string
	for _, r := range must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{})) {
		ids = append(ids, r.RequestID)
	}
	if fmt.Sprint(ids) != "[req_3 req_2]" {
		t.Errorf("kept %v, want [req_3 req_2]", ids)
	}
	var days []string
	for _, u := range must[[]store.UsageRollup](t)(s.UsageRollups(ctx, usageBase.Add(-day), usageBase.Add(9*day))) {
		days = append(days, u.Day)
	}
	slices.Sort(days)
	if fmt.Sprint(days) != "[2026-03-12 2026-03-13]" {
		t.Errorf("roll-up days kept %v, want 2026-03-12 and 2026-03-13", days)
	}
	if n := must[int](t)(s.PruneUsage(ctx, cutoff)); n != 0 {
		t.Fatalf("pruned %d again, want 0", n)
	}
}

func testUsageInvalid(t *testing.T, db DB) {
	ctx := t.Context()
	s := open(t, db)
	err := s.AddUsage(ctx, []store.UsageRecord{usageRec(0, "k", "m", 200), {RequestID: "no status"}})
	wantErr(t, "AddUsage without a status", err, store.ErrInvalid)
	if got := must[[]store.UsageRecord](t)(s.ListUsage(ctx, store.UsageFilter{})); len(got) != 0 {
		t.Fatalf("a refused batch stored %d records", len(got))
	}
	ok(t, s.AddUsage(ctx, nil))
}

// testUsageConcurrentWriters: two stores over one database (two replicas)
// writing batches into the same roll-up rows at once lose no count and no
// histogram entry. Each batch touches the rows in a different order.
func testUsageConcurrentWriters(t *testing.T, db DB) {
	ctx := t.Context()
	stores := []store.Store{open(t, db), open(t, db)}
	const writers, batches, perBatch = 4, 8, 10 // per store
	var wg sync.WaitGroup
	for si, s := range stores {
		for w := range writers {
			wg.Go(func() {
				for b := range batches {
					models := []string{"m1", "m2"}
					if (si+w+b)%2 == 1 {
						models = []string{"m2", "m1"}
					}
					var recs []store.UsageRecord
					for i := range perBatch {
						r := usageRec(i, "k1", models[i%2], 200)
						r.Time = usageBase
						r.LatencyMS = int64(1 + (si*writers+w)*10)
						recs = append(recs, r)
					}
					if err := s.AddUsage(ctx, recs); err != nil {
						t.Errorf("store %d writer %d batch %d: %v", si, w, b, err)
						return
					}
				}
			})
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	const total = 2 * writers * batches * perBatch
	var requests, latencies, inputTokens int64
	var wantInput int64
	for i := range perBatch {
		wantInput += usageRec(i, "k1", "m", 200).InputTokens
	}
	wantInput *= 2 * writers * batches
	got := must[[]store.UsageRollup](t)(stores[1].UsageRollups(ctx, usageBase, usageBase))
	if len(got) != 2 {
		t.Fatalf("%d roll-up rows, want 2 (one per model): %+v", len(got), got)
	}
	for _, u := range got {
		if u.Requests != total/2 || u.Latency.Count() != total/2 {
			t.Errorf("roll-up %s: %d requests, %d latencies; want %d each", u.Model, u.Requests, u.Latency.Count(), total/2)
		}
		requests += u.Requests
		latencies += u.Latency.Count()
		inputTokens += u.InputTokens
	}
	if requests != total || latencies != total || inputTokens != wantInput {
		t.Errorf("roll-ups count %d requests, %d latencies, %d input tokens; want %d, %d, %d",
			requests, latencies, inputTokens, total, total, wantInput)
	}
	if n := len(must[[]store.UsageRecord](t)(stores[0].ListUsage(ctx, store.UsageFilter{Limit: store.MaxUsagePage}))); n != total {
		t.Errorf("%d records stored, want %d", n, total)
	}
}
