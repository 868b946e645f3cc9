package usage_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/sparkgw/spark/internal/store"
	"github.com/sparkgw/spark/internal/store/memstore"
	"github.com/sparkgw/spark/internal/usage"
)

// batchStore records the batches AddUsage receives; while gate is set,
// AddUsage waits for it to close.
type batchStore struct {
	store.UsageStore
	mu      sync.Mutex
	batches [][]store.UsageRecord
	gate    chan struct{}
	fail    error
	pruned  []time.Time
}

func (s *batchStore) AddUsage(ctx context.Context, recs []store.UsageRecord) error {
	s.mu.Lock()
	gate, fail := s.gate, s.fail
	s.mu.Unlock()
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.batches = append(s.batches, append([]store.UsageRecord(nil), recs...))
	return nil
}

func (s *batchStore) PruneUsage(ctx context.Context, cutoff time.Time) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pruned = append(s.pruned, cutoff)
	return 0, nil
}

// sizes returns the sizes of the batches written so far.
func (s *batchStore) sizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []int
	for _, b := range s.batches {
		out = append(out, len(b))
	}
	return out
}

func (s *batchStore) ids() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, b := range s.batches {
		for _, r := range b {
			out = append(out, r.RequestID)
		}
	}
	return out
}

func rec(i int) store.UsageRecord {
	return store.UsageRecord{RequestID: fmt.Sprintf("req_%d", i), Status: 200}
}

func TestRecorderFlushesOnSize(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{}
		r := usage.NewRecorder(usage.Options{Store: st, BatchSize: 5, FlushInterval: time.Hour})
		defer r.Close()
		for i := range 12 {
			r.Record(rec(i))
		}
		synctest.Wait()
		if got := fmt.Sprint(st.sizes()); got != "[5 5]" {
			t.Fatalf("batches before the interval: %s, want [5 5]", got)
		}
	})
}

func TestRecorderFlushesOnTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{}
		r := usage.NewRecorder(usage.Options{Store: st, BatchSize: 500, FlushInterval: time.Second})
		defer r.Close()
		for i := range 3 {
			r.Record(rec(i))
		}
		synctest.Wait()
		if got := st.sizes(); len(got) != 0 {
			t.Fatalf("written before the interval: %v", got)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fmt.Sprint(st.sizes()); got != "[3]" {
			t.Fatalf("batches after one interval: %s, want [3]", got)
		}
		r.Record(rec(3))
		time.Sleep(time.Second)
		synctest.Wait()
		if got := fmt.Sprint(st.sizes()); got != "[3 1]" {
			t.Fatalf("batches after two intervals: %s, want [3 1]", got)
		}
	})
}

func TestRecorderCloseWritesEverything(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{}
		r := usage.NewRecorder(usage.Options{Store: st, BatchSize: 4, FlushInterval: time.Hour, QueueSize: 1000})
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			accepted int
		)
		for g := range 8 {
			wg.Go(func() {
				for i := range 50 {
					if r.Record(rec(g*1000 + i)) {
						mu.Lock()
						accepted++
						mu.Unlock()
					}
				}
			})
		}
		wg.Wait()
		if err := r.Close(); err != nil {
			t.Fatal(err)
		}
		if got := len(st.ids()); got != accepted || accepted != 400 {
			t.Fatalf("written %d of %d accepted records (400 sent)", got, accepted)
		}
		if r.Record(rec(-1)) {
			t.Error("Record after Close reported the record queued")
		}
		if err := r.Close(); err != nil {
			t.Errorf("second Close: %v", err)
		}
		if r.Lost() != 1 {
			t.Errorf("Lost() = %d, want 1 (the record after Close)", r.Lost())
		}
	})
}

func TestRecorderDropsWhenQueueFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		st := &batchStore{gate: make(chan struct{})}
		r := usage.NewRecorder(usage.Options{Store: st, Logger: log, BatchSize: 2, QueueSize: 3, FlushInterval: time.Second})
		// The writer takes 2 records and blocks writing them; 3 more fill
		// the queue; the rest are dropped without blocking.
		r.Record(rec(0))
		r.Record(rec(1))
		synctest.Wait()
		var ok, dropped int
		for i := 2; i < 10; i++ {
			if r.Record(rec(i)) {
				ok++
			} else {
				dropped++
			}
		}
		if ok != 3 || dropped != 5 {
			t.Fatalf("with a full queue: %d queued, %d dropped; want 3, 5", ok, dropped)
		}
		close(st.gate)
		time.Sleep(time.Second)
		synctest.Wait()
		r.Close()
		if got := fmt.Sprint(st.ids()); got != "[req_0 req_1 req_2 req_3 req_4]" {
			t.Errorf("written %s", got)
		}
		if r.Lost() != 5 {
			t.Errorf("Lost() = %d, want 5", r.Lost())
		}
		if !strings.Contains(logs.String(), "level=WARN msg=\"usage records dropped: the write queue was full\" records=5") {
			t.Errorf("no WARN about the 5 dropped records in:\n%s", logs.String())
		}
	})
}

func TestRecorderWriteFailureIsLoggedAndCounted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs bytes.Buffer
		st := &batchStore{fail: errors.New("disk full")}
		r := usage.NewRecorder(usage.Options{Store: st, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
		r.Record(rec(0))
		r.Record(rec(1))
		r.Close()
		if r.Lost() != 2 || !strings.Contains(logs.String(), "disk full") {
			t.Fatalf("Lost() = %d, log:\n%s", r.Lost(), logs.String())
		}
	})
}

func TestRecorderPrunes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{}
		start := time.Now()
		r := usage.NewRecorder(usage.Options{Store: st, Retention: 90 * 24 * time.Hour, PruneInterval: time.Hour})
		synctest.Wait()
		time.Sleep(time.Hour)
		synctest.Wait()
		r.Close()
		st.mu.Lock()
		defer st.mu.Unlock()
		if len(st.pruned) != 2 {
			t.Fatalf("pruned %d times in an hour, want 2 (at start, after an hour)", len(st.pruned))
		}
		if want := start.Add(-90 * 24 * time.Hour); !st.pruned[0].Equal(want) || !st.pruned[1].Equal(want.Add(time.Hour)) {
			t.Errorf("cutoffs %v, want %v and an hour later", st.pruned, want)
		}
	})
}

// TestRecorderWithStore runs the recorder over a real engine: records
// written on Close are listed, newest first, and rolled up.
func TestRecorderWithStore(t *testing.T) {
	st := memstore.New(nil)
	r := usage.NewRecorder(usage.Options{Store: st})
	for i := range 3 {
		r.Record(rec(i))
	}
	r.Close()
	got, err := st.ListUsage(t.Context(), store.UsageFilter{})
	if err != nil || len(got) != 3 || got[0].RequestID != "req_2" {
		t.Fatalf("ListUsage: %+v, %v", got, err)
	}
}

// TestRecorderPrunesOnlyWhenClaimed: with several replicas only the one
// whose claim wins prunes.
func TestRecorderPrunesOnlyWhenClaimed(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		st := &batchStore{}
		claims := 0
		r := usage.NewRecorder(usage.Options{Store: st, Retention: 24 * time.Hour, PruneInterval: time.Hour,
			Claim: func(context.Context) bool { claims++; return claims == 2 }})
		synctest.Wait()
		time.Sleep(2 * time.Hour)
		synctest.Wait()
		r.Close()
		st.mu.Lock()
		defer st.mu.Unlock()
		if claims != 3 || len(st.pruned) != 1 {
			t.Fatalf("%d claims, %d prunings; want 3 claims and one pruning (the claimed one)", claims, len(st.pruned))
		}
	})
}
