package apikey

import (
	"sync"
	"time"
)

// readCache keeps values read from the store for ttl each, at most size
// of them. A forget drops them all; a read that began before a forget is
// not kept (it may hold what was just changed). ttl <= 0: nothing is kept.
type readCache[V any] struct {
	ttl  time.Duration
	size int

	mu         sync.Mutex
	entries    map[string]cacheEntry[V]
	generation uint64 // counts forget calls
}

type cacheEntry[V any] struct {
	v     V
	until time.Time
}

func newReadCache[V any](ttl time.Duration, size int) *readCache[V] {
	return &readCache[V]{ttl: ttl, size: size, entries: map[string]cacheEntry[V]{}}
}

// get returns the value under key at now: the kept one while fresh, else
// load's, kept when load succeeds (a failure is not kept).
func (c *readCache[V]) get(key string, now time.Time, load func() (V, error)) (V, error) {
	if c.ttl <= 0 {
		return load()
	}
	c.mu.Lock()
	e, ok := c.entries[key]
	gen := c.generation
	c.mu.Unlock()
	if ok && now.Before(e.until) {
		return e.v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.generation != gen {
		return v, nil // changed while read: the next call reads again
	}
	if _, ok := c.entries[key]; !ok && len(c.entries) >= c.size {
		for k := range c.entries { // full: make room (any one will do)
			delete(c.entries, k)
			break
		}
	}
	c.entries[key] = cacheEntry[V]{v: v, until: now.Add(c.ttl)}
	return v, nil
}

// forget drops every kept value.
func (c *readCache[V]) forget() {
	c.mu.Lock()
	c.generation++
	clear(c.entries)
	c.mu.Unlock()
}
