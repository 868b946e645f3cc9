package apikey

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/sparkgw/spark/internal/store"
)

// DefaultMeterEvery is how often a Meter writes the tokens it counted.
const DefaultMeterEvery = time.Second

// Meter counts the input and output tokens each stored key uses and adds
// them to the key's TokensUsed in the store off the request path: Add
// only updates a map, a background goroutine writes the sums every
// interval, and Close writes what is left. Until written, the sums count
// in [Verifier.Verify]'s TokensUsed (Options.Meter), so a key's token
// quota holds from the request after the one that used it up. It is safe
// for concurrent use; a nil *Meter counts nothing.
type Meter struct {
	st  store.APIKeyStore
	log *slog.Logger

	mu       sync.Mutex
	pending  map[string]int64 // key id -> tokens not yet written
	writing  map[string]int64 // taken by the write in progress
	written  map[string]int64 // key id -> its TokensUsed after this meter's last write
	stop     context.CancelFunc
	done     chan struct{}
	closeErr error
	closed   bool
}

// MeterOptions configure [NewMeter].
type MeterOptions struct {
	Logger *slog.Logger
	// Every is how often the counted tokens are written; default
	// DefaultMeterEvery. Negative: never in the background (only Flush and
	// Close write).
	Every time.Duration
}

// NewMeter returns a Meter writing to st and starts its writer; Close
// stops it.
func NewMeter(st store.APIKeyStore, o MeterOptions) *Meter {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Every == 0 {
		o.Every = DefaultMeterEvery
	}
	ctx, stop := context.WithCancel(context.Background())
	m := &Meter{st: st, log: o.Logger, pending: map[string]int64{}, writing: map[string]int64{}, written: map[string]int64{}, stop: stop, done: make(chan struct{})}
	go m.run(ctx, o.Every)
	return m
}

func (m *Meter) run(ctx context.Context, every time.Duration) {
	defer close(m.done)
	if every < 0 {
		<-ctx.Done()
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = m.Flush(ctx)
		}
	}
}

// AddTokens counts n tokens used by the key with id. API_SECRET keys
// ("env:N"), which the store does not hold, and n <= 0 are ignored.
func (m *Meter) AddTokens(id string, n int64) {
	if m == nil || n <= 0 || id == "" || strings.HasPrefix(id, "env:") {
		return
	}
	m.mu.Lock()
	m.pending[id] += n
	m.mu.Unlock()
}

// Pending returns the tokens counted for the key with id and not yet
// written to the store.
func (m *Meter) Pending(id string) int64 {
	if m == nil {
		return 0
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.pending[id] + m.writing[id]
}

// Used returns the key's tokens used: stored, its TokensUsed as read
// from the store at some time (perhaps before this meter's last writes),
// plus what is counted and not yet written.
func (m *Meter) Used(id string, stored int64) int64 {
	if m == nil {
		return stored
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	return max(stored, m.written[id]) + m.pending[id] + m.writing[id]
}

// Flush writes the counted tokens now. A sum the store fails to take is
// kept for the next write; the first such error is returned.
func (m *Meter) Flush(ctx context.Context) error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	if len(m.writing) > 0 || len(m.pending) == 0 {
		// Another write is in progress (it holds the writing map), or
		// nothing to write.
		m.mu.Unlock()
		return nil
	}
	m.pending, m.writing = m.writing, m.pending
	batch := m.writing
	m.mu.Unlock()

	var first error
	for id, n := range batch {
		total, err := m.st.AddAPIKeyTokens(ctx, id, n)
		m.mu.Lock()
		delete(m.writing, id)
		if err == nil {
			m.written[id] = total
		}
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			m.pending[id] += n // retried at the next write
		}
		m.mu.Unlock()
		if err != nil && !errors.Is(err, store.ErrNotFound) && first == nil {
			first = err
			m.log.Warn("could not add a key's tokens; retrying at the next write", "key_id", id, "error", err)
		}
	}
	return first
}

// Close stops the background writer and writes what is left; it must be
// called before the store is closed.
func (m *Meter) Close() error {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return m.closeErr
	}
	m.closed = true
	m.mu.Unlock()
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := m.Flush(ctx)
	m.mu.Lock()
	m.closeErr = err
	m.mu.Unlock()
	return err
}
