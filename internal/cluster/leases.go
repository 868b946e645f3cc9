package cluster

import (
	"context"
	"sync"
	"time"
)

// lease is one held slot: the token under key.
type lease struct{ key, token string }

// leaseSet keeps the leases a replica holds and refreshes them every
// period on one goroutine (not one per lease).
type leaseSet struct {
	refresh func(context.Context, []lease) error

	mu     sync.Mutex
	held   map[lease]struct{}
	closed bool

	quit chan struct{}
	done chan struct{}
}

func newLeaseSet(every time.Duration, refresh func(context.Context, []lease) error) *leaseSet {
	s := &leaseSet{refresh: refresh, held: map[lease]struct{}{}, quit: make(chan struct{}), done: make(chan struct{})}
	if every > 0 {
		go s.loop(every)
	} else {
		close(s.done)
	}
	return s
}

func (s *leaseSet) loop(every time.Duration) {
	defer close(s.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), every)
			_ = s.refreshNow(ctx) // a failure is counted and logged by refresh
			cancel()
		}
	}
}

// refreshNow refreshes every held lease.
func (s *leaseSet) refreshNow(ctx context.Context) error {
	s.mu.Lock()
	ls := make([]lease, 0, len(s.held))
	for l := range s.held {
		ls = append(ls, l)
	}
	s.mu.Unlock()
	if len(ls) == 0 {
		return nil
	}
	return s.refresh(ctx, ls)
}

func (s *leaseSet) add(l lease) {
	s.mu.Lock()
	s.held[l] = struct{}{}
	s.mu.Unlock()
}

// forget stops refreshing l (the caller removes it from Redis).
func (s *leaseSet) forget(l lease) {
	s.mu.Lock()
	delete(s.held, l)
	s.mu.Unlock()
}

func (s *leaseSet) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}

// releaser returns the function that gives l back once: it stops
// refreshing l and calls drop.
func (s *leaseSet) releaser(l lease, drop func(lease)) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			_, held := s.held[l]
			delete(s.held, l)
			s.mu.Unlock()
			if held {
				drop(l)
			}
		})
	}
}

// close stops the refreshes and returns the leases still held (the
// caller releases them).
func (s *leaseSet) close() []lease {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	ls := make([]lease, 0, len(s.held))
	for l := range s.held {
		ls = append(ls, l)
	}
	clear(s.held)
	s.mu.Unlock()
	close(s.quit)
	<-s.done
	return ls
}

// dispatcher hands events to one subscriber's function, in order, on its
// own goroutine, so a slow subscriber never blocks the publisher.
type dispatcher struct {
	fn func(Event)

	mu      sync.Mutex
	queue   []Event
	wake    chan struct{}
	stopped bool
	done    chan struct{}
}

// maxQueued bounds the events waiting for a slow subscriber; older ones
// are dropped past it.
const maxQueued = 10_000

func newDispatcher(fn func(Event)) *dispatcher {
	d := &dispatcher{fn: fn, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go d.run()
	return d
}

func (d *dispatcher) push(ev Event) {
	d.mu.Lock()
	if !d.stopped {
		if len(d.queue) >= maxQueued {
			d.queue = d.queue[1:]
		}
		d.queue = append(d.queue, ev)
		select {
		case d.wake <- struct{}{}:
		default:
		}
	}
	d.mu.Unlock()
}

func (d *dispatcher) run() {
	defer close(d.done)
	for range d.wake {
		for {
			d.mu.Lock()
			if d.stopped {
				d.mu.Unlock()
				return
			}
			if len(d.queue) == 0 {
				d.mu.Unlock()
				break
			}
			ev := d.queue[0]
			d.queue = d.queue[1:]
			d.mu.Unlock()
			d.fn(ev)
		}
	}
}

// stop ends the dispatcher and waits for a call in progress.
func (d *dispatcher) stop() {
	d.mu.Lock()
	already := d.stopped
	d.stopped = true
	d.queue = nil
	if !already {
		close(d.wake)
	}
	d.mu.Unlock()
	<-d.done
}
