package genspark

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/sparkgw/spark/internal/store"
)

// countingStore is a BindingStore that counts its calls and can fail.
type countingStore struct {
	mu               sync.Mutex
	m                map[string]string
	gets, puts, dels int
	fail             error
}

func newCountingStore() *countingStore { return &countingStore{m: map[string]string{}} }

func (s *countingStore) GetBinding(_ context.Context, key string) (store.Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.gets++
	if s.fail != nil {
		return store.Binding{}, s.fail
	}
	v, ok := s.m[key]
	if !ok {
		return store.Binding{}, fmt.Errorf("test: %w", store.ErrNotFound)
	}
	return store.Binding{Key: key, Value: v}, nil
}

func (s *countingStore) PutBinding(_ context.Context, b store.Binding) (store.Binding, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.puts++
	if s.fail != nil {
		return store.Binding{}, s.fail
	}
	s.m[b.Key] = b.Value
	return b, nil
}

func (s *countingStore) DeleteBinding(_ context.Context, key string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.dels++
	if s.fail != nil {
		return s.fail
	}
	delete(s.m, key)
	return nil
}

func (s *countingStore) counts() (gets, puts, dels int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gets, s.puts, s.dels
}

func (s *countingStore) setFail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fail = err
}

func wantGet(t *testing.T, b storeBindings, k BindingKey, wantID string, wantOK bool) {
	t.Helper()
	id, ok, err := b.Get(t.Context(), k)
	if err != nil || id != wantID || ok != wantOK {
		t.Fatalf("Get(%v) = %q, %v, %v; want %q, %v", k, id, ok, err, wantID, wantOK)
	}
}

func TestStoreBindingsCache(t *testing.T) {
	st := newCountingStore()
	b := newStoreBindings(st)
	k := BindingKey{AccountID: "acct_a", Model: "gpt-5.1", ClientKey: "key1"}
	ctx := t.Context()

	// A miss asks the store once; absent bindings are cached too.
	wantGet(t, b, k, "", false)
	wantGet(t, b, k, "", false)
	if gets, _, _ := st.counts(); gets != 1 {
		t.Fatalf("store reads = %d, want 1", gets)
	}

	// Set writes through: the store has it, reads do not ask the store.
	if err := b.Set(ctx, k, "chat1"); err != nil {
		t.Fatal(err)
	}
	if st.m[bindingKey(k)] != "chat1" {
		t.Fatalf("store holds %q", st.m[bindingKey(k)])
	}
	wantGet(t, b, k, "chat1", true)
	if err := b.Set(ctx, k, "chat2"); err != nil {
		t.Fatal(err)
	}
	wantGet(t, b, k, "chat2", true)
	wantGet(t, b, k, "chat2", true) // served from the cache again
	if gets, puts, _ := st.counts(); gets != 1 || puts != 2 {
		t.Fatalf("store reads %d, writes %d; want 1 and 2", gets, puts)
	}

	// Delete writes through.
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, ok := st.m[bindingKey(k)]; ok {
		t.Fatal("binding left in the store")
	}
	wantGet(t, b, k, "", false)
	if gets, _, dels := st.counts(); gets != 1 || dels != 1 {
		t.Fatalf("store reads %d, deletes %d; want 1 and 1", gets, dels)
	}

	// Keys differ by account, model and client key.
	other := k
	other.ClientKey = "key2"
	wantGet(t, b, other, "", false)
	if gets, _, _ := st.counts(); gets != 2 {
		t.Fatalf("store reads = %d, want 2", gets)
	}

	// A blank stored value is no binding, as before the cache.
	if err := b.Set(ctx, other, "  "); err != nil {
		t.Fatal(err)
	}
	wantGet(t, b, other, "  ", false)
}

func TestStoreBindingsCacheFailures(t *testing.T) {
	st := newCountingStore()
	b := newStoreBindings(st)
	k := BindingKey{AccountID: "acct_a", Model: "m", ClientKey: "c"}
	ctx := t.Context()
	if err := b.Set(ctx, k, "chat1"); err != nil {
		t.Fatal(err)
	}
	boom := errors.New("disk full")

	// A failed write forgets the key: its state in the store is unknown.
	st.setFail(boom)
	if err := b.Set(ctx, k, "chat2"); !errors.Is(err, boom) {
		t.Fatalf("Set error %v", err)
	}
	// A failed read is returned and not cached.
	if _, _, err := b.Get(ctx, k); !errors.Is(err, boom) {
		t.Fatalf("Get error %v", err)
	}
	st.setFail(nil)
	wantGet(t, b, k, "chat1", true) // the store kept the old value
	gets, _, _ := st.counts()
	wantGet(t, b, k, "chat1", true)
	if g, _, _ := st.counts(); g != gets {
		t.Fatal("the value read after the failure was not cached")
	}

	st.setFail(boom)
	if err := b.Delete(ctx, k); !errors.Is(err, boom) {
		t.Fatalf("Delete error %v", err)
	}
	st.setFail(nil)
	wantGet(t, b, k, "chat1", true)
	if g, _, _ := st.counts(); g != gets+1 {
		t.Fatal("a failed delete left the key cached")
	}
}

// A read that started before a write must not cache its older result.
func TestBindingCacheStaleFill(t *testing.T) {
	c := newBindingCache(10)
	gen := c.generation()
	c.put("k", "new", true)
	c.fill(gen, "k", "old", true)
	if v, found, ok := c.get("k"); !ok || !found || v != "new" {
		t.Fatalf("get = %q, %v, %v", v, found, ok)
	}
	gen = c.generation()
	c.forget("j")
	c.fill(gen, "j", "old", true)
	if _, _, ok := c.get("j"); ok {
		t.Fatal("stale fill cached after forget")
	}
}

func TestBindingCacheBounded(t *testing.T) {
	c := newBindingCache(3)
	for i := range 5 {
		c.put(fmt.Sprint(i), "v", true)
	}
	if c.len() != 3 {
		t.Fatalf("len %d, want 3", c.len())
	}
	c.get("2") // most recently used now
	c.put("5", "v", true)
	for key, want := range map[string]bool{"0": false, "1": false, "2": true, "3": false, "4": true, "5": true} {
		if _, _, ok := c.get(key); ok != want {
			t.Errorf("key %s cached %v, want %v", key, ok, want)
		}
	}
	if newBindingCache(0).put("k", "v", true); newBindingCache(0).len() != 0 {
		t.Fatal("a zero-size cache holds entries")
	}
}

// Concurrent readers and writers agree with the store once writes stop.
func TestStoreBindingsConcurrent(t *testing.T) {
	st := newCountingStore()
	b := newStoreBindings(st)
	ctx := t.Context()
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				k := BindingKey{AccountID: "a", Model: "m", ClientKey: fmt.Sprint(i % 5)}
				switch (w + i) % 4 {
				case 0:
					_ = b.Set(ctx, k, fmt.Sprintf("chat-%d-%d", w, i))
				case 1:
					if i%7 == 0 {
						_ = b.Delete(ctx, k)
					}
				default:
					if _, _, err := b.Get(ctx, k); err != nil {
						t.Error(err)
					}
				}
			}
		}()
	}
	wg.Wait()
	for i := range 5 {
		k := BindingKey{AccountID: "a", Model: "m", ClientKey: fmt.Sprint(i)}
		want, inStore := st.m[bindingKey(k)]
		got, ok, err := b.Get(ctx, k)
		if err != nil || ok != inStore || got != want {
			t.Errorf("key %d: cache %q, %v; store %q, %v", i, got, ok, want, inStore)
		}
	}
}

func BenchmarkStoreBindingsGet(b *testing.B) {
	sb := newStoreBindings(newCountingStore())
	k := BindingKey{AccountID: "acct_a", Model: "claude-sonnet-4-5", ClientKey: "key_1"}
	_ = sb.Set(context.Background(), k, "chat1")
	b.ReportAllocs()
	for b.Loop() {
		if _, ok, _ := sb.Get(context.Background(), k); !ok {
			b.Fatal("miss")
		}
	}
}

// TestStoreBindingsOtherReplicaWrites: two replicas' caches over one store;
// a binding one writes reaches the other once the app forwards its key
// (provider.Deps.WatchBindings), however the other had cached it.
func TestStoreBindingsOtherReplicaWrites(t *testing.T) {
	st := newCountingStore()
	a := newStoreBindings(st)
	b := newStoreBindings(st)
	forget := b.c.forget // what the plugin registers through WatchBindings
	k := BindingKey{AccountID: "acct_a", Model: "gpt-5.1", ClientKey: "key1"}
	wantGet(t, b, k, "", false) // B caches "no binding"
	if err := a.Set(t.Context(), k, "chat1"); err != nil {
		t.Fatal(err)
	}
	wantGet(t, b, k, "", false) // not told yet: the cached answer
	forget(bindingKey(k))
	wantGet(t, b, k, "chat1", true)
	if err := a.Delete(t.Context(), k); err != nil {
		t.Fatal(err)
	}
	forget(bindingKey(k))
	wantGet(t, b, k, "", false)
}
