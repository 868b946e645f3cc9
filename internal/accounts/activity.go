package accounts

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// Recorder receives the usage record of every finished request (the
// server's usage recorder); Record must not block.
type Recorder interface {
	Record(rec store.UsageRecord) bool
}

// activityHours is the window of requests_24h and errors_24h, counted in
// hourly buckets: a request leaves the count between 23 and 24 hours
// after it ended.
const activityHours = 24

// MaxActivitySeed bounds the usage records Seed reads at start.
const MaxActivitySeed = 100_000

// Stats is an account's recent activity.
type Stats struct {
	Requests, Errors int64     // in the last 24 hours
	LastUsed         time.Time // when a request it served last ended (zero: not since the seed)
}

// Activity counts each account's requests and errors of the last 24
// hours and when it was last used, from the usage records of finished
// requests. It sits in front of the usage recorder (Next) and is seeded
// from the stored records at start, so the counts survive a restart. It
// is safe for concurrent use.
type Activity struct {
	// Next receives every record after it is counted (nil: none).
	Next Recorder

	mu       sync.Mutex
	accounts map[string]*accountActivity
}

type accountActivity struct {
	hours    [activityHours]hourCount
	lastUsed time.Time
}

type hourCount struct {
	hour             int64 // unix hour the counts are of
	requests, errors int64
}

// NewActivity returns an Activity forwarding to next (may be nil).
func NewActivity(next Recorder) *Activity {
	return &Activity{Next: next, accounts: map[string]*accountActivity{}}
}

// Record counts rec against its account and hands it to Next; it reports
// what Next reports (true without Next).
func (a *Activity) Record(rec store.UsageRecord) bool {
	a.count(rec)
	if a.Next != nil {
		return a.Next.Record(rec)
	}
	return true
}

func (a *Activity) count(rec store.UsageRecord) {
	if rec.AccountID == "" {
		return
	}
	at := rec.Time
	if at.IsZero() {
		at = time.Now()
	}
	h := at.Unix() / 3600
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.accounts[rec.AccountID]
	if acc == nil {
		acc = &accountActivity{}
		a.accounts[rec.AccountID] = acc
	}
	b := &acc.hours[h%activityHours]
	if b.hour != h {
		if b.hour > h {
			return // older than the bucket's current hour: outside the window
		}
		*b = hourCount{hour: h}
	}
	b.requests++
	if rec.Failed() {
		b.errors++
	}
	if at.After(acc.lastUsed) {
		acc.lastUsed = at
	}
}

// Stats returns the activity of the account with id at now (zero for a
// nil Activity).
func (a *Activity) Stats(id string, now time.Time) Stats {
	if a == nil {
		return Stats{}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	acc := a.accounts[id]
	if acc == nil {
		return Stats{}
	}
	cur := now.Unix() / 3600
	s := Stats{LastUsed: acc.lastUsed}
	for _, b := range acc.hours {
		if b.hour > cur-activityHours && b.hour <= cur {
			s.Requests += b.requests
			s.Errors += b.errors
		}
	}
	return s
}

// Seed counts the stored usage records of the 24 hours before now (at
// most MaxActivitySeed of them, newest first), for a fresh Activity at
// start.
func (a *Activity) Seed(ctx context.Context, st store.UsageStore, now time.Time) error {
	f := store.UsageFilter{From: now.Add(-activityHours * time.Hour), Limit: store.MaxUsagePage}
	read := 0
	for read < MaxActivitySeed {
		page, err := st.ListUsage(ctx, f)
		if err != nil {
			return fmt.Errorf("accounts: seed activity: %w", err)
		}
		for _, rec := range page {
			a.count(rec)
		}
		read += len(page)
		if len(page) < f.PageLimit() {
			break
		}
		f.Before = page[len(page)-1].ID
	}
	return nil
}
