package genspark

import (
	"container/list"
	"context"
	"errors"
	"strings"
	"sync"

	"github.com/sparkgw/spark/internal/store"
)

// storeBindings persists Genspark conversation bindings in the store, so a
// restart keeps each (account, model, client key) on its upstream chat.
//
// Reads are served from an in-memory write-through cache (bindingCacheSize
// entries, least recently used evicted), so the binding lookup of every chat
// request does not query the store: Set and Delete write the store first and
// then the cache, a lookup that misses fills the cache (absent bindings
// included). Bindings are written only here (by every replica), and deleting an
// account, which deletes its bindings in the store, leaves only entries of an
// account id that is never used again (ids are random). With several replicas
// the app calls forget with the key of each binding another replica wrote
// (provider.Deps.WatchBindings); a read racing that forget is not cached.
type storeBindings struct {
	st store.BindingStore
	c  *bindingCache
}

// newStoreBindings returns bindings over st with their own bounded cache.
func newStoreBindings(st store.BindingStore) storeBindings {
	return storeBindings{st: st, c: newBindingCache(bindingCacheSize)}
}

// bindingCacheSize bounds the bindings cached per store.
const bindingCacheSize = 100_000

func bindingKey(k BindingKey) string {
	return Name + "\x1f" + k.AccountID + "\x1f" + k.Model + "\x1f" + k.ClientKey
}

func (b storeBindings) Get(ctx context.Context, k BindingKey) (string, bool, error) {
	key := bindingKey(k)
	c := b.c
	if v, found, ok := c.get(key); ok {
		return v, found && strings.TrimSpace(v) != "", nil
	}
	gen := c.generation()
	v, err := b.st.GetBinding(ctx, key)
	if errors.Is(err, store.ErrNotFound) {
		c.fill(gen, key, "", false)
		return "", false, nil
	}
	if err != nil {
		return "", false, err
	}
	c.fill(gen, key, v.Value, true)
	return v.Value, strings.TrimSpace(v.Value) != "", nil
}

func (b storeBindings) Set(ctx context.Context, k BindingKey, chatID string) error {
	key := bindingKey(k)
	c := b.c
	c.wmu.Lock() // the store and the cache see writes in the same order
	defer c.wmu.Unlock()
	if _, err := b.st.PutBinding(ctx, store.Binding{Key: key, AccountID: k.AccountID, Value: chatID}); err != nil {
		c.forget(key) // the store's state is unknown now
		return err
	}
	c.put(key, chatID, true)
	return nil
}

func (b storeBindings) Delete(ctx context.Context, k BindingKey) error {
	key := bindingKey(k)
	c := b.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	err := b.st.DeleteBinding(ctx, key)
	if err != nil {
		c.forget(key)
		return err
	}
	c.put(key, "", false)
	return nil
}

// bindingCache is a bounded LRU of binding values, absent ones included.
type bindingCache struct {
	wmu   sync.Mutex // serialises writes (store, then cache); rare
	mu    sync.Mutex // guards the fields below
	limit int
	gen   uint64     // bumped by every write, see fill
	order *list.List // of *cachedBinding, most recently used first
	byKey map[string]*list.Element
}

type cachedBinding struct {
	key   string
	value string
	found bool // false: the store has no binding under key
}

func newBindingCache(limit int) *bindingCache {
	return &bindingCache{limit: limit, order: list.New(), byKey: map[string]*list.Element{}}
}

// get returns the cached value; ok is false on a miss.
func (c *bindingCache) get(key string) (value string, found, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.byKey[key]
	if !ok {
		return "", false, false
	}
	c.order.MoveToFront(el)
	e := el.Value.(*cachedBinding)
	return e.value, e.found, true
}

// generation returns the write generation, taken before a store read whose
// result fill caches.
func (c *bindingCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

// fill caches what a store read returned, unless a write happened since
// generation gen: the read may then be older than that write.
func (c *bindingCache) fill(gen uint64, key, value string, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.gen != gen {
		return
	}
	c.set(key, value, found)
}

// put caches the result of a write.
func (c *bindingCache) put(key, value string, found bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	c.set(key, value, found)
}

// forget drops key, after a write whose outcome is unknown.
func (c *bindingCache) forget(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gen++
	if el, ok := c.byKey[key]; ok {
		c.order.Remove(el)
		delete(c.byKey, key)
	}
}

func (c *bindingCache) set(key, value string, found bool) {
	if el, ok := c.byKey[key]; ok {
		e := el.Value.(*cachedBinding)
		e.value, e.found = value, found
		c.order.MoveToFront(el)
		return
	}
	if c.limit <= 0 {
		return
	}
	c.byKey[key] = c.order.PushFront(&cachedBinding{key: key, value: value, found: found})
	for c.order.Len() > c.limit {
		old := c.order.Back()
		c.order.Remove(old)
		delete(c.byKey, old.Value.(*cachedBinding).key)
	}
}

// len returns the number of cached entries.
func (c *bindingCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
