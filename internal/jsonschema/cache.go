package jsonschema

import (
	"container/list"
	"encoding/json"
	"hash/maphash"
	"sync"
)

// cacheKey identifies a document: two 64-bit hashes with seeds chosen at
// random when the process starts, so clients cannot craft collisions.
type cacheKey [2]uint64

var cacheSeeds = [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}

func keyOf(raw []byte) cacheKey {
	return cacheKey{maphash.Bytes(cacheSeeds[0], raw), maphash.Bytes(cacheSeeds[1], raw)}
}

// Cache remembers compiled schemas (and compile errors) by a hash of
// their document: clients send the same tools with every turn of a
// conversation. It holds at most its size entries whose documents add up
// to at most maxBytes, dropping the least recently used. It is safe for
// concurrent use.
type Cache struct {
	opts     Options
	size     int
	maxBytes int
	bytes    int // documents of the cached schemas

	mu      sync.Mutex
	entries map[cacheKey]*list.Element
	order   list.List // of *cacheEntry, most recently used first
}

type cacheEntry struct {
	key    cacheKey
	schema *Schema
	err    error
	bytes  int
}

// NewCache returns a cache of at most size schemas, whose documents add up
// to at most maxBytes, compiled with opts. A schema larger than maxBytes is
// compiled but not kept.
func NewCache(size, maxBytes int, opts Options) *Cache {
	return &Cache{opts: opts, size: max(size, 1), maxBytes: maxBytes, entries: map[cacheKey]*list.Element{}}
}

// Compile returns the compiled raw, compiling it on a miss. Documents that
// differ only in whitespace are different entries.
func (c *Cache) Compile(raw json.RawMessage) (*Schema, error) {
	key := keyOf(raw)
	c.mu.Lock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		e := el.Value.(*cacheEntry)
		c.mu.Unlock()
		return e.schema, e.err
	}
	c.mu.Unlock()

	// Compiled outside the lock: a slow schema does not hold up others.
	// Two requests missing on the same document both compile it.
	s, err := c.opts.Compile(raw)

	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.entries[key]; ok {
		c.order.MoveToFront(el)
		return s, err
	}
	n := 0
	if s != nil {
		n = len(s.raw)
	}
	if n > c.maxBytes {
		return s, err
	}
	c.entries[key] = c.order.PushFront(&cacheEntry{key: key, schema: s, err: err, bytes: n})
	c.bytes += n
	for c.order.Len() > c.size || c.bytes > c.maxBytes {
		last := c.order.Back()
		e := last.Value.(*cacheEntry)
		c.order.Remove(last)
		delete(c.entries, e.key)
		c.bytes -= e.bytes
	}
	return s, err
}

// Len returns the number of cached entries.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.order.Len()
}
