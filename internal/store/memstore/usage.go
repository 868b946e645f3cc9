package memstore

import (
	"context"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// usage is the in-memory usage data; guarded by Store.mu.
type usage struct {
	seq     int64
	records []store.UsageRecord // oldest first
	rollups map[store.UsageRollupKey]*store.UsageRollup
}

// AddUsage implements [store.UsageStore].
func (s *Store) AddUsage(_ context.Context, recs []store.UsageRecord) error {
	if len(recs) == 0 {
		return nil
	}
	recs, err := store.PrepareUsage(recs, s.now())
	if err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u := &s.usage
	if u.rollups == nil {
		u.rollups = map[store.UsageRollupKey]*store.UsageRollup{}
	}
	for _, r := range recs {
		u.seq++
		r.ID = u.seq
		u.records = append(u.records, r)
	}
	for _, ru := range store.RollUp(recs) {
		if cur := u.rollups[ru.Key()]; cur != nil {
			cur.Add(ru)
		} else {
			u.rollups[ru.Key()] = &ru
		}
	}
	return nil
}

// ListUsage implements [store.UsageStore].
func (s *Store) ListUsage(_ context.Context, f store.UsageFilter) ([]store.UsageRecord, error) {
	limit := f.PageLimit()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.UsageRecord
	for i := len(s.usage.records) - 1; i >= 0 && len(out) < limit; i-- {
		if r := s.usage.records[i]; f.Match(r) {
			out = append(out, r)
		}
	}
	return out, nil
}

// UsageRollups implements [store.UsageStore].
func (s *Store) UsageRollups(_ context.Context, from, to time.Time) ([]store.UsageRollup, error) {
	lo, hi := store.UsageDay(from), store.UsageDay(to)
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []store.UsageRollup
	for k, u := range s.usage.rollups {
		if k.Day >= lo && k.Day <= hi {
			out = append(out, *u)
		}
	}
	return out, nil
}

// PruneUsage implements [store.UsageStore].
func (s *Store) PruneUsage(_ context.Context, cutoff time.Time) (int, error) {
	cutoff = norm(cutoff)
	day := store.UsageDay(cutoff)
	s.mu.Lock()
	defer s.mu.Unlock()
	kept := s.usage.records[:0]
	for _, r := range s.usage.records {
		if !r.Time.Before(cutoff) {
			kept = append(kept, r)
		}
	}
	n := len(s.usage.records) - len(kept)
	clear(s.usage.records[len(kept):])
	s.usage.records = kept
	for k := range s.usage.rollups {
		if k.Day < day {
			delete(s.usage.rollups, k)
		}
	}
	return n, nil
}
